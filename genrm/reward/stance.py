"""Side and polarity of what a text claims, word by word: the stance check of the rationale reward.

Works on side-neutral texts (`genrm.data.sides`: "{chosen}"/"{rejected}").

Words. Content words are the lexical matcher's (function words dropped, plurals folded),
with verb forms folded (`genrm.reward.words.stem`: "mutates", "mutated", "mutating" meet),
minus side names, negation cues (`NEGATION_CUES`: not, no, never, n't, without, fails,
lacks, missing, less, instead, and the verbs avoid, refuse, decline: "avoids leaking X"
says what "does not leak X" says), valence words (`EVALUATIVE`: better, correct, wrong,
concise, ...) and filler (`FILLER_WORDS`: point, reason, overall, very, ...). Valence words
carry a claim's stance but no substance of their own; "wrongly X" says X happened and was
wrong, so they are not negation cues.

Clauses. A text is cut at punctuation, at connectives ("but", "while", "because",
"which", "unlike", ...), at "nor", at "and not", and, in a clause with a cue, at "and"/"or"
before an auxiliary or a verb in -s ("does not X and does not Y", "does not leak X and
suggests Y": the second verb phrase is out of the first cue's scope, so a second cue
cannot undo the first; "does not X and Y" stays one scope). A clause takes the side it names
(anywhere: "B's loop", "the loop in B", "mutated by B"; "than B", "unlike B" do not count),
else the side named earlier in its sentence, else the side whose short response it quotes,
else none. A cue flips the words after it in its clause; a cue with no content word after
it flips the words before it, or, alone in its clause (", which is not correct"; not a
closing "instead"), the clause before. A word's stance is side x polarity (polarity alone
when either clause names no side).

Conflict (`conflicts`). Each unit clause is compared with the reason clause sharing most
of its words. The pair conflicts when more shared words disagree than agree, when at
least two disagree and no more agree, or when at least two words of one unit clause
disagree and no more agree. This is how "is" is told from "is not", and Response A from
Response B, which embedding similarity cannot do.

Known limits: antonyms are not negations ("correct" and "incorrect" are different words,
not opposite stances); a paraphrased negation that shares no content word with the unit
is left to the matcher; a plural after "and" reads as a verb ("does not handle lists and
strings" denies only the lists), and "never Xs and Ys" denies only X.
"""

from __future__ import annotations

import functools
import re
from typing import NamedTuple, Sequence

from genrm.reward.words import content_words, stem
from genrm.data.sides import PLACEHOLDER

NEGATION_CUES = frozenset(
    "not no never none nothing nobody neither nor without cannot unable fail fails failed failing lack lacks lacked "
    "lacking miss misses missed missing less fewer instead rather "
    # verbs that say the act did not happen: "avoids leaking X" is "does not leak X"
    "avoid avoids avoided avoiding refuse refuses refused refusing decline declines declined declining".split()
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
_COORDINATORS = frozenset(("and", "or"))
_AUXILIARIES = frozenset("does do did is are was were has have had can could will would should may might must".split())
_ADVERB_CUES = frozenset(("instead", "rather"))  # "..., or telling IT instead": no scope over what came before
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
    return (stem(next(iter(got))), True) if len(got) == 1 else None


def content_form(word: str) -> str | None:
    """The content form of one word (plural and verb form folded), or None when it has no substance."""
    got = _stance_word(word)
    return got[0] if got and got[1] else None


@functools.lru_cache(maxsize=65536)
def _is_cue(word: str) -> bool:
    w = word.lower()
    return w in NEGATION_CUES or w.endswith("n't")


def words_of(text: str) -> list[str]:
    return _WORDS.findall(PLACEHOLDER.sub(" ", text).lower())


class Clause(NamedTuple):
    side: int  # +1 chosen, -1 rejected, 0 none
    explicit: bool  # the side is named in the clause itself
    words: tuple[tuple[str, int], ...]  # (content word, polarity +1/-1), quotes left out
    content_side: int  # the side whose short response text the clause contains, else 0
    negated: bool  # any cue in the clause
    vocab: frozenset[str] = frozenset()  # the words, for aligning clauses


def _content_side(quotes: str, short: tuple[str, str] | None) -> int:
    """+1/-1 when the clause quotes exactly one response's whole (short) text, else 0.
    Only quotes count: in "the grandson was struggling" the words name a person, in
    'picks "The grandson"' they name an answer."""
    if not short or not quotes:
        return 0
    got = set(quotes.split("\n"))
    c, r = short[0] in got, short[1] in got
    return 1 if c and not r else -1 if r and not c else 0


@functools.lru_cache(maxsize=65536)
def _info(tok: str) -> tuple[str, bool, bool, tuple[str, bool] | None]:
    """(lowercase, is a negation cue, is a connective, stance form) of one word token."""
    low = tok.lower()
    cue = _is_cue(low)
    conn = low in _CONNECTIVES
    return low, cue, conn, None if cue or conn else _stance_word(low)


class _Open:
    """A clause being read: tokens arrive one by one (see the module doc for the rules)."""

    __slots__ = ("side", "explicit", "words", "parity", "trailing", "before", "negated", "quotes", "first", "prev",
                 "substance", "retro")

    def __init__(self) -> None:
        self.side, self.explicit, self.words = 0, False, []
        self.parity, self.trailing, self.before = 1, 1, 0  # trailing: parity of cues with no content word after
        self.negated, self.substance = False, False
        self.retro = False  # a cue that may speak of the clause before (not "instead", "rather")
        self.quotes: list[str] = []
        self.first = self.prev = None

    def add(self, kind: str, tok: str) -> None:
        if kind == "side":
            if not self.explicit and (self.prev is None or self.prev not in _NOT_SUBJECT):
                self.side, self.explicit = (1 if tok == "{chosen}" else -1), True
            self.prev = None
        elif kind == "quote":
            self.quotes.append(" ".join(words_of(tok)))
            self.prev = None
        else:
            low, cue, _, form = _info(tok)
            if cue:
                self.negated, self.retro = True, self.retro or low not in _ADVERB_CUES
                if self.trailing > 0:
                    self.before = len(self.words)
                self.parity, self.trailing = -self.parity, -self.trailing
            elif form is not None:
                self.words.append((form[0], self.parity))
                if form[1]:  # "is not correct": an evaluative word after the cue leaves it trailing
                    self.trailing, self.substance = 1, True
            self.prev = low
        if self.first is None:
            self.first = self.prev or ""

    def close(self) -> list[tuple[str, int]]:
        if self.trailing < 0:  # "the key is missing": a cue at the end speaks of what came before it
            return [(w, -p) for w, p in self.words[: self.before]] + self.words[self.before :]
        return self.words


@functools.lru_cache(maxsize=16384)
def analyse(text: str, short: tuple[str, str] | None = None) -> tuple[Clause, ...]:
    """The clauses of a side-neutral text (see the module doc)."""
    clauses: list[Clause] = []
    built: list[list] = []  # clauses of the current sentence: [side, explicit, words, by_text, negated]
    state = {"current": 0}
    cur = _Open()

    def close_clause() -> None:
        nonlocal cur
        if cur.first is None:
            return
        words = cur.close()
        if cur.trailing < 0 and built and not cur.substance and cur.retro:
            built[-1][2] = [(w, -p) for w, p in built[-1][2]]  # ", which is not correct": the clause before
        by_text = _content_side("\n".join(cur.quotes), short)
        side = cur.side
        if not cur.explicit:
            side = state["current"] or by_text
        elif cur.first not in _NOT_SUBJECT:
            state["current"] = side
        built.append([side, cur.explicit, words, by_text, cur.negated])
        cur = _Open()

    def close_sentence() -> None:
        close_clause()
        clauses.extend(Clause(s, e, tuple(w), t, n, frozenset(x for x, _ in w)) for s, e, w, t, n in built)
        built.clear()
        state["current"] = 0

    for m in _TOKEN.finditer(text):
        kind = m.lastgroup
        tok = m.group(kind)
        if kind == "stop":
            close_sentence() if tok in ".!?\n" else close_clause()
            continue
        if kind == "word":
            low, cue, conn, _ = _info(tok)
            if (conn and cur.first is not None) or low == "nor" or (cur.prev in _COORDINATORS and (
                    cue or (cur.negated and _starts_conjunct(low)))):
                close_clause()  # a connective, "X and not Y", "does not X and does not Y": a clause of its own
        cur.add(kind, tok)
    close_sentence()
    return tuple(clauses)


def _starts_conjunct(low: str) -> bool:
    """After "and"/"or" in a negated clause: a word that starts a verb phrase of its own, out of
    the cue's scope. "does not X and does not Y" (else the second cue would undo the first),
    "does not leak X and suggests Y" (Y is said, not denied); "does not X and Y" stays one scope."""
    return low in _AUXILIARIES or (len(low) > 3 and low.endswith("s") and not low.endswith(("ss", "us")))


def _same(side_u: int, p: int, side_r: int, q: int) -> bool:
    return (side_u * p == side_r * q) if (side_u and side_r) else (p == q)


def _stance_votes(unit: Sequence[Clause], reason: Sequence[Clause]) -> tuple[float, float, bool]:
    """(agree, disagree, some unit clause mostly contradicted). Each unit clause is compared
    with the reason clause that shares most of its words."""
    agree = disagree = 0.0
    clause_hit = False
    for c in unit:
        best, shared = None, 0
        for rc in reason:
            k = len(rc.vocab & c.vocab)
            if k > shared:
                best, shared = rc, k
        if best is None:
            continue
        ca = cd = 0.0
        seen: set[str] = set()
        mine = dict(c.words)
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


@functools.lru_cache(maxsize=65536)
def all_content(text: str) -> frozenset[str]:
    """Content words of a text (cached: units are compared with every reason of every rollout)."""
    return frozenset(c for w in words_of(text) if (c := content_form(w)))


def signature(text: str, short) -> set:
    """What a reason claims: its words with their stance (side x polarity), for the duplicate
    check. "A does X" then "B does not do X" is one point made twice; "B does X" is not."""
    return {(w, c.side * p if c.side else p) for c in analyse(text, short) for w, p in c.words}


