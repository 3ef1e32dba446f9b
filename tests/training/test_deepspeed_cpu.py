"""DeepSpeed ZeRO-3 for real on CPU (`DS_ACCELERATOR=cpu`, gloo), the code path 8 GPUs take,
on a random-init Qwen3 of a few MB: SFT then GRPO, the 16-bit final save, resume from a
DeepSpeed checkpoint, LoRA merged from the saved adapter, in one process and in two."""

import json
import sys

import pytest

from tests.training.conftest import REPO, run_train, tiny_args

pytestmark = pytest.mark.slow

# accelerate_configs/deepspeed_zero3.yaml with the CPU settings (no bf16 on these cores)
CONFIG = """compute_environment: LOCAL_MACHINE
distributed_type: DEEPSPEED
deepspeed_config:
  offload_optimizer_device: none
  offload_param_device: none
  zero3_init_flag: true
  zero3_save_16bit_model: true
  zero_stage: 3
  gradient_clipping: 1.0
mixed_precision: "no"
num_machines: 1
num_processes: 1
use_cpu: true
"""


@pytest.fixture(scope="module")
def qwen3_model(tmp_path_factory, tokenizer):
    from genrm.testing.tiny import save_tiny_model

    return save_tiny_model(str(tmp_path_factory.mktemp("qwen3")), tokenizer, arch="qwen3")


def _launch(tmp_path, n: int) -> list[str]:
    cfg = tmp_path / "zero3_cpu.yaml"
    cfg.write_text(CONFIG)
    return [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(cfg), "--num_processes", str(n)]


def _run(args, tmp_path, n):
    r = run_train(args, launcher=_launch(tmp_path, n), timeout=900,
                  env={"DS_ACCELERATOR": "cpu", "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr[-4000:]
    return r


def _weights(path):
    from safetensors import safe_open

    with safe_open(str(path / "model.safetensors"), "pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}


@pytest.mark.parametrize("n", [1, 2])
def test_zero3_sft_then_grpo_saves_whole_weights_and_resumes(n, qwen3_model, tiny_data, tmp_path):
    out = tmp_path / "run"
    args = tiny_args(qwen3_model, tiny_data, out, "eval_steps=0", "save_steps=1", "grpo.max_steps=1")
    r = _run(args, tmp_path, n)
    assert "DeepSpeed" in json.loads((out / "plan.json").read_text())["launcher"] or "deepspeed" in r.stdout.lower()
    # the 16-bit save gathered the partitions: every tensor has its full shape, at both stages
    from transformers import AutoConfig

    cfg = AutoConfig.from_pretrained(out)
    for path in (out / "sft" / "final", out):
        w = _weights(path)
        assert w["model.embed_tokens.weight"].shape == (cfg.vocab_size, cfg.hidden_size), path
        assert all(t.numel() > 0 for t in w.values()), path
    ck = out / "grpo" / "checkpoint-1"
    assert any(p.name.startswith("global_step") for p in ck.iterdir()), list(ck.iterdir())  # DeepSpeed's own state
    # resume from the DeepSpeed checkpoint: one more GRPO step, not a fresh start. Without
    # grpo/DONE the stage reads as cut off after checkpoint-1 (a kill there leaves the same).
    (out / "grpo" / "DONE").unlink()
    r = _run([*args[:-1], "grpo.max_steps=2", "resume=true"], tmp_path, n)
    assert "train_runtime" in r.stdout + r.stderr and not (out / "sft" / "checkpoint-3").exists()
    state = json.loads((out / "grpo" / "checkpoint-2" / "trainer_state.json").read_text())
    assert state["global_step"] == 2 and [h["step"] for h in state["log_history"] if "loss" in h][-1] == 2


def test_zero3_lora_merge_from_the_saved_adapter(qwen3_model, tiny_data, tmp_path):
    """Defect 6: merge_and_unload on ZeRO-3's partitioned parameters wrote empty tensors; the
    merge now reads the saved adapter on CPU, and gives what base + adapter compute."""
    from tests.training.test_train_tiny import _merged_equals_adapter

    out = tmp_path / "lora"
    _run(tiny_args(qwen3_model, tiny_data, out, "eval_steps=0", "lora.enabled=true", "lora.r=4", "lora.alpha=8",
                   "merge=true", "sft.max_steps=1", "grpo.max_steps=1"), tmp_path, 2)
    assert (out / "adapter" / "adapter_config.json").exists() and (out / "sft" / "final" / "config.json").exists()
    w = _weights(out)
    assert all(t.numel() > 0 for t in w.values()) and not any("lora" in k for k in w)
    _merged_equals_adapter(out)


def test_zero3_refuses_eval_steps_at_launch(qwen3_model, tiny_data, tmp_path):
    """Defect 1 through the real launcher: ZeRO-3 with eval steps stops before weights load."""
    out = tmp_path / "refused"
    r = run_train(tiny_args(qwen3_model, tiny_data, out, "eval_steps=2"), launcher=_launch(tmp_path, 1), timeout=600,
                  env={"DS_ACCELERATOR": "cpu"})
    assert r.returncode != 0 and "eval_steps=2 cannot run under DeepSpeed ZeRO-3" in r.stderr
    assert not (out / "sft").exists()
