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

import re
from dataclasses import dataclass
from typing import Sequence

from genrm.backends.base import Backend, Sampling

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

    def decompose_batch(self, texts: Sequence[str], raise_errors: bool = True) -> list[list[str] | None]:
        """Units per text. A text whose output stays unusable after the retries (or whose
        request failed for good) raises DecomposeError, or is None with raise_errors=False."""
        results: list[list[str] | None] = [[] if not (t and t.strip()) else None for t in texts]
        todo = [i for i, t in enumerate(texts) if t and t.strip()]
        sampling = Sampling(max_new_tokens=self.max_new_tokens, temperature=0.0)
        for attempt in range(self.max_retries + 1):
            if not todo:
                break
            if attempt:  # a retry samples, so a deterministic bad answer is not repeated
                sampling = Sampling(max_new_tokens=self.max_new_tokens, temperature=0.7, seed=attempt)
            outs = self.backend.generate([self.messages(texts[i]) for i in todo], sampling)
            still = []
            for i, out in zip(todo, outs):
                units = self.parse(out)
                if units is None:
                    still.append(i)
                else:
                    results[i] = units
            todo = still
        if todo and raise_errors:
            raise DecomposeError(
                f"{len(todo)} rationale(s) could not be decomposed after {self.max_retries + 1} attempts "
                f"(first failing index {todo[0]})"
            )
        return results


def make_decomposer(cfg: dict) -> "LLMDecomposer | None":
    """None for the rule-based splitter; an LLMDecomposer for `method: llm`."""
    method = cfg.get("method", "rule")
    if method in ("rule", "none"):
        return None
    if method != "llm":
        raise ValueError(f"units.method must be 'rule', 'llm' or 'none', got {method!r}")
    from genrm.backends import make_backend

    backend_cfg = dict(cfg.get("backend") or {})
    if not backend_cfg:
        raise ValueError("units.method=llm needs units.backend (e.g. {kind: openai, base_url: ..., model: ...})")
    return LLMDecomposer(
        backend=make_backend(backend_cfg),
        min_units=int(cfg.get("min_units", 3)),
        max_units=int(cfg.get("max_units", 7)),
        max_retries=int(cfg.get("max_retries", 2)),
    )
