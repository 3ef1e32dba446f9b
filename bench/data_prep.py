"""Data-prep throughput: build every BBQ file in ../shared/data/bbq into records.

    python bench/data_prep.py [--repeat 5] [--data $GENRM_SHARED_DATA/bbq]

Ours = `genrm.data.sources.bbq.load` over the directory, every record fully built and
validated (content hash, templated units, directional tags). Baseline, measured
in the same run = plain `json.loads` over the same lines. Throughput is source
rows (input jsonl lines) per second; each row makes 2 records. The best of
`--repeat` runs is reported for both (least disturbed by other processes).
Figures go to bench/results/data_prep.json; the last line printed is the key figure.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from genrm.data.sources import bbq  # noqa: E402

TARGET_ROWS_PER_S = 10_000


def _files(data: Path) -> list[Path]:
    files = sorted(data.glob("*.jsonl"))
    if not files:
        raise SystemExit(f"no BBQ .jsonl files in {data}")
    return files


def _baseline(files: list[Path]) -> int:
    n = 0
    for fp in files:
        with open(fp, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    json.loads(line)
                    n += 1
    return n


def _clear_caches() -> None:
    """Start each run cold: the loader memoises group parsing per option set."""
    bbq.clear_caches()


def _ours(data: Path) -> tuple[int, dict]:
    _clear_caches()
    stats: dict = {}
    n_records = sum(1 for _ in bbq.load(str(data), stats=stats))
    return n_records, stats


def _best(fn, repeat: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    shared = Path(os.environ.get("GENRM_SHARED_DATA") or REPO.parent / "shared" / "data")
    ap.add_argument("--data", default=str(shared / "bbq"), help="BBQ directory (default: $GENRM_SHARED_DATA/bbq, "
                    "GENRM_SHARED_DATA defaulting to ../shared/data beside the repository)")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "data_prep.json"))
    args = ap.parse_args(argv)

    data = Path(args.data).resolve()
    files = _files(data)
    rows = _baseline(files)  # also warms the page cache

    t_base, _ = _best(lambda: _baseline(files), args.repeat)
    t_ours, (n_records, stats) = _best(lambda: _ours(data), args.repeat)
    if stats.get("rows") != rows:
        raise SystemExit(f"row count mismatch: loader saw {stats.get('rows')}, files have {rows}")

    ours_rps, base_rps = rows / t_ours, rows / t_base
    result = {
        "benchmark": "bbq data prep (genrm.data.sources.bbq.load, records built and validated)",
        "data": str(data),
        "files": [f.name for f in files],
        "source_rows": rows,
        "records": n_records,
        "unassigned_stereotype": stats.get("unassigned_stereotype", 0),
        "repeat": args.repeat,
        "seconds_ours": round(t_ours, 4),
        "seconds_baseline_json_loads": round(t_base, 4),
        "rows_per_s_ours": round(ours_rps, 1),
        "rows_per_s_baseline_json_loads": round(base_rps, 1),
        "ratio_ours_over_baseline": round(ours_rps / base_rps, 4),
        "target_rows_per_s": TARGET_ROWS_PER_S,
        "meets_target": ours_rps >= TARGET_ROWS_PER_S,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
    }
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)

    print(f"files: {', '.join(result['files'])}")
    print(f"source rows: {rows}  records: {n_records}  (best of {args.repeat})")
    print(f"baseline json.loads: {base_rps:,.0f} rows/s ({t_base:.3f} s)")
    print(f"ratio ours/baseline: {ours_rps / base_rps:.3f}")
    print(f"target: {TARGET_ROWS_PER_S:,} rows/s -> {'met' if result['meets_target'] else 'NOT met'}")
    print(f"results: {args.out}")
    print(f"bbq data prep: {ours_rps:,.0f} source rows/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
