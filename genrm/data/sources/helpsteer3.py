"""HelpSteer3 preference data (hub `nvidia/HelpSteer3`, default config).

Row: `domain, language, context [{role, content}], response1, response2,
overall_preference (-3..3; negative = response1 better), individual_preference
[{score, reasoning, feedback1, feedback2}]`.

Ties (overall_preference 0) are dropped and counted. The prompt is the context
conversation as published (it must end with a user turn). The rationale is the
annotators' `reasoning` texts, joined by blank lines, with origin "human". By
default only annotators whose own score points the same way as the overall
preference are used (`rationale_from="agreeing"`): a dissenting annotator's
reasoning argues for the rejected response. Units are left empty here: the
build's splitter/decomposer derives them from the text and makes them side-neutral
from `meta.chosen_response` ("@Response 1" -> "{chosen}" or "{rejected}", genrm.data.sides).
"""

from __future__ import annotations

import logging
from typing import Any, Iterator

from genrm.data.rows import DataError, load_rows, require, require_int, require_text
from genrm.data.record import PreferenceRecord
from genrm.data.sources.generic import parse_messages

SOURCE = "helpsteer3"
HUB_ID = "nvidia/HelpSteer3"
log = logging.getLogger(__name__)


def prompt_from_context(value: Any, where: str, field: str = "context") -> list[dict]:
    msgs = parse_messages(value, field, where)
    if msgs[-1]["role"] != "user":
        raise DataError("the conversation should end with a user turn", field=field, where=where)
    return msgs


def _reasonings(row: dict, pref: int, where: str, mode: str) -> tuple[list[str], int]:
    """(reasoning texts to use, number of annotators)."""
    ind = row.get("individual_preference")
    if ind is None:
        return [], 0
    if not isinstance(ind, list):
        raise DataError("should be a list of {score, reasoning, ...}", field="individual_preference", where=where)
    texts = []
    for k, ann in enumerate(ind):
        if not isinstance(ann, dict):
            raise DataError(f"item {k} should be an object", field="individual_preference", where=where)
        text = ann.get("reasoning")
        if not isinstance(text, str) or not text.strip():
            continue
        if mode == "agreeing":
            score = require_int(ann, "score", f"{where} individual_preference[{k}]")
            if score == 0 or (score < 0) != (pref < 0):
                continue
        texts.append(text.strip())
    return texts, len(ind)


def load(
    path: str = HUB_ID,
    *,
    split: str = "train",
    config: str | None = None,
    rationale_from: str = "agreeing",
    stats: dict | None = None,
) -> Iterator[PreferenceRecord]:
    """Yield one pair per non-tied row; chosen = response1 when overall_preference < 0."""
    if rationale_from not in ("agreeing", "all"):
        raise DataError(f"should be 'agreeing' or 'all', got {rationale_from!r}", field="rationale_from")
    counts = stats if stats is not None else {}
    for key in ("rows", "pairs", "skipped_tie", "skipped_identical"):
        counts.setdefault(key, 0)
    for where, row in load_rows(path, split=split, config=config):
        counts["rows"] += 1
        prompt = prompt_from_context(require(row, "context", where), where)
        r1, r2 = require_text(row, "response1", where), require_text(row, "response2", where)
        pref = require_int(row, "overall_preference", where, allowed=(-3, -2, -1, 0, 1, 2, 3))
        if pref == 0:
            counts["skipped_tie"] += 1
            continue
        if r1.strip() == r2.strip():
            counts["skipped_identical"] += 1
            continue
        chosen, rejected = (r1, r2) if pref < 0 else (r2, r1)
        texts, n_ann = _reasonings(row, pref, where, rationale_from)
        meta = {
            "helpsteer_domain": row.get("domain"),
            "language": row.get("language"),
            "overall_preference": pref,
            "strength": abs(pref),
            "chosen_response": 1 if pref < 0 else 2,
            "n_annotators": n_ann,
            "n_rationales": len(texts),
        }
        counts["pairs"] += 1
        yield PreferenceRecord(
            source=SOURCE, domain="general", prompt=prompt, chosen=chosen, rejected=rejected, label_kind="gold",
            rationale="\n\n".join(texts), rationale_origin="human" if texts else "none", meta=meta,
        )
    log.info("%s %s: %s", SOURCE, path, counts)
