"""GRPO rewards for a generative reward model, as TRL `reward_funcs` callables.

Every reward is called as `f(prompts, completions, **columns) -> list[float | None]`
(TRL passes each dataset column as a keyword, one value per completion). They read:

* `label`: the preferred position, "A>B" or "B>A" ("A>>B", "A=B", ... also read);
* `rationale_units`: the human atomic reasons of the row (list of strings), side-neutral
  ("{chosen}"/"{rejected}", see genrm.data.sides) or already rendered as "Response A/B";
* `chosen_position` (rationale and hybrid rewards): where the row's judge prompt shows
  the chosen response ("A"/"B"). It maps the units and the model's A/B mentions to
  chosen/rejected. Without the column the `label`'s winner gives it (the label names
  the same side); without both, units are taken as already rendered for the placement
  the completion was written against (side-neutral units then raise a ValueError);
* `chosen`, `rejected` (optional): the response texts; with `prompts` they are the
  context of the pasted-text check, and short ones let a quoted answer name its side.

Completions may be strings or message lists ([{"role": "assistant", "content": ...}]).

Rewards:
* `OutcomeReward`   binary: 1 when the verdict's winner matches the label, else 0
                    (an invalid verdict, or a tie against a strict label, is 0);
                    signed: +1 correct, -1 otherwise (invalid is -1 too, so breaking
                    the format is never better than a wrong verdict).
* `FormatReward`    1 when the output has exactly one valid verdict at the end (see
                    genrm.judge.verdict) and at least one reason, else 0.
* `RationaleReward` Average Precision of the model's ordered reasons against the human
                    units (genrm.reward.matching.average_precision) on the matrix that
                    `genrm.reward.scoring.score_rationales` returns: sides mapped, only the first
                    `max_model_units` reasons (default 10; later ones earn nothing and cost
                    nothing), void reasons (filler, pasted, soup, duplicate, too long,
                    misattributed) kept as zero positions, stance conflicts at 0 (see
                    genrm.reward.defenses; `defenses` tunes them). None without human units.
* `HybridReward`    R_rat * R_out (default, R_out in {0, 1}); "weighted":
                    w_out * R_out + w_rat * R_rat; "rationale_only": R_rat. None without
                    human units. `match_wrong_verdicts=False` skips the matcher where
                    the product is 0 anyway (a wrong or invalid verdict).

A rationale or hybrid reward whose matcher is remote (an `LLMMatcher` over a backend
with `agenerate`) is built as its async twin (`AsyncRationaleReward`,
`AsyncHybridReward`): `__call__` is a coroutine, which TRL runs concurrently with the
other async rewards. A MetaJudge failure (after its retries) gives None for that row
and is counted, never a silent 0.

`make_reward(RewardConfig, style)` builds the one a recipe's `reward:` section names
(genrm.reward.config); `matcher_from_config` its matcher.

Each reward keeps cumulative `stats` and the `last_metrics` of its last call, and
logs them through TRL's `log_metric` keyword when given, else to wandb when a run
is active (wandb is never imported here).
"""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Sequence

from genrm.data.record import completion_text, human_units
from genrm.judge.verdict import Verdict, label_winner, parse_verdict
from genrm.judge.votes import mean
from genrm.reward.config import MatcherConfig, RewardConfig
from genrm.reward.defenses import Defenses
from genrm.reward.matching import average_precision, make_matcher
from genrm.reward.protocol import Matcher
from genrm.reward.scoring import DEFAULT_MAX_MODEL_UNITS, RationaleItem, ascore_rationales, score_rationales

HYBRID_MODES = ("product", "weighted", "rationale_only")
OUTCOME_SCALES = ("binary", "signed")


def _column(kwargs: dict, name: str, n: int, reward: str) -> list:
    if name not in kwargs:
        present = ", ".join(sorted(k for k in kwargs if k not in ("trainer_state", "log_extra", "log_metric")))
        raise ValueError(f"reward '{reward}' needs the dataset column '{name}' (columns given: {present or 'none'})")
    col = list(kwargs[name])
    if len(col) != n:
        raise ValueError(f"reward '{reward}': column '{name}' has {len(col)} values for {n} completions")
    return col


class _Reward:
    """Running stats and logging shared by all rewards."""

    def __init__(self, name: str):
        self.__name__ = name
        self.stats: dict[str, float] = {"calls": 0, "rows": 0, "parse_failures": 0}
        self.last_metrics: dict[str, float | None] = {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.__name__!r})"

    def _parse(self, completions: Sequence, style: str) -> list[Verdict]:
        if completions is None:
            raise ValueError(f"reward '{self.__name__}' needs completions")
        return [parse_verdict(completion_text(c), style) for c in completions]

    def _publish(self, verdicts: list[Verdict], metrics: dict[str, Any], kwargs: dict) -> None:
        fails = sum(1 for v in verdicts if not v.valid)
        self.stats["calls"] += 1
        self.stats["rows"] += len(verdicts)
        self.stats["parse_failures"] += fails
        for k in ("match_failures", "not_applicable"):
            if k in metrics:
                self.stats[k] = self.stats.get(k, 0) + metrics[k]
        metrics = {"parse_failures": fails, "parse_failure_rate": fails / len(verdicts) if verdicts else 0.0, **metrics}
        self.last_metrics = metrics
        named = {f"{self.__name__}/{k}": float(v) for k, v in metrics.items() if v is not None}
        log_metric = kwargs.get("log_metric")
        if callable(log_metric):
            for k, v in named.items():
                log_metric(k, v)
            return
        wandb = sys.modules.get("wandb")  # only if the trainer already imported it
        if wandb is not None and getattr(wandb, "run", None) is not None:
            wandb.log(named, commit=False)


class OutcomeReward(_Reward):
    def __init__(self, style: str = "rationale", scale: str = "binary", name: str = "outcome"):
        super().__init__(name)
        if scale not in OUTCOME_SCALES:
            raise ValueError(f"unknown outcome scale {scale!r}; known: {', '.join(OUTCOME_SCALES)}")
        self.style, self.scale = style, scale

    def __call__(self, prompts=None, completions=None, **kwargs) -> list[float | None]:
        verdicts = self._parse(completions, self.style)
        labels = _column(kwargs, "label", len(verdicts), self.__name__)
        correct = [None if lab is None else v.winner == label_winner(lab) for v, lab in zip(verdicts, labels)]
        bad = 0.0 if self.scale == "binary" else -1.0
        out = [None if c is None else (1.0 if c else bad) for c in correct]
        self._publish(verdicts, {"accuracy": mean([float(c) for c in correct if c is not None]), "mean": mean(out)}, kwargs)
        return out


class FormatReward(_Reward):
    def __init__(self, style: str = "rationale", name: str = "format"):
        super().__init__(name)
        self.style = style

    def __call__(self, prompts=None, completions=None, **kwargs) -> list[float | None]:
        verdicts = self._parse(completions, self.style)
        out = [1.0 if v.valid and v.reasons else 0.0 for v in verdicts]
        self._publish(verdicts, {"mean": mean(out)}, kwargs)
        return out


@dataclass
class _Batch:
    verdicts: list[Verdict]
    units: list[list[str]]
    outcome: list[float | None]  # R_out in {0, 1} per row (None when no label is needed/given)
    items: list[RationaleItem] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)  # row index of each item
    checks: Counter = field(default_factory=Counter)  # void reasons by kind, truncations, zeroed pairs


def _optional(kwargs: dict, name: str, n: int) -> list:
    col = kwargs.get(name)
    if col is None:
        return [None] * n
    col = list(col)
    if len(col) != n:
        raise ValueError(f"column '{name}' has {len(col)} values for {n} completions")
    return col


def _is_remote(matcher: Matcher) -> bool:
    return bool(getattr(matcher, "is_async", False))


class _MatchedReward(_Reward):
    """Shared body of the rationale and hybrid rewards: parse, build (human, model)
    pairs for the rows with human units, score them with the matcher, combine."""

    needs_label = False

    def __init__(self, matcher: Matcher, style: str, top_k: int | None, name: str,
                 max_model_units: int = DEFAULT_MAX_MODEL_UNITS, defenses: Defenses | dict | None = None):
        super().__init__(name)
        self.matcher, self.style, self.top_k = matcher, style, top_k
        if int(max_model_units) < 1:
            raise ValueError(f"max_model_units must be >= 1, got {max_model_units}")
        self.max_model_units = int(max_model_units)
        self.defenses = defenses if isinstance(defenses, Defenses) else Defenses(**(defenses or {}))

    def _prepare(self, prompts, completions, kwargs) -> _Batch:
        verdicts = self._parse(completions, self.style)
        n = len(verdicts)
        units = [human_units(u) for u in _column(kwargs, "rationale_units", n, self.__name__)]
        labels = _column(kwargs, "label", n, self.__name__) if self.needs_label else _optional(kwargs, "label", n)
        if self.needs_label:
            outcome = [
                None if lab is None else float(v.winner == label_winner(lab)) for v, lab in zip(verdicts, labels)
            ]
        else:
            outcome = [None] * n
        positions = _optional(kwargs, "chosen_position", n)
        chosen, rejected = _optional(kwargs, "chosen", n), _optional(kwargs, "rejected", n)
        prompts = list(prompts) if prompts is not None and len(prompts) == n else [None] * n
        batch = _Batch(verdicts, units, outcome)
        for r, (v, hu) in enumerate(zip(verdicts, units)):
            if hu and not self._skip(outcome[r]):
                reasons = v.reasons[: self.top_k] if self.top_k else v.reasons
                batch.items.append(RationaleItem.from_row(hu, reasons, chosen_position=positions[r], label=labels[r],
                                                          prompt=prompts[r], chosen=chosen[r], rejected=rejected[r]))
                batch.rows.append(r)
        return batch

    def _combine(self, r_out: float | None, r_rat: float) -> float | None:
        return r_rat

    def _skip(self, r_out: float | None) -> bool:
        """Rows whose reward is known without matching (see HybridReward.match_wrong_verdicts)."""
        return False

    def _finish(self, batch: _Batch, matrices: list, kwargs: dict) -> list[float | None]:
        n = len(batch.verdicts)
        r_rat: list[float | None] = [None] * n
        match_failures = 0
        for r, S in zip(batch.rows, matrices):
            if S is None:
                match_failures += 1
            else:
                r_rat[r] = average_precision(S)
        out = [
            0.0 if batch.units[r] and self._skip(batch.outcome[r])
            else None if r_rat[r] is None else self._combine(batch.outcome[r], r_rat[r])
            for r in range(n)
        ]
        metrics = {
            "rationale_mean": mean(r_rat),
            "mean": mean(out),
            "match_failures": match_failures,
            "not_applicable": sum(1 for u in batch.units if not u),
            "matched_rows": len(batch.rows),
            "reasons_per_output": mean([float(len(v.reasons)) for v in batch.verdicts]),
            **{f"checks/{k}": float(v) for k, v in sorted(batch.checks.items())},
        }
        if self.needs_label:
            metrics["outcome_mean"] = mean(batch.outcome)
        self._publish(batch.verdicts, metrics, kwargs)
        return out

    def _options(self, batch: _Batch) -> dict:
        return {"max_model_units": self.max_model_units, "defenses": self.defenses, "stats": batch.checks}

    def __call__(self, prompts=None, completions=None, **kwargs) -> list[float | None]:
        batch = self._prepare(prompts, completions, kwargs)
        matrices = score_rationales(self.matcher, batch.items, **self._options(batch)) if batch.items else []
        return self._finish(batch, matrices, kwargs)

    async def _acall(self, prompts, completions, kwargs) -> list[float | None]:
        batch = self._prepare(prompts, completions, kwargs)
        matrices = await ascore_rationales(self.matcher, batch.items, **self._options(batch)) if batch.items else []
        return self._finish(batch, matrices, kwargs)


class RationaleReward(_MatchedReward):
    """AP of the model's ordered reasons vs the human units; None without units.
    Built as `AsyncRationaleReward` when the matcher is remote."""

    def __new__(cls, matcher=None, *args, **kwargs):
        if cls is RationaleReward and _is_remote(matcher):
            cls = AsyncRationaleReward
        return super().__new__(cls)

    def __init__(self, matcher: Matcher, top_k: int | None = None, style: str = "rationale", name: str = "rationale",
                 max_model_units: int = DEFAULT_MAX_MODEL_UNITS, defenses: Defenses | dict | None = None):
        super().__init__(matcher, style, top_k, name, max_model_units, defenses)


class AsyncRationaleReward(RationaleReward):
    async def __call__(self, prompts=None, completions=None, **kwargs) -> list[float | None]:
        return await self._acall(prompts, completions, kwargs)


class HybridReward(_MatchedReward):
    """R = R_rat * R_out by default (no reward without the right verdict); "weighted"
    and "rationale_only" modes for ablations. None without human units.
    Built as `AsyncHybridReward` when the matcher is remote."""

    def __new__(cls, matcher=None, *args, **kwargs):
        if cls is HybridReward and _is_remote(matcher):
            cls = AsyncHybridReward
        return super().__new__(cls)

    def __init__(
        self,
        matcher: Matcher,
        mode: str = "product",
        weights: Sequence[float] = (0.5, 0.5),
        style: str = "rationale",
        top_k: int | None = None,
        name: str = "hybrid",
        match_wrong_verdicts: bool = True,
        max_model_units: int = DEFAULT_MAX_MODEL_UNITS,
        defenses: Defenses | dict | None = None,
    ):
        super().__init__(matcher, style, top_k, name, max_model_units, defenses)
        # False: in product mode a wrong or invalid verdict scores 0 without a MetaJudge
        # call (about half the calls early in training); rationale_mean then covers only
        # the rows with a right verdict.
        self.match_wrong_verdicts = bool(match_wrong_verdicts)
        if mode not in HYBRID_MODES:
            raise ValueError(f"unknown hybrid mode {mode!r}; known: {', '.join(HYBRID_MODES)}")
        if len(weights) != 2:
            raise ValueError(f"weights must be (w_outcome, w_rationale), got {weights!r}")
        self.mode = mode
        self.weights = (float(weights[0]), float(weights[1]))
        self.needs_label = mode != "rationale_only"

    def _skip(self, r_out: float | None) -> bool:
        return self.mode == "product" and not self.match_wrong_verdicts and r_out == 0.0

    def _combine(self, r_out: float | None, r_rat: float) -> float | None:
        if self.mode == "rationale_only":
            return r_rat
        if r_out is None:
            return None  # no label for this row
        if self.mode == "product":
            return r_rat * r_out
        return self.weights[0] * r_out + self.weights[1] * r_rat


class AsyncHybridReward(HybridReward):
    async def __call__(self, prompts=None, completions=None, **kwargs) -> list[float | None]:
        return await self._acall(prompts, completions, kwargs)


def matcher_from_config(cfg: MatcherConfig, backend: Any = None) -> Matcher:
    """The matcher a recipe's `reward.matcher` describes (see `genrm.reward.matching.make_matcher`).
    For "llm", `backend` is the MetaJudge's backend, else one is built from `cfg.backend`."""
    spec: dict[str, Any] = {"kind": cfg.kind, **cfg.options}
    if cfg.kind == "llm" and cfg.backend is not None:
        # expected_tokens_per_s sizes the MetaJudge load in the training plan; the backend takes no such key
        spec["backend"] = {k: v for k, v in cfg.backend.items() if k != "expected_tokens_per_s"}
    return make_matcher(spec, backend)


def make_reward(cfg: RewardConfig, style: str, matcher: Matcher | None = None) -> _Reward:
    """The reward a `RewardConfig` describes, for judge outputs in `style` ("rationale" or
    "answer-tag"): outcome -> `OutcomeReward`; rationale -> `RationaleReward`; hybrid ->
    `HybridReward` in product mode; weighted -> `HybridReward` with `cfg.weights`. The
    matcher is built from `cfg.matcher` unless given (outcome needs none). Rewards over a
    remote matcher come back as their async twins. Each is named after its kind."""
    if cfg.kind == "outcome":
        return OutcomeReward(style=style, scale=cfg.outcome_scale, name="outcome")
    if cfg.kind not in ("rationale", "hybrid", "weighted"):
        raise ValueError(f"unknown reward kind {cfg.kind!r}; known: outcome, rationale, hybrid, weighted")
    matcher = matcher if matcher is not None else matcher_from_config(cfg.matcher)
    common = dict(style=style, max_model_units=cfg.max_model_units, defenses=cfg.defenses)
    if cfg.kind == "rationale":
        return RationaleReward(matcher, name="rationale", **common)
    return HybridReward(matcher, mode="product" if cfg.kind == "hybrid" else "weighted", weights=tuple(cfg.weights),
                        name=cfg.kind, match_wrong_verdicts=cfg.match_wrong_verdicts, **common)
