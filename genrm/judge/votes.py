"""Votes of judgments and the small arithmetic on them, shared by the evaluation suites,
the judging of records and the rewards' metrics: votes, percentages, means.

A *vote* is one judgment of a comparison seen from the chosen response: +1 when
the judge prefers the chosen response, -1 the rejected one, 0 a tie or an
invalid verdict. A comparison is *won* when its votes sum above 0.
"""

from __future__ import annotations

from typing import Iterable, Optional, Sequence


def vote(winner: str, chosen_position: str) -> int:
    """The vote of a judgment: +1 when the judge picked the chosen response (shown at
    `chosen_position`), -1 the rejected one, 0 a tie or an invalid verdict."""
    if winner not in ("A", "B"):
        return 0
    return 1 if winner == chosen_position else -1


def score_vote(chosen: float, rejected: float) -> int:
    """The vote of a scoring model (scalar RM, proxy): a strict comparison, equal scores tie."""
    return 1 if chosen > rejected else -1 if chosen < rejected else 0


def won(votes: Sequence[int]) -> bool:
    """A comparison is won when its votes sum above 0 (ties and splits lose)."""
    return sum(votes) > 0


def pct(num: float, den: float) -> Optional[float]:
    """100 * num / den, or None for an empty denominator (never a made-up 0)."""
    return 100.0 * num / den if den else None


def mean(xs: Iterable[Optional[float]]) -> Optional[float]:
    """Mean of the values that are not None; None when there are none."""
    vals = [x for x in xs if x is not None]
    return sum(vals) / len(vals) if vals else None
