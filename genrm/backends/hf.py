"""Hugging Face transformers backend: batched, left-padded, length-bucketed generation
with a KV cache that drops finished rows.

How a `generate` call runs:

1. Every prompt is tokenised (chat template with the generation prompt for message
   lists). Rows (prompt x n samples) are sorted by prompt length, longest first, and
   cut into decode groups of `batch_size` rows; outputs are put back in input order.
2. Prefill: the distinct prompts of a group are run once each (n samples share it) in
   length-sorted chunks of at most `prefill_tokens` padded tokens and 4% padding
   (bounded activation memory). Their common token prefix (a judge's instructions) is
   run once when it is at least `min_shared_prefix` tokens. On CPU its keys and values
   then stay shared by all rows (`kv_cache.shared_prefix_attention`); elsewhere they are
   copied into every row. Beyond it, prompts that share a further stem of at least
   `min_shared_prefix` tokens (a judge prompt's question and first response) copy its
   keys and values from one prompt run in full and run only the rest
   (`kv_cache.stem_plan` picks which run in full). Chunks write their keys and values
   straight into one preallocated buffer per layer (`kv_cache.BufferLayer`; hf_prefill.py).
3. Decode: one token per step for every row. A decode step writes one column of the
   buffer instead of re-concatenating the cache. Rows that end (EOS, a stop string,
   `max_new_tokens`) are dropped from the batch (their buffer rows moved down in place)
   once the work they would waste exceeds the move, and padding columns no live row
   needs any more are trimmed off the left.

Models whose cache is not plain full attention (sliding-window, hybrid) keep
transformers' own cache object: one prefill per group, no shared prefix.

Log-likelihood scoring (`loglikelihood_batch`, the reward proxy's) lives in hf_scoring.py.

Greedy outputs equal a one-prompt-at-a-time greedy loop in float32 (left padding with
the right attention mask and explicit position ids; tested against `model.generate`).
Sampling is seeded per row from (seed, prompt index, sample index), so a row's draws do
not depend on which other rows share its batch. Generation-config processors
(repetition penalty and the like) are not applied: greedy here is plain argmax.
"""

from __future__ import annotations

import logging
from typing import Sequence

import torch
from transformers.cache_utils import DynamicCache

from genrm.backends.base import BackendError, Prompt, Sampling, cut_at_stop, fit_prompt
from genrm.backends.hf_model import HFModel
from genrm.backends.hf_prefill import prefill_buffered
from genrm.backends.hf_scoring import loglikelihood_batch
from genrm.backends.kv_cache import stem_plan

log = logging.getLogger(__name__)


def _row_seed(seed: int, prompt_index: int, sample_index: int) -> int:
    # Deterministic mix (no Python str hashing), so runs reproduce across processes.
    x = (seed * 0x9E3779B1) ^ (prompt_index * 0x85EBCA77) ^ (sample_index * 0xC2B2AE3D)
    return x & 0x7FFF_FFFF_FFFF_FFFF


class HFBackend(HFModel):
    """Local generation with a transformers causal LM (see the module docstring)."""

    name = "hf"
    preferred_chunk_size = 64  # decoded batch_size rows at a time anyway; small chunks write results sooner

    def __repr__(self) -> str:
        return f"HFBackend(model={self.model_ref!r}, device={self.device}, batch_size={self.batch_size})"

    # ---------------------------------------------------------------- generation

    def generate(self, prompts: Sequence[Prompt], sampling: Sampling | None = None) -> list[str]:
        """One completion per prompt (n per prompt, prompt-major) for chat message lists or raw strings."""
        sampling = sampling or Sampling()
        if sampling.n < 1:
            raise ValueError(f"sampling.n must be >= 1, got {sampling.n}")
        ids = [fit_prompt(self.encode(p), self.max_length, sampling.max_new_tokens) for p in prompts]
        if any(len(s) == 0 for s in ids):
            raise BackendError("empty prompt: nothing to condition on")
        rows = [(i, k) for i in range(len(ids)) for k in range(sampling.n)]
        order = sorted(range(len(rows)), key=lambda r: -len(ids[rows[r][0]]))  # stable: samples stay together
        out: list[str] = [""] * len(rows)
        with self.eval_mode():
            for start in range(0, len(order), self.batch_size):
                group = order[start : start + self.batch_size]
                texts = self._generate_group([rows[r] for r in group], ids, sampling)
                for r, text in zip(group, texts):
                    out[r] = text
        return out

    def _prefill_plain(self, prompts: list[list[int]]):
        """One forward pass into transformers' own cache (sliding-window and hybrid models)."""
        ids, mask, pos = self.left_pad(prompts)
        cache = DynamicCache(config=self.model.config)
        logits = self.forward(ids, mask, pos, cache, keep=1)[:, -1, :]
        self.stats["prefill_tokens"] += int(mask.sum())
        self.stats["padded_prefill_tokens"] += ids.numel()
        return cache, mask, logits

    def _generate_group(self, rows: list[tuple[int, int]], ids: list[list[int]], sampling: Sampling) -> list[str]:
        uniq: dict[int, int] = {}
        for i, _ in rows:
            uniq.setdefault(i, len(uniq))
        buffered = self.bufferable
        shared = None
        if buffered:
            distinct = list(uniq)
            n_prefix, order, stems, donors = stem_plan([ids[i] for i in distinct], self.min_shared_prefix)
            uprompts = [distinct[j] for j in order]
            cache, mask, logits, shared = prefill_buffered(self, [ids[i] for i in uprompts], sampling.max_new_tokens,
                                                            n_prefix, stems, donors)
        else:
            uprompts = sorted(uniq, key=lambda i: -len(ids[i]))
            cache, mask, logits = self._prefill_plain([ids[i] for i in uprompts])
        upos = {i: j for j, i in enumerate(uprompts)}
        # Rows follow their prompt's cache row (n samples stay together), so the cache is not
        # reordered; the texts go back in the caller's order at the end.
        perm = sorted(range(len(rows)), key=lambda r: upos[rows[r][0]])
        rows = [rows[r] for r in perm]
        src = [upos[i] for i, _ in rows]
        if src != list(range(len(uprompts))):  # n samples per prompt share its prefill: copy rows out
            src_t = torch.tensor(src, device=self.device)
            cache.batch_select_indices(src_t)
            mask, logits = mask.index_select(0, src_t), logits.index_select(0, src_t)
        lens = [len(ids[i]) for i, _ in rows]
        pos = torch.tensor(lens, device=self.device)
        n_rows = len(rows)

        gens_tokens: list[list[int]] = [[] for _ in range(n_rows)]
        batch = list(range(n_rows))  # batch row -> output row
        alive = [True] * n_rows  # per batch row; finished rows may ride along until compaction
        generators = None
        if not sampling.greedy:
            generators = []
            for i, k in rows:
                g = torch.Generator(device=self.device)
                g.manual_seed(_row_seed(sampling.seed, i, k))
                generators.append(g)
        stop_tail = max((len(s) for s in sampling.stop), default=0) + 8
        eos = torch.tensor(sorted(self.eos_ids), device=self.device) if self.eos_ids else None

        for step in range(sampling.max_new_tokens):
            tokens = self._choose(logits, sampling, [generators[r] for r in batch] if generators else None)
            finished = torch.isin(tokens, eos).tolist() if eos is not None else [False] * len(batch)
            tok_list = tokens.tolist()
            last_step = step + 1 == sampling.max_new_tokens
            for j, r in enumerate(batch):
                if not alive[j]:
                    continue
                if finished[j]:
                    alive[j] = False
                    continue
                gens_tokens[r].append(tok_list[j])
                if last_step:
                    alive[j] = False
                elif sampling.stop:
                    tail = self.tokenizer.decode(gens_tokens[r][-stop_tail:], skip_special_tokens=True)
                    if any(s in tail for s in sampling.stop):
                        alive[j] = False
            self.stats["decode_steps"] += 1
            n_live = sum(alive)
            if n_live == 0:
                break
            # Dropping finished rows moves the cache; do it once the row-steps it saves over
            # the remaining steps outweigh that (about one decode step of the whole batch).
            n_dead = len(batch) - n_live
            if n_dead and (n_dead * (sampling.max_new_tokens - step - 1) >= len(batch) or not buffered):
                keep = [j for j, a in enumerate(alive) if a]
                keep_t = torch.tensor(keep, device=self.device)
                batch, alive = [batch[j] for j in keep], [True] * len(keep)
                cache.batch_select_indices(keep_t)
                mask, pos, tokens = mask.index_select(0, keep_t), pos.index_select(0, keep_t), tokens.index_select(0, keep_t)
                if buffered:
                    # Padding columns no live row attends to any more cost attention time.
                    lead = int((mask.sum(0) == 0).long().cumprod(0).sum())
                    if lead:
                        for layer in cache.layers:
                            layer.trim_left(lead)
                        mask = mask[:, lead:]
            mask = torch.cat([mask, mask.new_ones(len(batch), 1)], dim=1)
            self.stats["decode_tokens"] += n_live
            logits = self.forward(tokens[:, None], mask, pos[:, None], cache, keep=1, shared=shared)[:, -1, :]
            pos = pos + 1

        texts = [""] * n_rows
        for r in range(n_rows):
            text = self.tokenizer.decode(gens_tokens[r], skip_special_tokens=True)
            texts[perm[r]] = cut_at_stop(text, sampling.stop)
            self.stats["generated_tokens"] += len(gens_tokens[r])
            self.stats["prompt_tokens"] += lens[r]
        return texts

    @staticmethod
    def _choose(logits: torch.Tensor, sampling: Sampling, generators) -> torch.Tensor:
        if generators is None:
            return logits.argmax(dim=-1)
        probs = torch.softmax(logits.float() / sampling.temperature, dim=-1)
        if sampling.top_p < 1.0:
            sorted_p, idx = probs.sort(dim=-1, descending=True)
            drop = (sorted_p.cumsum(-1) - sorted_p) > sampling.top_p  # keeps at least the top token
            sorted_p = sorted_p.masked_fill(drop, 0.0)
            probs = torch.zeros_like(probs).scatter_(-1, idx, sorted_p)
        # Exponential race: argmax(p / E), E ~ Exp(1) is a draw from p; one generator per row.
        noise = torch.stack([torch.empty_like(probs[0]).exponential_(generator=g) for g in generators])
        return (probs / noise).argmax(dim=-1)

    # ---------------------------------------------------------------- scoring (hf_scoring.py)

    def loglikelihood(self, prompt: Prompt, continuation: str) -> float:
        return self.loglikelihood_batch([(prompt, continuation)])[0]

    def loglikelihood_batch(self, pairs: Sequence[tuple[Prompt, str]]) -> list[float]:
        """Sum of log p(continuation tokens | prompt) for each pair (float64 sums). Pairs that
        share a prompt (the options of one question) run that prompt once."""
        return loglikelihood_batch(self, pairs)
