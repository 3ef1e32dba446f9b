"""The summary of a results directory: every suite's metrics plus what is always reported.

`run` and `rescore format=genrm` both build it here from the per-item JSONL and
meta files, so a rescore gives exactly the numbers of the run.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any, Iterable, Optional

from genrm.data.rows import DataError
from genrm.evaluation.judging import summarize as judge_summary
from genrm.evaluation.results import ResultsFile, read_meta, suite_module
from genrm.evaluation.schema import SUITES


def always(rows: list[dict], meta: dict) -> dict[str, Any]:
    """Items, errors, judge calls, parse-failure and position-consistency rates (percent), seed,
    wall time and fingerprints of one model on one suite."""
    ok = [r for r in rows if not r.get("error")]
    comps = [c for r in ok for c in r.get("comparisons", [])]
    judged = [c for c in comps if "judgments" in c]
    out: dict[str, Any] = {"items": len(ok), "errors": len(rows) - len(ok), "comparisons": len(comps)}
    if judged:
        s = judge_summary(judged)
        out["judgments"] = sum(len(c["judgments"]) for c in judged)
        out["parse_failure_rate"] = None if s["parse_failure_rate"] is None else 100.0 * s["parse_failure_rate"]
        out["position_consistency"] = (None if s["position_consistency"] is None
                                       else 100.0 * s["position_consistency"])
    else:  # a scoring model always gives a score in both positions alike
        out["judgments"] = 0
        out["parse_failure_rate"] = None
        out["position_consistency"] = None
    out["judge_calls"] = meta.get("model_calls", out["judgments"] or None)
    out["seed"] = meta.get("seed")
    out["seconds"] = meta.get("seconds")
    out["model_fingerprint"] = (meta.get("model_fingerprint") or {}).get("sha")
    out["data_fingerprint"] = meta.get("data_fingerprint")
    return out


def read_rows(path: str, keep: Optional[set[str]] = None) -> list[dict]:
    rows = ResultsFile(path).read()
    return [r for i, r in rows.items() if keep is None or i in keep]


def suite_summary(suite: str, rows: list[dict], meta: dict) -> dict[str, Any]:
    ok = [r for r in rows if not r.get("error")]
    return {"metrics": suite_module(suite).summarize(ok) if ok else None, "always": always(rows, meta)}


def discover(input: str) -> list[tuple[str, str, str]]:
    """(model, suite, jsonl path) in a results directory, a model directory or one results file."""
    if os.path.isfile(input):
        suite = os.path.basename(input)[: -len(".jsonl")] if input.endswith(".jsonl") else ""
        if suite not in SUITES:
            raise DataError(f"{input}: a genrm results file is named <suite>.jsonl with suite one of {SUITES}")
        return [(os.path.basename(os.path.dirname(os.path.abspath(input))), suite, input)]
    if not os.path.isdir(input):
        raise DataError(f"results not found: {input}")
    found = []
    dirs = [input] + [os.path.join(input, d) for d in sorted(os.listdir(input))]
    for d in dirs:
        if not os.path.isdir(d):
            continue
        for s in SUITES:
            p = os.path.join(d, f"{s}.jsonl")
            if os.path.isfile(p):
                found.append((os.path.basename(os.path.abspath(d)), s, p))
    if not found:
        raise DataError(f"no <model>/<suite>.jsonl results under {input}")
    return found


def build_summary(input: str, *, keep: Optional[dict[str, set[str]]] = None, name: Optional[str] = None,
                  models: Optional[Iterable[tuple[str, str, str]]] = None,
                  suites: Optional[list[str]] = None) -> dict[str, Any]:
    """The summary of results under `input`; `keep` restricts each suite to the current run's items."""
    found = discover(input)
    info = {m: {"name": m, "kind": k, "ref": r} for m, k, r in (models or [])}
    results: dict[str, dict[str, Any]] = {}
    for model, suite, path in found:
        if models is not None and model not in info:
            continue
        meta = read_meta(path[: -len(".jsonl")] + ".meta.json")
        rows = read_rows(path, None if keep is None else keep.get(suite, set()))
        results.setdefault(model, {})[suite] = suite_summary(suite, rows, meta)
        if model not in info:
            fp = meta.get("model_fingerprint") or {}
            info[model] = {"name": model, "kind": meta.get("kind"), "ref": fp.get("ref")}
    return {
        "name": name or os.path.basename(os.path.abspath(input if os.path.isdir(input) else os.path.dirname(input))),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "models": [info[m] for m in info if m in results],
        "suites": suites or sorted({s for _, s, _ in found}, key=SUITES.index),
        "results": results,
    }


def write_summary(summary: dict, path: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=1, ensure_ascii=False)
