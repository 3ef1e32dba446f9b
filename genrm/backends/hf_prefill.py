"""Prefill of the HF backend's decode groups (`HFBackend.generate`, step 2): distinct
prompts are run in length-sorted chunks straight into one preallocated KV buffer per layer,
their common prefix once, and stems shared beyond it copied instead of run again
(`kv_cache.stem_plan` plans which).
"""

from __future__ import annotations

from typing import Any

import torch
from transformers.cache_utils import Cache

from genrm.backends.hf_model import HFModel
from genrm.backends.kv_cache import BufferLayer


def plan_chunks(widths: list[int], prefill_tokens: int, max_padding: float = 0.04) -> list[tuple[int, int]]:
    """Cut prompts sorted longest first into chunks of at most `prefill_tokens` padded
    tokens, each with at most `max_padding` of its tokens being padding."""
    chunks, start = [], 0
    while start < len(widths):
        w, stop, pad = widths[start], start + 1, 0
        while stop < len(widths) and (stop - start + 1) * w <= prefill_tokens:
            if pad + w - widths[stop] > max_padding * (stop - start + 1) * w:
                break
            pad += w - widths[stop]
            stop += 1
        chunks.append((start, stop))
        start = stop
    return chunks


def prefill_buffered(backend: HFModel, prompts: list[list[int]], max_new: int, n_prefix: int, stems: list[int],
                     donors: list[int]) -> tuple[Cache, torch.Tensor, torch.Tensor, Any]:
    """Prefill distinct prompts straight into one KV buffer per layer (`kv_cache.stem_plan`
    gives their order, common prefix, stems and donors).

    The common token prefix (the judge's instructions, say) is run once. With the
    shared-prefix attention its keys and values stay shared; otherwise they are copied
    into every row after its padding. The prompts run in full come first, row r holding
    [padding][suffix r]; a prompt that copies its stem from one of them holds
    [padding][stem][padding][rest]. Every row ends at the same column, and each chunk's
    forward pass writes its keys and values in place. Returns the cache, the [rows,
    width] attention mask, the last-position logits and the shared prefix (per layer;
    None when rows carry their own copy).
    """
    prefix_kv = backend.prefix_kv(prompts[0][:n_prefix]) if n_prefix else None
    shared = [(k[0], v[0]) for k, v in prefix_kv] if prefix_kv and backend.share_prefix_attention else None
    copied = 0 if shared or not n_prefix else n_prefix  # prefix columns in every row
    suffixes = [p[n_prefix:] for p in prompts]
    n_full = sum(d < 0 for d in donors)  # full prompts first (longest first), then the copying ones
    rests = [len(s) - m for s, m in zip(suffixes, stems)]
    chunks = [(a, b, 0) for a, b in plan_chunks(rests[:n_full], backend.prefill_tokens)]
    chunks += [(n_full + a, n_full + b, max(stems[n_full + a : n_full + b]))
               for a, b in plan_chunks(rests[n_full:], backend.prefill_tokens)]
    width = max(stem + rests[a] for a, _, stem in chunks)  # a chunk's longest rest comes first
    k0 = backend.model.config.get_text_config()
    n_kv = getattr(k0, "num_key_value_heads", None) or k0.num_attention_heads
    head_dim = getattr(k0, "head_dim", None) or k0.hidden_size // k0.num_attention_heads
    dtype = next(backend.model.parameters()).dtype
    shape = (len(prompts), n_kv, width + copied + max_new, head_dim)
    bufs = [(torch.zeros(shape, dtype=dtype, device=backend.device), torch.zeros(shape, dtype=dtype, device=backend.device))
            for _ in range(k0.num_hidden_layers)]
    mask = torch.zeros((len(prompts), width + copied), dtype=torch.long, device=backend.device)
    logits = []
    for a, b, stem in chunks:
        ids, cmask, pos = backend.left_pad([s[m:] for s, m in zip(suffixes[a:b], stems[a:b])])
        col = width - stem - ids.shape[1]  # this chunk's rows start after the padding it does not need
        smask = cmask.new_zeros(b - a, stem)
        for r in range(a, b):
            smask[r - a, stem - stems[r] :] = 1
        layers = []
        for li, (kb, vb) in enumerate(bufs):
            if copied:
                kb[a:b, :, col : col + copied] = prefix_kv[li][0]
                vb[a:b, :, col : col + copied] = prefix_kv[li][1]
            for r in range(a, b):
                if stems[r]:  # the donor's suffix ends at the common last column
                    src, dst = copied + width - len(suffixes[donors[r]]), col + copied + stem - stems[r]
                    kb[r, :, dst : dst + stems[r]] = kb[donors[r], :, src : src + stems[r]]
                    vb[r, :, dst : dst + stems[r]] = vb[donors[r], :, src : src + stems[r]]
            layers.append(BufferLayer(kb[a:b, :, col:], vb[a:b, :, col:], copied + stem))
        full = torch.cat([cmask.new_ones(b - a, copied), smask, cmask], dim=1)
        offset = torch.tensor(stems[a:b], device=backend.device)[:, None] + n_prefix
        logits.append(backend.forward(ids, full, pos + offset, Cache(layers=layers), keep=1, shared=shared)[:, -1, :])
        mask[a:b, col:] = full
        backend.stats["prefill_tokens"] += int(cmask.sum())
        backend.stats["padded_prefill_tokens"] += ids.numel()
    cache = Cache(layers=[BufferLayer(kb, vb, width + copied) for kb, vb in bufs])
    backend.stats["reused_prefix_tokens"] += n_prefix * (len(prompts) - 1) + sum(stems)
    return cache, mask, torch.cat(logits, dim=0), shared
