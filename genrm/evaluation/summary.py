"""The summary of a results directory: every suite's metrics plus what is always reported.

`run` and `rescore format=genrm` both build it here from the per-item JSONL and
meta files, so a rescore gives exactly the numbers of the run.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any, Iterable, Optional, Sequence

from genrm.data.rows import DataError
from genrm.evaluation.intervals import Bootstrap, from_meta
from genrm.evaluation.judging import summarize as judge_summary
from genrm.evaluation.missing import mark_missing
from genrm.evaluation.results import ResultsFile, read_meta, suite_module
from genrm.evaluation.schema import SUITES


# suites whose summarize takes a Bootstrap
WITH_INTERVALS = ("rm_bench", "judgebench", "rewardbench2", "best_of_n", "social", "rationale")


def always(rows: list[dict], meta: dict, boot: Optional[Bootstrap] = None) -> dict[str, Any]:
    """Items, errors, judge calls, parse-failure and position-consistency rates (percent), seed,
    wall time and fingerprints of one model on one suite. Position consistency comes with its
    bootstrap interval over the pairs judged in both orders (`position_pairs` of them)."""
    boot = boot or from_meta(meta)
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
        both = [[c["position_consistent"] for c in r.get("comparisons", []) if c.get("position_consistent") is not None]
                for r in ok]
        out["position_consistency_ci"] = boot.rate(both)
        out["position_pairs"] = sum(len(g) for g in both)
    else:  # a scoring model always gives a score in both positions alike
        out["judgments"] = 0
        out["parse_failure_rate"] = None
        out["position_consistency"] = None
        out["position_consistency_ci"] = None
        out["position_pairs"] = 0
    out["judge_calls"] = meta.get("model_calls", out["judgments"] or None)
    out["seed"] = meta.get("seed")
    out["seconds"] = meta.get("seconds")
    out["model_fingerprint"] = (meta.get("model_fingerprint") or {}).get("sha")
    out["data_fingerprint"] = meta.get("data_fingerprint")
    return out


def read_rows(path: str, keep: Optional[set[str]] = None) -> list[dict]:
    rows = ResultsFile(path).read()
    return [r for i, r in rows.items() if keep is None or i in keep]


def _bad_row(path: str, rows: list[dict], exc: Exception) -> DataError:
    """One line for a results row a suite cannot read (an edited or foreign file): the first
    row missing the field, by its line in `path`."""
    field = exc.args[0] if isinstance(exc, KeyError) and exc.args else None
    bad = next((r for r in rows if field is not None and field not in r), None)
    where = path
    if bad is not None:
        where = f"{path}:{ResultsFile(path).line_of(str(bad['id']))}"
    if field is not None:
        return DataError("is missing (this suite's results rows need it; rerun the item or restore the row)",
                         field=str(field), where=where)
    return DataError(f"a results row this suite cannot read ({type(exc).__name__}: {exc})", where=where)


def suite_summary(suite: str, rows: list[dict], meta: dict, resamples: Optional[int] = None,
                  path: str = "results") -> dict[str, Any]:
    """The suite's metrics and `always`. Intervals use the run's seed and `resamples`, else the
    run's own resamples from `meta` (so a rescore repeats the run's intervals)."""
    boot = from_meta(meta, resamples)
    ok = [r for r in rows if not r.get("error")]
    mod = suite_module(suite)
    metrics = None
    try:
        if ok:
            metrics = mod.summarize(ok, boot) if suite in WITH_INTERVALS else mod.summarize(ok)
        return mark_missing({"metrics": metrics, "always": always(rows, meta, boot)})
    except (KeyError, TypeError) as e:  # a bug in a suite would show these too: --debug has the traceback
        raise _bad_row(path, ok, e) from None


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
                  suites: Optional[list[str]] = None, resamples: Optional[int] = None) -> dict[str, Any]:
    """The summary of results under `input`; `keep` restricts each suite to the current run's items;
    `resamples` of the bootstrap intervals (default: each run's own, see `suite_summary`)."""
    found = discover(input)
    info = {m: {"name": m, "kind": k, "ref": r} for m, k, r in (models or [])}
    results: dict[str, dict[str, Any]] = {}
    for model, suite, path in found:
        if models is not None and model not in info:
            continue
        meta = read_meta(path[: -len(".jsonl")] + ".meta.json")
        rows = read_rows(path, None if keep is None else keep.get(suite, set()))
        results.setdefault(model, {})[suite] = suite_summary(suite, rows, meta, resamples, path)
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


# ----------------------------------------------------------------------------- headline

# Where a model's headline accuracy comes from: (suite, path to the figure, its count beside it).
HEADLINE = (("rationale", ("accuracy",), "n"), ("judgebench", ("overall",), "n"),
            ("social", ("domains", "bias", "accuracy"), "n"))


def _at(d: Any, *keys: Any) -> Any:
    for k in keys:
        d = d.get(k) if isinstance(d, dict) else None
    return d


def headline(summary: dict, model: str, suite: Optional[str] = None) -> dict[str, Any]:
    """One model's headline row: accuracy and position consistency with their 95% intervals,
    parse failures, rationale consistency and the pair count `n`, from `suite` (default: the
    first of rationale, judgebench, social the model was evaluated on; values None without one)."""
    per = summary["results"].get(model)
    if per is None:
        raise KeyError(f"no results for model {model!r}; models: {', '.join(summary['results'])}")
    spec = next((h for h in HEADLINE if (suite is None or h[0] == suite) and per.get(h[0])), None)
    name, path, count = spec or (None, ("-",), "n")
    m, a = _at(per, name, "metrics") or {}, _at(per, name, "always") or {}
    row: dict[str, Any] = {"model": model, "suite": name, "accuracy": _at(m, *path),
                           "accuracy_ci": _at(m, *path[:-1], f"{path[-1]}_ci"), "n": _at(m, *path[:-1], count)}
    for k in ("position_consistency", "position_consistency_ci", "position_pairs", "parse_failure_rate"):
        row[k] = a.get(k)
    for k in ("rationale_consistency", "rationale_consistency_ci", "rationale_items"):
        row[k] = m.get(k)
    return row


def headline_rows(summary: dict, suite: Optional[str] = None) -> list[dict[str, Any]]:
    """`headline` of every model in the summary, in its order."""
    return [headline(summary, m["name"], suite) for m in summary["models"]]


def format_headline_table(rows: Sequence[dict[str, Any]]) -> str:
    """A small plain-text table of headline rows (for the console); '-' = no data."""
    def num(v: Any) -> str:
        return "-" if v is None else f"{v:.1f}"

    def ci(v: Any, c: Any) -> str:
        return num(v) + (f" [{c[0]:.1f}, {c[1]:.1f}]" if v is not None and c else "")

    head = ("model", "accuracy % [95% CI]", "position consistency % [95% CI]", "parse failures %",
            "rationale consistency %", "n")
    body = [(str(r["model"]), ci(r["accuracy"], r["accuracy_ci"]),
             ci(r["position_consistency"], r["position_consistency_ci"]), num(r["parse_failure_rate"]),
             num(r["rationale_consistency"]), "-" if r["n"] is None else str(r["n"])) for r in rows]
    widths = [max(len(x[k]) for x in [head, *body]) for k in range(len(head))]
    line = lambda cells: "  ".join(c.ljust(w) if k == 0 else c.rjust(w)  # noqa: E731
                                   for k, (c, w) in enumerate(zip(cells, widths))).rstrip()
    return "\n".join([line(head), line(["-" * w for w in widths]), *map(line, body)])
