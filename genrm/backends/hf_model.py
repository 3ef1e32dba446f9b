"""The model side of the HF backend: loading a transformers causal LM and its tokenizer, and
the calls on it that generation (hf.py), its prefill (hf_prefill.py) and log-likelihood
scoring (hf_scoring.py) share: inference mode, one forward pass, left padding, a prefix's
keys and values. In its own module so that hf_prefill.py and hf_scoring.py need not
import hf.py, which imports them."""

from __future__ import annotations

import inspect
from contextlib import contextmanager
from typing import Any, Iterator

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
from transformers.cache_utils import DynamicCache, DynamicLayer

from genrm.assets import resolve_model
from genrm.backends.base import Prompt, encode_prompt, render_prompt
from genrm.backends.kv_cache import SHARED_PREFIX_ATTENTION, active

# prompt_tokens / generated_tokens: per output row; prefill_tokens: prompt tokens actually
# run (a shared prefix once, n samples once, copied stems not at all); reused_prefix_tokens:
# the shared prefix for every row but the first, plus copied stems; decode_tokens: rows of live samples.
_STATS = ("prompt_tokens", "generated_tokens", "prefill_tokens", "padded_prefill_tokens",
          "reused_prefix_tokens", "decode_tokens", "decode_steps")
_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def _resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _resolve_dtype(dtype: str | torch.dtype, device: torch.device) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype == "auto":
        # bf16 matmuls are slow on most CPUs; on GPUs bf16 is the usual choice.
        if device.type == "cuda" and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    if dtype not in _DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; use one of auto, {', '.join(_DTYPES)}")
    return _DTYPES[dtype]


class HFModel:
    """A loaded causal LM with its tokenizer and the model calls every HF module shares
    (`HFBackend` adds generation and scoring on top)."""

    def __init__(
        self,
        model: str = "embedded:smollm2-135m",
        dtype: str | torch.dtype = "auto",
        device: str = "auto",
        batch_size: int = 16,
        max_length: int | None = None,
        chat_template: bool = True,
        trust_remote_code: bool = False,
        model_obj: Any = None,
        tokenizer: Any = None,
        prefill_tokens: int = 4096,
        num_threads: int | None = None,
        min_shared_prefix: int = 16,
    ):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if num_threads:
            torch.set_num_threads(num_threads)
        self.batch_size = batch_size
        self.max_length = max_length
        self.chat_template = chat_template
        self.prefill_tokens = max(1, prefill_tokens)
        if model_obj is not None:
            if tokenizer is None:
                raise ValueError("model_obj needs its tokenizer (pass tokenizer=...)")
            self.model, self.tokenizer = model_obj, tokenizer
            self.model_ref = getattr(getattr(model_obj, "config", None), "_name_or_path", "") or "model_obj"
        else:
            self.model_ref = model
            self.model, self.tokenizer = self._load(model, dtype, device, trust_remote_code, tokenizer)
        self.device = next(self.model.parameters()).device
        params = inspect.signature(self.model.forward).parameters
        self._cache_kw = "cache" if "cache" in params else "past_key_values"
        self._has_logits_to_keep = "logits_to_keep" in params
        self.eos_ids = self._eos_ids()
        pad = self.tokenizer.pad_token_id
        self.pad_id = pad if pad is not None else sorted(self.eos_ids)[0] if self.eos_ids else 0
        self.min_shared_prefix = max(1, min_shared_prefix)
        # The shared-prefix attention uses the CPU fused kernel; elsewhere the prefix is
        # copied into every row (still prefilled once).
        self.bufferable = self._bufferable()  # fixed by the architecture: decided once
        self.share_prefix_attention = self.device.type == "cpu" and self.model.config._attn_implementation == "sdpa"
        self.stats: dict[str, int] = dict.fromkeys(_STATS, 0)
    @staticmethod
    def _load(ref: str, dtype: str | torch.dtype, device: str, trust_remote_code: bool, tokenizer: Any):
        path = resolve_model(ref)
        dev = _resolve_device(device)
        dt = _resolve_dtype(dtype, dev)
        tok = tokenizer or AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dt, trust_remote_code=trust_remote_code)
        model.to(dev)
        model.eval()
        return model, tok
    def _eos_ids(self) -> set[int]:
        ids: set[int] = set()
        for src in (self.tokenizer.eos_token_id, getattr(getattr(self.model, "generation_config", None), "eos_token_id", None)):
            if isinstance(src, int):
                ids.add(src)
            elif isinstance(src, (list, tuple)):
                ids.update(int(i) for i in src)
        return ids
    def render(self, prompt: Prompt) -> str:
        """The exact text the model sees for `prompt` (chat template + generation prompt)."""
        return render_prompt(self.tokenizer, prompt, self.chat_template)
    def encode(self, prompt: Prompt) -> list[int]:
        return encode_prompt(self.tokenizer, prompt, self.chat_template)
    @contextmanager
    def eval_mode(self) -> Iterator[None]:
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.inference_mode():
                yield
        finally:
            if was_training:
                self.model.train()
    def forward(self, input_ids, attention_mask, position_ids, cache, keep: int, shared=None):
        kwargs = {self._cache_kw: cache, "use_cache": cache is not None}
        if self._has_logits_to_keep:
            kwargs["logits_to_keep"] = keep
        if shared is None:
            out = self.model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, **kwargs)
            return out.logits[:, -keep:, :]
        cfg = self.model.config
        before = cfg._attn_implementation
        cfg._attn_implementation, active.prefix = SHARED_PREFIX_ATTENTION, shared
        try:
            out = self.model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, **kwargs)
        finally:
            cfg._attn_implementation, active.prefix = before, None
        return out.logits[:, -keep:, :]
    def left_pad(self, seqs: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        width = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for r, s in enumerate(seqs):
            if s:
                ids[r, width - len(s) :] = torch.tensor(s, dtype=torch.long)
                mask[r, width - len(s) :] = 1
        pos = (mask.cumsum(-1) - 1).clamp_min(0)
        return ids.to(self.device), mask.to(self.device), pos.to(self.device)
    def _bufferable(self) -> bool:
        """Whether this model's cache is plain full attention (one KV tensor pair per layer),
        which the preallocated buffer replaces. Sliding-window/hybrid caches are not."""
        cfg = self.model.config.get_text_config()
        if any(getattr(cfg, a, None) for a in ("kv_lora_rank", "v_head_dim")):  # keys and values differ in width
            return False
        probe = DynamicCache(config=self.model.config)
        return bool(probe.layers) and all(type(layer) is DynamicLayer for layer in probe.layers)
    def prefix_kv(self, prefix: list[int]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        ids = torch.tensor([prefix], device=self.device)
        cache = DynamicCache(config=self.model.config)
        self.forward(ids, torch.ones_like(ids), torch.arange(len(prefix), device=self.device)[None], cache, keep=1)
        self.stats["prefill_tokens"] += len(prefix)
        self.stats["padded_prefill_tokens"] += len(prefix)
        return [(layer.keys, layer.values) for layer in cache.layers]
