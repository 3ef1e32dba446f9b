"""Fingerprints that say which model and which data produced a result.

A data fingerprint hashes the items exactly as evaluated. A model fingerprint hashes
the config and tokenizer files whole and, for weight files, their names, sizes and
first and last MiB (hashing many GiB of weights would cost more than a quick run).
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any, Iterable

from genrm.evaluation.models import is_endpoint, resolve_ref
from genrm.redact import redact_url

_WHOLE = ("config.json", "adapter_config.json", "tokenizer.json", "tokenizer_config.json", "generation_config.json")
_WEIGHTS = (".safetensors", ".bin", ".pt", ".gguf")
_EDGE = 1 << 20


def data_fingerprint(items: Iterable[Any]) -> str:
    h = hashlib.sha256()
    for it in items:
        h.update(json.dumps(it, sort_keys=True, ensure_ascii=False, default=str).encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()[:16]


def dir_fingerprint(path: str) -> str:
    h = hashlib.sha256()
    for name in sorted(os.listdir(path)):
        fp = os.path.join(path, name)
        if not os.path.isfile(fp):
            continue
        if name in _WHOLE:
            with open(fp, "rb") as f:
                h.update(name.encode() + b"\0" + f.read())
        elif name.endswith(_WEIGHTS):
            size = os.path.getsize(fp)
            h.update(f"{name}\0{size}\0".encode())
            with open(fp, "rb") as f:
                h.update(f.read(_EDGE))
                if size > 2 * _EDGE:
                    f.seek(-_EDGE, os.SEEK_END)
                    h.update(f.read(_EDGE))
    return h.hexdigest()[:16]


def model_fingerprint(spec: Any) -> dict[str, Any]:
    """{ref, kind, resolved, sha} of a model spec, computed without loading the model.
    An endpoint is its URL and model name; a hub id not in the local cache has sha None."""
    out: dict[str, Any] = {"ref": redact_url(spec.ref) if "://" in spec.ref else spec.ref, "kind": spec.kind}
    if is_endpoint(spec.ref):
        out["resolved"] = f"{out['ref']} model={spec.api_model or '(first listed)'}"
        out["sha"] = hashlib.sha256(out["resolved"].encode()).hexdigest()[:16]  # the key is not the model
        return out
    path = resolve_ref(spec.ref)
    out["resolved"] = path
    if os.path.isdir(path):
        out["sha"] = dir_fingerprint(path)
        return out
    try:  # a hub id in the local cache: fingerprint the cached snapshot
        from huggingface_hub import snapshot_download

        out["sha"] = dir_fingerprint(snapshot_download(path, local_files_only=True))
    except Exception:  # not cached, or not a repo id: say so rather than guess
        out["sha"] = None
    return out
