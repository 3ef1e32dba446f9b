"""The one model interface every backend implements (after lm-evaluation-harness).

Prompts are chat message lists (rendered with the model's chat template by the
backend) or already-rendered strings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, Sequence, Union, runtime_checkable

Prompt = Union[str, list[dict]]


class BackendError(RuntimeError):
    """A generation request failed for good (after retries)."""


@dataclass
class Sampling:
    max_new_tokens: int = 512
    temperature: float = 0.0  # 0 = greedy
    top_p: float = 1.0
    n: int = 1  # completions per prompt (outputs are flattened prompt-major)
    seed: int = 0
    stop: list[str] = field(default_factory=list)

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0.0


@runtime_checkable
class Backend(Protocol):
    name: str

    def generate(self, prompts: Sequence[Prompt], sampling: Sampling) -> list[str | None]:
        """One text per prompt (n per prompt when sampling.n > 1, prompt-major).
        A request that failed for good is None (remote backends), never ''."""
        ...

    def loglikelihood(self, prompt: Prompt, continuation: str) -> float:
        """Sum of log-probabilities of `continuation` given `prompt`."""
        ...
