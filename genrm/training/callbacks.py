"""Trainer callbacks: eval steps that judge the eval split through `genrm.evaluation.judging`,
and the stop when the matcher keeps failing."""

from __future__ import annotations

from typing import Any, Sequence

from transformers import TrainerCallback

from genrm.backends.hf import HFBackend
from genrm.backends.endpoint import redact_url
from genrm.config import RecipeError
from genrm.data.record import PreferenceRecord
from genrm.evaluation.judging import judge_records, summarize
from genrm.judge.config import JudgeConfig
from genrm.reward.config import RewardConfig


def judge_live_model(model: Any, tokenizer: Any, records: Sequence[PreferenceRecord], *, style: str,
                     template: str | None, max_new_tokens: int, matcher: Any, top_k: int,
                     accelerator: Any = None, desc: str = "eval") -> dict:
    """Greedy judgments of `records` by the model being trained (each rank judges its
    share; the items are gathered), scored by `judge_records`. Returns its summary."""
    rank, world = (accelerator.process_index, accelerator.num_processes) if accelerator is not None else (0, 1)
    mine = list(records)[rank::world]
    backend = HFBackend(model_obj=model, tokenizer=tokenizer, batch_size=16)
    sampling = JudgeConfig().sampling(max_new_tokens=max_new_tokens)  # greedy, as the trainer's eval steps judge
    report = judge_records(mine, backend, style=style, template=template, sampling=sampling, matcher=matcher,
                           top_k=top_k, progress=rank == 0, desc=desc)
    items = report.items
    calls = report.judge_calls
    if world > 1:
        from accelerate.utils import gather_object

        items = gather_object(items)
        calls = sum(gather_object([calls]))
    return summarize(items, judge_calls=calls, seconds=report.seconds)


class JudgeEvalCallback(TrainerCallback):
    """Every `every` optimizer steps (and at the end), judge the eval split and log
    `eval/accuracy`, `eval/parse_failure_rate`, `eval/rationale_consistency`, ..."""

    def __init__(self, records: Sequence[PreferenceRecord], every: int, *, style: str, template: str | None,
                 max_new_tokens: int, matcher: Any, top_k: int):
        self.records, self.every = list(records), every
        self.kw = dict(style=style, template=template, max_new_tokens=max_new_tokens, matcher=matcher, top_k=top_k)
        self.trainer: Any = None  # set by the stage that builds the trainer (it logs through it)
        self.history: list[dict] = []
        self._last_step = -1

    def _run(self, state) -> None:
        if not self.records or state.global_step == self._last_step or self.trainer is None:
            return
        self._last_step = state.global_step
        t = self.trainer
        model = t.accelerator.unwrap_model(t.model)
        summary = judge_live_model(model, t.processing_class, self.records, accelerator=t.accelerator, **self.kw)
        metrics = {f"eval/{k}": float(v) for k, v in summary.items() if isinstance(v, (int, float)) and v is not None}
        self.history.append({"step": state.global_step, **summary})
        t.log(metrics)

    def on_step_end(self, args, state, control, **kwargs):
        if self.every and state.global_step % self.every == 0:
            self._run(state)

    def on_train_end(self, args, state, control, **kwargs):
        if self.every:
            self._run(state)


class MatcherFailing(RecipeError):
    """The matcher failed on too many rows for too long: training has no rationale signal."""


class MatchFailureStop(TrainerCallback):
    """Stop training when the share of matched rows whose match failed stays above `max_rate`
    for `steps` logged steps in a row. A failed match gives the row None (no advantage), so a
    MetaJudge that is down or serves another model leaves only wrong verdicts' zeros: every
    advantage 0, a run that goes on without learning. The logged metrics are averaged over
    all ranks, so every rank stops at the same step."""

    def __init__(self, reward_name: str, max_rate: float, steps: int, where: str = "the matcher"):
        self.keys = (f"{reward_name}/match_failures", f"{reward_name}/matched_rows")
        self.max_rate, self.steps, self.where = max_rate, steps, where
        self.streak = 0
        self.rates: list[float] = []

    def on_log(self, args, state, control, logs=None, **kwargs):
        failed, matched = ((logs or {}).get(k) for k in self.keys)
        if failed is None or not matched:
            return  # nothing was matched in this step: no evidence either way
        rate = float(failed) / float(matched)
        self.streak = self.streak + 1 if rate > self.max_rate else 0
        self.rates = (self.rates + [rate])[-self.steps:]
        if self.streak >= self.steps:
            shown = ", ".join(f"{r:.0%}" for r in self.rates)
            raise MatcherFailing(
                f"stopped at step {state.global_step}: {self.where} failed on {shown} of the matched rows in the last "
                f"{self.steps} logged steps (reward.max_match_failure_rate={self.max_rate:g}); those rows get no "
                "reward, so training would go on without signal. Check the MetaJudge server and model, then resume=true")


def match_failure_stop(cfg: RewardConfig, reward_name: str) -> MatchFailureStop | None:
    """The stop for the recipe's `reward` section (None: no matcher, or `max_match_failure_rate: null`)."""
    if cfg.kind == "outcome" or cfg.max_match_failure_rate is None:
        return None
    m = cfg.matcher
    where = f"the {m.kind} matcher"
    if m.kind == "llm" and m.backend:
        where = f"the MetaJudge at {redact_url(str(m.backend.get('base_url')))} (model {m.backend.get('model')!r})"
    return MatchFailureStop(reward_name, cfg.max_match_failure_rate, cfg.match_failure_steps, where)
