"""Log-likelihood scoring for the HF backend (`HFBackend.loglikelihood_batch`): the sum of
log p(continuation | prompt) per pair, as the LLM reward proxy uses it.

Pairs whose prompts differ run as left-padded prompt + continuation forwards, longest
first, `batch_size` at a time. Pairs that share a prompt (the options of one BBQ question)
prefill that prompt once; runs of sorted prompts that share a prefix (the chat header,
a template's context) prefill the prefix once; each continuation then runs on a copy of
its prompt's cache rows.
"""

from __future__ import annotations

from typing import Iterator, Sequence

import torch
from transformers.cache_utils import DynamicCache

from genrm.backends.base import Prompt, encode_pairs
from genrm.backends.hf_model import HFModel
from genrm.backends.kv_cache import common_prefix


def loglikelihood_batch(backend: HFModel, pairs: Sequence[tuple[Prompt, str]]) -> list[float]:
    """Sum of log p(continuation tokens | prompt) for each pair (float64 sums)."""
    b = backend
    items = encode_pairs(b.tokenizer, pairs, b.chat_template)
    by_prompt: dict[tuple[int, ...], list[int]] = {}
    for i, (p, _) in enumerate(items):
        by_prompt.setdefault(tuple(p), []).append(i)
    if b.bufferable and len(by_prompt) < len(items):
        return _shared_prompts(b, items, by_prompt)
    order = sorted(range(len(items)), key=lambda i: -(len(items[i][0]) + len(items[i][1])))
    out = [0.0] * len(items)
    with b.eval_mode():
        for start in range(0, len(order), b.batch_size):
            group = order[start : start + b.batch_size]
            seqs = [items[i][0] + items[i][1] for i in group]
            ids, mask, pos = b.left_pad(seqs)
            keep = max(len(items[i][1]) for i in group) + 1
            logits = b.forward(ids, mask, pos, None, keep=min(keep, ids.shape[1]))
            logp = torch.log_softmax(logits.float(), dim=-1)
            for row, i in enumerate(group):
                c = items[i][1]
                # logits at position t predict token t+1; the last len(c) targets are c.
                lp = logp[row, -len(c) - 1 : -1, :]
                target = torch.tensor(c, device=lp.device)[:, None]
                out[i] = float(lp.gather(-1, target).double().sum())
    return out


def prefix_groups(prompts: list[tuple[int, ...]], batch_size: int, min_shared: int) -> Iterator[list[tuple[int, ...]]]:
    """Runs of lexicographically sorted prompts that share the common prefix of a run's
    first two (the options' context of one BBQ template, or just the chat header), at
    most `batch_size` long: the longer the shared prefix, the less is prefilled twice."""
    group: list[tuple[int, ...]] = []
    shared = 0
    for p in prompts:
        if group:
            n = len(common_prefix([list(group[0]), list(p)]))
            if len(group) == 1:
                shared = n
            if n < max(shared, min_shared) or len(group) >= batch_size:
                yield group
                group = []
        group.append(p)
    if group:
        yield group


def _shared_prompts(b: HFModel, items: list[tuple[list[int], list[int]]],
                    by_prompt: dict[tuple[int, ...], list[int]]) -> list[float]:
    """Distinct prompts are prefilled once (batched; their common prefix, the chat
    template's header say, once for the batch) into a cache; each prompt's continuations
    then run on a copy of its rows, right-padded after it."""
    out = [0.0] * len(items)
    with b.eval_mode():
        for group in prefix_groups(sorted(by_prompt), b.batch_size, b.min_shared_prefix):
            n = min(len(common_prefix([list(p) for p in group])), min(map(len, group)) - 1) if len(group) > 1 else 0
            n = n if n >= b.min_shared_prefix else 0
            cache = DynamicCache(config=b.model.config)
            for li, (k, v) in enumerate(b.prefix_kv(list(group[0][:n])) if n else []):
                cache.update(k.expand(len(group), -1, -1, -1).contiguous(),
                             v.expand(len(group), -1, -1, -1).contiguous(), li)
            ids, smask, pos = b.left_pad([list(p[n:]) for p in group])
            mask = torch.cat([smask.new_ones(len(group), n), smask], dim=1)
            first = torch.log_softmax(b.forward(ids, mask, pos + n, cache, keep=1)[:, -1, :].float(), dim=-1)
            rows = [(g, i) for g, p in enumerate(group) for i in by_prompt[p]]
            for a in range(0, len(rows), b.batch_size):
                chunk = rows[a : a + b.batch_size]
                rep = torch.tensor([g for g, _ in chunk], device=b.device)
                conts = [items[i][1] for _, i in chunk]
                width = max(len(c) for c in conts)
                cids = torch.full((len(chunk), width), b.pad_id, dtype=torch.long, device=b.device)
                cmask = torch.zeros((len(chunk), width), dtype=torch.long, device=b.device)
                for r, c in enumerate(conts):
                    cids[r, : len(c)] = torch.tensor(c, dtype=torch.long)
                    cmask[r, : len(c)] = 1
                rows_cache = DynamicCache(config=b.model.config)
                for li, layer in enumerate(cache.layers):
                    rows_cache.update(layer.keys[rep], layer.values[rep], li)
                cpos = mask[rep].sum(-1, keepdim=True) + torch.arange(width, device=b.device)[None]
                logits = b.forward(cids, torch.cat([mask[rep], cmask], dim=1), cpos, rows_cache, keep=width)
                logp = torch.log_softmax(logits.float(), dim=-1)
                for r, (g, i) in enumerate(chunk):
                    c = conts[r]
                    total = first[g, c[0]].double()  # the prompt's last position predicts c[0]
                    if len(c) > 1:
                        target = torch.tensor(c[1:], device=logp.device)[:, None]
                        total = total + logp[r, : len(c) - 1, :].gather(-1, target).double().sum()
                    out[i] = float(total)
    return out
