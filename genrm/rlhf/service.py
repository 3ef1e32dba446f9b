"""A GenRM as a reward service: dynamic batching across concurrent callers, and group
buffers for engines that send one completion at a time.

* `RewardService.score_groups(groups)` scores whole groups (TRL hands over groups).
* `RewardService.score_one(prompt, completion, reference)` scores one completion
  (OpenRLHF and verl call once per sample). Group-wise strategies buffer the samples
  by prompt until `group_size` of them arrived, or `group_wait` seconds passed since
  the first (then the partial group is scored; a lone completion has nobody to be
  compared with and scores None).
* Batching: `workers` loops each take pending groups until they hold `max_batch`
  judge calls or the oldest has waited `max_wait` seconds, and send them to the
  backend as one batch. While a batch runs, new requests queue up, so batches grow
  with load. `max_batch=1, max_wait=0` turns batching off (one group per backend call).
  A batch is scored in a worker thread (prompts, verdict parsing and fits are CPU work:
  seconds for a round robin of hundreds, which must not stop the event loop); an async
  backend's requests still run on the loop. A batch that raises is scored again group
  by group, so one caller's bad group fails that caller only.
* `ServiceThread` runs a service on its own event loop for callers in plain threads
  (OpenRLHF's `reward_func`, verl's sync `compute_score`).
* `ServiceConfig` (judge, strategy, batching) describes a service; `load_service_config`
  is how the server and the TRL, verl and OpenRLHF adapters all read one (a YAML file,
  `key=value` arguments, and/or a dict), and `build_service` builds it.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import logging
import os
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Mapping, Optional, Sequence, TypeVar

from genrm.backends.base import Prompt, Sampling
from genrm.config import RecipeError, from_dict, load_recipe, to_dict
from genrm.judge.config import JudgeConfig
from genrm.rlhf.pairwise import Group, PairJudge, StrategyConfig, make_judge, score_groups, strategy_from_config
from genrm.judge.scalarize import GroupResult, Strategy

log = logging.getLogger(__name__)
T = TypeVar("T")


class Unscored(RuntimeError):
    """A completion got no score: every judge call for it failed or had no readable verdict."""


class _OnLoop:
    """An async backend as a sync one for a worker thread: each `generate` runs the
    backend's `agenerate` on the service's event loop (where its HTTP client lives) and
    waits for it."""

    def __init__(self, backend: Any, loop: asyncio.AbstractEventLoop):
        self.backend, self.loop = backend, loop

    def generate(self, prompts: Sequence[Prompt], sampling: Sampling | None = None) -> list[str | None]:
        fut = asyncio.run_coroutine_threadsafe(self.backend.agenerate(prompts, sampling), self.loop)
        while True:
            try:
                return fut.result(timeout=1.0)
            except concurrent.futures.TimeoutError:
                if not self.loop.is_running():  # a loop stopped under it: never wait forever (exit joins us)
                    fut.cancel()
                    raise RuntimeError("the reward service's event loop stopped during a judge batch") from None


@dataclass
class _Pending:
    group: Group
    calls: int
    future: asyncio.Future
    since: float = field(default_factory=time.monotonic)


@dataclass
class _Buffer:
    prompt: Any
    members: list  # (completion, reference, future)
    timer: asyncio.TimerHandle


@dataclass
class ServiceStats:
    groups: int = 0
    judge_calls: int = 0
    failed_calls: int = 0
    invalid_verdicts: int = 0
    batches: int = 0
    unscored: int = 0  # completions that got None
    partial_groups: int = 0


class RewardService:
    def __init__(self, judge: PairJudge, strategy: Strategy, *, max_batch: int = 64, max_wait: float = 0.005,
                 workers: int = 1, group_size: Optional[int] = None, group_wait: float = 30.0,
                 on_batch: Optional[Callable[[list[GroupResult], float], None]] = None):
        if max_batch < 1 or workers < 1:
            raise ValueError("max_batch and workers must be >= 1")
        if strategy.needs_group and group_size is not None and group_size < 2:
            raise ValueError(f"strategy {strategy.name!r} compares completions of a group: group_size must be >= 2")
        self.judge, self.strategy = judge, strategy
        self.max_batch, self.max_wait, self.n_workers = max_batch, max_wait, workers
        self.group_size, self.group_wait = group_size, group_wait
        self.on_batch = on_batch
        self.stats = ServiceStats()
        self._queue: deque[_Pending] = deque()
        self._cond: asyncio.Condition | None = None
        self._workers: list[asyncio.Task] = []
        self._threads: concurrent.futures.ThreadPoolExecutor | None = None  # one thread per worker: a batch each
        self._buffers: dict[Any, _Buffer] = {}  # group-wise strategies: samples waiting for their group
        self._active = 0  # groups submitted and not yet answered

    # ---------------------------------------------------------------- batching

    def _start(self) -> asyncio.Condition:
        if self._cond is None:
            self._cond = asyncio.Condition()
            self._threads = concurrent.futures.ThreadPoolExecutor(self.n_workers, thread_name_prefix="genrm-score")
            self._workers = [asyncio.create_task(self._worker(), name=f"genrm-batch-{i}") for i in range(self.n_workers)]
        return self._cond

    async def _take(self) -> list[_Pending]:
        cond = self._start()
        async with cond:
            await cond.wait_for(lambda: bool(self._queue))
            deadline = self._queue[0].since + self.max_wait
            while sum(p.calls for p in self._queue) < self.max_batch and (left := deadline - time.monotonic()) > 0:
                try:
                    await asyncio.wait_for(cond.wait(), left)
                except asyncio.TimeoutError:
                    break
            batch, calls = [], 0
            while self._queue and (not batch or calls + self._queue[0].calls <= self.max_batch):
                p = self._queue.popleft()
                batch.append(p)
                calls += p.calls
            return batch

    async def _worker(self) -> None:
        while True:
            batch = await self._take()
            start = time.monotonic()
            outcomes = await self._score([p.group for p in batch])
            results = [r for r in outcomes if isinstance(r, GroupResult)]
            if results:
                self._account(results, time.monotonic() - start)
            for p, r in zip(batch, outcomes):
                if p.future.done():
                    continue
                if isinstance(r, GroupResult):
                    p.future.set_result(r)
                else:
                    p.future.set_exception(r)

    async def _score(self, groups: list[Group]) -> list[GroupResult | Exception]:
        """A result or an error per group: a batch that raised is scored again group by
        group, so that one group's error (a prompt its template cannot show) is its own."""
        try:
            return list(await self._score_batch(groups))
        except Exception as e:  # noqa: BLE001 - handed to the callers, the worker goes on
            if len(groups) == 1:
                return [e]
        out: list[GroupResult | Exception] = []
        for g in groups:
            try:
                out.extend(await self._score_batch([g]))
            except Exception as e:  # noqa: BLE001 - this group's caller gets it
                out.append(e)
        return out

    async def _score_batch(self, groups: list[Group]) -> list[GroupResult]:
        loop = asyncio.get_running_loop()
        if not callable(getattr(self.judge.backend, "agenerate", None)):  # a sync backend: under the judge's lock
            return await loop.run_in_executor(self._threads, score_groups, groups, self.strategy, self.judge)
        # An async backend (a remote server): a judge of this batch only, whose lock no other
        # batch waits for (the workers' batches run concurrently), with its requests on the loop.
        j = self.judge
        judge = PairJudge(_OnLoop(j.backend, loop), j.style, j.template, j.sampling)
        try:
            return await loop.run_in_executor(self._threads, score_groups, groups, self.strategy, judge)
        finally:
            j.calls, j.batches = j.calls + judge.calls, j.batches + judge.batches

    def _account(self, results: list[GroupResult], seconds: float) -> None:
        s = self.stats
        s.batches += 1
        for r in results:
            s.groups += 1
            s.judge_calls += r.calls
            s.failed_calls += r.failed
            s.invalid_verdicts += r.invalid
            s.unscored += sum(x is None for x in r.scores)
        if self.on_batch is not None:
            self.on_batch(results, seconds)

    async def submit(self, group: Group) -> GroupResult:
        """Queue one group for the next batch and wait for its result."""
        if self.strategy.needs_reference and group.reference is None:  # fail this caller, not the batch
            raise ValueError(f"strategy {self.strategy.name!r} needs a reference answer (dataset label) for every completion")
        calls = self.strategy.calls(len(group.completions))
        if calls == 0:  # a lone completion of a group strategy: nothing to compare
            return self.strategy.score(len(group.completions), [], [])
        cond = self._start()
        fut = asyncio.get_running_loop().create_future()
        self._active += 1
        try:
            async with cond:
                self._queue.append(_Pending(group, calls, fut))
                cond.notify_all()
            return await fut
        finally:
            self._active -= 1

    async def score_groups(self, groups: list[Group]) -> list[GroupResult]:
        return list(await asyncio.gather(*(self.submit(g) for g in groups)))

    # ---------------------------------------------------------------- one sample at a time

    async def score_one(self, prompt: Any, completion: str, reference: str | None = None,
                        key: Any = None) -> tuple[float | None, GroupResult]:
        """Score of one completion and the result of the group it was scored in."""
        if not self.strategy.needs_group:
            r = await self.submit(Group(prompt, [completion], reference))
            return r.scores[0], r
        if self.group_size is None:
            raise ValueError(f"strategy {self.strategy.name!r} compares the completions of a group, and samples "
                             "arrive one at a time: set batching.group_size to the completions per prompt")
        key = key if key is not None else repr(prompt)
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        buf = self._buffers.get(key)
        if buf is None:
            buf = self._buffers[key] = _Buffer(prompt, [], loop.call_later(self.group_wait, self._flush_group, key, True))
        buf.members.append((completion, reference, fut))
        if self.group_size is not None and len(buf.members) >= self.group_size:
            self._flush_group(key, False)
        return await fut

    def _flush_group(self, key: Any, timed_out: bool) -> None:
        buf = self._buffers.pop(key, None)
        if buf is None:
            return
        buf.timer.cancel()
        if timed_out:
            self.stats.partial_groups += 1
            log.warning("group of prompt %.60s scored with %d member(s) after %.0fs (group_size=%s)",
                        str(key), len(buf.members), self.group_wait, self.group_size)
        refs = [r for _, r, _ in buf.members if r is not None]
        group = Group(buf.prompt, [c for c, _, _ in buf.members], refs[0] if refs else None)

        async def run() -> None:
            try:
                r = await self.submit(group)
            except Exception as e:  # noqa: BLE001 - every member learns of it
                for _, _, f in buf.members:
                    if not f.done():
                        f.set_exception(e)
                return
            for i, (_, _, f) in enumerate(buf.members):
                if not f.done():
                    f.set_result((r.scores[i], r))

        asyncio.get_running_loop().create_task(run())

    # ---------------------------------------------------------------- lifecycle

    @property
    def pending(self) -> int:
        """Groups queued or being judged, plus samples waiting in group buffers."""
        return self._active + sum(len(b.members) for b in self._buffers.values())

    async def aclose(self) -> None:
        """Stop the workers (callers still waiting get CancelledError); flush open group buffers first."""
        for key in list(self._buffers):
            self._flush_group(key, False)
        while self._queue:
            await asyncio.sleep(0.01)
        for t in self._workers:
            t.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        if self._threads is not None:
            self._threads.shutdown(wait=False, cancel_futures=True)
        self._workers, self._cond, self._threads = [], None, None


@dataclass
class BatchingConfig:
    max_batch: int = 64  # judge calls per backend batch
    max_wait_ms: float = 5.0  # how long the first pending request waits for company
    workers: int = 1  # batches in flight at once (1 for a local model; more for a remote server)
    group_size: Optional[int] = None  # group-wise strategies with one-sample callers: completions per prompt
    group_wait_s: float = 30.0  # score a partial group after this long

    def validate(self) -> None:
        if self.max_batch < 1 or self.workers < 1:
            raise RecipeError("batching.max_batch and batching.workers must be >= 1")
        if self.max_wait_ms < 0 or self.group_wait_s <= 0:
            raise RecipeError("batching.max_wait_ms must be >= 0 and batching.group_wait_s > 0")


@dataclass
class ServiceConfig:
    """A trained GenRM served as a policy's reward: the judge, the strategy, and how requests
    are batched. (The reward a GenRM is *trained* with is `genrm.reward.config.RewardConfig`.)"""

    judge: JudgeConfig = field(default_factory=JudgeConfig)
    strategy: StrategyConfig = field(default_factory=StrategyConfig)
    batching: BatchingConfig = field(default_factory=BatchingConfig)


C = TypeVar("C", bound=ServiceConfig)


def _overlay(base: dict, data: Mapping[str, Any]) -> dict:
    """`base` with `data` laid over it one section deep: a section given in both keeps the
    file's other keys, and each key given replaces the file's whole value (a new
    `judge.backend` is not merged with the old one, whose options may not apply)."""
    out = dict(base)
    for k, v in data.items():
        out[k] = {**out[k], **v} if isinstance(out.get(k), dict) and isinstance(v, Mapping) else v
    return out


def load_service_config(path: str | os.PathLike | None = None, data: Mapping[str, Any] | None = None, *,
                        argv: Sequence[str] = (), schema: type[C] = ServiceConfig) -> C:  # type: ignore[assignment]
    """The one loader of a service config (`schema`: `ServiceConfig` or a subclass such as the
    server's). `path`: a YAML file (`judge`, `strategy`, `batching`, ...); `argv`: `recipe=<yaml>`
    and `key=value` overrides as `genrm serve` takes them; `data`: sections laid over both (each key
    given replaces that key of its section). Keys are strict: an unknown key or a wrong type is a
    `RecipeError` naming it (`genrm.config`), and the schema's `validate()` runs."""
    cfg = load_recipe(([f"recipe={os.fspath(path)}"] if path is not None else []) + list(argv), schema)
    if not data:
        return cfg
    return from_dict(schema, _overlay(to_dict(cfg), data))


def build_service(cfg: ServiceConfig, backend: Any = None, **kw: Any) -> RewardService:
    """A service from its config (the backend is built unless given). Call inside the event loop that uses it."""
    b = cfg.batching
    return RewardService(make_judge(cfg.judge, backend), strategy_from_config(cfg.strategy), max_batch=b.max_batch,
                         max_wait=b.max_wait_ms / 1000, workers=b.workers, group_size=b.group_size,
                         group_wait=b.group_wait_s, **kw)


class ServiceThread:
    """An event loop in a daemon thread that owns a `RewardService`, for sync callers."""

    def __init__(self, factory: Callable[[], RewardService]):
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="genrm-reward-loop", daemon=True)
        self._thread.start()
        self.service: RewardService = self.call(self._make(factory))
        atexit.register(self.close)  # stop the workers before the interpreter tears the loop down

    @staticmethod
    async def _make(factory: Callable[[], RewardService]) -> RewardService:
        return factory()

    def call(self, coro: Awaitable[T], timeout: float | None = None) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)  # type: ignore[arg-type]

    def close(self) -> None:
        if not self._thread.is_alive():
            return
        try:
            self.call(self.service.aclose(), timeout=10)
        except Exception as e:  # noqa: BLE001 - closing must not raise at exit
            log.warning("reward service did not close cleanly: %s", e)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
        atexit.unregister(self.close)
