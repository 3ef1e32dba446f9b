"""TRL (1.16): the GenRM as an async reward function for `GRPOTrainer`.

    from genrm.rlhf.trl import GenRMReward
    reward = GenRMReward("outputs/genrm-run/final", strategy="round_robin")       # a trained GenRM dir / hub id
    reward = GenRMReward({"backend": {"kind": "openai", "base_url": "http://127.0.0.1:8000/v1",
                                      "model": "genrm"}}, strategy="bradley_terry")  # served by vLLM
    GRPOTrainer(model=..., reward_funcs=[reward], ...)

TRL calls it as `await reward(prompts=..., completions=..., completion_ids=...,
trainer_state=..., log_extra=..., log_metric=..., **dataset_columns)` and gets one
value per completion; None (unscored: see `genrm.judge.scalarize`) becomes NaN, a row
without advantage. The `reference` strategy reads the reference answer from the
dataset column `reference_column`.

Groups: TRL repeats each prompt `num_generations` times in a row, so a group is a run
of equal consecutive prompts (cut into chunks of `group_size` when given). With
several processes each rank holds a slice of the batch (per-device batch x
steps_per_generation completions, starting at a multiple of that size), so a group
may straddle ranks. When `group_size` is given and divides the slice, none can: each
rank judges its own groups with no collective. Otherwise group-wise strategies gather
the batch (`accelerate.utils.gather_object`), judge the groups round-robin across ranks
(each rank its share, with its own judge), gather the scores back and return the
rank's own slice. TRL runs async rewards on an event-loop thread whose CUDA device is
cuda:0 on every rank, so the gather first binds that thread to the rank's device.

`log_dir` writes one JSON line per call and rank (step, groups, judge calls, failed
calls, invalid verdicts, scores) as training goes.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict
from typing import Any, Sequence

from genrm.judge.config import JudgeConfig
from genrm.rlhf.pairwise import Group, PairJudge, StrategyConfig, ascore_groups, make_judge, strategy_from_config
from genrm.data.record import completion_text
from genrm.judge.scalarize import GroupResult
from genrm.rlhf.service import load_service_config


def _judge_config(judge: Any) -> JudgeConfig:
    if isinstance(judge, JudgeConfig):
        return judge
    if isinstance(judge, str):
        return JudgeConfig(backend={"kind": "hf", "model": judge})
    if isinstance(judge, dict):
        return load_service_config(data={"judge": judge}).judge
    raise TypeError(f"judge must be a model reference, a JudgeConfig, a dict or a PairJudge, not {type(judge).__name__}")


def _strategy_config(strategy: Any) -> StrategyConfig:
    if isinstance(strategy, StrategyConfig):
        return strategy
    if isinstance(strategy, str):
        return StrategyConfig(name=strategy)  # type: ignore[arg-type]
    return load_service_config(data={"strategy": dict(strategy)}).strategy


def _dist() -> tuple[int, int, Any]:
    """(rank, world size, device) of this process (1 process without accelerate state)."""
    try:
        from accelerate import PartialState

        state = PartialState()
        return state.process_index, state.num_processes, state.device
    except Exception:  # noqa: BLE001 - no distributed setup: one process
        return 0, 1, None


def groups_stay_on_rank(local_size: int, group_size: int | None) -> bool:
    """True when no group can straddle ranks: each rank's slice starts at a multiple of
    `local_size` and groups at multiples of `group_size` (TRL's layout of a generation batch)."""
    return bool(group_size) and local_size % int(group_size) == 0  # type: ignore[arg-type]


def grpo_groups_stay_on_rank(per_device_train_batch_size: int, steps_per_generation: int,
                             num_generations: int) -> bool:
    """`groups_stay_on_rank` for a TRL GRPOConfig's batch settings."""
    return groups_stay_on_rank(per_device_train_batch_size * steps_per_generation, num_generations)


def _bind_device(device: Any) -> None:
    """Make `device` current on this thread (a CUDA collective uses the thread's current device)."""
    if device is not None and getattr(device, "type", None) == "cuda":
        import torch

        torch.cuda.set_device(device)


def split_groups(keys: Sequence[str], group_size: int | None = None) -> list[list[int]]:
    """Indices of each group: runs of equal consecutive keys, cut into `group_size` chunks."""
    groups: list[list[int]] = []
    for i, k in enumerate(keys):
        if groups and keys[groups[-1][0]] == k and (group_size is None or len(groups[-1]) < group_size):
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups


class GenRMReward:
    """See the module doc. `judge`: a model reference (HF dir or hub id), a `JudgeConfig`
    (or its dict), or a built `PairJudge`; `strategy`: a name or a `StrategyConfig`/dict."""

    def __init__(self, judge: Any = "embedded:smollm2-135m", strategy: Any = "reference", *,
                 reference_column: str = "reference", group_size: int | None = None,
                 log_dir: str | None = None, name: str = "genrm"):
        self.__name__ = name
        self.strategy_config = _strategy_config(strategy)
        self.strategy = strategy_from_config(self.strategy_config)
        self._judge: PairJudge | None = judge if isinstance(judge, PairJudge) else None
        self.judge_config = None if self._judge is not None else _judge_config(judge)
        self.reference_column, self.group_size, self.log_dir = reference_column, group_size, log_dir
        self.totals = {"calls": 0, "judge_calls": 0, "failed_calls": 0, "invalid_verdicts": 0, "unscored": 0}

    def __repr__(self) -> str:
        return f"GenRMReward(strategy={self.strategy.name!r}, name={self.__name__!r})"

    @property
    def judge(self) -> PairJudge:
        """Built on first use, on this rank's device (each process holds its own judge)."""
        if self._judge is None:
            cfg = self.judge_config
            backend = cfg.backend_config()
            _, world, device = _dist()
            if backend.get("kind", "hf") == "hf" and "device" not in backend and device is not None and world > 1:
                backend["device"] = str(device)
            self._judge = make_judge(JudgeConfig(**{**asdict(cfg), "backend": backend}))
        return self._judge

    def _references(self, columns: dict, n: int) -> list[str | None]:
        if not self.strategy.needs_reference:
            return [None] * n
        if self.reference_column not in columns:
            given = ", ".join(sorted(k for k in columns if k not in ("trainer_state", "log_extra", "log_metric")))
            raise ValueError(f"reward '{self.__name__}': strategy 'reference' needs the dataset column "
                             f"'{self.reference_column}' (columns given: {given or 'none'})")
        return [None if r is None else str(r) for r in columns[self.reference_column]]

    async def __call__(self, prompts: list, completions: list, completion_ids: list | None = None,
                       trainer_state: Any = None, log_extra: Any = None, log_metric: Any = None,
                       **columns: Any) -> list[float | None]:
        texts = [completion_text(c) or "" for c in completions]
        refs = self._references(columns, len(texts))
        items = list(zip(prompts, texts, refs))
        rank, world, device = _dist()
        gather = world > 1 and self.strategy.needs_group and not groups_stay_on_rank(len(items), self.group_size)
        start = 0
        if gather:
            from accelerate.utils import gather_object

            _bind_device(device)
            slices = gather_object([items])  # one list per rank, in rank order
            start = sum(len(s) for s in slices[:rank])
            items = [it for s in slices for it in s]
        groups = split_groups([json.dumps(p, sort_keys=True, default=str) for p, _, _ in items], self.group_size)
        mine = [k for k in range(len(groups)) if not gather or k % world == rank]
        results = await ascore_groups(
            [Group(items[g[0]][0], [items[i][1] for i in g], items[g[0]][2]) for g in (groups[k] for k in mine)],
            self.strategy, self.judge)
        done: list[tuple[int, GroupResult]] = list(zip(mine, results))
        if gather:
            done = [d for part in gather_object([done]) for d in part]
        batch: list[float | None] = [None] * len(items)  # the whole (gathered) batch
        for k, r in done:
            for i, s in zip(groups[k], r.scores):
                batch[i] = s
        scores = batch[start : start + len(texts)] if gather else batch
        m = self._metrics([r for _, r in done], batch)
        row = {"groups": [len(r.scores) for _, r in done], "judged_here": sum(r.calls for r in results)}
        self._publish(m, scores, trainer_state, rank, log_metric, log_extra, row)
        return scores

    def _metrics(self, results: list[GroupResult], batch: list) -> dict[str, Any]:
        m: dict[str, Any] = {k: sum(r.metrics()[k] for r in results)
                             for k in ("judge_calls", "failed_calls", "invalid_verdicts", "ties")}
        both = sum(r.both_orders for r in results)
        m["position_consistency"] = sum(r.consistent for r in results) / both if both else None
        m["unscored"] = sum(s is None for s in batch)
        return m

    def _publish(self, m: dict, scores: list, state: Any, rank: int, log_metric: Any, log_extra: Any,
                 row: dict) -> None:
        self.totals["calls"] += 1
        for k in ("judge_calls", "failed_calls", "invalid_verdicts", "unscored"):
            self.totals[k] += m[k]
        if callable(log_metric):
            for k, v in m.items():
                if v is not None:
                    log_metric(f"{self.__name__}/{k}", float(v))
        if callable(log_extra):
            log_extra(f"{self.__name__}_scored", [s is not None for s in scores])
        if self.log_dir:
            os.makedirs(self.log_dir, exist_ok=True)
            row = {"time": time.time(), "step": getattr(state, "global_step", None), "rank": rank,
                   "completions": len(scores), **row, **m, "scores": scores}
            with open(os.path.join(self.log_dir, f"rank{rank}.jsonl"), "a", encoding="utf-8") as f:
                f.write(json.dumps(row) + "\n")
