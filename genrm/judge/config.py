"""`JudgeConfig`: how to ask the GenRM for a pairwise verdict, one section for every recipe.

The same `judge:` section serves the GenRM trainer (`train/genrm.py`), the evaluator
(`evaluate/run.py`), the reward server and service (`genrm serve`, verl, OpenRLHF) and the
policy trainer (`reward.judge`). Each consumer refuses the keys that do not apply to it
with one line naming the key (`JudgeConfig.refuse`), so a key is never silently ignored:

=================  ==========================================================  ==================
key                meaning                                                     used by
=================  ==========================================================  ==================
backend            a `genrm.backends.make_backend` config (kind: hf | openai   RLHF (default: the
                   | vllm, plus that backend's options)                        embedded SmolLM2)
style, template    the built-in prompt and verdict format; a .jinja path or    all
                   inline Jinja replacing the prompt text
max_new_tokens,    the judge's sampling (`JudgeConfig.sampling`, the one       evaluator, RLHF
temperature,       place that builds it)
top_p, seed, stop
orders, top_k,     evaluation: both orders or the seeded placement; reasons    evaluator
chunk_size         kept for rationale consistency; comparisons per call
=================  ==========================================================  ==================

YAML compatibility: the trainer's recipes had only `judge.template: rationale |
answer-tag | <a .jinja path>`. A style name in `template` still loads and means that
style (the built-in prompt), so `judge.template: answer-tag` is `judge.style: answer-tag`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal, Optional, Sequence

from genrm.backends.base import Sampling
from genrm.config import RecipeError
from genrm.judge.verdict import STYLES

# Where the RLHF consumers run the judge when `backend` is not given.
DEFAULT_BACKEND: dict[str, Any] = {"kind": "hf", "model": "embedded:smollm2-135m"}
SAMPLING_KEYS = ("max_new_tokens", "temperature", "top_p", "seed", "stop")
EVALUATION_KEYS = ("orders", "top_k", "chunk_size")


@dataclass
class JudgeConfig:
    """The judge's backend (RLHF only), prompt, verdict style and sampling; see the module doc."""

    backend: Optional[dict[str, Any]] = None  # None: the consumer's model (trainer, evaluator) or DEFAULT_BACKEND
    style: Literal["rationale", "answer-tag"] = "rationale"  # reasons, then a \boxed{A>B}-style verdict; or an answer tag
    template: Optional[str] = None  # a .jinja path or inline Jinja (default: the built-in prompt of `style`)
    max_new_tokens: int = 512  # tokens a judgment may have
    temperature: float = 0.0  # sampling temperature (0: greedy)
    top_p: float = 1.0  # nucleus sampling
    seed: int = 0  # sampling seed
    stop: list[str] = field(default_factory=list)  # strings that end a judgment
    orders: Literal["both", "one"] = "both"  # evaluation: every comparison as AB and BA; one: seeded placement
    top_k: int = 5  # evaluation: reasons kept for rationale consistency
    chunk_size: Optional[int] = None  # evaluation: comparisons per backend call (None: the backend's preference)

    def __post_init__(self) -> None:
        # Today's trainer recipes name the style in `template` (`judge.template: answer-tag`):
        # a style name there means that style with its built-in prompt.
        if self.template in STYLES:
            if self.style != "rationale" and self.style != self.template:
                raise RecipeError(f"key 'judge.template' names the style {self.template!r} but 'judge.style' is "
                                  f"{self.style!r}; set judge.style alone")
            self.style, self.template = self.template, None  # type: ignore[assignment]

    def validate(self) -> None:
        if self.max_new_tokens < 1:
            raise RecipeError(f"key 'judge.max_new_tokens' must be >= 1, got {self.max_new_tokens}")
        if self.temperature < 0 or not 0 < self.top_p <= 1:
            raise RecipeError(f"keys 'judge.temperature' (>= 0) and 'judge.top_p' (in (0, 1]) are out of range, "
                              f"got {self.temperature} and {self.top_p}")
        if self.top_k < 1 or (self.chunk_size is not None and self.chunk_size < 1):
            raise RecipeError(f"keys 'judge.top_k' and 'judge.chunk_size' must be >= 1, got {self.top_k} and "
                              f"{self.chunk_size}")

    def sampling(self, **overrides: Any) -> Sampling:
        """The judge's sampling settings (one judgment per prompt); `overrides` replace
        fields, e.g. the evaluator's run seed or the trainer's `eval.max_new_tokens`."""
        s = Sampling(max_new_tokens=self.max_new_tokens, temperature=self.temperature, top_p=self.top_p,
                     seed=self.seed, stop=list(self.stop))
        return dataclasses.replace(s, **overrides) if overrides else s

    def backend_config(self) -> dict[str, Any]:
        """The `make_backend` config of an RLHF judge (`DEFAULT_BACKEND` when none is given)."""
        return dict(self.backend if self.backend is not None else DEFAULT_BACKEND)

    def changed(self, keys: Sequence[str]) -> list[str]:
        """The `keys` whose values differ from their defaults (set by the recipe)."""
        default = JudgeConfig()
        return [k for k in keys if getattr(self, k) != getattr(default, k)]

    def refuse(self, keys: Sequence[str], why: str, prefix: str = "judge") -> None:
        """One `RecipeError` line naming the first of `keys` that is set: it does not apply here."""
        changed = self.changed(keys)
        if changed:
            raise RecipeError(f"key '{prefix}.{changed[0]}' does not apply here: {why}")


__all__ = ["JudgeConfig", "DEFAULT_BACKEND", "SAMPLING_KEYS", "EVALUATION_KEYS"]
