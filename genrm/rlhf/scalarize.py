"""Pairwise verdicts to one scalar per completion: moved to `genrm.judge.scalarize`, one stage
lower, because the evaluator scores RewardBench 2's Ties completions with the same strategies
(and evaluation and rlhf do not import each other). This path keeps working for its importers."""

from genrm.judge.scalarize import (  # noqa: F401
    REF, STRATEGIES, GroupResult, Pairing, ReferenceStrategy, RoundRobinStrategy, SampledRoundRobinStrategy, Strategy,
    Strength, bradley_terry, make_strategy, outcome,
)
