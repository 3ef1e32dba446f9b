"""Side and polarity of what a text claims, word by word: the stance check of the rationale reward.

Works on side-neutral texts (`genrm.sides`: "{chosen}"/"{rejected}").

Words. Content words are the lexical matcher's (function words dropped, plurals folded)
minus side names, negation cues (`NEGATION_CUES`: not, no, never, n't, without, fails,
lacks, missing, less, instead, ...), valence words (`EVALUATIVE`: better, correct, wrong,
concise, ...) and filler (`FILLER_WORDS`: point, reason, overall, very, ...). Valence words
carry a claim's stance but no substance of their own; "wrongly X" says X happened and was
wrong, so they are not negation cues.

Clauses. A text is cut at punctuation, at connectives ("but", "while", "because",
"which", "unlike", ...) and at "and not". A clause takes the side it names as subject
("than B", "unlike B" do not count), else the side named earlier in its sentence, else
the side whose short response it quotes, else none. A cue flips the words after it in
its clause; a cue with no content word after it flips the words before it, or, alone in
its clause (", which is not correct"), the clause before. A word's stance is side x
polarity (polarity alone when either clause names no side).

Conflict (`conflicts`). Each unit clause is compared with the reason clause sharing most
of its words. The pair conflicts when more shared words disagree than agree, when at
least two disagree and no more agree, or when at least two words of one unit clause
disagree and no more agree. This is how "is" is told from "is not", and Response A from
Response B, which embedding similarity cannot do.

Known limits: antonyms are not negations ("correct" and "incorrect" are different words,
not opposite stances); a paraphrased negation that shares no content word with the unit
is left to the matcher.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Sequence

from genrm.matching import content_words
from genrm.sides import PLACEHOLDER

NEGATION_CUES = frozenset(
    "not no never none nothing nobody neither nor without cannot unable fail fails failed failing lack lacks lacked "
    "lacking miss misses missed missing less fewer instead rather".split()
)
# Valence words: part of a claim's stance ("A is more concise"), but no substance of their own.
# "wrongly X" says X happened and was wrong, so these are not negation cues.
EVALUATIVE = frozenset(
    "better worse best worst good bad great poor poorly nice fine perfect excellent correct correctly incorrect "
    "incorrectly right wrong wrongly false falsely true untrue accurate accurately inaccurate inaccurately helpful "
    "unhelpful useful clear clearly concise detailed relevant complete superior inferior preferred preferable "
    "appropriate appropriately adequate adequately proper properly mistaken mistakenly erroneous erroneously".split()
)
FILLER_WORDS = frozenset(
    "point points reason reasons aspect aspects overall much slightly somewhat very really well quality important "
    "main major minor truly strong weak prefer prefers completely".split()
)
_CONNECTIVES = frozenset("but while whilst whereas although though however because since so which yet unlike "
                         "instead rather".split())
_NOT_SUBJECT = frozenset("than unlike versus vs over to compared against".split())
_TOKEN = re.compile(
    r"(?P<quote>\"[^\"\n]{0,300}\"|\u201c[^\u201d\n]{0,300}\u201d|(?<![A-Za-z])'[^'\n]{1,120}'(?![A-Za-z]))"
    r"|(?P<side>\{chosen\}|\{rejected\})"
    r"|(?P<word>[A-Za-z0-9]+(?:'[A-Za-z]+)?)"
    r"|(?P<stop>[.!?](?=\s|$)|\n|[,;:()\[\]])"
)
_WORDS = re.compile(r"[a-z0-9]+")


@functools.lru_cache(maxsize=65536)
def _stance_word(word: str) -> tuple[str, bool] | None:
    """(normal form, has substance) of one word for the checks, or None for a function
    word, a negation cue, a filler word or a single character. Evaluative words have no
    substance but take part in a stance."""
    w = word.lower()
    if w.endswith("'s"):
        w = w[:-2]
    if w in NEGATION_CUES or w.endswith("n't") or w in FILLER_WORDS or len(w) < 2:
        return None
    if w in EVALUATIVE:
        return w, False
    got = content_words(w)
    return (next(iter(got)), True) if len(got) == 1 else None


def content_form(word: str) -> str | None:
    """The content form of one word (plural folded), or None when it has no substance."""
    got = _stance_word(word)
    return got[0] if got and got[1] else None


def _is_cue(word: str) -> bool:
    w = word.lower()
    return w in NEGATION_CUES or w.endswith("n't")


def words_of(text: str) -> list[str]:
    return _WORDS.findall(PLACEHOLDER.sub(" ", text).lower())


@dataclass(frozen=True)
class Clause:
    side: int  # +1 chosen, -1 rejected, 0 none
    explicit: bool  # the side is named in the clause itself
    words: tuple[tuple[str, int], ...]  # (content word, polarity +1/-1), quotes left out
    content_side: int  # the side whose short response text the clause contains, else 0
    negated: bool  # any cue in the clause


def _content_side(quotes: str, short: tuple[str, str] | None) -> int:
    """+1/-1 when the clause quotes exactly one response's whole (short) text, else 0.
    Only quotes count: in "the grandson was struggling" the words name a person, in
    'picks "The grandson"' they name an answer."""
    if not short or not quotes:
        return 0
    got = set(quotes.split("\n"))
    c, r = short[0] in got, short[1] in got
    return 1 if c and not r else -1 if r and not c else 0


def _finish(tokens: list[tuple[str, str]]) -> tuple[int, bool, list[tuple[str, int]], str, bool, int]:
    """(side, explicit, words, quoted texts, negated, trailing cue parity) of one clause's tokens."""
    side, explicit = 0, False
    prev = None
    words: list[tuple[str, int]] = []
    parity = 1
    trailing = 1  # parity of cues with no content word after them
    before = 0  # words before the first of those cues
    for kind, tok in tokens:
        if kind == "side" and not explicit and (prev is None or prev not in _NOT_SUBJECT):
            side, explicit = (1 if tok == "{chosen}" else -1), True
        elif kind == "word":
            if _is_cue(tok):
                if trailing > 0:
                    before = len(words)
                parity, trailing = -parity, -trailing
            elif tok.lower() not in _CONNECTIVES and (got := _stance_word(tok)) is not None:
                words.append((got[0], parity))
                if got[1]:  # "is not correct": an evaluative word after the cue leaves it trailing
                    trailing = 1
        prev = tok.lower() if kind == "word" else None
    text = "\n".join(" ".join(words_of(tok)) for kind, tok in tokens if kind == "quote")
    negated = any(kind == "word" and _is_cue(tok) for kind, tok in tokens)
    if trailing < 0:  # "the key is missing": a cue at the end speaks of what came before it
        words = [(w, -p) for w, p in words[:before]] + words[before:]
    return side, explicit, words, text, negated, trailing


@functools.lru_cache(maxsize=16384)
def analyse(text: str, short: tuple[str, str] | None = None) -> tuple[Clause, ...]:
    """The clauses of a side-neutral text (see the module doc)."""
    sentences: list[list[list[tuple[str, str]]]] = [[[]]]
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup
        tok = m.group(kind)
        sent = sentences[-1]
        if kind == "stop":
            if tok in ".!?\n":
                sentences.append([[]])
            elif sent[-1]:
                sent.append([])
            continue
        if kind == "word":
            low = tok.lower()
            after_and = bool(sent[-1]) and sent[-1][-1][1].lower() in ("and", "or")
            if low in _CONNECTIVES and sent[-1]:
                sent.append([])
            elif after_and and _is_cue(tok):  # "X and not Y": the cue starts a clause of its own
                sent[-1].pop()
                sent.append([])
        sent[-1].append((kind, tok))
    clauses: list[Clause] = []
    for sent in sentences:
        current = 0
        built: list[list] = []
        for toks in sent:
            if not toks:
                continue
            side, explicit, words, ctext, negated, trailing = _finish(toks)
            if trailing < 0 and built and all(not content_form(w) for w, _ in words):
                built[-1][2] = [(w, -p) for w, p in built[-1][2]]  # ", which is not correct": the clause before
            by_text = _content_side(ctext, short)
            if not explicit:
                side = current or by_text
            elif toks[0][1].lower() not in _NOT_SUBJECT:
                current = side
            built.append([side, explicit, words, by_text, negated])
        clauses += [Clause(s, e, tuple(w), t, n) for s, e, w, t, n in built]
    return tuple(clauses)


def _same(side_u: int, p: int, side_r: int, q: int) -> bool:
    return (side_u * p == side_r * q) if (side_u and side_r) else (p == q)


def _stance_votes(unit: Sequence[Clause], reason: Sequence[Clause]) -> tuple[float, float, bool]:
    """(agree, disagree, some unit clause mostly contradicted). Each unit clause is compared
    with the reason clause that shares most of its words."""
    agree = disagree = 0.0
    clause_hit = False
    for c in unit:
        mine = dict(c.words)
        best, shared = None, 0
        for rc in reason:
            k = sum(1 for w, _ in rc.words if w in mine)
            if k > shared:
                best, shared = rc, k
        if best is None:
            continue
        ca = cd = 0.0
        seen: set[str] = set()
        for w, q in best.words:
            if w in mine and w not in seen:
                seen.add(w)
                if _same(c.side, mine[w], best.side, q):
                    ca += 1
                else:
                    cd += 1
        agree += ca
        disagree += cd
        clause_hit = clause_hit or (cd >= 2 and cd >= ca)
    return agree, disagree, clause_hit


def conflicts(unit: Sequence[Clause], reason: Sequence[Clause]) -> bool:
    """True when the reason says the opposite of the unit (other side, or negated)."""
    agree, disagree, clause_hit = _stance_votes(unit, reason)
    return clause_hit or disagree > agree or (disagree >= 2 and disagree >= agree)


def all_content(text: str) -> set[str]:
    return {c for w in words_of(text) if (c := content_form(w))}


def signature(text: str, short) -> set:
    """What a reason claims: its words with their stance (side x polarity), for the duplicate
    check. "A does X" then "B does not do X" is one point made twice; "B does X" is not."""
    return {(w, c.side * p if c.side else p) for c in analyse(text, short) for w, p in c.words}


