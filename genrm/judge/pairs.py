"""The one pair-judging core: render each pair's judge prompt, generate, parse.

    judgments = judge_pairs(backend, [Pair(prompt, a, b), Pair(prompt, b, a)], style="rationale",
                            sampling=JudgeConfig().sampling())
    judgments[0].verdict.winner  # "A" | "B" | "tie" | "invalid"; None when the call failed

`genrm.evaluation.judging.judge_records` (preference records in given orders) and the
RLHF group scorer (`genrm.rlhf.pairwise`) both judge through here.

Failure policy, here only. A backend call that failed for good, after the backend's
own retries, is an *error*: `BackendError` raised for the batch makes every pair of it
an error, and a None text (how a remote backend reports one failed request) makes that
pair one. An error has no verdict; the callers count and report it and never score it.
Anything else a backend raises (RuntimeError, OSError, ValueError, ...) is a bug or a
broken setup and propagates. A backend returning another number of texts than it was
given prompts raises.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from dataclasses import dataclass
from typing import Any, Optional, Sequence

from genrm.backends.base import BackendError, Prompt, Sampling
from genrm.judge.config import JudgeConfig
from genrm.judge.prompts import render_judge_messages
from genrm.judge.verdict import Verdict, parse_verdict

log = logging.getLogger(__name__)
FAILED = "backend call failed"


@dataclass(frozen=True)
class Pair:
    """One judgment to ask for: the conversation, the response shown as A and the one shown as B."""

    prompt: Prompt
    a: str
    b: str


@dataclass
class Judgment:
    """The judge's text and its verdict, or an error (the backend call failed; no verdict)."""

    text: Optional[str]
    verdict: Optional[Verdict]
    error: Optional[str] = None

    @property
    def failed(self) -> bool:
        return self.error is not None


def pair_messages(pair: Pair, style: str = "rationale", template: str | None = None) -> list[dict]:
    """The judge prompt of one pair (`genrm.judge.prompts.render_judge_messages`)."""
    return render_judge_messages(pair.prompt, pair.a, pair.b, style=style, template=template)


def _prepare(pairs: Sequence[Pair], style: str, template: str | None, sampling: Sampling | None
             ) -> tuple[list[list[dict]], Sampling]:
    sampling = sampling if sampling is not None else JudgeConfig().sampling()
    if sampling.n != 1:
        raise ValueError(f"one judgment per pair: sampling.n must be 1, got {sampling.n}")
    return [pair_messages(p, style, template) for p in pairs], sampling


def _judgments(outputs: Any, n: int, style: str, error: str | None) -> list[Judgment]:
    """One judgment per prompt; with an `error` the whole batch failed."""
    if error is not None:
        return [Judgment(None, None, error) for _ in range(n)]
    outputs = list(outputs)
    if len(outputs) != n:
        raise RuntimeError(f"backend returned {len(outputs)} outputs for {n} prompts")
    return [Judgment(None, None, FAILED) if t is None else Judgment(t, parse_verdict(t, style)) for t in outputs]


def _failed(e: BackendError, n: int) -> str:
    log.warning("judge batch of %d failed: %s", n, e)
    return f"{FAILED}: {e}"


def judge_pairs(backend: Any, pairs: Sequence[Pair], *, style: str = "rationale", template: str | None = None,
                sampling: Sampling | None = None, lock: threading.Lock | None = None) -> list[Judgment]:
    """Judge every pair in one `backend.generate` call; one `Judgment` per pair, in order
    (`sampling` defaults to `JudgeConfig().sampling()`). `lock`, when given, is held
    around the backend call (a local model runs one batch at a time)."""
    prompts, sampling = _prepare(pairs, style, template, sampling)
    if not prompts:
        return []
    outputs, error = None, None
    try:
        outputs = _locked_generate(backend, prompts, sampling, lock)
    except BackendError as e:
        error = _failed(e, len(prompts))
    return _judgments(outputs, len(prompts), style, error)


async def ajudge_pairs(backend: Any, pairs: Sequence[Pair], *, style: str = "rationale",
                       template: str | None = None, sampling: Sampling | None = None,
                       lock: threading.Lock | None = None) -> list[Judgment]:
    """`judge_pairs` for an event loop: awaits `backend.agenerate` where the backend has it
    (the OpenAI-compatible one), else runs the sync call in a worker thread."""
    prompts, sampling = _prepare(pairs, style, template, sampling)
    if not prompts:
        return []
    agenerate = getattr(backend, "agenerate", None)
    outputs, error = None, None
    try:
        if agenerate is not None:
            outputs = await agenerate(prompts, sampling)
        else:
            outputs = await asyncio.to_thread(_locked_generate, backend, prompts, sampling, lock)
    except BackendError as e:
        error = _failed(e, len(prompts))
    return _judgments(outputs, len(prompts), style, error)


def _locked_generate(backend: Any, prompts: list, sampling: Sampling, lock: threading.Lock | None) -> Any:
    with lock if lock is not None else contextlib.nullcontext():
        return backend.generate(prompts, sampling)


__all__ = ["FAILED", "Judgment", "Pair", "ajudge_pairs", "judge_pairs", "pair_messages"]
