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

The model's own template: a training run records its judge in `genrm_judge.json` beside
the model (`write_judge_record`), and every consumer of a model reference reads it through
`judge_for_model`: left at their defaults, `style` and `template` mean "the model's own,
else the built-in"; an explicit setting wins, with one log line saying it differs.

YAML compatibility: the trainer's recipes had only `judge.template: rationale |
answer-tag | <a .jinja path>`. A style name in `template` still loads and means that
style (the built-in prompt), so `judge.template: answer-tag` is `judge.style: answer-tag`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from dataclasses import dataclass, field
from typing import Any, Literal, Optional, Sequence

from genrm.backends.base import Sampling
from genrm.config import RecipeError
from genrm.judge.prompts import NAMED_TEMPLATES, TemplateError, load_template_source
from genrm.judge.verdict import BOXED_LABELS, STYLES, TAG_LABELS

log = logging.getLogger(__name__)

# Where the RLHF consumers run the judge when `backend` is not given.
DEFAULT_BACKEND: dict[str, Any] = {"kind": "hf", "model": "embedded:smollm2-135m"}
SAMPLING_KEYS = ("max_new_tokens", "temperature", "top_p", "seed", "stop")
EVALUATION_KEYS = ("orders", "top_k", "chunk_size")
JUDGE_FILE = "genrm_judge.json"  # beside config.json: the judge a model was trained as
_PROMPT_KEYS = ("style", "template")
VERDICT_FORMATS = {
    "rationale": "numbered reasons, then \\boxed{<label>} with a label in " + ", ".join(BOXED_LABELS),
    "answer-tag": "an answer tag: " + ", ".join(TAG_LABELS),
}


@dataclass
class JudgeConfig:
    """The judge's backend (RLHF only), prompt, verdict style and sampling; see the module doc."""

    backend: Optional[dict[str, Any]] = None  # None: the consumer's model (trainer, evaluator) or DEFAULT_BACKEND
    style: Literal["rationale", "answer-tag"] = "rationale"  # reasons, then a \boxed{A>B}-style verdict; or an answer tag
    template: Optional[str] = None  # a built-in name (compact), .jinja path or inline Jinja (default: the model's own, else the built-in prompt of `style`)
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


def judge_record(cfg: JudgeConfig) -> dict[str, Any]:
    """What `genrm_judge.json` holds: the style, the template (a built-in name as is, a custom
    one as its text, so the model directory works without the recipe's files), the verdict format."""
    t = cfg.template
    text = None if t is None or t in NAMED_TEMPLATES else load_template_source(t)
    return {"style": cfg.style, "template": t if text is None else text,
            "template_name": "built-in " + cfg.style if t is None else "inline" if text == t else t,
            "verdict_format": VERDICT_FORMATS[cfg.style]}


def write_judge_record(model_dir: str, cfg: JudgeConfig) -> str:
    path = os.path.join(model_dir, JUDGE_FILE)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(judge_record(cfg), f, indent=2)
    return path


def read_judge_record(ref: Any) -> Optional[dict[str, Any]]:
    """The recorded judge of a local model directory (None: not a directory, or none recorded)."""
    path = os.path.join(ref, JUDGE_FILE) if isinstance(ref, (str, os.PathLike)) and os.path.isdir(ref) else None
    if path is None or not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        rec = json.load(f)
    if rec.get("style") not in STYLES:
        raise RecipeError(f"{path}: unknown judge style {rec.get('style')!r}; known: {', '.join(STYLES)}")
    return rec


def _source(template: Optional[str]) -> Optional[str]:
    try:
        return template if template is None or template in NAMED_TEMPLATES else load_template_source(template)
    except TemplateError:
        return template


def judge_for_model(ref: Any, explicit: JudgeConfig) -> JudgeConfig:
    """The one reader of a model's recorded judge, used by every consumer of a model reference
    (evaluator, reward service and server, RLHF adapters). `explicit` at its default prompt
    (`style`, `template` unset): the model's recorded style and template. Set: it wins, with
    one log line when it differs from the training template. (An explicit `judge.style=rationale`
    equals the default, so it cannot override a recorded style; name a template instead.)"""
    rec = read_judge_record(ref)
    if rec is None:
        return explicit
    if not explicit.changed(_PROMPT_KEYS):
        return dataclasses.replace(explicit, style=rec["style"], template=rec.get("template"))
    if (explicit.style, _source(explicit.template)) != (rec["style"], _source(rec.get("template"))):
        log.warning("judge: %s was trained with style %s and template %s; using the explicit style %s and "
                    "template %s", ref, rec["style"], rec.get("template_name"), explicit.style,
                    explicit.template if explicit.template is None or "\n" not in explicit.template else "inline")
    return explicit


__all__ = ["JudgeConfig", "DEFAULT_BACKEND", "SAMPLING_KEYS", "EVALUATION_KEYS", "JUDGE_FILE", "judge_for_model",
           "judge_record", "read_judge_record", "write_judge_record"]
