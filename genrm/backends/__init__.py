"""Inference backends behind one interface (see `base.Backend`).

    make_backend({"kind": "hf", "model": "embedded:smollm2-135m"})
    make_backend({"kind": "openai", "base_url": "http://127.0.0.1:8000/v1", "model": "judge"})
    make_backend({"kind": "vllm", "model": "Qwen/Qwen3-8B"})
"""

from __future__ import annotations

import difflib
import inspect
from typing import Any

from genrm.backends.base import Backend, BackendError, Sampling
from genrm.backends.endpoint import BackendConfigError

__all__ = ["Backend", "BackendError", "Sampling", "UnknownBackendOption", "check_backend_options", "make_backend"]


class UnknownBackendOption(BackendConfigError):
    """An option the backend's constructor does not take (`key`, the nearest valid `close`)."""

    def __init__(self, key: str, close: str | None, kind: str, options: list[str]):
        self.key, self.close = key, close
        hint = f"did you mean {close!r}? " if close else ""
        super().__init__(f"backend option {key!r} is not one the {kind} backend takes; {hint}"
                         f"options: {', '.join(options)}")


def _check_options(cls: type, cfg: dict[str, Any], kind: str) -> None:
    """Options a backend does not take: one line with a did-you-mean, before anything loads."""
    sig = inspect.signature(cls).parameters
    if any(p.kind is p.VAR_KEYWORD for p in sig.values()):
        return  # it takes anything
    for k in cfg:
        if k not in sig:
            close = difflib.get_close_matches(k, list(sig), n=1)
            raise UnknownBackendOption(k, close[0] if close else None, kind, list(sig))


def _backend_class(kind: str) -> type:
    if kind == "hf":
        from genrm.backends.hf import HFBackend as cls  # lazy: torch and transformers load only for the kind asked
    elif kind == "openai":
        from genrm.backends.openai_http import OpenAIBackend as cls  # lazy: as above
    elif kind == "vllm":
        from genrm.backends.vllm import VLLMBackend as cls  # lazy: as above (vLLM itself loads in its constructor)
    else:
        raise BackendConfigError(f"unknown backend kind {kind!r}; known: hf, openai, vllm")
    return cls


def check_backend_options(cfg: dict[str, Any]) -> None:
    """Refuse a backend kind or option `make_backend(cfg)` would not take, without building it
    (recipes call this while they validate, before any data or weights load)."""
    cfg = dict(cfg)
    kind = cfg.pop("kind", "hf")
    _check_options(_backend_class(kind), cfg, kind)


def make_backend(cfg: dict[str, Any]) -> Backend:
    check_backend_options(cfg)
    cfg = dict(cfg)
    return _backend_class(cfg.pop("kind", "hf"))(**cfg)
