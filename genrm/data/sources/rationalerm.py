"""RationaleRM (hub `Qwen/RationaleRM`, splits `full` and `test`; Wang et al. 2026).

Row: `domain, context, response1, response2, human-checklist` (+ a preference
column). `human-checklist` holds the human atomic rationales (annotator
reasoning from HelpSteer3 decomposed into units), so they become
`rationale_units` with origin "human", side-neutral ("Response 1" becomes
"{chosen}" or "{rejected}", see genrm.data.sides); `rationale` keeps the original text.

Types are read leniently because exports differ: `context` is a list of
`{role, content}` messages, a JSON string of such a list, or plain text (one
user turn); `human-checklist` is a list of strings, a JSON string of a list, or
text with one unit per line (bullets / "1." numbering stripped).

Which response is better: the brief lists no preference column, and the data
derives from HelpSteer3. The first column present among `preference_field`
(option) or `overall_preference`, `preference`, `label`, `winner` is used:
integers (also as strings) follow HelpSteer3's -3..3 scale (negative =
response1 better, 0 = tie); text may name the side ("response1", "A", "A>B",
"A>>B", "B>A", "tie", "A=B", ...). No such column is a DataError naming it.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any, Iterator

from genrm.data.rows import DataError, load_rows, require, require_text
from genrm.data.record import PreferenceRecord, user_prompt
from genrm.data.sides import neutralise_units
from genrm.data.sources.helpsteer3 import prompt_from_context

SOURCE = "rationalerm"
HUB_ID = "Qwen/RationaleRM"
PREFERENCE_FIELDS = ("overall_preference", "preference", "label", "winner")
_FIRST = {"response1", "response_1", "1st", "first", "a", "a>b", "a>>b", "@response1", "assistanta"}
_SECOND = {"response2", "response_2", "2nd", "second", "b", "b>a", "b>>a", "@response2", "assistantb"}
_TIE = {"tie", "a=b", "b=a", "equal", "same"}
_BULLET = re.compile(r"^\s*(?:[-*\u2022]|\(?\d{1,2}[.)])\s+")
log = logging.getLogger(__name__)


def better_side(value: Any, field: str, where: str) -> int:
    """1 or 2 for the better response, 0 for a tie."""
    if isinstance(value, str) and re.fullmatch(r"\s*[-+]?\d+\s*", value):
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        if not -3 <= value <= 3:
            raise DataError(f"should be in -3..3 (negative = response1 better), got {value}", field=field, where=where)
        return 0 if value == 0 else 1 if value < 0 else 2
    if isinstance(value, str):
        v = re.sub(r"\s+", "", value.lower())
        if v in _FIRST:
            return 1
        if v in _SECOND:
            return 2
        if v in _TIE:
            return 0
    raise DataError(f"cannot tell which response is better from {value!r} (want -3..3, 'response1'/'response2', "
                    f"'A>B'/'B>A' or 'tie')", field=field, where=where)


def _context(value: Any, where: str) -> list[dict]:
    if isinstance(value, str):
        s = value.strip()
        if s.startswith("["):
            try:
                value = json.loads(s)
            except json.JSONDecodeError as e:
                raise DataError(f"looks like JSON but does not parse ({e.msg})", field="context", where=where) from None
        elif s:
            return user_prompt(s)
        else:
            raise DataError("should not be empty", field="context", where=where)
    return prompt_from_context(value, where)


def checklist_units(value: Any, where: str, field: str = "human-checklist") -> list[str]:
    """Units from a list of strings, a JSON list, or one-unit-per-line text."""
    if isinstance(value, str):
        s = value.strip()
        if s.startswith("["):
            try:
                value = json.loads(s)
            except json.JSONDecodeError as e:
                raise DataError(f"looks like JSON but does not parse ({e.msg})", field=field, where=where) from None
        else:
            value = [_BULLET.sub("", line) for line in s.splitlines()]
    if not isinstance(value, list) or not all(isinstance(u, str) for u in value):
        raise DataError("should be a list of strings or text with one unit per line", field=field, where=where)
    units = [u.strip() for u in value if u.strip()]
    if not units:
        raise DataError("holds no units", field=field, where=where)
    return units


def load(
    path: str = HUB_ID,
    *,
    split: str = "full",
    config: str | None = None,
    preference_field: str | None = None,
    stats: dict | None = None,
) -> Iterator[PreferenceRecord]:
    """Yield one pair per non-tied row, the human checklist as rationale units."""
    counts = stats if stats is not None else {}
    for key in ("rows", "pairs", "skipped_tie", "skipped_identical"):
        counts.setdefault(key, 0)
    for where, row in load_rows(path, split=split, config=config):
        counts["rows"] += 1
        candidates = (preference_field,) if preference_field else PREFERENCE_FIELDS
        field = next((f for f in candidates if row.get(f) is not None), None)
        if field is None:
            raise DataError(
                f"no preference column: need one of {list(candidates)} to know which response is better "
                f"(set the option preference_field=...); columns present: {sorted(row)}",
                field=candidates[0], where=where)
        side = better_side(row[field], field, where)
        prompt = _context(require(row, "context", where), where)
        r1, r2 = require_text(row, "response1", where), require_text(row, "response2", where)
        units = checklist_units(require(row, "human-checklist", where), where)
        if side == 0:
            counts["skipped_tie"] += 1
            continue
        if r1.strip() == r2.strip():
            counts["skipped_identical"] += 1
            continue
        chosen, rejected = (r1, r2) if side == 1 else (r2, r1)
        meta = {"rationalerm_domain": row.get("domain"), "preference_field": field, "preference": row[field],
                "chosen_response": side, "n_units": len(units)}
        counts["pairs"] += 1
        yield PreferenceRecord(
            source=SOURCE, domain="general", prompt=prompt, chosen=chosen, rejected=rejected, label_kind="gold",
            rationale="\n".join(units), rationale_units=neutralise_units(units, side),  # "Response 1" -> {chosen}...
            rationale_origin="human", meta=meta,
        )
    log.info("%s %s: %s", SOURCE, path, counts)
