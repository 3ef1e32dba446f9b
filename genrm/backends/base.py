"""The one model interface every backend implements (after lm-evaluation-harness).

Prompts are chat message lists (rendered with the model's chat template by the
backend) or already-rendered strings.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence, Union, runtime_checkable

Prompt = Union[str, list[dict]]
log = logging.getLogger(__name__)


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


DEFAULT_CHUNK_SIZE = 64  # records per call for a backend that states no preference


def chunk_size_for(backend: Any) -> int:
    """Records `judge_records` sends to `backend` per call, the one place that decides:
    the backend's `preferred_chunk_size` (vLLM: thousands, its scheduler wants every prompt
    at once; HF: 64, results written as they finish), else `DEFAULT_CHUNK_SIZE`."""
    size = getattr(backend, "preferred_chunk_size", None)
    return size if isinstance(size, int) and size >= 1 else DEFAULT_CHUNK_SIZE


# ---------------------------------------------------------------- prompt tokenising
# Shared by the local backends (HF, vLLM) so both condition on exactly the same tokens.


def render_prompt(tokenizer: Any, prompt: Prompt, chat_template: bool = True) -> str:
    """The exact text a local model sees for `prompt` (chat template + generation prompt)."""
    if isinstance(prompt, str):
        return prompt
    if chat_template and getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
    return "\n\n".join(f"{m['role']}: {m['content']}" for m in prompt) + "\n\nassistant:"


def encode_prompt(tokenizer: Any, prompt: Prompt, chat_template: bool = True) -> list[int]:
    """Token ids of `prompt`. Rendered chat text already carries its special tokens; a raw
    string gets the tokenizer's usual BOS unless it starts with it."""
    text = render_prompt(tokenizer, prompt, chat_template)
    bos = tokenizer.bos_token
    special = isinstance(prompt, str) and not (bos and text.startswith(bos))
    return list(tokenizer(text, add_special_tokens=special)["input_ids"])


def fit_prompt(ids: list[int], max_length: int | None, reserve: int) -> list[int]:
    """Keep the last tokens of a prompt so that it plus `reserve` new tokens fit `max_length`."""
    if max_length is None:
        return ids
    room = max_length - reserve
    if room < 1:
        raise BackendError(f"max_length={max_length} leaves no room for the prompt with {reserve} new tokens")
    if len(ids) > room:
        log.warning("prompt of %d tokens cut to its last %d (max_length=%d)", len(ids), room, max_length)
        return ids[-room:]
    return ids


def encode_pairs(tokenizer: Any, pairs: Sequence[tuple[Prompt, str]], chat_template: bool = True) -> list[tuple[list[int], list[int]]]:
    """(prompt ids, continuation ids) for loglikelihood scoring; the continuation is
    tokenised on its own, without special tokens."""
    items = []
    for prompt, cont in pairs:
        p = encode_prompt(tokenizer, prompt, chat_template)
        c = list(tokenizer(cont, add_special_tokens=False)["input_ids"])
        if not c:
            raise BackendError(f"continuation {cont!r} has no tokens")
        if not p:
            raise BackendError("empty prompt: nothing to condition on")
        items.append((p, c))
    return items


def cut_at_stop(text: str, stops: Sequence[str]) -> str:
    """`text` up to the first occurrence of any stop string (which is left out)."""
    cuts = [text.find(s) for s in stops if s and s in text]
    return text[: min(cuts)] if cuts else text
