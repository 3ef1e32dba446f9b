"""Content words: the token view of a reason shared by the lexical matcher
(genrm.reward.matching) and the stance checks (genrm.reward.stance, genrm.reward.defenses),
and `stem`, the checks' verb-form folding. Its own module so that the checks do not import
the matchers."""

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


# Longest first; (suffix, replacement). "ie" is what plural folding leaves of "-ies".
_SUFFIXES = (("ies", "y"), ("ied", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("ie", "y"), ("s", ""))


def stem(word: str) -> str:
    """A light suffix stripper for the checks: "leaks", "leaked", "leaking" -> "leak"; "mutates",
    "mutating" -> "mutat"; "copies", "copied" -> "copy". A paraphrase or a negation changes the
    verb form ("avoids leaking" for "does not leak"), and the stance of a claim is read on the
    words two texts share. Stems of under 3 letters are not made ("used" stays). Not used by
    the lexical matcher, whose scores stay plain word overlap."""
    w = word
    for suffix, repl in _SUFFIXES:
        if w.endswith(suffix) and len(w) - len(suffix) >= 3 and not (suffix == "s" and w.endswith(("ss", "us"))):
            w = w[: len(w) - len(suffix)] + repl
            if suffix in ("ing", "ed") and len(w) > 3 and w[-1] == w[-2] and w[-1] not in "lsz":
                w = w[:-1]  # "stopped", "running": the doubled consonant
            break
    return w[:-1] if len(w) > 3 and w.endswith("e") else w
