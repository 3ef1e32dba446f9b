"""KV-cache pieces of the HF backend: a preallocated per-layer buffer and the
shared-prefix attention (registered with transformers under SHARED_PREFIX_ATTENTION).
"""

from __future__ import annotations

import threading
from typing import Any

import torch
from transformers.cache_utils import DynamicLayer
from transformers.integrations.sdpa_attention import repeat_kv, sdpa_attention_forward
from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, sdpa_mask
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

from genrm.backends.base import BackendError

# ---------------------------------------------------------------- shared-prefix attention
# On CPU the prompts' common prefix is kept once ([kv_heads, P, dim] per layer) instead of
# once per row: attention runs over the shared prefix as one matmul for all rows and over
# each row's own keys with the fused kernel, and the two are merged by their log-sum-exps.
# Decode reads the prefix once per step instead of once per row.

SHARED_PREFIX_ATTENTION = "genrm_shared_prefix"
active = threading.local()  # .prefix: list of (keys, values) per layer, set by HFBackend


def shared_prefix_attention(module, query, key, value, attention_mask, dropout=0.0, scaling=None, **kwargs):
    prefix = getattr(active, "prefix", None)
    if prefix is None:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs)
    pk, pv = prefix[module.layer_idx]
    b, h, s, d = query.shape
    kvh = key.shape[1]
    scale = scaling if scaling is not None else d**-0.5
    if attention_mask is None:  # causal over this row's keys, aligned to its end
        n = key.shape[2]
        attention_mask = torch.ones(s, n, dtype=torch.bool, device=query.device).tril(n - s)[None, None]
    if attention_mask.dtype == torch.bool:
        attention_mask = torch.zeros_like(attention_mask, dtype=query.dtype).masked_fill(~attention_mask, float("-inf"))
    flash = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu
    if s == 1:  # decode: the query heads of one key-value head share its keys, no copies
        out_r, lse_r = flash(query.reshape(b, kvh, h // kvh, d), key, value, 0.0, False,
                             attn_mask=attention_mask, scale=scale)
        out_r, lse_r = out_r.reshape(b, h, 1, d), lse_r.reshape(b, h, 1)
    else:
        out_r, lse_r = flash(query, repeat_kv(key, h // kvh), repeat_kv(value, h // kvh), 0.0, False,
                             attn_mask=attention_mask, scale=scale)
    # Prefix: every query of every row against the same keys, grouped by key-value head.
    q = query.reshape(b, kvh, h // kvh * s, d).transpose(0, 1).reshape(kvh, -1, d)
    scores = torch.bmm(q, pk.transpose(1, 2)) * scale
    lse_p = torch.logsumexp(scores, dim=-1)
    out_p = torch.bmm(torch.softmax(scores, dim=-1), pv)
    out_p = out_p.view(kvh, b, h // kvh * s, d).transpose(0, 1).reshape(b, h, s, d)
    lse_p = lse_p.view(kvh, b, h // kvh * s).transpose(0, 1).reshape(b, h, s)
    # Every real query sees at least its own key; a padding query sees none and the kernel
    # returns 0 with log-sum-exp 0 for it: finite, and never attended to.
    lse = torch.logaddexp(lse_p, lse_r)
    out = out_p * torch.exp(lse_p - lse)[..., None] + out_r * torch.exp(lse_r - lse)[..., None]
    return out.transpose(1, 2).contiguous(), None


ALL_ATTENTION_FUNCTIONS.register(SHARED_PREFIX_ATTENTION, shared_prefix_attention)
ALL_MASK_ATTENTION_FUNCTIONS.register(SHARED_PREFIX_ATTENTION, sdpa_mask)


class BufferLayer(DynamicLayer):
    """One attention layer's KV in a preallocated [rows, heads, capacity, dim] buffer.

    `update` writes the new column in place and returns views, where DynamicLayer
    would `torch.cat` (copying the whole cache) on every decode step.
    """

    is_croppable = False
    supports_early_init = False

    def __init__(self, keys: torch.Tensor, values: torch.Tensor, length: int):
        super().__init__()
        self._k, self._v, self.length = keys, values, length
        self.is_initialized = True
        self.device = keys.device
        self._views()

    def _views(self) -> None:
        self.keys = self._k[:, :, : self.length]
        self.values = self._v[:, :, : self.length]

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any):
        if key_states.shape[1] != self._k.shape[1] or key_states.shape[-1] != self._k.shape[-1]:
            raise BackendError(
                f"KV buffer holds {self._k.shape[1]} heads x {self._k.shape[-1]} dims but the model wrote "
                f"{key_states.shape[1]} x {key_states.shape[-1]}; this architecture needs its own cache"
            )
        end = self.length + key_states.shape[-2]
        if end > self._k.shape[-2]:  # grow (only if a caller decodes past the planned capacity)
            extra = max(end - self._k.shape[-2], 64)
            pad = self._k.new_zeros(*self._k.shape[:2], extra, self._k.shape[-1])
            self._k = torch.cat([self._k, pad], dim=2)
            self._v = torch.cat([self._v, pad.clone()], dim=2)
        self._k[:, :, self.length : end] = key_states
        self._v[:, :, self.length : end] = value_states
        self.length = end
        self._views()
        return self.keys, self.values

    def get_seq_length(self) -> int:
        return self.length

    def get_max_length(self) -> int:
        return -1

    def get_mask_sizes(self, query_length: int) -> tuple[int, int]:
        return self.length + query_length, 0

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        keep = indices.tolist()
        if keep == sorted(set(keep)):
            # Dropping rows: move the kept ones down in place (no new 2 x rows x capacity
            # allocation) and copy only the filled columns.
            for dst, src in enumerate(keep):
                if dst != src:
                    self._k[dst, :, : self.length].copy_(self._k[src, :, : self.length])
                    self._v[dst, :, : self.length].copy_(self._v[src, :, : self.length])
            self._k, self._v = self._k[: len(keep)], self._v[: len(keep)]
        else:  # repeating or reordering rows (n samples of one prompt)
            self._k = self._k.index_select(0, indices)
            self._v = self._v.index_select(0, indices)
        self._views()

    def trim_left(self, n: int) -> None:
        self._k, self._v = self._k[:, :, n:], self._v[:, :, n:]
        self.length -= n
        self._views()


def common_prefix(seqs: list[list[int]]) -> list[int]:
    first = seqs[0]
    n = len(first)
    for s in seqs[1:]:
        n = min(n, len(s))
        k = 0
        while k < n and s[k] == first[k]:
            k += 1
        n = k
        if n == 0:
            break
    return first[:n]


def stem_plan(prompts: list[list[int]], min_shared: int) -> tuple[int, list[int], list[int], list[int]]:
    """How a decode group's distinct prompts are prefilled: (n, order, stems, donors).

    `n` is the common prefix of all prompts (run once), 0 when shorter than `min_shared`.
    Beyond it, some prompts are prefilled in full and the others copy the keys and values
    of the tokens they share with a full one (their stem, `min_shared` tokens or more) and
    run only the rest: a judge prompt's question and first response are shared by the
    pairs of one RM-Bench prompt that put the same response first. In lexicographic order
    a prompt copies from the nearest full prompt before it (the one it shares most with);
    which prompts run in full is chosen to run the fewest tokens (dynamic programming).
    `order` lists the prompts to prefill: the full ones longest first, then the copying
    ones by the tokens they still run, longest first. `stems[j]` (0 for a full prompt) and
    `donors[j]` (the position in `order` of the prompt it copies from, -1 for none) follow
    `order`.
    """
    n = len(common_prefix(prompts)) if len(prompts) > 1 else 0
    n = min(n, min(len(p) for p in prompts) - 1)  # every prompt keeps >= 1 token to run
    n = n if n >= min_shared else 0
    suffix = [p[n:] for p in prompts]
    lex = sorted(range(len(prompts)), key=lambda i: suffix[i])
    size = [len(suffix[i]) for i in lex]
    adj = [len(common_prefix([suffix[a], suffix[b]])) for a, b in zip(lex, lex[1:])]

    def stem(shared: int, t: int) -> int:  # tokens lex[t] copies when it shares `shared` with its donor
        m = min(shared, size[t] - 1)
        return m if m >= min_shared else 0

    # best[k]: fewest tokens run for lex[:k+1] with lex[k] in full (the first always is);
    # the members between two full prompts copy from the earlier one.
    best, prev = [size[0]] + [1 << 62] * (len(lex) - 1), [-1] * len(lex)
    end, last = 1 << 62, 0
    for j in range(len(lex)):
        run, shared = best[j], 1 << 62
        for k in range(j + 1, len(lex)):
            if run + size[k] < best[k]:
                best[k], prev[k] = run + size[k], j
            shared = min(shared, adj[k - 1])  # sorted: the common prefix of lex[j] and lex[k]
            run += size[k] - stem(shared, k)
        if run < end:
            end, last = run, j
    heads, j = [], last
    while j >= 0:
        heads.append(j)
        j = prev[j]
    heads.reverse()
    stem_of, head_of = {}, {}
    for h, stop in zip(heads, heads[1:] + [len(lex)]):
        shared = 1 << 62
        for t in range(h + 1, stop):
            shared = min(shared, adj[t - 1])
            if stem(shared, t):
                stem_of[lex[t]], head_of[lex[t]] = stem(shared, t), lex[h]
    full = sorted((i for i in range(len(prompts)) if i not in stem_of), key=lambda i: -len(suffix[i]))
    copying = sorted(stem_of, key=lambda i: -(len(suffix[i]) - stem_of[i]))
    order = full + copying
    at = {i: j for j, i in enumerate(order)}
    return n, order, [stem_of.get(i, 0) for i in order], [at[head_of[i]] if i in head_of else -1 for i in order]
