"""Content words: the token view of a reason shared by the lexical matcher
(genrm.reward.matching) and the stance checks (genrm.reward.stance, genrm.reward.defenses).
Its own module so that the checks do not import the matchers."""

from __future__ import annotations

import re

_STOP = frozenset(
    "a b an the and or but if of to in on at by for with from as is are was were be been being it its this that "
    "these those there their they them he she his her we our you your i me my not no so than then too very can "
    "could would should will just also more most less does do did has have had which who whom what when where why "
    "how all any both each other such only own same into about over under again further once response responses "
    "assistant".split()
)
_WORD = re.compile(r"[a-z0-9]+")


def content_words(text: str) -> frozenset[str]:
    """Lower-cased words of `text` without stop words, plurals folded."""
    words = set()
    for w in _WORD.findall(text.lower()):
        if w in _STOP:
            continue
        if len(w) > 3 and w.endswith("s") and not w.endswith("ss"):
            w = w[:-1]  # crude plural folding: "errors" ~ "error"
        words.add(w)
    return frozenset(words)
