"""GPU paths of the trainer (skipped without CUDA): `single_gpu.yaml` in bf16, and
`deepspeed_zero3.yaml` in one process, on a random-init model of the Qwen3 architecture
for a few GRPO steps."""

import json
import sys

import pytest
import torch

from tests.training.conftest import REPO, run_train, tiny_args

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


@pytest.fixture(scope="module")
def qwen3_model(tmp_path_factory, tokenizer):
    from genrm.testing.tiny import save_tiny_model

    return save_tiny_model(str(tmp_path_factory.mktemp("qwen3")), tokenizer, arch="qwen3", hidden_size=256, layers=4)


def _launch(config: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
            str(REPO / "accelerate_configs" / config), "--num_processes", "1", *extra]


@pytest.mark.parametrize("config", ["single_gpu.yaml", "deepspeed_zero3.yaml"])
def test_grpo_bf16_on_gpu(config, qwen3_model, tiny_data, tmp_path):
    out = tmp_path / "run"
    # ZeRO-3 refuses eval steps (tests/training/test_gpu_recipes.py): there the run has none.
    evals = "eval_steps=0" if config == "deepspeed_zero3.yaml" else "eval_steps=3"
    args = tiny_args(qwen3_model, tiny_data, out, "precision=bf16", "model.dtype=bfloat16", "grpo.max_steps=3",
                     "save_steps=3", evals)
    r = run_train(args, launcher=_launch(config), timeout=900)
    assert r.returncode == 0, r.stderr[-4000:]
    state = json.loads((out / "grpo" / "checkpoint-3" / "trainer_state.json").read_text())
    assert state["global_step"] == 3
    assert all(h.get("rewards/hybrid/mean") is not None for h in state["log_history"] if "reward" in h)
    assert (out / "config.json").exists()
    plan = json.loads((out / "plan.json").read_text())
    assert ("ZeRO-3" in plan["launcher"]) == (config == "deepspeed_zero3.yaml")
