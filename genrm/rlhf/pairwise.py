"""Judge groups of completions pairwise with a GenRM backend and scalarise the verdicts.

    judge = make_judge(JudgeConfig(backend={"kind": "hf", "model": "embedded:smollm2-135m"}))
    strategy = make_strategy("round_robin")
    [result] = score_groups([Group(prompt, completions)], strategy, judge)
    result.scores  # one float (or None) per completion

All comparisons of all groups in one call go to the backend as one batch, through the
one pair-judging core `genrm.judge.pairs` (prompts, generation, parsing and its failure
policy: a backend call that failed for good counts in `GroupResult.failed`, never as a
score; anything else a backend raises propagates). The strategies and their costs are
in `genrm.judge.scalarize`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Literal, Optional, Sequence

from genrm.backends import Sampling, make_backend
from genrm.judge.config import EVALUATION_KEYS, JudgeConfig, judge_for_model
from genrm.judge.pairs import Judgment, Pair, ajudge_pairs, judge_pairs
from genrm.judge.verdict import Verdict
from genrm.judge.scalarize import REF, STRATEGIES, GroupResult, Pairing, Strategy, make_strategy

__all__ = ["Group", "JudgeConfig", "PairJudge", "StrategyConfig", "ascore_groups", "make_judge", "plan",
           "score_groups", "strategy_from_config"]


@dataclass
class StrategyConfig:
    """Pairwise-to-scalar strategy (see `genrm.judge.scalarize` for costs and semantics)."""

    name: Literal["reference", "round_robin", "bradley_terry", "sampled_round_robin"] = "reference"  # verdicts -> scores
    strength: Literal["ignore", "graded"] = "ignore"  # A>>B and A>B both a win, or graded (1, 0.75, ...)
    rounds: int = 1  # sampled_round_robin: each completion meets 2*rounds others
    seed: int = 0  # placement and pairing seed
    fit: Optional[Literal["win_rate", "bradley_terry"]] = None  # sampled_round_robin only
    l2: float = 0.01  # Bradley-Terry prior


def strategy_from_config(cfg: StrategyConfig) -> Strategy:
    if cfg.name not in STRATEGIES:
        raise ValueError(f"unknown strategy {cfg.name!r}; known: {', '.join(STRATEGIES)}")
    return make_strategy(cfg.name, strength=cfg.strength, rounds=cfg.rounds, seed=cfg.seed, fit=cfg.fit, l2=cfg.l2)


@dataclass
class Group:
    """Completions of one prompt (a string or chat messages), with an optional reference answer."""

    prompt: str | list[dict]
    completions: list[str]
    reference: str | None = None


class PairJudge:
    """A backend plus the judge's style, template and sampling, judging through
    `genrm.judge.pairs`. Sync backends (HF, vLLM) run one batch at a time (a lock: the
    service's workers share the judge); the async path awaits `agenerate` where a backend
    has it (the OpenAI-compatible one), else runs the sync call in a worker thread."""

    def __init__(self, backend: Any, style: str = "rationale", template: str | None = None,
                 sampling: Sampling | None = None):
        self.backend, self.style, self.template = backend, style, template
        self.sampling = sampling or JudgeConfig().sampling()
        self._lock = threading.Lock()
        self.calls = 0  # judge generations requested
        self.batches = 0  # backend calls made

    def pair(self, group: Group, c: Pairing) -> Pair:
        """The pair one comparison of `group` shows the judge."""
        def text(k: int) -> str:
            if k == REF:
                if group.reference is None:
                    raise ValueError("this strategy compares against a reference answer, but the group has none")
                return group.reference
            return group.completions[k]

        return Pair(group.prompt, text(c.a), text(c.b))

    def _count(self, pairs: Sequence[Pair]) -> None:
        if pairs:
            self.calls += len(pairs)
            self.batches += 1

    def judge(self, pairs: Sequence[Pair]) -> list[Judgment]:
        self._count(pairs)
        return judge_pairs(self.backend, pairs, style=self.style, template=self.template, sampling=self.sampling,
                           lock=self._lock)

    async def ajudge(self, pairs: Sequence[Pair]) -> list[Judgment]:
        self._count(pairs)
        return await ajudge_pairs(self.backend, pairs, style=self.style, template=self.template,
                                  sampling=self.sampling, lock=self._lock)


def make_judge(cfg: JudgeConfig, backend: Any = None) -> PairJudge:
    """A judge from its config (or around an already built backend)."""
    # The group scorer asks for both orders itself (the strategy) and batches by `batching.*`.
    cfg.refuse(EVALUATION_KEYS, "an evaluation setting (a strategy judges both orders itself, "
                                "batching.* sizes the backend calls)")
    # The server, the service and the TRL/verl/OpenRLHF adapters all come here: the model's own prompt
    cfg = judge_for_model(cfg.backend_config().get("model"), cfg)
    backend = backend if backend is not None else make_backend(cfg.backend_config())
    return PairJudge(backend, style=cfg.style, template=cfg.template, sampling=cfg.sampling())


def plan(groups: Sequence[Group], strategy: Strategy) -> list[list[Pairing]]:
    """The comparisons each group needs (checked up front: a missing reference is an error)."""
    out = []
    for k, g in enumerate(groups):
        if strategy.needs_reference and g.reference is None:
            raise ValueError(f"strategy {strategy.name!r} needs a reference answer; group {k} has none")
        out.append(strategy.comparisons(len(g.completions)))
    return out


def _pairs(groups: Sequence[Group], plans: list[list[Pairing]], judge: PairJudge) -> list[Pair]:
    return [judge.pair(g, c) for g, cs in zip(groups, plans) for c in cs]


def _results(groups: Sequence[Group], plans: list[list[Pairing]], strategy: Strategy,
             judgments: Sequence[Judgment]) -> list[GroupResult]:
    # A failed call has no verdict: the strategy counts it in `failed` and scores nothing from it.
    verdicts: list[Verdict | None] = [None if j.failed else j.verdict for j in judgments]
    out, pos = [], 0
    for g, cs in zip(groups, plans):
        out.append(strategy.score(len(g.completions), cs, verdicts[pos : pos + len(cs)]))
        pos += len(cs)
    return out


def score_groups(groups: Sequence[Group], strategy: Strategy, judge: PairJudge) -> list[GroupResult]:
    """Scores for every group, all comparisons in one backend batch."""
    plans = plan(groups, strategy)
    return _results(groups, plans, strategy, judge.judge(_pairs(groups, plans, judge)))


async def ascore_groups(groups: Sequence[Group], strategy: Strategy, judge: PairJudge) -> list[GroupResult]:
    """`score_groups` for an event loop (the reward service, the TRL adapter)."""
    plans = plan(groups, strategy)
    return _results(groups, plans, strategy, await judge.ajudge(_pairs(groups, plans, judge)))
