import json
import os

import pytest

from tests.training.conftest import run_train, tiny_args


def test_tiny_model_through_every_stage(tiny_model, tiny_data, tmp_path):
    out = tmp_path / "run"
    r = run_train(tiny_args(tiny_model, tiny_data, out))
    assert r.returncode == 0, r.stderr[-3000:]
    # stages, final model, resolved recipe, eval steps, row log
    assert (out / "sft" / "DONE").exists() and (out / "grpo" / "DONE").exists()
    assert (out / "config.json").exists() and (out / "recipe.yaml").exists() and (out / ".genrm-output.json").exists()
    state = json.loads((out / "grpo" / "checkpoint-2" / "trainer_state.json").read_text())
    assert state["global_step"] == 2
    logged = [h for h in state["log_history"] if "hybrid/mean" in h or "rewards/hybrid/mean" in h]
    assert logged, state["log_history"]
    assert any("eval/accuracy" in h for h in state["log_history"])
    history = json.loads((out / "eval_history.json").read_text())
    assert [h["step"] for h in history] == [1, 2] and all(h["items"] == 2 for h in history)
    rows = [json.loads(line) for line in (out / "grpo" / "rows.rank0.jsonl").read_text().splitlines()]
    assert rows and all(len(r["ids"]) == 1 for r in rows)
    # the output dir is the model reference
    from genrm.backends.hf import HFBackend

    backend = HFBackend(model=str(out), dtype="float32", device="cpu")
    assert backend.generate([[{"role": "user", "content": "hi"}]])[0] is not None
    assert "checkpoint:" in r.stdout and os.fspath(out) in r.stdout


def _merged_equals_adapter(out) -> None:
    """The merged model (merged on CPU from the saved adapter) computes what base + adapter compute."""
    import torch
    from peft import AutoPeftModelForCausalLM
    from transformers import AutoModelForCausalLM

    ids = torch.tensor([[1, 2, 3, 4, 5]])
    with torch.no_grad():
        merged = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32)(ids).logits
        peft = AutoPeftModelForCausalLM.from_pretrained(out / "adapter", dtype=torch.float32)(ids).logits
    assert torch.allclose(merged, peft, atol=1e-4)


def test_lora_adapter_and_merge(tiny_model, tiny_data, tmp_path):
    from genrm.backends.hf import HFBackend

    for merge in (False, True):
        out = tmp_path / f"lora_merge_{merge}"
        r = run_train(tiny_args(tiny_model, tiny_data, out, "lora.enabled=true", "lora.r=4", "lora.alpha=8",
                                f"merge={str(merge).lower()}", "eval_steps=0", "sft.max_steps=1", "grpo.max_steps=1"))
        assert r.returncode == 0, r.stderr[-3000:]
        if merge:  # the merged full model at the root, the adapter beside it
            assert (out / "config.json").exists() and (out / "adapter" / "adapter_config.json").exists()
            assert not (out / "adapter_config.json").exists()
            _merged_equals_adapter(out)
        else:
            assert (out / "adapter_config.json").exists()
            from genrm.backends.vllm import VLLMBackend

            with pytest.raises(ValueError, match="is a LoRA adapter without its base model; the vllm backend"):
                VLLMBackend(model=str(out))  # one line, before vLLM is even imported
        backend = HFBackend(model=str(out), dtype="float32", device="cpu")  # one reference either way
        assert backend.generate([[{"role": "user", "content": "hi"}]])[0] is not None


def test_optimizer_and_accumulation_reach_both_stages(tiny_model, tiny_data, tmp_path):
    import torch

    out = tmp_path / "adafactor"
    r = run_train(tiny_args(tiny_model, tiny_data, out, "optim=adafactor", "eval_steps=0", "save_steps=1",
                            "sft.max_steps=1", "sft.per_device_train_batch_size=1", "sft.gradient_accumulation_steps=2",
                            "grpo.max_steps=1", "grpo.per_device_train_batch_size=1",
                            f"grpo.gradient_accumulation_steps={2}", "grpo.num_generations=2"))
    assert r.returncode == 0, r.stderr[-3000:]
    for stage in ("sft", "grpo"):
        ckpt = out / stage / "checkpoint-1"
        args = torch.load(ckpt / "training_args.bin", weights_only=False)
        assert args.optim == "adafactor" and args.gradient_accumulation_steps == 2
        state = torch.load(ckpt / "optimizer.pt", weights_only=False)["state"]
        assert state and all("exp_avg" not in s for s in state.values())  # Adafactor keeps no Adam moments
        assert any("exp_avg_sq_row" in s for s in state.values())
