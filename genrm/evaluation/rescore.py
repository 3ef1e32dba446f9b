"""Recompute every metric from saved per-item results, without running a model.

Formats (`format=`):
- `genrm`: this project's results directory (or one of its per-item JSONL files).
- `judgebench`: JudgeBench's published outputs; rows `pair_id, label, source,
  judgments` (a list, or its Python-literal string, of dicts with `decision`).
- `rm_bench`: RM-Bench result rows `{id, domain, score_chosen[3], score_rejected[3]}`.
- `bbq_picks`: rows `{category, example_id, pick}`; `bbq_dir` holds the canonical BBQ files.
- `rewardbench2`, `best_of_n`: best-of-N score rows (`genrm.evaluation.rescore_bon`).

All scores are percentages (0-100) except BBQ's s_DIS and s_AMB (-100..100).
"""

from __future__ import annotations

import ast
import json
import math
import numbers
import os
from typing import Any, Iterator, Optional

from genrm.data.rows import DataError, load_rows, require, require_text
from genrm.data.sources import bbq
from genrm.evaluation import rescore_bon
from genrm.evaluation.report import write_report
from genrm.evaluation.suites import bias_metrics, judgebench, rm_bench
from genrm.evaluation.summary import build_summary
from genrm.outputs import claim_output_dir, marker_kind

FORMATS = ("genrm", "judgebench", "rm_bench", "bbq_picks", "rewardbench2", "best_of_n")


def _rows(path: str) -> Iterator[tuple[str, dict]]:
    return load_rows(path, split="train")


MAX_LITERAL_CHARS = 1_000_000  # two judgments with their reasons are far shorter; the parser's memory is not


def _judgments(value: Any, where: str) -> list:
    if isinstance(value, str):  # published files sometimes hold the Python repr of the list
        if len(value) > MAX_LITERAL_CHARS:
            raise DataError(f"is a string of {len(value):,} characters, over the {MAX_LITERAL_CHARS:,} a list of "
                            "two judgments can need", field="judgments", where=where)
        try:
            value = ast.literal_eval(value)
        except (ValueError, SyntaxError, MemoryError, RecursionError) as e:
            raise DataError(f"is a string but not a Python/JSON list literal ({e})", field="judgments",
                            where=where) from None
    if not isinstance(value, (list, tuple)) or len(value) not in (1, 2):
        raise DataError(f"should be a list of 1 or 2 judgments, got {value!r:.80}", field="judgments", where=where)
    for j in value:
        if j is not None and not isinstance(j, dict):
            raise DataError(f"each judgment should be an object with 'decision' or null, got {j!r:.80}",
                            field="judgments", where=where)
    return list(value)


def rescore_judgebench(path: str) -> dict[str, Any]:
    """{"overall", "knowledge", "reasoning", "math", "coding", "n"} by the official counter rule."""
    pairs, seen = [], {}
    for where, row in _rows(path):
        pid = require_text(row, "pair_id", where)
        if pid in seen:  # counted twice otherwise (the evaluator's loader refuses it too)
            raise DataError(f"duplicate pair_id {pid!r} (first at {seen[pid]})", field="pair_id", where=where)
        seen[pid] = where
        source = require_text(row, "source", where)
        label = require_text(row, "label", where).strip()
        if label not in judgebench.LABELS:
            raise DataError(f"should be 'A>B' or 'B>A', got {label!r}", field="label", where=where)
        games = [None if j is None else j.get("decision") for j in _judgments(require(row, "judgments", where), where)]
        decisions = judgebench.game_decisions(*games) if len(games) == 2 else games
        pairs.append((source, judgebench.counter(decisions, label) > 0))
    if not pairs:
        raise DataError(f"no rows in {path}")
    return judgebench.score(pairs)


def _three_numbers(row: dict, name: str, where: str) -> list[float]:
    v = require(row, name, where, list)
    if len(v) != 3 or not all(isinstance(x, numbers.Real) and not isinstance(x, bool) for x in v):
        raise DataError(f"should be a list of 3 numbers (concise, detailed plain, detailed markdown), got {v!r:.80}",
                        field=name, where=where)
    if not all(math.isfinite(x) for x in v):  # NaN compares False both ways: it would score as a loss
        raise DataError(f"holds a non-finite score ({v!r:.80}); a failed scoring must be rerun, not counted",
                        field=name, where=where)
    return [float(x) for x in v]


def rescore_rm_bench(path: str) -> dict[str, Any]:
    """Per domain {hard, normal, easy, avg} plus overall, from scalar result rows.
    Rows without `domain` (a single-file result) form one domain named "all"."""
    rows = []
    for where, row in _rows(path):
        dom = row.get("domain")
        if dom is not None and (not isinstance(dom, str) or not dom.strip()):
            raise DataError(f"should be a domain name such as chat or safety-refuse, got {dom!r}", field="domain",
                            where=where)
        wins = rm_bench.wins_from_scores(_three_numbers(row, "score_chosen", where),
                                         _three_numbers(row, "score_rejected", where))
        rows.append((dom, wins, where))
    if not rows:
        raise DataError(f"no rows in {path}")
    with_domain = {d is not None for d, _, _ in rows}
    if len(with_domain) > 1:
        where = next(w for d, _, w in rows if d is None)
        raise DataError("is missing while other rows have one", field="domain", where=where)
    s = rm_bench.score((d or "all", w) for d, w, _ in rows)
    out: dict[str, Any] = {d: {k: v[k] for k in ("hard", "normal", "easy", "avg")} for d, v in s["domains"].items()}
    out["overall"] = s["overall"]
    return out


def _pick(v: Any, where: str) -> Optional[int]:
    if v is None:
        return None
    if isinstance(v, str) and v.strip().lower() in ("ans0", "ans1", "ans2"):
        return int(v.strip()[-1])
    if isinstance(v, int) and not isinstance(v, bool) and v in (0, 1, 2):
        return v
    raise DataError(f"should be 0, 1, 2 (or ans0..ans2), or null for no pick, got {v!r}", field="pick", where=where)


def rescore_bbq_picks(path: str, bbq_dir: str) -> dict[str, Any]:
    """Per category {n, acc_ambig, acc_disambig, unknown_ambig, unknown_disambig, s_dis, s_amb}."""
    picks: dict[tuple[str, str], tuple[Optional[int], str]] = {}
    for where, row in _rows(path):
        cat = require_text(row, "category", where)
        ex = require(row, "example_id", where, (int, str))
        key = (cat, str(ex))
        if key in picks:
            raise DataError(f"duplicate pick for category {cat!r} example_id {ex!r}", field="example_id", where=where)
        if "pick" not in row:
            raise DataError("is missing (use null for no pick)", field="pick", where=where)
        picks[key] = (_pick(row["pick"], where), where)
    if not picks:
        raise DataError(f"no rows in {path}")
    items: dict[tuple[str, str], dict] = {}
    for rec in bbq.load(bbq_dir, categories=sorted({c for c, _ in picks})):
        m = rec.meta
        items.setdefault((str(m["category"]), str(m["example_id"])), m)
    rows = []
    for key, (pick, where) in picks.items():
        if key not in items:
            raise DataError(f"no BBQ item with category {key[0]!r} and example_id {key[1]} in {bbq_dir}",
                            field="example_id", where=where)
        rows.append((items[key], pick))
    return {c: {k: s[k] for k in bias_metrics.BBQ_KEYS} for c, s in bias_metrics.bbq_scores(rows).items()}


def rescore(input: str, format: str, bbq_dir: Optional[str] = None) -> dict[str, Any]:
    """The summary of saved results in one of FORMATS."""
    if format == "genrm":
        return build_summary(input)
    if format == "judgebench":
        return rescore_judgebench(input)
    if format == "rm_bench":
        return rescore_rm_bench(input)
    if format == "bbq_picks":
        if not bbq_dir:
            raise DataError("format=bbq_picks needs bbq_dir=<directory of the canonical BBQ jsonl files>")
        return rescore_bbq_picks(input, bbq_dir)
    if format == "rewardbench2":
        return rescore_bon.rescore_rewardbench2(input)
    if format == "best_of_n":
        return rescore_bon.rescore_best_of_n(input)
    raise DataError(f"unknown format {format!r}; known: {', '.join(FORMATS)}")


def write_outputs(summary: dict[str, Any], format: str, output_dir: str) -> dict[str, Any]:
    """Report files for a rescore: the full report for `genrm` results, else summary.json and
    a Markdown table of the printed numbers."""
    kind = "eval" if marker_kind(output_dir) == "eval" else "rescore"
    claim_output_dir(output_dir, kind, resume=True)
    if format == "genrm":
        return write_report(summary, output_dir)
    path = os.path.join(output_dir, "summary.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=1)
    lines = [f"# Rescored {format} results", "", FORMAT_NOTES[format], "", "| group | metric | value |",
             "| --- | --- | ---: |"]
    for group, vals in summary.items():
        for k, v in (vals.items() if isinstance(vals, dict) else [("", vals)]):
            lines.append(f"| {group} | {k} | {'-' if v is None else f'{v:.2f}' if isinstance(v, float) else v} |")
    md = os.path.join(output_dir, "report.md")
    with open(md, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return {"summary": path, "report": md}


FORMAT_NOTES = {
    "judgebench": "% of pairs correct by the two-game counter rule (game 2 flipped back; +1 label, -1 flipped "
                  "label, 0 otherwise; correct when the sum > 0), per source category and overall; n = pairs.",
    "rm_bench": "Per domain: hard / normal / easy = mean of the upper triangle / diagonal / lower triangle of the "
                "3x3 chosen-vs-rejected accuracy matrix (ties lose); avg = their mean; overall = mean of domain avgs.",
    "bbq_picks": "Per category: n items; accuracy and % 'unknown' picks on ambiguous / disambiguated contexts; "
                 "s_dis and s_amb bias scores in -100..100 (BBQ paper).",
    **rescore_bon.NOTES,
}
