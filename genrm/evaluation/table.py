"""The results of a run as one flat table (`results.csv`), and runs side by side.

One row per model, suite and metric, as lm-evaluation-harness and reward-bench users
expect: a spreadsheet or pandas reads it without knowing summary.json's nesting. A value
with no valid items is an empty cell, never 0 (see genrm.evaluation.missing).
"""

from __future__ import annotations

import csv
import json
import os
from typing import Any, Iterator, Optional, Sequence

COLUMNS = ("model", "suite", "metric", "value", "n", "ci_low", "ci_high")
NAME = "results.csv"
# Counts of the figures of `always`, which sit under other names than `n`.
_ALWAYS_N = {"position_consistency": "position_pairs", "parse_failure_rate": "judgments"}


def _count(d: dict, key: str) -> Any:
    """The count beside figure `key`: `n_<suffix>` (BBQ's acc_ambig -> n_ambig), else `n`."""
    suffix = key.split("_", 1)[1] if "_" in key else None
    for k in ((f"n_{suffix}",) if suffix else ()) + ("n", "prompts", "items"):
        if isinstance(d.get(k), int) and not isinstance(d.get(k), bool):
            return d[k]
    return None


def _figures(d: dict, path: tuple[str, ...], n: Any = None) -> Iterator[tuple[str, Optional[float], Any, Any]]:
    """(metric path, value, n, ci) of every figure under `d`: floats, and nulls with a recorded reason."""
    here = _count(d, "") if n is None else n
    for k, v in d.items():
        if k.endswith(("_ci", "_missing", "_spread")) or isinstance(v, bool):
            continue
        if isinstance(v, dict):
            yield from _figures(v, path + (str(k),), here if _count(v, "") is None else None)
        elif isinstance(v, float) or (v is None and f"{k}_missing" in d):
            yield "/".join(path + (str(k),)), v, _count(d, str(k)) or here, d.get(f"{k}_ci")


def rows(summary: dict) -> list[dict[str, Any]]:
    """The table of a summary (build_summary's), one dict per row with COLUMNS as keys."""
    out = []
    for m in summary["models"]:
        for suite, r in (summary["results"].get(m["name"]) or {}).items():
            found = list(_figures(r.get("metrics") or {}, ()))
            a = r.get("always") or {}
            found += [(k, a.get(k), a.get(c), a.get(f"{k}_ci")) for k, c in _ALWAYS_N.items()
                      if a.get(k) is not None or f"{k}_missing" in a]
            for metric, v, n, ci in found:
                out.append({"model": m["name"], "suite": suite, "metric": metric,
                            "value": None if v is None else round(v, 4), "n": n,
                            "ci_low": ci[0] if ci else None, "ci_high": ci[1] if ci else None})
    return out


def write_csv(summary: dict, out_dir: str) -> str:
    """results.csv of `summary` in `out_dir` (beside summary.json); empty cells for no value."""
    path = os.path.join(out_dir, NAME)
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, COLUMNS)
        w.writeheader()
        w.writerows({k: ("" if r[k] is None else r[k]) for k in COLUMNS} for r in rows(summary))
    return path


def read_run(run_dir: str) -> list[dict[str, Any]]:
    """The table of a run directory: its results.csv, else built from its summary.json (older runs)."""
    csv_path, summary_path = os.path.join(run_dir, NAME), os.path.join(run_dir, "summary.json")
    if os.path.isfile(csv_path):
        with open(csv_path, encoding="utf-8", newline="") as f:
            return [{k: (v if v != "" else None) for k, v in r.items()} for r in csv.DictReader(f)]
    if os.path.isfile(summary_path):
        with open(summary_path, encoding="utf-8") as f:
            return rows(json.load(f))
    raise FileNotFoundError(f"{run_dir}: no {NAME} or summary.json (an evaluate/run.py output directory?)")


def _cell(r: Optional[dict]) -> str:
    if r is None:
        return ""
    if r["value"] is None:
        return "-"
    ci = f" [{float(r['ci_low']):.1f}, {float(r['ci_high']):.1f}]" if r.get("ci_low") is not None else ""
    n = f" (n={r['n']})" if r.get("n") is not None else ""
    return f"{float(r['value']):.1f}{ci}{n}"


def side_by_side(runs: Sequence[str]) -> str:
    """A plain-text table: one line per model, suite and metric, one column per run ('-' = no
    valid items, empty = not in that run)."""
    tables = [{(r["model"], r["suite"], r["metric"]): r for r in read_run(d)} for d in runs]
    keys = list(dict.fromkeys(k for t in tables for k in t))
    head = ("model", "suite", "metric", *[os.path.basename(os.path.normpath(d)) or d for d in runs])
    body = [(*k, *[_cell(t.get(k)) for t in tables]) for k in keys]
    widths = [max(len(str(x[c])) for x in [head, *body]) for c in range(len(head))]
    fmt = lambda cells: "  ".join(str(c).ljust(w) if i < 3 else str(c).rjust(w)  # noqa: E731
                                  for i, (c, w) in enumerate(zip(cells, widths))).rstrip()
    return "\n".join([fmt(head), fmt(["-" * w for w in widths]), *map(fmt, body)])
