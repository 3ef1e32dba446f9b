"""Rationale consistency beside outcome accuracy (Wang et al. 2026, BRIEF section 2).

On records with human rationale units (e.g. the `Qwen/RationaleRM` test split; other
unit origins, such as built records' template units, only when `origins` names them),
a GenRM's first `top_k` (5) reasons are matched to the units through the
configured matcher; rationale consistency is the mean soft recall of the human
units (one-to-one optimal matching), averaged over the two orders of each record.
Scoring models give no reasons: for them only outcome accuracy is reported.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

from genrm.data.record import PreferenceRecord, human_units
from genrm.data.rows import DataError
from genrm.data.sources import get_source
from genrm.evaluation.intervals import Bootstrap
from genrm.evaluation.models import Comparison
from genrm.evaluation.suites.common import is_won, placement, read_built
from genrm.judge.votes import mean, pct

NAME = "rationale"


def load_items(data: Any, limit: Optional[int]) -> list[PreferenceRecord]:
    """Records whose units come from one of `data.origins` (human by default; others are
    skipped), from the built `data.records` when given, else from the configured source."""
    if data.records:
        inputs = [recs for _, recs in read_built(data.records)]
        where = ", ".join(data.records)
    else:
        inputs = [get_source(data.source)(data.path, **dict(data.options))]
        where = f"{data.source} {data.path}"
    out: list[PreferenceRecord] = []
    seen: set[str] = set()
    for rec in (r for recs in inputs for r in recs):
        if limit is not None and len(out) >= limit:
            break
        if (rec.rationale_origin not in data.origins or rec.label_kind not in data.label_kinds
                or not human_units(rec.rationale_units) or rec.id in seen):
            continue
        seen.add(rec.id)
        out.append(rec)
    if not out:
        raise DataError(f"no {'/'.join(data.label_kinds)} records with rationale units of origin "
                        f"{'/'.join(data.origins)} in {where}")
    return out


def comparisons(rec: PreferenceRecord, seed: int) -> list:
    return [Comparison(id=rec.id, prompt=rec.prompt, chosen=rec.chosen, rejected=rec.rejected,
                       chosen_position=placement(seed, rec.id), source=rec.source, domain=rec.domain,
                       rationale_units=list(rec.rationale_units))]


def item_row(rec: PreferenceRecord, results: Sequence[dict]) -> dict[str, Any]:
    r = results[0]
    rc = r.get("rationale_consistency")
    return {"source": rec.source, "domain": rec.domain, "units": len(rec.rationale_units),
            "origin": rec.rationale_origin, "correct": is_won(r),
            "rationale_consistency": None if rc is None else 100.0 * rc, "match_failures": r.get("match_failures", 0)}


def summarize(rows: Sequence[dict], boot: Optional[Bootstrap] = None) -> dict[str, Any]:
    """Accuracy over `n` records and rationale consistency over `rationale_items`, each with
    its bootstrap interval over records (`*_ci`)."""
    boot = boot or Bootstrap()
    rcs = [r["rationale_consistency"] for r in rows if r["rationale_consistency"] is not None]
    return {
        "accuracy": pct(sum(r["correct"] for r in rows), len(rows)),
        "accuracy_ci": boot.rate([[r["correct"]] for r in rows]),
        "rationale_consistency": mean(rcs),
        "rationale_consistency_ci": boot.interval([[x] for x in rcs]),
        "rationale_items": len(rcs),
        "match_failures": sum(r["match_failures"] for r in rows),
        "unit_origins": ", ".join(sorted({r.get("origin", "human") for r in rows})),
        "n": len(rows),
    }
