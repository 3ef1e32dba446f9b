"""JudgeBench (ScalerLab): hard response pairs with objective labels.

Row: `pair_id, original_id, source, question, response_model, response_A,
response_B, label` with label "A>B" or "B>A". Sources map to the four
JudgeBench categories: mmlu-pro-* -> knowledge, livebench-reasoning ->
reasoning, livebench-math -> math, livecodebench -> coding. Chosen is the
response the label names; `meta` keeps the original label and A/B placement so
the evaluator can replay both games exactly.
"""

from __future__ import annotations

import logging
from typing import Iterator

from genrm.data.rows import DataError, load_rows, require_text
from genrm.data.record import PreferenceRecord, user_prompt

SOURCE = "judgebench"
HUB_ID = "ScalerLab/JudgeBench"
CATEGORIES = ("knowledge", "reasoning", "math", "coding")
log = logging.getLogger(__name__)


def category(source: str) -> str | None:
    """JudgeBench category of a row's `source`, or None when unknown."""
    if source.startswith("mmlu-pro"):
        return "knowledge"
    return {"livebench-reasoning": "reasoning", "livebench-math": "math", "livecodebench": "coding"}.get(source)


def load(
    path: str = HUB_ID,
    *,
    split: str = "gpt",
    config: str | None = None,
    stats: dict | None = None,
) -> Iterator[PreferenceRecord]:
    """Yield one gold pair per JudgeBench row."""
    counts = stats if stats is not None else {}
    for key in ("rows", "pairs", "skipped_identical"):
        counts.setdefault(key, 0)
    for where, row in load_rows(path, split=split, config=config):
        counts["rows"] += 1
        pair_id = require_text(row, "pair_id", where)
        src = require_text(row, "source", where)
        cat = category(src)
        if cat is None:
            raise DataError(f"unknown JudgeBench source {src!r} (want mmlu-pro-*, livebench-reasoning, "
                            f"livebench-math or livecodebench)", field="source", where=where)
        question = require_text(row, "question", where)
        a, b = require_text(row, "response_A", where), require_text(row, "response_B", where)
        label = require_text(row, "label", where).strip()
        if label not in ("A>B", "B>A"):
            raise DataError(f"should be 'A>B' or 'B>A', got {label!r}", field="label", where=where)
        if a.strip() == b.strip():
            counts["skipped_identical"] += 1
            continue
        chosen, rejected = (a, b) if label == "A>B" else (b, a)
        meta = {
            "pair_id": pair_id,
            "original_id": row.get("original_id"),
            "judgebench_source": src,
            "category": cat,
            "original_label": label,
            "response_model": row.get("response_model"),
        }
        counts["pairs"] += 1
        yield PreferenceRecord(source=SOURCE, domain="general", prompt=user_prompt(question), chosen=chosen,
                               rejected=rejected, label_kind="gold", meta=meta)
    log.info("%s %s: %s", SOURCE, path, counts)
