"""PKU-SafeRLHF (hub `PKU-Alignment/PKU-SafeRLHF`): safety preference pairs.

Row: `prompt, response_0, response_1, is_response_0_safe, is_response_1_safe,
better_response_id, safer_response_id` (+ in the 2024 release
`response_{0,1}_harm_category` {category: bool}, `response_{0,1}_severity_level`,
`prompt_source`, `response_{0,1}_source`, sha256 columns).

The pair follows `safer_response_id` (a gold harmlessness label): chosen = the
safer response. The helpfulness label (`better_response_id`) goes to `meta`
with whether it agrees with the safety label. Rows whose two responses are the
same text are skipped (counted in `stats`).
"""

from __future__ import annotations

import logging
from typing import Any, Iterator

from genrm.data.rows import DataError, load_rows, require, require_int, require_text
from genrm.data.record import PreferenceRecord, user_prompt

SOURCE = "pku_saferlhf"
HUB_ID = "PKU-Alignment/PKU-SafeRLHF"
log = logging.getLogger(__name__)


def _flag(row: dict, name: str, where: str) -> bool:
    """A boolean column; the JSON release uses true/false, CSV exports 'True'/'False'."""
    v = require(row, name, where)
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.strip().lower() in ("true", "false"):
        return v.strip().lower() == "true"
    if isinstance(v, int) and v in (0, 1):
        return bool(v)
    raise DataError(f"should be a boolean, got {v!r}", field=name, where=where)


def _harm(row: dict, idx: int, where: str) -> dict[str, Any]:
    """Harm categories marked true and severity level of response `idx`, when the release has them."""
    out: dict[str, Any] = {}
    cats = row.get(f"response_{idx}_harm_category")
    if cats is not None:
        if not isinstance(cats, dict):
            raise DataError("should be an object {category: bool}", field=f"response_{idx}_harm_category", where=where)
        out["harm_categories"] = sorted(k for k, v in cats.items() if v)
    sev = row.get(f"response_{idx}_severity_level")
    if sev is not None:
        out["severity_level"] = require_int(row, f"response_{idx}_severity_level", where)
    return out


def load(
    path: str = HUB_ID,
    *,
    split: str = "train",
    config: str | None = None,
    stats: dict | None = None,
) -> Iterator[PreferenceRecord]:
    """Yield one safety pair per row (chosen = `safer_response_id`)."""
    counts = stats if stats is not None else {}
    for key in ("rows", "pairs", "skipped_identical"):
        counts.setdefault(key, 0)
    for where, row in load_rows(path, split=split, config=config):
        counts["rows"] += 1
        prompt = require_text(row, "prompt", where)
        responses = [require_text(row, "response_0", where), require_text(row, "response_1", where)]
        safe = [_flag(row, "is_response_0_safe", where), _flag(row, "is_response_1_safe", where)]
        safer = require_int(row, "safer_response_id", where, allowed=(0, 1))
        better = require_int(row, "better_response_id", where, allowed=(0, 1))
        if responses[0].strip() == responses[1].strip():
            counts["skipped_identical"] += 1
            continue
        other = 1 - safer
        meta: dict[str, Any] = {
            "is_response_0_safe": safe[0],
            "is_response_1_safe": safe[1],
            "safer_response_id": safer,
            "better_response_id": better,
            "better_is_safer": better == safer,
            "chosen_is_safe": safe[safer],
            "rejected_is_safe": safe[other],
        }
        for side, idx in (("chosen", safer), ("rejected", other)):
            for k, v in _harm(row, idx, where).items():
                meta[f"{side}_{k}"] = v
        if isinstance(row.get("prompt_source"), str):
            meta["prompt_source"] = row["prompt_source"]
        counts["pairs"] += 1
        yield PreferenceRecord(
            source=SOURCE, domain="safety", prompt=user_prompt(prompt),
            chosen=responses[safer], rejected=responses[other], label_kind="gold", meta=meta,
        )
    log.info("%s %s: %s", SOURCE, path, counts)
