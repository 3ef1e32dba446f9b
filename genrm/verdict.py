"""Verdict parsing, reason extraction and A/B flipping for pairwise judges.

Parsing rules (both styles):

* The verdict must be the last thing in the output. After it only a "tail" may
  follow: whitespace, punctuation ``. ! ; : , ) ] " ' ` * _ $``, LaTeX closers
  ``\\]`` / ``\\)``, closing tags (``</answer>``, ``</s>``) and end-of-sequence
  markers (``<|im_end|>``, ``<|endoftext|>``, ``<eos>``, ...).
* Every verdict mention in the output counts. Two or more *different* verdicts
  anywhere make the output invalid (a judge cannot hedge with one verdict in the
  reasoning and another at the end); the same verdict repeated is fine.
  "Different" is strict: ``A>B`` and ``A>>B`` differ.
* A malformed verdict mention anywhere (``\\boxed{A>>>B}``, ``\\boxed{}``,
  nested braces, an ``<answer>`` tag without a valid ``[[X]]``) makes the output
  invalid: it is an attempted verdict that cannot be read.
* Letters are case-insensitive (``\\boxed{a>b}`` reads as ``A>B``); whitespace
  inside the verdict is ignored (``\\boxed{ A > B }``). Nothing else is lenient.

rationale style: verdicts are ``\\boxed{A>>B|A>B|A=B|B>A|B>>A}``; other markup
(``[[A]]``) is ignored.
answer-tag style: the final verdict is ``<answer>[[A]]</answer>`` or ``[[B]]``;
``[[C]]`` and ``[[TIE]]`` read as a tie (the prompt asks for a forced choice, but
MT-Bench-style judges emit ties). Bare ``[[A]]``/``[[B]]`` mentions outside the
tag count for the conflict rule. ``\\boxed{}`` is ignored.

`Verdict.raw` is the canonical verdict label found ("A>>B", "A=B", "[[A]]",
"[[TIE]]"), or None when the output is invalid.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

BOXED_LABELS = ("A>>B", "A>B", "A=B", "B>A", "B>>A")
TAG_LABELS = ("[[A]]", "[[B]]", "[[C]]", "[[TIE]]")
# label -> (winner, strength)
_MEANING = {
    "A>>B": ("A", 2),
    "A>B": ("A", 1),
    "A=B": ("tie", 0),
    "B>A": ("B", 1),
    "B>>A": ("B", 2),
    "[[A]]": ("A", 1),
    "[[B]]": ("B", 1),
    "[[C]]": ("tie", 0),
    "[[TIE]]": ("tie", 0),
}
_FLIP = {
    "A>>B": "B>>A",
    "A>B": "B>A",
    "A=B": "A=B",
    "A": "B",
    "tie": "tie",
    "invalid": "invalid",
    "[[A]]": "[[B]]",
    "[[C]]": "[[C]]",
    "[[TIE]]": "[[TIE]]",
}
_FLIP.update({v: k for k, v in list(_FLIP.items())})

_BOXED_ANY = re.compile(r"\\boxed\b")
_BOXED = re.compile(r"\\boxed\s*\{([^{}]*)\}")
_ANSWER_OPEN = re.compile(r"<answer>", re.I)
_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.I | re.S)
_TAG = re.compile(r"\[\[\s*([A-Za-z]+)\s*\]\]")
_TAIL = re.compile(
    r"(?:\s|[.!;:,)\]\"'`*_$]|\\\]|\\\)|</[A-Za-z_]+>|<\|[^<>|]{1,40}\|>|<eos>|<end_of_turn>)*\Z",
)
_EOS_TOKENS = re.compile(r"<\|[^<>|]{1,40}\|>|<eos>|<end_of_turn>|</s>")


@dataclass
class Verdict:
    winner: str  # "A" | "B" | "tie" | "invalid"
    strength: int  # 2 for >>, 1 for >, 0 for = or invalid
    raw: str | None  # canonical label found ("A>>B", "[[A]]"), None when invalid
    reasons: list[str] = field(default_factory=list)
    error: str | None = None  # why the output is invalid, for logs

    @property
    def valid(self) -> bool:
        return self.winner != "invalid"


def _invalid(error: str, reasons: list[str]) -> Verdict:
    return Verdict("invalid", 0, None, reasons, error)


def _at_end(text: str, end: int) -> bool:
    return _TAIL.fullmatch(text, end) is not None


def _norm_boxed(content: str) -> str:
    return re.sub(r"\s+", "", content).upper()


def _parse_boxed(text: str) -> tuple[str | None, str | None]:
    """(label, error) for the rationale style."""
    matches = list(_BOXED.finditer(text))
    if not matches and not _BOXED_ANY.search(text):
        return None, "no verdict"
    if len(matches) != len(_BOXED_ANY.findall(text)):
        return None, "malformed verdict"
    labels = [_norm_boxed(m.group(1)) for m in matches]
    if any(lab not in BOXED_LABELS for lab in labels):
        return None, "malformed verdict"
    if len(set(labels)) > 1:
        return None, "conflicting verdicts"
    if not _at_end(text, matches[-1].end()):
        return None, "verdict not at end"
    return labels[-1], None


def _parse_tag(text: str) -> tuple[str | None, str | None]:
    """(label, error) for the answer-tag style."""
    blocks = list(_ANSWER.finditer(text))
    if not blocks and not _ANSWER_OPEN.search(text):
        return None, "no verdict"
    if len(blocks) != len(_ANSWER_OPEN.findall(text)):
        return None, "malformed verdict"
    labels = []
    for b in blocks:
        m = _TAG.fullmatch(b.group(1).strip())
        lab = f"[[{m.group(1).upper()}]]" if m else None
        if lab not in TAG_LABELS:
            return None, "malformed verdict"
        labels.append(lab)
    final = labels[-1]
    # Bare [[X]] mentions outside the tags count for the conflict rule.
    outside = _ANSWER.sub(" ", text)
    for m in _TAG.finditer(outside):
        lab = f"[[{m.group(1).upper()}]]"
        if lab in TAG_LABELS:
            labels.append(lab)
    winners = {_MEANING[lab][0] for lab in labels}  # [[C]] and [[TIE]] are the same verdict
    if len(winners) > 1:
        return None, "conflicting verdicts"
    if not _at_end(text, blocks[-1].end()):
        return None, "verdict not at end"
    return final, None


def parse_verdict(text: str | None, style: str = "rationale") -> Verdict:
    """Read the final verdict and the ordered reasons of a judge output."""
    if style not in ("rationale", "answer-tag"):
        raise ValueError(f"unknown judge style {style!r}; known: rationale, answer-tag")
    if text is None or not text.strip():
        return _invalid("empty", [])
    reasons = extract_reasons(text)
    label, error = (_parse_boxed if style == "rationale" else _parse_tag)(text)
    if label is None:
        return _invalid(error or "no verdict", reasons)
    winner, strength = _MEANING[label]
    return Verdict(winner, strength, label, reasons)


# -- reasons -------------------------------------------------------------------

_BULLET = re.compile(r"^([ \t]*)(?:\*\*)?(?:[-*+\u2022\u00b7]|\(?\d{1,3}[.)])(?:\*\*)?[ \t]+(.*\S)?\s*$")
_SENT_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[*])")
_VERDICT_LINE = re.compile(
    r"^(?:(?:final|overall|my)\s+)?(?:verdict|answer|decision|judg(?:e)?ment|conclusion|reasons?)\s*:?$", re.I
)
_HAS_WORD = re.compile(r"[A-Za-z0-9]{2}")


def _strip_markup(text: str) -> str:
    """Drop verdict markup and end-of-sequence markers so they never become reasons."""
    text = _ANSWER.sub(" ", text)
    text = re.sub(r"\\boxed\s*\{[^{}]*\}", " ", text)
    text = _EOS_TOKENS.sub(" ", text)
    text = re.sub(r"\[\[\s*(?:A|B|C|TIE)\s*\]\]", " ", text, flags=re.I)
    return text


def _clean(item: str) -> str:
    item = item.replace("**", "").replace("__", "")
    item = re.sub(r"^#+\s*", "", item.strip())
    item = " ".join(item.split()).strip(" -:*")
    item = re.sub(r"\s+([.,;:!?])", r"\1", item)
    return item


def _keep(item: str) -> bool:
    return bool(_HAS_WORD.search(item)) and not _VERDICT_LINE.match(item.strip(" .:"))


def _list_items(text: str) -> list[str]:
    lines = text.splitlines()
    indents = [len(m.group(1).expandtabs(4)) for m in map(_BULLET.match, lines) if m]
    if not indents:
        return []
    top = min(indents)
    items: list[list[str]] = []
    open_item = False  # may the next line continue the current item?
    blank = False
    for line in lines:
        m = _BULLET.match(line)
        indent = len(line.expandtabs(4)) - len(line.expandtabs(4).lstrip())
        if m and len(m.group(1).expandtabs(4)) <= top + 1:
            items.append([m.group(2) or ""])
            open_item, blank = True, False
        elif not line.strip():
            blank = True
        elif open_item and (not blank or indent > top):
            # Continuation text or a nested bullet: part of the current reason.
            items[-1].append((m.group(2) or "") if m else line.strip())
            blank = False
        else:
            open_item = False  # prose after the list (a conclusion) is not a reason
    return [c for c in (_clean(" ".join(parts)) for parts in items) if _keep(c)]


def _sentences(text: str) -> list[str]:
    out = []
    for line in text.splitlines():
        for piece in _SENT_SPLIT.split(line.strip()):
            piece = _clean(piece)
            if _keep(piece):
                out.append(piece)
    return out


def extract_reasons(text: str | None) -> list[str]:
    """The judge's reasons, in order: bulleted ("-", "*", "•") or numbered
    ("1.", "1)") items, with continuation lines and nested bullets folded into
    their item. Without any list, the sentences of the text. Verdict markup and
    a leading `<think>` block (when an answer follows it) are left out.
    Repeated reasons are kept: one-to-one matching already makes them worthless."""
    if not text:
        return []
    if "</think>" in text:
        after = text.rsplit("</think>", 1)[1]
        if _HAS_WORD.search(_strip_markup(after)):
            text = after
        else:
            text = text.replace("<think>", " ").replace("</think>", " ")
    text = _strip_markup(text)
    return _list_items(text) or _sentences(text)


# -- labels and flipping --------------------------------------------------------


def flip_label(label: str) -> str:
    """Swap A and B in a verdict label or winner: "A>>B" <-> "B>>A", "A>B" <-> "B>A",
    "A" <-> "B", "[[A]]" <-> "[[B]]"; "A=B", "tie", "invalid" stay. The one function
    used everywhere to map a judgment made on swapped positions back."""
    try:
        return _FLIP[label]
    except KeyError:
        raise ValueError(f"cannot flip unknown verdict label {label!r}") from None


def flip_verdict(v: Verdict) -> Verdict:
    """A verdict given on the swapped order (B shown first) in the original order.
    Reasons are kept as written: they name positions as the judge saw them."""
    return replace(v, winner=flip_label(v.winner), raw=flip_label(v.raw) if v.raw else None, reasons=list(v.reasons))


def verdict_to_label(v: Verdict) -> str:
    """Coarse label: "A>B", "B>A", "A=B" or "invalid" (strength dropped)."""
    return {"A": "A>B", "B": "B>A", "tie": "A=B"}.get(v.winner, "invalid")


def label_winner(label: str) -> str:
    """Winner named by a dataset label ("A>B", "B>>A", "A=B", "A", "B", "tie")."""
    key = str(label).strip()
    key = re.sub(r"\s+", "", key).upper() if key.lower() != "tie" else "tie"
    if key in _MEANING:
        return _MEANING[key][0]
    if key in ("A", "B", "tie"):
        return key
    raise ValueError(f"unknown preference label {label!r}; expected A>B, B>A, A>>B, B>>A, A=B, A, B or tie")
