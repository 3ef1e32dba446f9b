"""The `llm` matcher: the MetaJudge prompt over any backend (see genrm.reward.matching).

It renders the MetaJudge prompt (genrm/judge/templates/metajudge.jinja), parses
`R<i>@S<j>: <score>` lines, re-asks for missing or malformed pairs only, then raises
`MatchError` (never a silent 0).
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from typing import Sequence

import numpy as np

from genrm.backends.base import Sampling
from genrm.judge.prompts import render_metajudge_messages
from genrm.reward.levels import SCORE_LEVELS, SNAP_TOLERANCE, MatchError, _empty, _split_pair

_PAIR = re.compile(r"R\s*(\d+)\s*@\s*S\s*(\d+)\s*(?:[:=]|->|\u2192)?\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?![\d/]))?", re.I)


def snap_score(x: float) -> float | None:
    """Nearest score level, or None when x is more than SNAP_TOLERANCE away from every level."""
    best = min(SCORE_LEVELS, key=lambda lv: abs(lv - x))
    return best if abs(best - x) <= SNAP_TOLERANCE + 1e-9 else None


def parse_metajudge(text: str | None, n_human: int, n_model: int) -> tuple[dict[tuple[int, int], float], set[tuple[int, int]]]:
    """Scores read from a MetaJudge output (0-based (i, j) keys) and the in-range pairs
    whose line was malformed (no score, a score off the levels, or conflicting repeats).
    Markdown and spacing are tolerated; out-of-range indices are ignored."""
    scores: dict[tuple[int, int], float] = {}
    bad: set[tuple[int, int]] = set()
    if not text:
        return scores, bad
    clean = re.sub(r"[*`|_#]", " ", text)
    for m in _PAIR.finditer(clean):
        i, j = int(m.group(1)) - 1, int(m.group(2)) - 1
        if not (0 <= i < n_human and 0 <= j < n_model):
            continue
        s = snap_score(float(m.group(3))) if m.group(3) is not None else None
        if s is None or ((i, j) in scores and scores[(i, j)] != s):
            bad.add((i, j))
        else:
            scores[(i, j)] = s
    for p in bad:
        scores.pop(p, None)
    return scores, bad


@dataclasses.dataclass
class _Job:
    """One record's MetaJudge conversation across repair rounds."""

    human: list[str]
    model: list[str]
    messages: list[dict]
    scores: dict[tuple[int, int], float] = dataclasses.field(default_factory=dict)
    last_output: str | None = None
    attempts: int = 0

    @property
    def missing(self) -> list[tuple[int, int]]:
        return [(i, j) for i in range(len(self.human)) for j in range(len(self.model)) if (i, j) not in self.scores]

    def prompt(self) -> list[dict]:
        if self.attempts == 0 or self.last_output is None:
            return self.messages  # first ask, or the call itself failed: ask again
        pairs = ", ".join(f"R{i + 1}@S{j + 1}" for i, j in self.missing)
        repair = (
            f"Some scores are missing or malformed: {pairs}. Reply with exactly one line per pair listed, "
            "in the form R<i>@S<j>: <score>, with <score> one of 0, 0.25, 0.5, 0.75, 1, and nothing else."
        )
        return self.messages + [
            {"role": "assistant", "content": self.last_output},
            {"role": "user", "content": repair},
        ]

    def absorb(self, text: str | None) -> None:
        self.attempts += 1
        self.last_output = text
        got, _ = parse_metajudge(text, len(self.human), len(self.model))
        for pair, s in got.items():
            self.scores.setdefault(pair, s)  # pairs already read are kept

    def matrix(self) -> np.ndarray:
        S = _empty(len(self.human), len(self.model))
        for (i, j), s in self.scores.items():
            S[i, j] = s
        return S

    def error(self) -> MatchError:
        shown = ", ".join(f"R{i + 1}@S{j + 1}" for i, j in self.missing[:10])
        tail = (self.last_output or "<no output: the backend call failed>")[-300:]
        return MatchError(
            f"MetaJudge output still lacks {len(self.missing)} of {len(self.human) * len(self.model)} scores "
            f"({shown}) after {self.attempts} attempts; last output ends: {tail!r}"
        )


class LLMMatcher:
    """The MetaJudge over any backend with `generate(prompts, sampling)` (and,
    for the async path, `agenerate(prompts, sampling)`).

    A malformed or incomplete answer is repaired by re-asking for the missing
    pairs only (up to `max_retries` times, scores already read are kept); a record
    still incomplete raises `MatchError`, or comes back as None from
    `score_matrices(..., raise_errors=False)`.
    """

    kind = "llm"

    def __init__(self, backend, template: str | None = None, max_retries: int = 2, sampling=None):
        self.backend = backend
        self.template = template
        self.max_retries = int(max_retries)
        self.sampling = sampling
        self.calls = 0
        self.repairs = 0
        self.failures = 0

    @property
    def is_async(self) -> bool:
        return callable(getattr(self.backend, "agenerate", None))

    def _sampling(self, jobs: list[_Job], round_: int):
        if self.sampling is None:
            cells = max(len(j.human) * len(j.model) for j in jobs)
            s = Sampling(max_new_tokens=max(64, 16 * cells), temperature=0.0)
        else:
            s = self.sampling
        # A sampled judge gets a fresh seed per repair round; greedy ignores it.
        return dataclasses.replace(s, seed=s.seed + round_, n=1)

    def _jobs(self, pairs: Sequence[Sequence]) -> tuple[list[_Job | None], list[np.ndarray | None]]:
        jobs: list[_Job | None] = []
        done: list[np.ndarray | None] = []
        for p in pairs:
            human, model, _ = _split_pair(p)
            if not human or not model:
                jobs.append(None)
                done.append(_empty(len(human), len(model)))
            else:
                jobs.append(_Job(human, model, render_metajudge_messages(human, model, self.template)))
                done.append(None)
        return jobs, done

    def _open(self, jobs: list[_Job | None]) -> list[_Job]:
        return [j for j in jobs if j is not None and j.missing and j.attempts <= self.max_retries]

    def _absorb(self, todo: list[_Job], outputs: Sequence[str | None] | None) -> None:
        outputs = list(outputs or [])
        if len(outputs) != len(todo):
            outputs = (outputs + [None] * len(todo))[: len(todo)]
        self.calls += len(todo)
        self.repairs += sum(1 for j in todo if j.attempts > 0)
        for job, text in zip(todo, outputs):
            job.absorb(text)

    def _finish(self, jobs, done, raise_errors: bool) -> list[np.ndarray | None]:
        out = []
        for job, d in zip(jobs, done):
            if job is None:
                out.append(d)
            elif job.missing:
                self.failures += 1
                if raise_errors:
                    raise job.error()
                out.append(None)
            else:
                out.append(job.matrix())
        return out

    def score_matrices(self, pairs: Sequence[Sequence], raise_errors: bool = True) -> list[np.ndarray | None]:
        jobs, done = self._jobs(pairs)
        round_ = 0
        while todo := self._open(jobs):
            self._absorb(todo, self.backend.generate([j.prompt() for j in todo], self._sampling(todo, round_)))
            round_ += 1
        return self._finish(jobs, done, raise_errors)

    def score_matrix(self, human_units: list[str], model_units: list[str]) -> np.ndarray:
        return self.score_matrices([(human_units, model_units)])[0]

    async def ascore_matrices(self, pairs: Sequence[Sequence], raise_errors: bool = True) -> list[np.ndarray | None]:
        jobs, done = self._jobs(pairs)
        round_ = 0
        while todo := self._open(jobs):
            prompts, sampling = [j.prompt() for j in todo], self._sampling(todo, round_)
            if self.is_async:
                outputs = await self.backend.agenerate(prompts, sampling)
            else:
                outputs = await asyncio.to_thread(self.backend.generate, prompts, sampling)
            self._absorb(todo, outputs)
            round_ += 1
        return self._finish(jobs, done, raise_errors)

    async def ascore_matrix(self, human_units: list[str], model_units: list[str]) -> np.ndarray:
        return (await self.ascore_matrices([(human_units, model_units)]))[0]
