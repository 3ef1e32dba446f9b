"""Percentile bootstrap intervals of the evaluator's figures, resampling items.

A figure is the mean of per-pair values (1/0 for a won pair, a rationale consistency
in percent, ...). The pairs of one item (a BBQ question's round-robin, a StereoSet
item's two gold pairs) are not independent, so the bootstrap draws *items* with
replacement, each with all its pairs, and recomputes the mean over the drawn pairs.
With one pair per item this is the plain bootstrap over pairs.

Every call draws from a fresh generator seeded with `seed`: an interval depends only on
its own values, never on which figures were computed before it (a rescore gives the
numbers of the run).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

LEVEL = 0.95
RESAMPLES = 1000
_CHUNK = 4_000_000  # drawn indices held at once (resamples x items), about 32 MB


@dataclass(frozen=True)
class Bootstrap:
    """Settings of the percentile bootstrap; `resamples=0` computes no intervals."""

    resamples: int = RESAMPLES
    seed: int = 0
    level: float = LEVEL

    def interval(self, groups: Sequence[Sequence[float]], scale: float = 1.0) -> Optional[list[float]]:
        """[lo, hi] of the mean over all values times `scale`, resampling the groups (items)
        with replacement; None without values or without resamples."""
        sums, counts = [], []
        for g in groups:
            if len(g):
                sums.append(float(sum(float(v) for v in g)))
                counts.append(len(g))
        if not sums or self.resamples <= 0:
            return None
        s, c = np.asarray(sums), np.asarray(counts, dtype=float)
        rng = np.random.default_rng(self.seed)
        step = max(1, _CHUNK // len(s))
        stats = []
        for start in range(0, self.resamples, step):
            idx = rng.integers(0, len(s), size=(min(step, self.resamples - start), len(s)))
            stats.append(s[idx].sum(axis=1) / c[idx].sum(axis=1))
        return self._percentiles(np.concatenate(stats) * scale)

    def mean_of_means(self, strata: Sequence[Sequence[float]]) -> Optional[list[float]]:
        """[lo, hi] of the mean over strata (RM-Bench domains) of each stratum's mean, resampling
        items within each stratum; None without values or without resamples."""
        groups = [np.asarray(g, dtype=float) for g in strata if len(g)]
        if not groups or self.resamples <= 0:
            return None
        rng = np.random.default_rng(self.seed)
        total = np.zeros(self.resamples)
        for g in groups:
            step = max(1, _CHUNK // len(g))
            for start in range(0, self.resamples, step):
                k = min(step, self.resamples - start)
                total[start:start + k] += g[rng.integers(0, len(g), size=(k, len(g)))].mean(axis=1)
        return self._percentiles(total / len(groups))

    def _percentiles(self, stats: np.ndarray) -> list[float]:
        alpha = 100.0 * (1.0 - self.level) / 2.0
        lo, hi = np.percentile(stats, [alpha, 100.0 - alpha])
        return [round(float(lo), 4), round(float(hi), 4)]

    def rate(self, groups: Sequence[Sequence[bool]]) -> Optional[list[float]]:
        """The interval of a percentage of True values (accuracy, position consistency)."""
        return self.interval(groups, scale=100.0)


def from_meta(meta: dict, resamples: Optional[int] = None) -> Bootstrap:
    """The bootstrap of a results file: seeded with its run's seed, with `resamples` or else the
    run's own (`bootstrap_resamples` in its meta)."""
    if resamples is None:
        resamples = int(meta.get("bootstrap_resamples", RESAMPLES))
    return Bootstrap(resamples=resamples, seed=int(meta.get("seed") or 0))
