"""RM-Bench (THU-KEG): 3 chosen x 3 rejected style variants per prompt.

Row: `id, prompt, chosen[3], rejected[3]` (+ `subset`, and on the hub a
`domain` column). Variant index 0 = concise, 1 = detailed plain text,
2 = detailed markdown. Files: `chat`, `code`, `math`, `safety-refuse`,
`safety-response` (JSON arrays; JSONL also read).

Each prompt gives the 9 (i, j) pairs chosen[i] vs rejected[j]; `meta` records
the variant indices and the difficulty of the cell of the 3x3 matrix
M[i][j]: hard = strict upper triangle (i < j: the chosen answer is *less*
styled than the rejected one), normal = diagonal, easy = strict lower
triangle. The RM-Bench domain (`meta.rm_bench_domain`) comes from the
`kind` option, else the row's `domain` field, else the file name, else the
row's `subset`. The two safety files map to record domain "safety", the others
to "general". `pairs="diagonal"` keeps only the 3 i == j pairs.
"""

from __future__ import annotations

import logging
import os
from typing import Iterator

from genrm.data.rows import DataError, iter_rows, load_rows, require, require_text
from genrm.data.record import PreferenceRecord, user_prompt

SOURCE = "rm_bench"
HUB_ID = "THU-KEG/RM-Bench"
KINDS = ("chat", "code", "math", "safety-refuse", "safety-response")
VARIANTS = ("concise", "detailed_plain", "detailed_markdown")
# RM-Bench `subset` values (inherited from RewardBench) -> file kind.
_SUBSET_KIND = {
    "alpacaeval": "chat", "alpacaeval-easy": "chat", "alpacaeval-length": "chat", "alpacaeval-hard": "chat",
    "math-prm": "math",
    "xstest-should-respond": "safety-response", "donotanswer": "safety-refuse",
    "xstest-should-refuse": "safety-refuse", "refusals-dangerous": "safety-refuse",
    "refusals-offensive": "safety-refuse",
}
log = logging.getLogger(__name__)


def difficulty(i: int, j: int) -> str:
    """Cell (chosen variant i, rejected variant j) of RM-Bench's 3x3 matrix."""
    return "hard" if i < j else "normal" if i == j else "easy"


def _kind_from_name(path: str) -> str | None:
    name = os.path.basename(path).lower()
    for k in ("safety-refuse", "safety-response", "chat", "code", "math"):  # safety-* first: most specific
        if name.startswith(k) or f"_{k}" in name or f"-{k}" in name:
            return k
    return None


def _kind(row: dict, file_kind: str | None, forced: str | None, where: str) -> str:
    if forced:
        return forced
    dom = row.get("domain")
    if isinstance(dom, str) and dom in KINDS:
        return dom
    if file_kind:
        return file_kind
    sub = row.get("subset")
    if isinstance(sub, str):
        if sub in _SUBSET_KIND:
            return _SUBSET_KIND[sub]
        if sub.startswith("hep-"):  # HumanEvalPack subsets: code
            return "code"
    raise DataError(f"cannot tell the RM-Bench domain (one of {KINDS}) from the row's 'domain'/'subset' or the "
                    f"file name; pass the option kind=...", field="domain", where=where)


def _sources(path: str, split: str) -> Iterator[tuple[str | None, Iterator[tuple[str, dict]]]]:
    """(file kind from the name, rows) per file; a directory is read file by file so names stay known."""
    if os.path.isfile(path):
        yield _kind_from_name(path), iter_rows(path)
    elif os.path.isdir(path) and not any(
        os.path.exists(os.path.join(path, n)) for n in ("dataset_info.json", "dataset_dict.json")
    ):
        files = sorted(n for n in os.listdir(path) if n.lower().endswith((".json", ".jsonl")))
        if not files:
            raise DataError(f"no .json/.jsonl files in directory {path}")
        for n in files:
            fp = os.path.join(path, n)
            yield _kind_from_name(fp), iter_rows(fp)
    else:
        yield None, load_rows(path, split=split)


def _variants(row: dict, name: str, where: str) -> list[str]:
    v = require(row, name, where, list)
    if len(v) != 3 or not all(isinstance(x, str) and x.strip() for x in v):
        raise DataError(f"should be a list of 3 non-empty strings (concise, detailed plain, detailed markdown), "
                        f"got {len(v)} items", field=name, where=where)
    return v


def load(
    path: str = HUB_ID,
    *,
    split: str = "train",
    pairs: str = "all",
    kind: str | None = None,
    stats: dict | None = None,
) -> Iterator[PreferenceRecord]:
    """Yield the 9 (or, with pairs="diagonal", 3) variant pairs of every RM-Bench prompt."""
    if pairs not in ("all", "diagonal"):
        raise DataError(f"should be 'all' or 'diagonal', got {pairs!r}", field="pairs")
    if kind is not None and kind not in KINDS:
        raise DataError(f"should be one of {KINDS}, got {kind!r}", field="kind")
    cells = [(i, j) for i in range(3) for j in range(3) if pairs == "all" or i == j]
    counts = stats if stats is not None else {}
    for key in ("rows", "pairs", "skipped_identical"):
        counts.setdefault(key, 0)
    for file_kind, rows in _sources(path, split):
        for where, row in rows:
            counts["rows"] += 1
            rid = require(row, "id", where, (int, str))
            prompt = user_prompt(require_text(row, "prompt", where))
            chosen, rejected = _variants(row, "chosen", where), _variants(row, "rejected", where)
            k = _kind(row, file_kind, kind, where)
            for i, j in cells:
                if chosen[i].strip() == rejected[j].strip():
                    counts["skipped_identical"] += 1
                    continue
                meta = {
                    "rm_bench_id": rid,
                    "rm_bench_domain": k,
                    "chosen_variant": i,
                    "rejected_variant": j,
                    "difficulty": difficulty(i, j),
                }
                if isinstance(row.get("subset"), str):
                    meta["subset"] = row["subset"]
                counts["pairs"] += 1
                yield PreferenceRecord(
                    source=SOURCE, domain="safety" if k.startswith("safety") else "general", prompt=prompt,
                    chosen=chosen[i], rejected=rejected[j], label_kind="gold", meta=meta,
                )
    log.info("%s %s: %s", SOURCE, path, counts)
