"""Checks that keep the rationale reward from paying for reasons written to game the matcher.

A matcher (lexical, embedding or MetaJudge) says how close a model reason is to a human
unit. Closeness is not agreement: "Response B fails to X" is close to "Response A does X",
and five copies of one sentence are each close to it. These checks run on side-neutral
texts (`genrm.data.sides`) around any matcher, in `genrm.reward.scoring`: deterministic word rules,
cheap next to an embedding, the same for every matcher. Each is a `Defenses` field, so a
recipe can tune or switch it off.

Content words, negation cues, side and polarity come from `genrm.reward.stance`.

Per reason (a void reason keeps its position, so it still counts in P@k, and earns 0):

* too long: over `max_reason_words` words (60) is not one point. Never sent to the matcher.
* no substance: fewer than `min_content_words` (3) content words of its own, where words
  inside a run of `copy_ngram` (5) words copied from the prompt or the responses are not
  its own. "Response A is right about X, point 3" is filler; a pasted sentence of the
  conversation is pasted; a reason that quotes a response and adds its own point is kept.
* keyword soup: `soup_min_words` (6) words or more with under `soup_max_function_share`
  (12%) function words: a bag of keywords, not a sentence.
* duplicate: its claim (content words with their stance, below) overlaps an earlier
  reason's by Jaccard >= `duplicate_jaccard` (0.6). "A does X" then "B does not do X" is
  one point made twice; "B does X" after "A does X" is another claim (stance decides it).
  Verb forms are folded and refusal verbs read as negation, so a reason paraphrased a
  little ("keeps"/"stores" the seen items, "does not help"/"declines to help") is caught.
  Not by embedding similarity: all-MiniLM-L6-v2 puts distinct honest reasons about one
  problem (0.86 on a math pair) above paraphrases that change most words (0.4-0.8).
* misattributed: a clause that names one side but quotes only the other response's whole
  text (responses of at most `content_side_max_words` words, such as BBQ answers), with
  no negation: "Response A picks 'The grandfather'" when B answered "The grandfather".

Per (human unit, reason) pair:

* stance (`genrm.reward.stance.conflicts`): a reason that credits the unit's point to the other
  response, or negates it, scores 0 against that unit. This is how "is" is told from "is
  not", and Response A from Response B, which embedding similarity cannot do.
* contradiction (`contradiction`): a reason that conflicts with the unit it is closest to
  (no other unit scores higher) scores 0 against every unit. It is a false point by the
  human's account; without this, "B's loop keeps a set" (the unit says A's) still earned
  up to 0.75 from other units of the record on its topic and its side ("B's version is
  quadratic").
* bundle: a reason covering two or more units (sharing at least half, and two, of each
  one's content words) makes several points at once: its scores are divided by that
  number, rounded down to a level. One-to-one matching already lets one reason match one
  unit; this stops a long reason from matching it fully.

Known limits: see `genrm.reward.stance`; keywords padded with function words pass the soup check
(and still meet the substance, duplicate and bundle checks).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from genrm.reward.levels import SCORE_LEVELS
from genrm.reward.stance import Clause, all_content, analyse, conflicts, content_form, signature, words_of

# Reason codes, as counted in the rewards' metrics.
TOO_LONG, FILLER, PASTED, SOUP, DUPLICATE, MISATTRIBUTED = (
    "too_long", "filler", "pasted", "keyword_soup", "duplicate", "misattributed")
VOID_KINDS = (TOO_LONG, FILLER, PASTED, SOUP, DUPLICATE, MISATTRIBUTED)


@dataclass(frozen=True)
class Defenses:
    """Settings of the checks (see the module doc). `enabled=False` turns all of them off."""

    enabled: bool = True
    max_reason_words: int = 60
    min_content_words: int = 3
    copy_ngram: int = 5
    soup_min_words: int = 6
    soup_max_function_share: float = 0.12
    duplicate_jaccard: float = 0.6
    stance: bool = True
    contradiction: bool = True
    bundle_coverage: float = 0.5
    content_side_max_words: int = 8  # responses this short give a side by their text

    def __post_init__(self) -> None:
        if self.copy_ngram < 2:
            raise ValueError(f"copy_ngram must be >= 2, got {self.copy_ngram}")
        for name in ("soup_max_function_share", "duplicate_jaccard", "bundle_coverage"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")


# -- per reason --------------------------------------------------------------------------


def ngrams(text: str, n: int) -> frozenset[tuple[str, ...]]:
    """Word n-grams of a text (side names left out), for the copy check."""
    w = words_of(text)
    return frozenset(tuple(w[i : i + n]) for i in range(len(w) - n + 1))


@functools.lru_cache(maxsize=512)
def context_ngrams(context: str, n: int = 5) -> frozenset[tuple[str, ...]]:
    """Cached per context: the G rollouts of a prompt share it."""
    return ngrams(context, n)


def own_content(text: str, copied: frozenset, n: int) -> set[str]:
    """Content words of `text` outside runs of n words found in `copied`."""
    w = words_of(text)
    inside = [False] * len(w)
    if copied:
        for i in range(len(w) - n + 1):
            if tuple(w[i : i + n]) in copied:
                inside[i : i + n] = [True] * n
    return {c for word, hit in zip(w, inside) if not hit and (c := content_form(word))}


def screen_reasons(reasons: Sequence[str], context: str = "", responses: Sequence[str] | None = None,
                   cfg: Defenses = Defenses()) -> list[str | None]:
    """Per side-neutral reason: None when it may be matched, else why it is void (one of
    VOID_KINDS). `context` is the text the judge saw (conversation and responses)."""
    if not cfg.enabled:
        return [None] * len(reasons)
    copied = context_ngrams(context, cfg.copy_ngram) if context else frozenset()
    short = _short_responses(responses, cfg)
    out: list[str | None] = []
    seen: list[set[str]] = []
    for text in reasons:
        words = words_of(text)
        content = all_content(text)
        tagged = signature(text, short) or content
        why = None
        if len(words) > cfg.max_reason_words:
            why = TOO_LONG
        elif len(own_content(text, copied, cfg.copy_ngram)) < cfg.min_content_words:
            why = PASTED if copied and len(content) >= cfg.min_content_words else FILLER
        elif len(words) >= cfg.soup_min_words and 1 - len(content) / len(words) < cfg.soup_max_function_share:
            why = SOUP
        elif any(len(tagged & s) / len(tagged | s) >= cfg.duplicate_jaccard for s in seen):
            why = DUPLICATE
        elif short and _misattributed(analyse(text, short)):
            why = MISATTRIBUTED
        seen.append(tagged)
        out.append(why)
    return out


def _short_responses(responses: Sequence[str] | None, cfg: Defenses) -> tuple[str, str] | None:
    if not responses or len(responses) != 2:
        return None
    norm = tuple(" ".join(words_of(r)) for r in responses)
    if not all(norm) or norm[0] == norm[1] or any(len(r.split()) > cfg.content_side_max_words for r in norm):
        return None
    return norm  # type: ignore[return-value]


def _misattributed(clauses: Iterable[Clause]) -> bool:
    """A clause that names a side but quotes only the other side's (short) response."""
    return any(c.explicit and c.content_side == -c.side and not c.negated for c in clauses)


def bundle_size(reason: str, units: Sequence[str], coverage: float) -> int:
    """How many units a reason covers (shares >= `coverage` and >= 2 of each one's content words)."""
    r = all_content(reason)
    n = 0
    for u in units:
        cu = all_content(u)
        shared = len(r & cu)
        if shared >= 2 and shared >= coverage * len(cu):
            n += 1
    return n


def floor_level(x: np.ndarray) -> np.ndarray:
    """Round scores down to the nearest score level."""
    levels = np.asarray(SCORE_LEVELS)
    idx = np.searchsorted(levels, np.asarray(x) + 1e-9, side="right") - 1
    return levels[np.clip(idx, 0, len(levels) - 1)]


def apply_pair_checks(S: np.ndarray, units: Sequence[str], reasons: Sequence[str],
                      responses: Sequence[str] | None = None, cfg: Defenses = Defenses()) -> np.ndarray:
    """Stance conflicts to 0 (a contradiction: the whole column) and bundles divided, on a matrix of
    kept (non-void) reasons."""
    if not cfg.enabled or S.size == 0:
        return S
    S = S.copy()
    short = _short_responses(responses, cfg)
    denied: dict[int, list[int]] = {}  # reason -> the units it conflicts with
    if cfg.stance:
        ua = [analyse(u, short) for u in units]
        for j, r in enumerate(reasons):
            col = S[:, j]
            if not col.any():
                continue
            ra = analyse(r, short)
            hit = denied[j] = [i for i in np.flatnonzero(col) if conflicts(ua[i], ra)]
            if cfg.contradiction and hit and col[hit].max() >= np.delete(col, hit).max(initial=0.0):
                S[:, j] = 0.0  # it denies the unit it is closest to: a false point, whatever else it is near
            else:
                S[hit, j] = 0.0
    for j, r in enumerate(reasons):
        if S[:, j].any():
            # a unit the reason denies is not a point it makes ("taking 20% off $50" vs "takes 20% of $40")
            k = bundle_size(r, [u for i, u in enumerate(units) if i not in denied.get(j, ())], cfg.bundle_coverage)
            if k >= 2:
                S[:, j] = floor_level(S[:, j] / k)
    return S

