import json
import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
STUDY = REPO / "train" / "study.py"


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, tokenizer) -> Path:
    from genrm.testing.tiny import save_tiny_model

    return Path(save_tiny_model(str(tmp_path_factory.mktemp("study_tiny_model")), tokenizer))


def tiny_study_args(model: Path, out: Path, shared: Path, *extra: str) -> list[str]:
    """Overrides that make the toy recipe a seconds-long grid on a tiny random model:
    real BBQ and RM-Bench records from ../shared, one SFT and one GRPO step per run."""
    return [
        "recipe=" + str(REPO / "recipes" / "study" / "toy_cpu.yaml"),
        f"output_dir={out}", f"model={model}", "arms=[sft,outcome]", "seeds=[0,1]",
        f"data.sources=[{{name: bbq, path: {shared / 'bbq'}, max_records: 120}}]",
        f"data.optional_sources=[{{name: rm_bench, path: {shared / 'rm_bench' / 'chat_filtered.json'}, "
        "max_records: 30, options: {pairs: diagonal}}]",
        "eval.records=6", "eval.bbq_items=4", "eval.max_new_tokens=8", "eval.matcher={kind: lexical}",
        "trainer.reward.matcher.kind=lexical", "trainer.sft.max_steps=1", "trainer.sft.per_device_train_batch_size=2",
        "trainer.sft.max_length=640", "trainer.grpo.max_steps=1", "trainer.grpo.num_generations=2",
        "trainer.grpo.per_device_train_batch_size=2", "trainer.grpo.max_completion_length=8",
        "trainer.grpo.max_prompt_length=640", "trainer.grpo.log_completions=false", "trainer.eval.max_records=2",
        "trainer.eval.max_new_tokens=8", "trainer.eval_steps=1", "trainer.save_steps=1", "stats.resamples=200",
        *extra,
    ]


def run_study_process(args: list[str], **kw):
    import subprocess

    env = {**os.environ, "WANDB_MODE": "offline", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    return subprocess.Popen([sys.executable, str(STUDY), *args], cwd=REPO, env=env, **kw)


def events(out: Path) -> list[dict]:
    path = out / "progress.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
