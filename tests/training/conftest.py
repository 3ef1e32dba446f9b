import os
import sys
from pathlib import Path

import pytest

from genrm.data.record import PreferenceRecord, user_prompt, write_jsonl

REPO = Path(__file__).resolve().parents[2]
TRAIN = REPO / "train" / "genrm.py"


def tiny_records(n: int, offset: int = 0) -> list[PreferenceRecord]:
    recs = []
    for i in range(offset, offset + n):
        recs.append(PreferenceRecord(
            source="generic", domain="general", prompt=user_prompt(f"What is {i} plus {i}?"),
            chosen=f"{i} plus {i} is {2 * i}.", rejected=f"{i} plus {i} is {2 * i + 1}.", label_kind="gold",
            rationale_units=[f"It gives the correct sum {2 * i} for {i} plus {i}.", "The other answer is off by one."],
            rationale_origin="human", chosen_position="A" if i % 2 else "B",
        ))
    return recs


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("tiny_data")
    write_jsonl(tiny_records(16), str(d / "train.jsonl"))
    write_jsonl(tiny_records(4, offset=100), str(d / "eval.jsonl"))
    return d


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, tokenizer) -> Path:
    from genrm.testing.tiny import save_tiny_model

    return Path(save_tiny_model(str(tmp_path_factory.mktemp("tiny_model")), tokenizer))


def tiny_args(model: Path, data: Path, out: Path, *extra: str) -> list[str]:
    """Overrides that make any recipe a seconds-long run on the tiny model."""
    return [
        "recipe=" + str(REPO / "recipes" / "smoke_cpu.yaml"),
        f"model.ref={model}", f"data.path={data}", "data.build=null", f"output_dir={out}",
        "sft.max_steps=2", "sft.per_device_train_batch_size=2", "sft.gradient_accumulation_steps=1",
        "sft.max_length=640", "grpo.gradient_accumulation_steps=1", "optim=adamw_torch_fused",
        "grpo.max_steps=2", "grpo.num_generations=2", "grpo.per_device_train_batch_size=2",
        "grpo.max_completion_length=12", "grpo.max_prompt_length=640",
        "reward.matcher.kind=lexical", "report_to=none", "eval_steps=1", "eval.max_records=2",
        "eval.max_new_tokens=12", "eval.compare_base=false", "save_steps=1", *extra,
    ]


def run_train(args: list[str], timeout: float = 300, env: dict | None = None, launcher: list[str] | None = None):
    import subprocess

    cmd = (launcher or [sys.executable]) + [str(TRAIN), *args]
    # the script's folder, not the cwd, heads sys.path: put this checkout's genrm first
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    full_env = {**os.environ, "WANDB_MODE": "offline", "HF_HUB_OFFLINE": "1", "PYTHONPATH": path, **(env or {})}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=REPO, env=full_env)
