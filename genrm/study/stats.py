"""Across seeds: mean +- std per arm, and bootstrap intervals of each arm's difference
against the reference arm (outcome-only).

Difference of arm X against the reference, for one measure: the mean over seeds of
(X on seed s - reference on seed s), both measured on the same held-out items (the GRPO
arms of a seed share its SFT warm start, so seeds pair up). Its interval is a percentile
bootstrap that draws seeds and held-out items with replacement, the same items for both
arms, and recomputes the measure from the items (`measures.main_metrics`, BBQ through
`bias_metrics.bbq_stats`): it carries both the seed-to-seed and the item-sampling spread.
With one seed only the items vary. The base arm has no training randomness: it is
measured once and the same values stand for every seed.
"""

from __future__ import annotations

import warnings
from typing import Any, Optional, Sequence

import numpy as np

from genrm.study.measures import BBQ, MAIN, ItemTable, bbq_metrics, main_metrics


def mean_std(values: Sequence[Optional[float]]) -> dict[str, Any]:
    """{"mean", "std" (sample std, None below two values), "n", "values"} of the non-missing values."""
    got = [float(v) for v in values if v is not None]
    return {"mean": float(np.mean(got)) if got else None,
            "std": float(np.std(got, ddof=1)) if len(got) > 1 else None,
            "n": len(got), "values": list(values)}


def _bbq_draws(rows: Sequence[Optional[dict]], draws: np.ndarray) -> dict[str, np.ndarray]:
    out = {k: np.full(len(draws), np.nan) for k in BBQ}
    for b, idx in enumerate(draws):
        got = bbq_metrics([rows[i] for i in idx])
        for k in BBQ:
            if got[k] is not None:
                out[k][b] = got[k]
    return out


def _interval(per_seed: np.ndarray, seed_draws: np.ndarray, confidence: float) -> tuple[Optional[float], Optional[float]]:
    """per_seed: (S, B) differences on each resample of items; seed_draws: (B, S)."""
    b = np.arange(per_seed.shape[1])[:, None]
    picked = per_seed[seed_draws, b]  # (B, S)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a resample where every seed lacks the measure
        stat = np.nanmean(picked, axis=1)
    stat = stat[~np.isnan(stat)]
    if len(stat) < 0.5 * len(per_seed[0]):  # the measure is missing on most resamples
        return None, None
    alpha = (1.0 - confidence) / 2.0
    lo, hi = np.percentile(stat, [100 * alpha, 100 * (1 - alpha)])
    return float(lo), float(hi)


def differences(tables: dict[str, list[ItemTable]], bbq: dict[str, list[list[Optional[dict]]]],
                points: dict[str, list[dict]], reference: str, *, resamples: int, confidence: float,
                seed: int) -> dict[str, dict[str, dict[str, Any]]]:
    """{arm: {measure: {"diff", "lo", "hi", "excludes_zero"}}} for every arm but `reference`.
    `tables`/`bbq`/`points` hold one entry per seed (the same seed order for every arm)."""
    if reference not in tables:
        return {}
    rng = np.random.default_rng(seed)
    n_seeds = len(tables[reference])
    n_items = len(tables[reference][0])
    n_bbq = len(bbq[reference][0])
    seed_draws = rng.integers(0, n_seeds, size=(resamples, n_seeds))
    item_draws = rng.integers(0, n_items, size=(resamples, n_items))
    bbq_draws = rng.integers(0, n_bbq, size=(resamples, n_bbq)) if n_bbq else None
    cache: dict[tuple[str, int], dict[str, np.ndarray]] = {}

    def draws(arm: str, s: int) -> dict[str, np.ndarray]:
        if (arm, s) not in cache:
            got = main_metrics(tables[arm][s], item_draws)
            if bbq_draws is not None:
                got.update(_bbq_draws(bbq[arm][s], bbq_draws))
            cache[(arm, s)] = got
        return cache[(arm, s)]

    measures = MAIN + (BBQ if n_bbq else ())
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for arm in tables:
        if arm == reference:
            continue
        out[arm] = {}
        for k in measures:
            pts = [_point(points[arm][s], k) - _point(points[reference][s], k) for s in range(n_seeds)]
            pts = [p for p in pts if not np.isnan(p)]
            per_seed = np.stack([draws(arm, s)[k] - draws(reference, s)[k] for s in range(n_seeds)])
            lo, hi = _interval(per_seed, seed_draws, confidence)
            diff = float(np.mean(pts)) if pts else None
            out[arm][k] = {"diff": diff, "lo": lo, "hi": hi,
                           "excludes_zero": None if lo is None else bool(lo > 0 or hi < 0)}
    return out


def _point(measures: dict, key: str) -> float:
    v = measures["bbq"].get(key) if key in BBQ else measures.get(key)
    return np.nan if v is None else float(v)
