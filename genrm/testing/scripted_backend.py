"""A deterministic judge backend for tests and benchmarks: no model, exact verdicts.

It reads Response A and Response B back out of the built-in judge prompt and asks
`decide(a, b)` for a verdict label ("A>>B", "A>B", "A=B", "B>A", "B>>A"), `"invalid"`
(an answer with no verdict) or `"fail"` (the request fails: None, as a remote backend
reports it). The default decides by the first integer in each response ("score 7"),
so test data states its own ranking.

`call_latency` + `item_latency` * batch size seconds are spent per `generate` call,
one call at a time (a lock), as a local model on one device behaves: batching
concurrent requests then pays the fixed cost once per batch.
"""

from __future__ import annotations

import re
import threading
import time
from typing import Callable, Sequence

from genrm.backends.base import Prompt, Sampling
from genrm.judge.verdict import render_verdict

_RESP = re.compile(r"\[Response A\]\n(.*?)\n\[End of Response A\].*?\[Response B\]\n(.*?)\n\[End of Response B\]", re.S)
_NUM = re.compile(r"-?\d+")


def by_number(a: str, b: str) -> str:
    """A>B when A's first integer is larger, A=B when equal (missing counts as 0)."""
    na, nb = (int(m.group()) if (m := _NUM.search(t)) else 0 for t in (a, b))
    return "A>B" if na > nb else "B>A" if nb > na else "A=B"


def responses(prompt: Prompt) -> tuple[str, str]:
    """(response A, response B) from a prompt rendered with a built-in judge template."""
    text = prompt if isinstance(prompt, str) else "\n".join(str(m["content"]) for m in prompt)
    m = _RESP.search(text)
    if m is None:
        raise ValueError("not a pairwise judge prompt (no [Response A]/[Response B] blocks)")
    return m.group(1), m.group(2)


class ScriptedBackend:
    name = "scripted"

    def __init__(self, decide: Callable[[str, str], str] = by_number, style: str = "rationale",
                 call_latency: float = 0.0, item_latency: float = 0.0):
        self.decide, self.style = decide, style
        self.call_latency, self.item_latency = call_latency, item_latency
        self.calls = 0  # generations
        self.batches = 0  # generate() calls
        self.batch_sizes: list[int] = []
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ScriptedBackend(call_latency={self.call_latency}, item_latency={self.item_latency})"

    def _answer(self, label: str) -> str | None:
        if label == "fail":
            return None
        if label == "invalid":
            return "1. Both responses have merits.\nI cannot decide."
        return f"1. One response is better.\n{render_verdict(label, self.style)}"

    def generate(self, prompts: Sequence[Prompt], sampling: Sampling | None = None) -> list[str | None]:
        with self._lock:
            self.calls += len(prompts)
            self.batches += 1
            self.batch_sizes.append(len(prompts))
            if self.call_latency or self.item_latency:
                time.sleep(self.call_latency + self.item_latency * len(prompts))
            return [self._answer(self.decide(*responses(p))) for p in prompts]

    def loglikelihood(self, prompt: Prompt, continuation: str) -> float:
        raise NotImplementedError("the scripted backend only generates verdicts")
