"""Trainer callbacks: eval steps that judge the eval split through `genrm.evaluation.judging`."""

from __future__ import annotations

from typing import Any, Sequence

from transformers import TrainerCallback

from genrm.backends.hf import HFBackend
from genrm.data.record import PreferenceRecord
from genrm.evaluation.judging import judge_records, summarize
from genrm.judge.config import JudgeConfig


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
