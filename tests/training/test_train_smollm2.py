"""The real thing: the embedded SmolLM2 on real BBQ records (../shared), an SFT warm start
and a few GRPO steps on the hybrid reward with the real all-MiniLM-L6-v2 matcher, logged
to a real offline wandb run; the checkpoint loads back through HFBackend."""

import json

import pytest

from genrm.data.build import build
from tests.training.conftest import REPO, run_train


@pytest.mark.slow
def test_smollm2_sft_then_grpo_hybrid(shared_data, tmp_path):
    data = tmp_path / "bbq"
    build({"name": "bbq_small", "output_dir": str(data), "eval_fraction": 0.1, "seed": 0,
           "sources": [{"name": "bbq", "path": str(shared_data / "bbq"), "max_records": 80}]})
    out = tmp_path / "run"
    args = [
        f"recipe={REPO / 'recipes' / 'smoke_cpu.yaml'}", f"data.path={data}", "data.build=null",
        f"output_dir={out}", "sft.max_steps=1", "sft.per_device_train_batch_size=2", "sft.gradient_accumulation_steps=1",
        "grpo.gradient_accumulation_steps=1",
        "grpo.max_steps=2", "grpo.num_generations=2", "grpo.per_device_train_batch_size=2",
        "grpo.max_completion_length=32", "eval_steps=2", "eval.max_records=2", "eval.max_new_tokens=32",
        "eval.compare_base=false", "save_steps=2", "report_to=wandb",
    ]
    r = run_train(args, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    state = json.loads((out / "grpo" / "checkpoint-2" / "trainer_state.json").read_text())
    steps = [h for h in state["log_history"] if "rewards/hybrid/mean" in h]
    assert len(steps) == 2
    # rewards were computed: a number on every step, never None everywhere
    assert all(h["rewards/hybrid/mean"] is not None for h in steps), steps
    assert all(0.0 <= h["rewards/hybrid/mean"] <= 1.0 for h in steps)
    assert all("outcome/accuracy" in h and "format/mean" in h and "matcher/calls" in h for h in steps), steps[0]
    assert any("eval/accuracy" in h for h in state["log_history"])
    runs = list((out / "wandb").glob("offline-run-*"))
    assert runs and any(p.suffix == ".wandb" for p in runs[0].iterdir())
    from genrm.backends.base import Sampling
    from genrm.backends.hf import HFBackend

    backend = HFBackend(model=str(out), dtype="float32", device="cpu")
    text = backend.generate([[{"role": "user", "content": "Say hi."}]], Sampling(max_new_tokens=8))[0]
    assert isinstance(text, str) and text
