"""Rationale consistency beside outcome accuracy (Wang et al. 2026, BRIEF section 2).

On records with human rationale units (e.g. the `Qwen/RationaleRM` test split),
a GenRM's first `top_k` (5) reasons are matched to the human units through the
configured matcher; rationale consistency is the mean soft recall of the human
units (one-to-one optimal matching), averaged over the two orders of each record.
Scoring models give no reasons: for them only outcome accuracy is reported.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

from genrm.evaluation.arith import mean, pct
from genrm.evaluation.suites.common import is_won, placement
from genrm.io import DataError
from genrm.record import PreferenceRecord
from genrm.rewards import human_units

NAME = "rationale"


def load_items(data: Any, limit: Optional[int]) -> list[PreferenceRecord]:
    """Records with human units from the configured source (others are skipped)."""
    from genrm.sources import get_source

    out: list[PreferenceRecord] = []
    seen: set[str] = set()
    for rec in get_source(data.source)(data.path, **dict(data.options)):
        if limit is not None and len(out) >= limit:
            break
        if rec.rationale_origin != "human" or not human_units(rec.rationale_units) or rec.id in seen:
            continue
        seen.add(rec.id)
        out.append(rec)
    if not out:
        raise DataError(f"no records with human rationale units in {data.source} {data.path}")
    return out


def comparisons(rec: PreferenceRecord, seed: int) -> list:
    from genrm.evaluation.models import Comparison

    return [Comparison(id=rec.id, prompt=rec.prompt, chosen=rec.chosen, rejected=rec.rejected,
                       chosen_position=placement(seed, rec.id), source=rec.source, domain=rec.domain,
                       rationale_units=list(rec.rationale_units))]


def item_row(rec: PreferenceRecord, results: Sequence[dict]) -> dict[str, Any]:
    r = results[0]
    rc = r.get("rationale_consistency")
    return {"source": rec.source, "domain": rec.domain, "units": len(rec.rationale_units), "correct": is_won(r),
            "rationale_consistency": None if rc is None else 100.0 * rc, "match_failures": r.get("match_failures", 0)}


def summarize(rows: Sequence[dict]) -> dict[str, Any]:
    rcs = [r["rationale_consistency"] for r in rows if r["rationale_consistency"] is not None]
    return {
        "accuracy": pct(sum(r["correct"] for r in rows), len(rows)),
        "rationale_consistency": mean(rcs),
        "rationale_items": len(rcs),
        "match_failures": sum(r["match_failures"] for r in rows),
        "n": len(rows),
    }
