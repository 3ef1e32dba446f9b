"""Inference backends behind one interface (see `base.Backend`).

    make_backend({"kind": "hf", "model": "embedded:smollm2-135m"})
    make_backend({"kind": "openai", "base_url": "http://127.0.0.1:8000/v1", "model": "judge"})
    make_backend({"kind": "vllm", "model": "Qwen/Qwen3-8B"})
"""

from __future__ import annotations

from typing import Any

from genrm.backends.base import Backend, BackendError, Sampling

__all__ = ["Backend", "BackendError", "Sampling", "make_backend"]


def make_backend(cfg: dict[str, Any]) -> Backend:
    cfg = dict(cfg)
    kind = cfg.pop("kind", "hf")
    if kind == "hf":
        from genrm.backends.hf import HFBackend  # lazy: torch and transformers load only for the kind asked

        return HFBackend(**cfg)
    if kind == "openai":
        from genrm.backends.openai_http import OpenAIBackend  # lazy: as above

        return OpenAIBackend(**cfg)
    if kind == "vllm":
        from genrm.backends.vllm import VLLMBackend  # lazy: as above (vLLM itself loads in its constructor)

        return VLLMBackend(**cfg)
    raise ValueError(f"unknown backend kind {kind!r}; known: hf, openai, vllm")
