"""Verdict parsing, reason extraction and A/B flipping for pairwise judges.

Each style has one *final* verdict form: rationale style ``\\boxed{A>>B|A>B|A=B|B>A|B>>A}``,
answer-tag style ``<answer>[[A]]</answer>`` (``[[B]]``; ``[[C]]`` and ``[[TIE]]`` read as a
tie: the prompt asks for a forced choice, but MT-Bench-style judges emit ties).

Parsing rules (both styles):

* The final verdict must be the last thing in the output. After it only whitespace
  and known end-of-turn tokens (`EOT_TOKENS`: ``<|im_end|>``, ``<|endoftext|>``,
  ``</s>``, ``<|eot_id|>``, ``<end_of_turn>``, ``<|end|>``, ...) may follow, plus the
  closers of markup wrapped around the verdict (``$``, ``\\]``, ``\\)``, ``*``, ``_``,
  a backtick, ``)``, ``]``, ``.``, ``!``), which hold no letters. Any other
  ``<...>`` token or word after the verdict makes the output invalid: free text
  cannot hide after the verdict (``\\boxed{A>B}<|actually B is better|>``).
* Every verdict expression in the output counts, wherever it is (also in a
  ``<think>`` block, a reason, math or code). If one disagrees with the final
  verdict the output is invalid: a judge cannot hedge with one verdict in the
  text and another at the end. The same verdict repeated is fine. Verdict
  expressions are, and only these (checked for both styles):

  - ``\\boxed{X}`` with X a verdict label. In the rationale style two boxes must
    carry the *same label* (``A>B`` and ``A>>B`` differ); everywhere else only the
    winner (A, B or tie) has to agree, since the other forms carry no strength;
  - ``[[A]]``, ``[[B]]``, ``[[C]]``, ``[[TIE]]`` (any case);
  - an explicit comparison of the two letters: uppercase ``A`` and ``B`` as whole
    tokens, optionally written "Response A"/"Assistant A"/"Output A", around one of
    ``>> > = < <<`` (or ``≫ ≻ ≺ ≪``), with any spacing: ``A>B``, ``B >> A``,
    ``Response A = Response B``, ``A<B`` (read as B>A). Per-criterion comparisons
    ("accuracy: B>A") count too;
  - a verdict phrase naming a response: "verdict", "decision", "judg(e)ment",
    "winner", "preference", "final/overall/my choice" or "better/preferred/winning
    response" (any case), then ``:``, ``=``, a dash or "is", then "A", "B",
    "Response A" (uppercase letter, not "A's", not "A tie") or "tie":
    "Final verdict: B", "**Verdict:** Response A", "The winner is B";
  - an ``<answer>...</answer>`` tag (in the rationale style: one holding just a
    letter, "Response A" or "tie", besides the forms above).

  Not verdict expressions, so free to use in reasons: prose comparisons ("Response A
  is better because ...", "B is more accurate"), lowercase letters (``a > b`` in
  math), letters inside words, and words like "answer" ("Response A's final answer:
  B" is about the task, not the verdict). Known false positive, accepted: variables
  named ``A`` and ``B`` compared in uppercase ("since A > B") against a verdict that
  says otherwise; a judge can name them differently, a hedge could not be told apart.
* A malformed final-form mention anywhere (``\\boxed{A>>>B}``, ``\\boxed{}``, nested
  braces in the rationale style; an ``<answer>`` tag without a valid ``[[X]]`` in the
  answer-tag style) makes the output invalid: an attempted verdict that cannot be read.
* Letters in the final form are case-insensitive (``\\boxed{a>b}`` reads as ``A>B``);
  whitespace inside it is ignored (``\\boxed{ A > B }``). Nothing else is lenient.

`Verdict.raw` is the canonical final verdict label ("A>>B", "A=B", "[[A]]",
"[[TIE]]"), or None when the output is invalid.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

STYLES = ("rationale", "answer-tag")
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

# End-of-turn tokens of common chat templates (ChatML, GPT-2/Qwen, Llama 2/3, Gemma,
# Phi-3, gpt-oss, DeepSeek, Command R): besides whitespace, the only text allowed
# after the final verdict.
EOT_TOKENS = (
    "<|im_end|>", "<|endoftext|>", "</s>", "<|eot_id|>", "<|end_of_text|>", "<end_of_turn>",
    "<eos>", "<|end|>", "<|return|>", "<\uff5cend\u2581of\u2581sentence\uff5c>", "<|END_OF_TURN_TOKEN|>",
)
_TAIL = re.compile(r"(?:\s|" + "|".join(map(re.escape, EOT_TOKENS)) + r"|[.!)\]`*_$]|\\\]|\\\))*\Z")
# Any special-token-looking marker, dropped from reasons (not allowed after the verdict).
_EOS_TOKENS = re.compile("|".join(map(re.escape, EOT_TOKENS)) + r"|<\|[^<>|]{1,40}\|>")

_SIDE = r"(?<![\w])(?:(?:Response|Assistant|Output)\s+)?([AB])(?![\w])"
_COMPARISON = re.compile(_SIDE + r"[ \t]*(>>|≫|>|≻|=|<<|≪|<|≺)[ \t]*" + _SIDE + r"(?![ \t]*>)")  # not "<B>" markup
_OPS = {">>": ">>", "≫": ">>", ">": ">", "≻": ">", "=": "=", "<<": "<<", "≪": "<<", "<": "<", "≺": "<"}
_VERDICT_PHRASE = re.compile(
    r"\b(?:(?:(?:final|overall|my)\s+)?(?:verdict|decision|judge?ment|winner|preference)"
    r"|(?:final|overall|my)\s+choice|(?:better|preferred|winning)\s+(?:response|assistant|output))"
    r"\s*(?:\*\*|__)?\s*(?::|=|-|–|—|\bis\b)\s*[*_]*\s*"
    r"(?:(?:(?:the\s+)?(?:response|assistant|output)\s+)?((?-i:[AB]))(?![\w'’])(?![ \t]*[<>=≫≻≪≺])(?!\s+(?:tie|draw)\b)"
    r"|(tie|draw)\b)",
    re.I,
)
_BARE_ANSWER = re.compile(r"(?:(?:Response|Assistant|Output)\s+)?([AB])|(tie)", re.I)


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


def _blank(text: str, spans: list[tuple[int, int]]) -> str:
    """Spaces over the given spans (positions stay valid)."""
    parts, pos = [], 0
    for s, e in sorted(spans):
        parts += [text[pos:s], " " * (e - s)]
        pos = e
    return "".join(parts) + text[pos:]


def _comparison_winner(left: str, op: str, right: str) -> str | None:
    if left == right:
        return None  # "A=A" compares nothing
    op = _OPS[op]
    if op == "=":
        return "tie"
    return left if op in (">", ">>") else right


def _loose_winners(text: str) -> list[str]:
    """Winners named by the verdict expressions of `text` other than \\boxed{} and
    <answer> tags (the caller blanks those): [[X]], comparisons, verdict phrases."""
    out = []
    for m in _TAG.finditer(text):
        lab = f"[[{m.group(1).upper()}]]"
        if lab in TAG_LABELS:
            out.append(_MEANING[lab][0])
    for m in _COMPARISON.finditer(text):
        w = _comparison_winner(m.group(1), m.group(2), m.group(3))
        if w:
            out.append(w)
    for m in _VERDICT_PHRASE.finditer(text):
        out.append(m.group(1) or "tie")
    return out


def _valid_boxes(text: str) -> list[re.Match]:
    return [m for m in _BOXED.finditer(text) if _norm_boxed(m.group(1)) in BOXED_LABELS]


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
    final = labels[-1]
    rest = _blank(text, [m.span() for m in matches])
    others = _loose_winners(rest)
    for b in _ANSWER.finditer(rest):
        m = _BARE_ANSWER.fullmatch(b.group(1).strip(" \t\n*_."))
        if m:
            others.append(m.group(1) or "tie")
    if len(set(labels)) > 1 or any(w != _MEANING[final][0] for w in others):
        return None, "conflicting verdicts"
    if not _at_end(text, matches[-1].end()):
        return None, "verdict not at end"
    return final, None


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
    boxes = _valid_boxes(text)
    winners = [_MEANING[lab][0] for lab in labels] + [_MEANING[_norm_boxed(m.group(1))][0] for m in boxes]
    winners += _loose_winners(_blank(text, [b.span() for b in blocks] + [m.span() for m in boxes]))
    if any(w != _MEANING[final][0] for w in winners):  # [[C]] and [[TIE]] are the same verdict
        return None, "conflicting verdicts"
    if not _at_end(text, blocks[-1].end()):
        return None, "verdict not at end"
    return final, None


def _check_style(style: str) -> None:
    if style not in STYLES:
        raise ValueError(f"unknown judge style {style!r}; known: {', '.join(STYLES)}")


def parse_verdict(text: str | None, style: str = "rationale") -> Verdict:
    """Read the final verdict and the ordered reasons of a judge output."""
    _check_style(style)
    if text is None or not text.strip():
        return _invalid("empty", [])
    reasons = extract_reasons(text)
    label, error = (_parse_boxed if style == "rationale" else _parse_tag)(text)
    if label is None:
        return _invalid(error or "no verdict", reasons)
    winner, strength = _MEANING[label]
    return Verdict(winner, strength, label, reasons)


# Plain form of each winner, for labels that name no form of the style (a dataset's "A>B"
# in the answer-tag style, "[[A]]" or "B" in the rationale style). A tie is "[[C]]", the
# MT-Bench form.
_PLAIN = {"rationale": {"A": "A>B", "B": "B>A", "tie": "A=B"},
          "answer-tag": {"A": "[[A]]", "B": "[[B]]", "tie": "[[C]]"}}


def render_verdict(label: str, style: str = "rationale") -> str:
    """The final verdict text for `label`, the inverse of `parse_verdict`: ``\\boxed{A>B}``
    (rationale) or ``<answer>[[A]]</answer>`` (answer-tag). A label of the style is kept
    ("A>>B", "[[TIE]]"); any other label or winner ("A>B", "B", "tie", "[[A]]") gives its
    winner's plain form. Every writer of verdict text (SFT targets, scripted judges) uses it."""
    _check_style(style)
    key = re.sub(r"\s+", "", str(label)).upper()
    labels = BOXED_LABELS if style == "rationale" else TAG_LABELS
    final = key if key in labels else _PLAIN[style][label_winner(label)]
    return f"\\boxed{{{final}}}" if style == "rationale" else f"<answer>{final}</answer>"


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
