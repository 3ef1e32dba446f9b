"""What the rewards, `genrm.reward.scoring` and the evaluator call on a matcher.

A matcher turns (human units, model units) pairs into score matrices (levels in
`genrm.reward.levels.SCORE_LEVELS`, shape |human| x |model|). `LexicalMatcher`,
`EmbeddingMatcher` (genrm.reward.matching) and `LLMMatcher` (genrm.reward.metajudge)
are `Matcher`s; `LLMMatcher` is also an `AsyncMatcher`, the one the async rewards
await when its backend is remote (`is_async`).
"""

from __future__ import annotations

from typing import Protocol, Sequence, runtime_checkable

import numpy as np


@runtime_checkable
class Matcher(Protocol):
    """`pairs` items are (human_units, model_units) or (human_units, model_units, key);
    `key` lets a matcher cache the human side (the record id). A pair it could not
    score is None with `raise_errors=False`, else an error (`MatchError`); never a 0."""

    kind: str  # "lexical" | "embedding" | "llm": logged and shown in plans
    is_async: bool  # True: the rewards are built async and call `ascore_matrices`

    def score_matrices(self, pairs: Sequence[Sequence], raise_errors: bool = True) -> list[np.ndarray | None]: ...


@runtime_checkable
class AsyncMatcher(Matcher, Protocol):
    """A matcher whose scoring can be awaited (a remote MetaJudge)."""

    async def ascore_matrices(self, pairs: Sequence[Sequence],
                              raise_errors: bool = True) -> list[np.ndarray | None]: ...
