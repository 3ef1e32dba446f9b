"""Which response a text talks about: side-neutral rationale units and their rendering.

Human units and model reasons name the two responses in many ways: "Response A/B",
"Response 1/2", "@Response 1" (HelpSteer3, RationaleRM), "Assistant A", "Model B",
"the first/second response", or a bare "A"/"B" used as a name ("A is concise", "than B");
human text may also name the roles themselves ("the chosen/rejected response").
Which response that is depends on an order: the source's (response1/response2) for human
text, the judge prompt's placement (`PreferenceRecord.chosen_position`) for model text.

Stored form (side-neutral). Records keep their units with every side mention replaced by
a placeholder naming the role, not the position:

    "{chosen} removes spaces, while {rejected} compares the raw string."

`CHOSEN = "{chosen}"` and `REJECTED = "{rejected}"` are reserved in unit text; everything
else is the annotator's words. Sources that know which original response won (meta
`chosen_response`: 1 or 2) are neutralised when their units are made
(`neutralise_record_units`: RationaleRM at load, HelpSteer3 and other free-text rationales
in the build after the splitter/decomposer). Units that never name a side (BBQ silver
units, moral norms) are unchanged. Placeholders are plain text, so JSONL and `datasets`
round trips keep them.

Rendering. `render_units(units, chosen_position)` turns placeholders into "Response A"/
"Response B" for a placement: the one function for SFT targets, MetaJudge prompts and
reports. Model reasons go the other way with `from_placement(text, chosen_position)`:
"A", "1", "first" mean the response shown first. Text the model wrote never carries
placeholders: a literal "{chosen}" in it is defused to a plain word first.
"""

from __future__ import annotations

import re
from typing import Iterable, Sequence

from genrm.data.record import POSITIONS

CHOSEN = "{chosen}"
REJECTED = "{rejected}"
PLACEHOLDER = re.compile(r"\{(chosen|rejected)\}")

# "Response A", "@Response 1", "Assistant B", "Model 2", "Output #1", "Candidate A".
_NAMED = re.compile(
    r"@?\b(?:response|assistant|model|output|option|candidate)\s*#?\s*([AB12])\b(?![./]\d)", re.I
)
# "the first response", "the second answer", "the first one".
_ORDINAL = re.compile(r"\b(?:the\s+)?(first|second)\s+(?:response|answer|assistant|output|reply|model|candidate|one)\b",
                      re.I)
# A bare capital A/B used as a name. Mid-sentence it is a name unless a noun claims it
# ("vitamin A", "plan B"); at a sentence start only before a verb ("A gives", "B's").
_BARE = re.compile(r"(?<![\w'@{<>=+*/^-])([AB])(?=$|'s\b|[^\w<>=+*/^{-])")
_BARE_NOUNS = frozenset(
    "vitamin plan type grade class group part section step item hepatitis category exhibit appendix blood "
    "team level tier side column row option list the a an".split()
)
_BARE_VERBS = frozenset(
    "is was are were does did doesn't didn't isn't wasn't has had hasn't gives gave provides provided states stated "
    "says said claims claimed uses used offers offered fails failed correctly incorrectly wrongly also only makes "
    "made lists listed includes included contains ignores ignored answers answered refuses refused mentions "
    "mentioned explains explained assumes assumed relies picks picked chooses chose handles handled returns follows "
    "suggests suggested lacks misses missed presents addresses shows showed focuses acknowledges avoids avoided "
    "identifies recognizes recognises violates complies repeats adds added omits omitted introduces accurately "
    "clearly directly properly successfully remains stays tries attempts can could would should will might may "
    "seems appears cites quotes invents recommends asks".split()
)
# Human text may also name roles: "the chosen response", "the rejected answer" (trusted text only:
# a model that writes "the chosen one" has not named a side).
_ROLE = re.compile(r"\b(?:the\s+)?(chosen|rejected)\s+(?:response|answer|reply|output|completion|one)\b", re.I)
_ANY = re.compile(r"(?i:response|assistant|model|output|option|candidate|first|second)|(?<![\w'])[AB](?!\w)")
_SENTENCE_START = re.compile(r"(?:^|[.!?:;\n]\s*|^\s*(?:\d+[.)]|[-*\u2022])\s*)$")


def _bare_is_name(text: str, m: re.Match) -> bool:
    before = text[: m.start()]
    if _SENTENCE_START.search(before) or not before.strip():
        rest = text[m.end():]
        if rest.startswith("'s"):
            return True
        nxt = re.match(r"\s*([A-Za-z']+)", rest)
        return bool(nxt) and nxt.group(1).lower() in _BARE_VERBS
    prev = re.search(r"([A-Za-z]+)\W*$", before)
    return not (prev and prev.group(1).lower() in _BARE_NOUNS)


def _first_side(first: str) -> tuple[str, str]:
    if first not in ("chosen", "rejected"):
        raise ValueError(f"first must be 'chosen' or 'rejected' (the side the first-named response is), got {first!r}")
    return (CHOSEN, REJECTED) if first == "chosen" else (REJECTED, CHOSEN)


def neutralise(text: str, first: str = "chosen", *, trusted: bool = False) -> str:
    """Replace every side mention with CHOSEN/REJECTED. `first` says which side the
    first-named response ("A", "1", "first") is. Untrusted text (model output) has literal
    placeholders defused first, so a policy cannot name a role without naming a side;
    trusted text (human rationales) may name roles ("the chosen response")."""
    one, two = _first_side(first)
    if not trusted:
        text = PLACEHOLDER.sub(r"\1", text)
    else:
        text = _ROLE.sub(lambda m: CHOSEN if m.group(1).lower() == "chosen" else REJECTED, text)
    if not _ANY.search(text):  # most texts: no mention at all, one cheap search
        return text

    def named(m: re.Match) -> str:
        return one if m.group(1).upper() in ("A", "1") else two

    text = _NAMED.sub(named, text)
    text = _ORDINAL.sub(lambda m: one if m.group(1).lower() == "first" else two, text)
    out, last = [], 0
    for m in _BARE.finditer(text):
        if _bare_is_name(text, m):
            out += [text[last : m.start()], one if m.group(1) == "A" else two]
            last = m.end()
    return "".join(out) + text[last:]


def _check_position(chosen_position: str) -> None:
    if chosen_position not in POSITIONS:
        raise ValueError(f"chosen_position must be 'A' or 'B', got {chosen_position!r}")


def from_placement(text: str, chosen_position: str) -> str:
    """Model text written against a placement (A/B as the judge saw them) -> side-neutral."""
    _check_position(chosen_position)
    return neutralise(text, "chosen" if chosen_position == "A" else "rejected")


def render_text(text: str, chosen_position: str) -> str:
    """Side-neutral text -> "Response A"/"Response B" for the placement."""
    _check_position(chosen_position)
    c, r = ("A", "B") if chosen_position == "A" else ("B", "A")
    return PLACEHOLDER.sub(lambda m: f"Response {c if m.group(1) == 'chosen' else r}", text)


def render_units(units: Sequence[str], chosen_position: str) -> list[str]:
    """Side-neutral units rendered for a record's placement: the text a judge, a MetaJudge
    or a report reader sees ("Response A"/"Response B")."""
    return [render_text(u, chosen_position) for u in units]


def swap_sides(text: str) -> str:
    """CHOSEN <-> REJECTED: the same text blaming the other response."""
    return PLACEHOLDER.sub(lambda m: REJECTED if m.group(1) == "chosen" else CHOSEN, text)


def is_neutral(units: Iterable[str]) -> bool:
    """True when any unit carries a placeholder (so it needs a placement to be shown)."""
    return any(PLACEHOLDER.search(u) for u in units)


def neutralise_units(units: Sequence[str], chosen_original: int | str) -> list[str]:
    """Units written against the source's order -> side-neutral. `chosen_original` is the
    source's winner: 1/"1"/"A" (response1 won) or 2/"2"/"B". Idempotent."""
    key = str(chosen_original).strip().upper()
    if key not in ("1", "2", "A", "B"):
        raise ValueError(f"chosen_original must be 1 or 2 (or 'A'/'B'), got {chosen_original!r}")
    first = "chosen" if key in ("1", "A") else "rejected"
    return [neutralise(u, first, trusted=True) for u in units]


def neutralise_record_units(record) -> bool:
    """Make a record's units side-neutral in place, from `meta["chosen_response"]` (1 or 2:
    which original response is the chosen one). False (units untouched) when the record
    does not say."""
    side = record.meta.get("chosen_response") if isinstance(record.meta, dict) else None
    if side not in (1, 2, "1", "2") or not record.rationale_units:
        return False
    record.rationale_units = neutralise_units(record.rationale_units, side)
    return True
