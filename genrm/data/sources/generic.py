"""Generic chosen/rejected preference format (RewardBench, UltraFeedback-binarized, ...).

Two row shapes are read:

- RewardBench (`allenai/reward-bench`): `prompt`, `chosen`, `rejected` as
  strings, plus `subset`, `id` (and `chosen_model` / `rejected_model`).
- UltraFeedback-binarized (`HuggingFaceH4/ultrafeedback_binarized`): `chosen`
  and `rejected` are full conversations (lists of `{role, content}`) that share
  every turn but the last; the prompt is that shared prefix and the responses
  are the final assistant turns. `score_chosen` / `score_rejected` are kept;
  rows with equal scores are ties and are skipped (counted in `stats`).

The domain comes from the `domain` option (default "general"); labels are gold.

Rationales (why the chosen response is better) come from a column: `rationale_field`
names it, or the first of RATIONALE_FIELDS a row has is used ("rationale", "explanation",
...). A string is split into units by the build (`units.method`); a list of strings is
taken as the units. Their origin is "human" (given with the data), and their side mentions
become side-neutral in the build like every other human rationale (genrm.data.sides):
"the chosen/rejected response" name the roles, and `response_a` says which response
"Response A", "Response 1" and "the first response" are (default: the chosen one).
When no row has a rationale, `stats["no_units_reason"]` says so, with the names looked for.
"""

from __future__ import annotations

import logging
from typing import Any, Iterator, Literal, Optional

from genrm.data.rows import DataError, load_rows, require
from genrm.data.record import DOMAINS, ROLES, PreferenceRecord, user_prompt

SOURCE = "generic"
# Rationale columns found without `rationale_field`, in this order.
RATIONALE_FIELDS = ("rationale", "rationales", "explanation", "reason", "reasons", "reasoning", "critique",
                    "feedback", "justification", "rationale_units")
log = logging.getLogger(__name__)


def parse_messages(value: Any, field: str, where: str) -> list[dict]:
    """Validate a list of chat messages `{role, content}` (extra keys dropped)."""
    if not isinstance(value, list) or not value:
        raise DataError("should be a non-empty list of {role, content} messages", field=field, where=where)
    out = []
    for i, m in enumerate(value):
        if not isinstance(m, dict) or "role" not in m or "content" not in m:
            raise DataError(f"message {i} should be an object with 'role' and 'content'", field=field, where=where)
        if m["role"] not in ROLES:
            raise DataError(f"message {i} has role {m['role']!r}; allowed: {ROLES}", field=field, where=where)
        if not isinstance(m["content"], str):
            raise DataError(f"message {i} content should be a string", field=field, where=where)
        out.append({"role": m["role"], "content": m["content"]})
    return out


def _split_conversation(row: dict, where: str) -> tuple[list[dict], str, str]:
    """(shared prompt prefix, chosen final turn, rejected final turn) of two conversations."""
    chosen = parse_messages(row["chosen"], "chosen", where)
    rejected = parse_messages(require(row, "rejected", where, list), "rejected", where)
    for name, conv in (("chosen", chosen), ("rejected", rejected)):
        if conv[-1]["role"] != "assistant":
            raise DataError("the last message should be the assistant's response", field=name, where=where)
    prefix = chosen[:-1]
    if rejected[:-1] != prefix:
        raise DataError("chosen and rejected conversations differ before the final turn", field="rejected", where=where)
    if not prefix:  # a bare response list: fall back to the `prompt` column
        prefix = user_prompt(_text(row, "prompt", where))
    return prefix, chosen[-1]["content"], rejected[-1]["content"]


def _text(row: dict, name: str, where: str) -> str:
    v = require(row, name, where, str)
    if not v.strip():
        raise DataError("should be a non-empty string", field=name, where=where)
    return v


def _rationale(row: dict, field: Optional[str], where: str) -> tuple[Optional[str], str, list[str]]:
    """(column used, rationale text, units given as a list) of one row."""
    names = (field,) if field else RATIONALE_FIELDS
    name = next((n for n in names if row.get(n) is not None), None)
    if name is None:
        return None, "", []
    v = row[name]
    if isinstance(v, str):
        return name, v.strip(), []
    if isinstance(v, list) and all(isinstance(u, str) for u in v):
        units = [u.strip() for u in v if u.strip()]
        return name, "\n".join(units), units
    raise DataError("should be a string or a list of strings (the rationale)", field=name, where=where)


def load(
    path: str,
    *,
    split: str = "train",
    config: str | None = None,
    domain: str = "general",
    skip_ties: bool = True,
    rationale_field: Optional[str] = None,
    response_a: Literal["chosen", "rejected"] = "chosen",
    stats: dict | None = None,
) -> Iterator[PreferenceRecord]:
    """Yield gold pairs from a RewardBench- or UltraFeedback-style file, directory or hub id.

    `rationale_field`: the rationale column (default: the first of RATIONALE_FIELDS a row
    has); `response_a`: the response that "Response A/1" in a rationale names.
    `stats`, when given, is filled with row counts (`rows`, `pairs`, `skipped_tie`,
    `skipped_identical`, `with_rationale`, the `rationale_fields` used)."""
    if domain not in DOMAINS:
        raise DataError(f"{domain!r} is not one of {DOMAINS}", field="domain")
    counts = stats if stats is not None else {}
    for key in ("rows", "pairs", "skipped_tie", "skipped_identical", "with_rationale"):
        counts.setdefault(key, 0)
    used: set[str] = set()
    for where, row in load_rows(path, split=split, config=config):
        counts["rows"] += 1
        chosen_v = require(row, "chosen", where)
        if isinstance(chosen_v, list):
            prompt, chosen, rejected = _split_conversation(row, where)
        else:
            prompt = user_prompt(_text(row, "prompt", where))
            chosen, rejected = _text(row, "chosen", where), _text(row, "rejected", where)
        meta: dict[str, Any] = {}
        for k in ("subset", "chosen_model", "rejected_model"):
            if row.get(k) is not None:
                meta[k] = row[k]
        for k in ("id", "prompt_id"):
            if row.get(k) is not None:
                meta["original_id"] = row[k]
                break
        sc, sr = row.get("score_chosen"), row.get("score_rejected")
        if sc is not None and sr is not None:
            if not all(isinstance(s, (int, float)) and not isinstance(s, bool) for s in (sc, sr)):
                raise DataError(f"scores should be numbers, got {sc!r} / {sr!r}", field="score_chosen", where=where)
            meta["score_chosen"], meta["score_rejected"] = sc, sr
            if skip_ties and sc == sr:
                counts["skipped_tie"] += 1
                continue
        if chosen.strip() == rejected.strip():
            counts["skipped_identical"] += 1
            continue
        column, rationale, units = _rationale(row, rationale_field, where)
        if rationale:
            used.add(column)
            counts["with_rationale"] += 1
            meta["chosen_response"] = 1 if response_a == "chosen" else 2  # which of A/B the text calls 1/A
        counts["pairs"] += 1
        yield PreferenceRecord(
            source=SOURCE, domain=domain, prompt=prompt, chosen=chosen, rejected=rejected,
            label_kind="gold", rationale=rationale, rationale_units=units,
            rationale_origin="human" if rationale else "none", meta=meta,
        )
    counts["rationale_fields"] = sorted(used)
    if counts["pairs"] and not counts["with_rationale"]:
        looked = f"column '{rationale_field}' (options.rationale_field)" if rationale_field else (
            "no rationale column found (looked for: " + ", ".join(RATIONALE_FIELDS)
            + "; name yours with options.rationale_field)")
        counts["no_units_reason"] = (f"{looked} is in none of its rows" if rationale_field else looked)
    log.info("%s %s: %s", SOURCE, path, counts)
