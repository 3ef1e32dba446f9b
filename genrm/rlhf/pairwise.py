"""Judge groups of completions pairwise with a GenRM backend and scalarise the verdicts.

    judge = make_judge(JudgeConfig(backend={"kind": "hf", "model": "embedded:smollm2-135m"}))
    strategy = make_strategy("round_robin")
    [result] = score_groups([Group(prompt, completions)], strategy, judge)
    result.scores  # one float (or None) per completion

All comparisons of all groups in one call go to the backend as one batch. Prompts come
from `genrm.judge.prompts.render_judge_messages`, verdicts from `genrm.judge.verdict.parse_verdict`;
the strategies and their costs are in `genrm.rlhf.scalarize`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass, field
from typing import Any, Literal, Optional, Sequence

from genrm.backends import BackendError, Sampling, make_backend
from genrm.judge.prompts import render_judge_messages
from genrm.rlhf.scalarize import REF, STRATEGIES, Comparison, GroupResult, Strategy, make_strategy
from genrm.judge.verdict import Verdict, parse_verdict

log = logging.getLogger(__name__)


@dataclass
class JudgeConfig:
    """The GenRM and how to ask it. `backend` is a `genrm.backends.make_backend` config
    (kind: hf | openai | vllm, plus that backend's options)."""

    backend: dict[str, Any] = field(default_factory=lambda: {"kind": "hf", "model": "embedded:smollm2-135m"})
    style: Literal["rationale", "answer-tag"] = "rationale"
    template: Optional[str] = None  # a .jinja path or inline Jinja replacing the built-in prompt
    max_new_tokens: int = 512
    temperature: float = 0.0
    seed: int = 0
    stop: list[str] = field(default_factory=list)


@dataclass
class StrategyConfig:
    """Pairwise-to-scalar strategy (see `genrm.rlhf.scalarize` for costs and semantics)."""

    name: Literal["reference", "round_robin", "bradley_terry", "sampled_round_robin"] = "reference"
    strength: Literal["ignore", "graded"] = "ignore"
    rounds: int = 1  # sampled_round_robin: each completion meets 2*rounds others
    seed: int = 0
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
    """A backend plus the judge prompt and parser. Sync backends (HF, vLLM) run one batch
    at a time; the async path runs them in a worker thread and awaits `agenerate` where a
    backend has it (the OpenAI-compatible one)."""

    def __init__(self, backend: Any, style: str = "rationale", template: str | None = None,
                 sampling: Sampling | None = None):
        self.backend, self.style, self.template = backend, style, template
        self.sampling = sampling or Sampling(max_new_tokens=512)
        self._lock = threading.Lock()
        self.calls = 0  # judge generations requested
        self.batches = 0  # backend calls made

    def messages(self, group: Group, c: Comparison) -> list[dict]:
        def text(k: int) -> str:
            if k == REF:
                if group.reference is None:
                    raise ValueError("this strategy compares against a reference answer, but the group has none")
                return group.reference
            return group.completions[k]

        return render_judge_messages(group.prompt, text(c.a), text(c.b), style=self.style, template=self.template)

    def parse(self, texts: Sequence[str | None]) -> list[Verdict | None]:
        return [None if t is None else parse_verdict(t, self.style) for t in texts]

    def _generate(self, prompts: list) -> list[str | None]:
        with self._lock:
            try:
                return list(self.backend.generate(prompts, self.sampling))
            except (BackendError, RuntimeError, OSError) as e:  # the whole batch failed: report, never score
                log.warning("judge batch of %d failed: %s", len(prompts), e)
                return [None] * len(prompts)

    def generate(self, prompts: list) -> list[str | None]:
        self.calls += len(prompts)
        self.batches += 1
        return self._generate(prompts) if prompts else []

    async def agenerate(self, prompts: list) -> list[str | None]:
        if not prompts:
            return []
        self.calls += len(prompts)
        self.batches += 1
        agen = getattr(self.backend, "agenerate", None)
        if agen is None:
            return await asyncio.to_thread(self._generate, prompts)
        try:
            return list(await agen(prompts, self.sampling))
        except (BackendError, RuntimeError, OSError) as e:
            log.warning("judge batch of %d failed: %s", len(prompts), e)
            return [None] * len(prompts)


def make_judge(cfg: JudgeConfig, backend: Any = None) -> PairJudge:
    """A judge from its config (or around an already built backend)."""
    backend = backend if backend is not None else make_backend(cfg.backend)
    sampling = Sampling(max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature, seed=cfg.seed,
                        stop=list(cfg.stop))
    return PairJudge(backend, style=cfg.style, template=cfg.template, sampling=sampling)


def plan(groups: Sequence[Group], strategy: Strategy) -> list[list[Comparison]]:
    """The comparisons each group needs (checked up front: a missing reference is an error)."""
    out = []
    for k, g in enumerate(groups):
        if strategy.needs_reference and g.reference is None:
            raise ValueError(f"strategy {strategy.name!r} needs a reference answer; group {k} has none")
        out.append(strategy.comparisons(len(g.completions)))
    return out


def _prompts(groups: Sequence[Group], plans: list[list[Comparison]], judge: PairJudge) -> list:
    return [judge.messages(g, c) for g, cs in zip(groups, plans) for c in cs]


def _results(groups, plans, strategy, verdicts) -> list[GroupResult]:
    out, pos = [], 0
    for g, cs in zip(groups, plans):
        out.append(strategy.score(len(g.completions), cs, verdicts[pos : pos + len(cs)]))
        pos += len(cs)
    return out


def score_groups(groups: Sequence[Group], strategy: Strategy, judge: PairJudge) -> list[GroupResult]:
    """Scores for every group, all comparisons in one backend batch."""
    plans = plan(groups, strategy)
    texts = judge.generate(_prompts(groups, plans, judge))
    return _results(groups, plans, strategy, judge.parse(texts))


async def ascore_groups(groups: Sequence[Group], strategy: Strategy, judge: PairJudge) -> list[GroupResult]:
    plans = plan(groups, strategy)
    texts = await judge.agenerate(_prompts(groups, plans, judge))
    return _results(groups, plans, strategy, judge.parse(texts))
