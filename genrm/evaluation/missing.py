"""Telling "no valid items" apart from "0% correct".

A judge whose every verdict failed to parse gets 0 on every accuracy (an invalid verdict
never wins), and "StereoSet SS 0.0" reads as an extreme result. So a suite whose judgments
all failed keeps its counts but has every rate set to null, with `<key>_missing` beside it
saying why; the report shows `- (<reason>)` and the plots leave the point out.
"""

from __future__ import annotations

from typing import Any

NO_VERDICT = "no readable verdict: 100% parse failures"
# The finding itself; figures that need no verdict (length baselines, reasons matched in the text).
KEEP = ("parse_failure_rate", "length_baselines", "rationale_consistency", "rationale_consistency_ci")


def _blank(d: dict, reason: str) -> None:
    """Null every float (a rate, a score; counts are ints) and every list of numbers (intervals,
    the RM-Bench matrix) under `d`, with the reason beside each."""
    for k in list(d):
        v = d[k]
        if k in KEEP or k.endswith("_missing"):
            continue
        if isinstance(v, dict):
            _blank(v, reason)
        elif isinstance(v, float) or (isinstance(v, list) and v and not any(isinstance(x, str) for x in v)):
            d[k] = None
            if not k.endswith("_ci"):
                d[f"{k}_missing"] = reason


def mark_missing(result: dict[str, Any]) -> dict[str, Any]:
    """`result` (one model's suite: metrics and always) with its rates nulled where no verdict
    was readable: the whole suite when all its judgments failed, else any sub-protocol (RewardBench 2's
    ranking, ratings) whose own parse failure rate is 100."""
    metrics = result.get("metrics")
    if not isinstance(metrics, dict):
        return result
    if (result.get("always") or {}).get("parse_failure_rate") == 100.0:
        _blank(metrics, NO_VERDICT)
        metrics["missing_reason"] = NO_VERDICT
        a = result["always"]  # no winner in either order is no agreement to measure either
        if a.get("position_consistency") is not None:
            a["position_consistency"], a["position_consistency_ci"] = None, None
            a["position_consistency_missing"] = NO_VERDICT
        return result
    for proto in (metrics.get("protocols") or {}).values():
        if isinstance(proto, dict) and proto.get("parse_failure_rate") == 100.0:
            _blank(proto, NO_VERDICT)
    return result


class Missing(str):
    """A value the report shows as `- (reason)`: there was nothing to count."""


def missing_at(d: Any, key: Any) -> Any:
    """d[key], or a Missing with its reason when it is null for a recorded reason."""
    v = d.get(key) if isinstance(d, dict) else None
    if v is None and isinstance(d, dict) and isinstance(d.get(f"{key}_missing"), str):
        return Missing(d[f"{key}_missing"])
    return v
