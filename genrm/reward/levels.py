"""Score levels shared by every matcher: the levels, quantising, the matcher error and pair helpers."""

from __future__ import annotations

from typing import Hashable, Sequence

import numpy as np

SCORE_LEVELS = (0.0, 0.25, 0.5, 0.75, 1.0)
SNAP_TOLERANCE = 0.05


class MatchError(RuntimeError):
    """The matcher could not produce a complete score matrix (after retries)."""


def _check_thresholds(thresholds: Sequence[float]) -> tuple[float, float, float, float]:
    t = tuple(float(x) for x in thresholds)
    if len(t) != 4 or any(b <= a for a, b in zip(t, t[1:])):
        raise ValueError(f"thresholds must be 4 strictly increasing numbers (for 0.25, 0.5, 0.75, 1), got {thresholds!r}")
    return t  # type: ignore[return-value]


def quantise(sim: np.ndarray, thresholds: Sequence[float]) -> np.ndarray:
    """Similarity -> score level: sim >= t4 -> 1, >= t3 -> 0.75, >= t2 -> 0.5, >= t1 -> 0.25, else 0."""
    idx = np.searchsorted(np.asarray(thresholds, dtype=np.float64), np.asarray(sim, dtype=np.float64), side="right")
    return np.asarray(SCORE_LEVELS, dtype=np.float64)[idx]


def _empty(n: int, m: int) -> np.ndarray:
    return np.zeros((n, m), dtype=np.float64)


def _split_pair(pair: Sequence) -> tuple[list[str], list[str], Hashable | None]:
    if len(pair) == 3:
        return list(pair[0]), list(pair[1]), pair[2]
    return list(pair[0]), list(pair[1]), None
