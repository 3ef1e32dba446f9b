"""Rationale matching: human units vs model units, one-to-one, and the metrics on it.

A matcher scores every (human unit i, model unit j) pair with a level in
SCORE_LEVELS and returns the matrix S of shape (|R_h|, |R_m|):

* `LexicalMatcher`   token overlap (Dice on content words), no dependencies;
* `EmbeddingMatcher` all-MiniLM-L6-v2 cosine similarity, quantised by thresholds;
  human-unit embeddings are cached per record (GRPO scores G rollouts per prompt);
* `LLMMatcher`       the MetaJudge prompt over any backend; parses `R<i>@S<j>: <score>`,
  re-asks for missing or malformed pairs, then raises `MatchError` (never a silent 0)
  (in genrm/reward/metajudge.py; score levels and `MatchError` in genrm/reward/levels.py, all
  importable from here).

All three satisfy the `Matcher` protocol (genrm/reward/protocol.py), the surface the
rewards, `genrm.reward.scoring` and the evaluator use; `make_matcher` builds one from a dict.

Matching is strictly one-to-one: S_total = max over matchings of sum s_ij, solved
exactly as an assignment problem (`optimal_assignment`).

Metric definitions (BRIEF section 2). Let pi be the optimal matching, a model unit
"matched" when it is in pi with s > 0, and n = |R_h|:

* rationale_consistency = S_total(first top_k model units) / n  (soft recall, top-5);
* average_precision     = sum_k P@k * I(k) / n, I(k) = 1 when the k-th model unit is
  matched, P@k = (sum of pi's scores over the first k model units) / k. With
  `soft=False`, P@k counts matched units instead of summing scores. Soft is the
  default: with the binary count a list of loosely related reasons (0.25 each)
  would earn the same AP as exact ones. On exact matches (s = 1) both agree, e.g.
  n = 3, exact matches at positions 1-2: (1/1 + 2/2) / 3 = 0.667; at 4-5 of 5:
  (1/4 + 2/5) / 3 = 0.217;
* precision = S_total / |R_m|; f1 = harmonic mean of precision and S_total / n.

Empty model units give 0; empty human units give None (the metric does not apply).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Hashable, Sequence

import numpy as np

from genrm.reward.levels import (  # noqa: F401 - re-exported: the names users import from genrm.reward.matching
    SCORE_LEVELS,
    SNAP_TOLERANCE,
    MatchError,
    _check_thresholds,
    _empty,
    _split_pair,
    quantise,
)
from genrm.reward.metajudge import LLMMatcher, parse_metajudge, snap_score  # noqa: F401 - re-exported
from genrm.reward.protocol import AsyncMatcher, Matcher  # noqa: F401 - re-exported
from genrm.assets import resolve_embedding_model
from genrm.backends import make_backend
from genrm.backends.base import Sampling
from genrm.reward.assignment import best_ap_matching
from genrm.reward.words import content_words

# -- lexical ----------------------------------------------------------------------


class LexicalMatcher:
    """Dice overlap of content words, quantised. Fast and dependency-free; a floor
    for tests and CPU demos, not a judge of meaning."""

    kind = "lexical"
    is_async = False

    def __init__(self, thresholds: Sequence[float] = (0.2, 0.4, 0.6, 0.8)):
        self.thresholds = _check_thresholds(thresholds)

    def similarity(self, a: str, b: str) -> float:
        wa, wb = content_words(a), content_words(b)
        if not wa or not wb:
            return 0.0
        return 2.0 * len(wa & wb) / (len(wa) + len(wb))

    def score_matrix(self, human_units: list[str], model_units: list[str]) -> np.ndarray:
        if not human_units or not model_units:
            return _empty(len(human_units), len(model_units))
        sim = np.array([[self.similarity(h, m) for m in model_units] for h in human_units])
        return quantise(sim, self.thresholds)

    def score_matrices(self, pairs: Sequence[Sequence], raise_errors: bool = True) -> list[np.ndarray]:
        return [self.score_matrix(*_split_pair(p)[:2]) for p in pairs]


# -- embedding ----------------------------------------------------------------------


def _embedding_device(device: str | None) -> str:
    """None/"cpu" -> cpu; "auto" -> this process's current CUDA device when there is one (under
    accelerate each rank has its own); anything else as given ("cuda:1")."""
    if device in (None, "cpu"):
        return "cpu"
    if device == "auto":
        import torch

        return f"cuda:{torch.cuda.current_device()}" if torch.cuda.is_available() else "cpu"
    return device


class EmbeddingMatcher:
    """Cosine similarity of sentence embeddings (all-MiniLM-L6-v2 by default), quantised.

    Human-unit embeddings are cached per record (key: the record id when given,
    else the tuple of units) in an LRU of `cache_size` records, so the G rollouts
    of one GRPO prompt embed the human units once. `score_matrices` embeds all
    missing human units and all model units of a batch in one encode call.
    `device` is "cpu" (the default), "auto" (CUDA when present) or a torch device string.
    """

    kind = "embedding"
    is_async = False

    def __init__(
        self,
        model: str = "embedded:all-minilm-l6-v2",
        thresholds: Sequence[float] = (0.45, 0.55, 0.65, 0.8),
        cache_size: int = 4096,
        batch_size: int | None = None,
        device: str | None = None,
    ):
        self.model_ref = model
        self.thresholds = _check_thresholds(thresholds)
        self.cache_size = int(cache_size)  # 0 disables the cache
        self.device = _embedding_device(device)
        # 32 measured fastest on 2 CPU cores (activations stay in cache); a GPU wants more rows.
        self.batch_size = int(batch_size or (32 if self.device == "cpu" else 256))
        self._model = None
        self._cache: OrderedDict[Hashable, np.ndarray] = OrderedDict()
        self.cache_hits = 0
        self.cache_misses = 0

    @property
    def model(self):
        if self._model is None:
            from sentence_transformers import SentenceTransformer

            self._model = SentenceTransformer(resolve_embedding_model(self.model_ref), device=self.device)
        return self._model

    def embed(self, texts: list[str]) -> np.ndarray:
        """Unit-normalised embeddings, shape (len(texts), dim)."""
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        import torch

        with torch.inference_mode():
            emb = self.model.encode(
                texts,
                batch_size=self.batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
        return np.asarray(emb, dtype=np.float32)

    def clear_cache(self) -> None:
        self._cache.clear()
        self.cache_hits = self.cache_misses = 0

    def _remember(self, key: Hashable, emb: np.ndarray) -> None:
        self._cache[key] = emb
        self._cache.move_to_end(key)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    def score_matrix(self, human_units: list[str], model_units: list[str], key: Hashable | None = None) -> np.ndarray:
        return self.score_matrices([(human_units, model_units, key)])[0]

    def score_matrices(self, pairs: Sequence[Sequence], raise_errors: bool = True) -> list[np.ndarray]:
        """Score many records at once. Each pair is (human_units, model_units) or
        (human_units, model_units, record_key)."""
        items = [_split_pair(p) for p in pairs]
        texts: list[str] = []
        human_slot: list[Any] = []  # per item: cached array, (start, end) into texts, or None
        pending: dict[Hashable, tuple[int, int]] = {}  # keys embedded in this batch
        for human, model, key in items:
            if not human or not model:
                human_slot.append(None)
                continue
            k = key if key is not None else tuple(human)
            if self.cache_size > 0 and k in self._cache:
                self._cache.move_to_end(k)
                self.cache_hits += 1
                human_slot.append(self._cache[k])
            elif self.cache_size > 0 and k in pending:
                self.cache_hits += 1
                human_slot.append(pending[k])
            else:
                self.cache_misses += 1
                span = (len(texts), len(texts) + len(human))
                texts.extend(human)
                if self.cache_size > 0:
                    pending[k] = span
                human_slot.append(span)
        model_spans = []
        for human, model, _ in items:
            if human and model:
                model_spans.append((len(texts), len(texts) + len(model)))
                texts.extend(model)
            else:
                model_spans.append(None)
        emb = self.embed(texts)
        for k, (a, b) in pending.items():
            self._remember(k, emb[a:b])
        out = []
        for (human, model, _), hs, ms in zip(items, human_slot, model_spans):
            if ms is None:
                out.append(_empty(len(human), len(model)))
                continue
            h = emb[hs[0] : hs[1]] if isinstance(hs, tuple) else hs
            out.append(quantise(h @ emb[ms[0] : ms[1]].T, self.thresholds))
        return out


# -- factory --------------------------------------------------------------------------


def make_matcher(cfg: dict, backend: Any = None) -> Matcher:
    """Matcher from a recipe dict: {"kind": "lexical"|"embedding"|"llm", ...}.
    For "llm", `backend` is used, else one is built from cfg["backend"]."""
    cfg = dict(cfg or {})
    kind = cfg.pop("kind", "embedding")
    if kind == "lexical":
        return LexicalMatcher(**cfg)
    if kind == "embedding":
        return EmbeddingMatcher(**cfg)
    if kind == "llm":
        backend_cfg = cfg.pop("backend", None)
        if backend is None:
            if backend_cfg is None:
                raise ValueError("matcher kind 'llm' needs a backend (argument or cfg['backend'])")

            backend = make_backend(dict(backend_cfg))
        sampling = cfg.pop("sampling", None)
        if isinstance(sampling, dict):
            sampling = Sampling(**sampling)
        return LLMMatcher(backend, sampling=sampling, **cfg)
    raise ValueError(f"unknown matcher kind {kind!r}; known: lexical, embedding, llm")


# -- assignment and metrics -------------------------------------------------------------


def _as_matrix(S) -> np.ndarray:
    S = np.asarray(S, dtype=np.float64)
    if S.ndim != 2:
        raise ValueError(f"score matrix must be 2-D (human x model), got shape {S.shape}")
    return S


def optimal_assignment(S, soft: bool = True) -> tuple[float, list[tuple[int, int]]]:
    """Exact one-to-one matching maximising the total score. Returns S_total and
    the matched (human i, model j) pairs with s_ij > 0, sorted by i.

    Several matchings can reach the same total (S = [[0, 0], [1, 1]]: model unit 1 or 2).
    Among them this returns the one with the highest AP (soft or binary, see
    `average_precision`), exactly and deterministically (`genrm.reward.assignment`); a solver's
    arbitrary tie-break would make AP depend on solver internals."""
    S = _as_matrix(S)
    pairs = best_ap_matching(np.maximum(S, 0.0), soft)  # a negative score is never worth matching
    return float(sum(S[i, j] for i, j in pairs)), pairs


def rationale_consistency(S, top_k: int | None = 5) -> float | None:
    """Soft recall of the human units by the first `top_k` model units: S_total / |R_h|."""
    S = _as_matrix(S)
    if S.shape[0] == 0:
        return None
    if top_k is not None:
        S = S[:, :top_k]
    if S.shape[1] == 0:
        return 0.0
    return optimal_assignment(S)[0] / S.shape[0]


def average_precision(S, soft: bool = True) -> float | None:
    """R_rat = sum_k P@k * I(k) / |R_h| over the model's ordered units (see module doc),
    on the optimal matching with the highest AP (`optimal_assignment`).

    Soft P@k (the sum of match scores over the first k units, / k) is the default, and
    the alternatives were weighed: a binary count (`soft=False`) lets loose 0.25 matches
    score like exact ones, so a list of vaguely related reasons earns full AP; counting
    only exact matches throws away the partial credit the MetaJudge scale is for. Soft
    P@k pays for how well each point is made and for its rank, so it is the harder one
    to game."""
    S = _as_matrix(S)
    n, m = S.shape
    if n == 0:
        return None
    if m == 0:
        return 0.0
    _, pairs = optimal_assignment(S, soft=soft)
    gain = np.zeros(m)
    for i, j in pairs:
        gain[j] = S[i, j] if soft else 1.0
    matched = np.zeros(m, dtype=bool)
    matched[[j for _, j in pairs]] = True
    precision_at = np.cumsum(gain) / np.arange(1, m + 1)
    return float(precision_at[matched].sum() / n)


def precision(S) -> float | None:
    """S_total / |R_m|: how much of what the model said matches a human reason."""
    S = _as_matrix(S)
    if S.shape[0] == 0:
        return None
    if S.shape[1] == 0:
        return 0.0
    return optimal_assignment(S)[0] / S.shape[1]


def f1(S) -> float | None:
    """Harmonic mean of precision and recall (S_total / |R_h|, over all model units)."""
    S = _as_matrix(S)
    if S.shape[0] == 0:
        return None
    if S.shape[1] == 0:
        return 0.0
    total = optimal_assignment(S)[0]
    p, r = total / S.shape[1], total / S.shape[0]
    return 0.0 if p + r == 0 else 2 * p * r / (p + r)
