"""The one reward function the trainer hands to `GRPOTrainer`.

TRL turns a `None` reward into NaN; with several reward functions it sums NaN as 0, so a
failed match would silently become a 0 reward. The trainer therefore passes the recipe's
reward as the *only* reward function. Outcome accuracy and the format check are computed
beside it as metrics (`outcome/*`, `format/*`), never as rewards, and a completion whose
match failed keeps `None`: no advantage, never a 0.

It also logs matcher calls and seconds, and appends the record ids each generation
batch used to `rows.rank<r>.jsonl` (to check that resume never repeats a row in an epoch).
"""

from __future__ import annotations

import inspect
import json
import os
import time
from typing import Any

from genrm.reward.protocol import Matcher
from genrm.reward.rewards import FormatReward, OutcomeReward, make_reward, matcher_from_config
from genrm.training.recipe import TrainRecipe


class TimedMatcher:
    """A matcher that counts its calls, matrices and seconds (delegates everything else)."""

    def __init__(self, matcher: Matcher):
        self.inner = matcher
        self.calls = self.matrices = 0
        self.seconds = 0.0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    # Spelled out (not only through __getattr__) so that it is a `Matcher` to static checks too.
    @property
    def kind(self) -> str:
        return self.inner.kind

    @property
    def is_async(self) -> bool:
        return bool(getattr(self.inner, "is_async", False))

    def score_matrices(self, pairs, raise_errors: bool = True):
        t0 = time.perf_counter()
        try:
            return self.inner.score_matrices(pairs, raise_errors=raise_errors)
        finally:
            self._count(len(pairs), t0)

    async def ascore_matrices(self, pairs, raise_errors: bool = True):
        t0 = time.perf_counter()
        try:
            return await self.inner.ascore_matrices(pairs, raise_errors=raise_errors)
        finally:
            self._count(len(pairs), t0)

    def _count(self, n: int, t0: float) -> None:
        self.calls += 1
        self.matrices += n
        self.seconds += time.perf_counter() - t0


class _Side:
    """What the training reward does around the main reward: metrics and the row log."""

    def __init__(self, recipe: TrainRecipe, style: str, matcher: TimedMatcher | None, rows_path: str | None):
        self.metrics = [] if recipe.reward.kind == "outcome" else [OutcomeReward(style=style, name="outcome")]
        self.metrics.append(FormatReward(style=style, name="format"))
        self.matcher, self.rows_path = matcher, rows_path
        self._seen: tuple[int, int] | None = None

    def after(self, prompts, completions, kwargs: dict) -> None:
        for m in self.metrics:
            m(prompts=prompts, completions=completions, **kwargs)
        log_metric = kwargs.get("log_metric")
        if callable(log_metric) and self.matcher is not None:
            log_metric("matcher/calls", float(self.matcher.calls))
            log_metric("matcher/matrices", float(self.matcher.matrices))
            log_metric("matcher/seconds", float(self.matcher.seconds))
        state = kwargs.get("trainer_state")
        ids = kwargs.get("record_id")
        if self.rows_path and ids is not None:
            step = int(getattr(state, "global_step", -1)) if state is not None else -1
            with open(self.rows_path, "a", encoding="utf-8") as f:
                f.write(json.dumps({"step": step, "ids": sorted(set(ids))}) + "\n")


def training_reward(recipe: TrainRecipe, style: str, rows_path: str | None = None, matcher: Matcher | None = None):
    """The callable for `GRPOTrainer(reward_funcs=[...])` (async when the matcher is remote):
    `genrm.reward.rewards.make_reward` on the recipe's reward, its matcher timed."""
    timed = None
    if recipe.reward.kind != "outcome":
        timed = TimedMatcher(matcher if matcher is not None else matcher_from_config(recipe.reward.matcher))
    main = make_reward(recipe.reward, style, timed)
    side = _Side(recipe, style, timed, rows_path)

    if inspect.iscoroutinefunction(main.__call__):
        async def reward(prompts=None, completions=None, **kwargs):
            out = await main(prompts=prompts, completions=completions, **kwargs)
            side.after(prompts, completions, kwargs)
            return out
    else:
        def reward(prompts=None, completions=None, **kwargs):
            out = main(prompts=prompts, completions=completions, **kwargs)
            side.after(prompts, completions, kwargs)
            return out

    reward.__name__ = main.__name__
    reward.reward = main  # type: ignore[attr-defined]
    reward.matcher = timed  # type: ignore[attr-defined]
    return reward


def rows_log_path(out_dir: str) -> str:
    rank = int(os.environ.get("RANK", "0"))
    return os.path.join(out_dir, f"rows.rank{rank}.jsonl")
