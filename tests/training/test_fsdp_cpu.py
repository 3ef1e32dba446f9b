"""FSDP2 for real on CPU (two processes over gloo): the shipped accelerate_configs/fsdp.yaml
with only the CPU settings changed. Defect 5: with its old SHARDED_STATE_DICT, transformers'
save_model wrote no weights, so GRPO could not load the SFT warm start."""

import json
import sys

import pytest
import yaml

from tests.training.conftest import REPO, run_train, tiny_args

pytestmark = pytest.mark.slow


def test_fsdp_two_cpu_processes_save_whole_weights(tiny_model, tiny_data, tmp_path):
    from safetensors import safe_open
    from transformers import AutoConfig

    cfg = yaml.safe_load((REPO / "accelerate_configs" / "fsdp.yaml").read_text())
    cfg.update(use_cpu=True, mixed_precision="no", num_processes=2)  # no bf16 on these cores
    path = tmp_path / "fsdp_cpu.yaml"
    path.write_text(yaml.safe_dump(cfg))
    out = tmp_path / "run"
    launcher = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(path), "--num_processes", "2"]
    r = run_train(tiny_args(tiny_model, tiny_data, out, "eval_steps=0", "grpo.max_steps=1"), launcher=launcher,
                  timeout=900, env={"OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr[-4000:]
    assert json.loads((out / "plan.json").read_text())["launcher"].startswith("fsdp, 2 process(es)")
    shape = AutoConfig.from_pretrained(out)
    for where in (out / "sft" / "final", out):  # the warm start GRPO loaded, and the final model
        with safe_open(str(where / "model.safetensors"), "pt") as f:
            assert tuple(f.get_tensor("model.embed_tokens.weight").shape) == (shape.vocab_size, shape.hidden_size)
