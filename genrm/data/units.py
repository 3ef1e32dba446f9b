"""Rationale units: split free-text rationales into atomic reasons.

Two decomposers, selectable per recipe (`units.method`):
- `rule`: deterministic offline splitter (sentences / bullet lines, generic
  statements dropped, near-duplicates merged). Keeps the human's own words, so
  units from human text stay `rationale_origin="human"`.
- `llm`: an LLM over any backend (usually an OpenAI-compatible endpoint)
  rewrites the text into 3-7 atomic, evidence-grounded, non-redundant units
  (BRIEF section 2). Those units are `rationale_origin="llm"`.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass
from typing import Sequence

from genrm.backends import UnknownBackendOption, make_backend
from genrm.backends.base import Backend, Sampling
from genrm.config import RecipeError

# Statements that carry no evidence ("Response 1 is better.", "Both are good.")
_GENERIC = re.compile(
    r"^(overall,?\s*)?(@?response\s*[12ab]|@?assistant\s*[12ab]|the (first|second) response|both( responses)?|"
    r"neither( response)?|it|this|they)\s+(is|are|was|were|seems?|looks?)\s+(slightly\s+|much\s+|a bit\s+|clearly\s+|"
    r"far\s+|somewhat\s+)?(better|worse|preferred|superior|inferior|good|great|bad|fine|okay|ok|helpful|"
    r"more helpful|less helpful|the better (one|response)|equally (good|bad|helpful))"
    r"(\s+(overall|than (@?response\s*[12ab]|the (first|second)( one| response)?)))?\s*[.!]?$",
    re.I,
)
_BULLET = re.compile(r"^\s*(?:[-*\u2022]|\d{1,2}[.)]|\(\d{1,2}\))\s+")
_SENT_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[A-Z@\"'(\[])")
_WORD = re.compile(r"[a-z0-9]+")


def _norm_words(s: str) -> set[str]:
    return set(_WORD.findall(s.lower()))


def is_generic(unit: str, min_words: int = 4) -> bool:
    """True for statements with no checkable content."""
    u = unit.strip()
    if len(_WORD.findall(u.lower())) < min_words:
        return True
    return bool(_GENERIC.match(u))


def split_rule_based(text: str, *, max_units: int = 7, min_words: int = 4, dedup_jaccard: float = 0.8) -> list[str]:
    """Deterministic atomic-unit splitter for free-text rationales."""
    if not text or not text.strip():
        return []
    pieces: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        line = _BULLET.sub("", line)
        pieces.extend(p.strip() for p in _SENT_SPLIT.split(line) if p.strip())
    units: list[str] = []
    seen: list[set[str]] = []
    for p in pieces:
        p = p.strip(" \t-*\u2022")
        if is_generic(p, min_words):
            continue
        words = _norm_words(p)
        if any(len(words & w) / max(1, len(words | w)) >= dedup_jaccard for w in seen):
            continue
        seen.append(words)
        units.append(p)
        if len(units) >= max_units:
            break
    return units


DECOMPOSE_SYSTEM = (
    "You turn a human annotator's rationale for preferring one response over another into atomic reasons."
)
DECOMPOSE_TEMPLATE = """Rewrite the rationale below as {min_units} to {max_units} atomic reasons.

Rules:
- Each reason states exactly one point, grounded in concrete evidence from the responses (what is present, missing, wrong or correct).
- Do not repeat a point; merge overlapping ones.
- Drop generic subjective statements that have no evidence (e.g. "Response 1 is better", "it is more helpful").
- Keep the annotator's meaning; do not add new judgments.
- If the rationale has fewer than {min_units} evidence-grounded points, list only those.

Output one reason per line, numbered "1.", "2.", ... and nothing else.

Rationale:
{rationale}"""


class DecomposeError(RuntimeError):
    pass


@dataclass
class LLMDecomposer:
    """LLM decomposition of free text into 3-7 atomic units, retried when the output is unusable."""

    backend: Backend
    min_units: int = 3
    max_units: int = 7
    max_retries: int = 2
    template: str = DECOMPOSE_TEMPLATE
    max_new_tokens: int = 512

    def messages(self, text: str) -> list[dict]:
        user = self.template.format(min_units=self.min_units, max_units=self.max_units, rationale=text.strip())
        return [{"role": "system", "content": DECOMPOSE_SYSTEM}, {"role": "user", "content": user}]

    def parse(self, output: str | None) -> list[str] | None:
        """Numbered/bulleted lines -> units; None when unusable (nothing or > max_units)."""
        if not output:
            return None
        units = []
        for line in output.splitlines():
            if _BULLET.match(line):
                u = _BULLET.sub("", line).strip()
                if u and not is_generic(u, 3):
                    units.append(u)
        if not units or len(units) > self.max_units:
            return None
        return units

    def _generate(self, prompts: list, sampling: Sampling) -> tuple[list[str | None], list]:
        """Outputs, and the request errors when the backend reports them (remote backends)."""
        errors: list = []
        if "errors" in inspect.signature(self.backend.generate).parameters:
            return self.backend.generate(prompts, sampling, errors=errors), errors
        return self.backend.generate(prompts, sampling), errors

    def decompose_batch(self, texts: Sequence[str], raise_errors: bool = True) -> list[list[str] | None]:
        """Units per text. An unusable output is asked again (sampled) up to `max_retries`
        times; a request that failed for good (the backend has retried what can be retried)
        is not asked again. A text left without units raises DecomposeError, or is None
        with raise_errors=False. A request the server refused as wrong (a 4xx other than
        408/429: bad key, unknown model) always raises: no other text would fare better."""
        results: list[list[str] | None] = [[] if not (t and t.strip()) else None for t in texts]
        todo = [i for i, t in enumerate(texts) if t and t.strip()]
        failed: list[int] = []
        first_error = ""
        sampling = Sampling(max_new_tokens=self.max_new_tokens, temperature=0.0)
        for attempt in range(self.max_retries + 1):
            if not todo:
                break
            if attempt:  # a retry samples, so a deterministic bad answer is not repeated
                sampling = Sampling(max_new_tokens=self.max_new_tokens, temperature=0.7, seed=attempt)
            outs, errors = self._generate([self.messages(texts[i]) for i in todo], sampling)
            fatal = next((e for e in errors if not getattr(e, "retryable", True)), None)
            if fatal is not None:
                raise DecomposeError(f"units.backend: {fatal.error}")
            request_failed = {todo[e.index] for e in errors}
            first_error = first_error or (errors[0].error if errors else "")
            still = []
            for i, out in zip(todo, outs):
                units = self.parse(out)
                if units is not None:
                    results[i] = units
                elif i in request_failed:
                    failed.append(i)
                else:
                    still.append(i)
            todo = still
        if failed and raise_errors:
            raise DecomposeError(f"{len(failed)} decomposition request(s) failed; first: {first_error}")
        if todo and raise_errors:
            raise DecomposeError(
                f"{len(todo)} rationale(s) could not be decomposed after {self.max_retries + 1} attempts "
                f"(first failing index {todo[0]})"
            )
        return results


def _backend_type_error(e: TypeError) -> str:
    """A constructor's TypeError (a missing setting) as a recipe error naming `units.backend`."""
    text = str(e)
    missing = re.search(r"missing \d+ required positional arguments?: (.+)$", text)
    return f"units.backend needs {missing.group(1)}" if missing else f"units.backend: {text}"


def make_decomposer(cfg: dict) -> "LLMDecomposer | None":
    """None for the rule-based splitter; an LLMDecomposer for `method: llm`. A bad backend
    setting is a RecipeError naming the `units.backend` key."""
    method = cfg.get("method", "rule")
    if method in ("rule", "none"):
        return None
    if method != "llm":
        raise RecipeError(f"units.method must be 'rule', 'llm' or 'none', got {method!r}")

    backend_cfg = dict(cfg.get("backend") or {})
    if not backend_cfg:
        raise RecipeError("units.method=llm needs units.backend (e.g. {kind: openai, base_url: ..., model: ...})")
    try:
        backend = make_backend(backend_cfg)
    except UnknownBackendOption as e:
        hint = f" (did you mean 'units.backend.{e.close}'?)" if e.close else ""
        raise RecipeError(f"unknown key 'units.backend.{e.key}'{hint}") from None
    except TypeError as e:  # a missing setting: the constructor names it
        raise RecipeError(_backend_type_error(e)) from None
    except ValueError as e:  # "<setting> must be ...": name it as the recipe key
        name, _, rest = str(e).partition(" ")
        if name in backend_cfg or name == "base_url":
            raise RecipeError(f"key 'units.backend.{name}' {rest}") from None
        raise RecipeError(f"units.backend: {e}") from None
    return LLMDecomposer(
        backend=backend,
        min_units=int(cfg.get("min_units", 3)),
        max_units=int(cfg.get("max_units", 7)),
        max_retries=int(cfg.get("max_retries", 2)),
    )
