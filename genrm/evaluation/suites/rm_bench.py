"""RM-Bench (THU-KEG): the 3x3 chosen-vs-rejected style matrix per prompt.

M[i][j] = share of prompts where chosen variant i beats rejected variant j
(ties lose); hard = mean of the strict upper triangle (the chosen answer is
less styled), normal = the diagonal, easy = the strict lower triangle. Per
domain, avg = mean(hard, normal, easy); the two safety files are pooled into one
"safety" domain (their prompts together form its matrix, as the official
`compute_accuracy` does by domain prefix); overall = mean of the domain avgs.

The files are read here directly, not through the record build: all 9 cells of
every prompt count even when two style variants are the same text (the build's
dedup would drop such cells and change the denominators).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Optional, Sequence

import numpy as np

from genrm.data.record import user_prompt
from genrm.data.rows import DataError, require, require_text
from genrm.data.sources.rm_bench import HUB_ID, _kind, _sources, _variants, difficulty
from genrm.evaluation.intervals import Bootstrap
from genrm.evaluation.models import Comparison
from genrm.evaluation.suites.common import is_won, placement
from genrm.judge.votes import mean, score_vote

NAME = "rm_bench"
DOMAINS = ("chat", "math", "code", "safety")
CELLS = tuple((i, j) for i in range(3) for j in range(3))
__all__ = ["HUB_ID", "difficulty"]


def domain_of(kind: str) -> str:
    """RM-Bench domain of a file kind: safety-refuse / safety-response -> safety."""
    return "safety" if kind.startswith("safety") else kind


@dataclass
class Prompt:
    """One RM-Bench row: the unit of work and of resuming (9 cells)."""

    id: str  # "<kind>:<row id>", unique across the files
    row_id: Any
    kind: str
    prompt: str
    chosen: list[str]
    rejected: list[str]

    @property
    def domain(self) -> str:
        return domain_of(self.kind)


def load(path: str = HUB_ID, *, split: str = "train", kinds: Optional[Sequence[str]] = None,
         limit: Optional[int] = None) -> list[Prompt]:
    """RM-Bench rows from a file, a directory of the published files, or a hub id.

    `kinds` keeps only those files/domains (e.g. ["chat"]); `limit` keeps the first
    N rows of each kind, so a quick run still covers every domain it reads."""
    out: list[Prompt] = []
    seen: dict[str, int] = {}
    ids: set[str] = set()
    for file_kind, rows in _sources(path, split):
        for where, row in rows:
            kind = _kind(row, file_kind, None, where)
            if kinds and kind not in kinds and domain_of(kind) not in kinds:
                continue
            if limit is not None and seen.get(kind, 0) >= limit:
                continue
            rid = require(row, "id", where, (int, str))
            item = Prompt(id=f"{kind}:{rid}", row_id=rid, kind=kind, prompt=require_text(row, "prompt", where),
                          chosen=_variants(row, "chosen", where), rejected=_variants(row, "rejected", where))
            if item.id in ids:
                raise DataError(f"duplicate RM-Bench id {rid!r} in {kind}", field="id", where=where)
            seen[kind] = seen.get(kind, 0) + 1
            ids.add(item.id)
            out.append(item)
    if not out:
        raise DataError(f"no RM-Bench rows read from {path}" + (f" for kinds {list(kinds)}" if kinds else ""))
    return out


# ----------------------------------------------------------------------------- arithmetic


def wins_from_scores(score_chosen: Sequence[float], score_rejected: Sequence[float]) -> list[list[int]]:
    """3x3 wins of a scoring model: chosen[i] beats rejected[j] when its score is strictly higher."""
    return [[int(score_vote(score_chosen[i], score_rejected[j]) > 0) for j in range(3)] for i in range(3)]


def triangle_scores(matrix: np.ndarray) -> dict[str, float]:
    """hard / normal / easy / avg (percent) of a 3x3 accuracy matrix in percent."""
    hard = float(np.mean([matrix[i][j] for i, j in CELLS if i < j]))
    normal = float(np.mean([matrix[i][i] for i in range(3)]))
    easy = float(np.mean([matrix[i][j] for i, j in CELLS if i > j]))
    return {"hard": hard, "normal": normal, "easy": easy, "avg": (hard + normal + easy) / 3}


def score(rows: Iterable[tuple[str, Sequence[Sequence[int]]]]) -> dict[str, Any]:
    """Scores from (file kind or domain, 3x3 wins) per prompt.

    Returns {"domains": {domain: {hard, normal, easy, avg, n, matrix}}, "overall",
    "hard", "normal", "easy"}; the last three are means over the domains, as in
    the official total-dataset scorer."""
    by_domain: dict[str, list[np.ndarray]] = {}
    for kind, wins in rows:
        w = np.asarray(wins, dtype=float)
        if w.shape != (3, 3) or not np.isin(w, (0.0, 1.0)).all():
            raise DataError(f"RM-Bench wins must be a 3x3 matrix of 0/1, got {wins!r}")
        by_domain.setdefault(domain_of(kind), []).append(w)
    domains: dict[str, dict[str, Any]] = {}
    for d in sorted(by_domain, key=lambda d: (DOMAINS.index(d) if d in DOMAINS else len(DOMAINS), d)):
        m = 100.0 * np.mean(by_domain[d], axis=0)
        domains[d] = {**triangle_scores(m), "n": len(by_domain[d]), "matrix": m.round(6).tolist()}
    return {
        "domains": domains,
        "overall": mean(v["avg"] for v in domains.values()),
        **{k: mean(v[k] for v in domains.values()) for k in ("hard", "normal", "easy")},
    }


# ----------------------------------------------------------------------------- running


def load_items(data: Any, limit: Optional[int]) -> list[Prompt]:
    return load(data.path, split=data.split, kinds=data.kinds, limit=limit)


def comparisons(p: Prompt, seed: int) -> list:
    out = []
    for i, j in CELLS:
        cid = f"{p.id}:{i}{j}"
        out.append(Comparison(id=cid, prompt=user_prompt(p.prompt), chosen=p.chosen[i], rejected=p.rejected[j],
                              chosen_position=placement(seed, cid), source=NAME,
                              domain="safety" if p.domain == "safety" else "general"))
    return out


def item_row(p: Prompt, results: Sequence[dict]) -> dict[str, Any]:
    """The prompt's 3x3 wins (and, for a scoring model, RM-Bench's own score_chosen/score_rejected)."""
    wins = [[int(is_won(results[3 * i + j])) for j in range(3)] for i in range(3)]
    row: dict[str, Any] = {"rm_bench_id": p.row_id, "kind": p.kind, "domain": p.domain, "wins": wins}
    if all("scores" in r for r in results):
        row["score_chosen"] = [results[3 * i]["scores"][0] for i in range(3)]
        row["score_rejected"] = [results[j]["scores"][1] for j in range(3)]
    return row


def summarize(rows: Sequence[dict], boot: Optional[Bootstrap] = None) -> dict[str, Any]:
    """`score`, plus the bootstrap intervals of each domain's avg (`avg_ci`, prompts drawn) and of
    overall (`overall_ci`, prompts drawn within each domain), and `n`, the prompts in all."""
    boot = boot or Bootstrap()
    out = score((r["kind"], r["wins"]) for r in rows)
    per: dict[str, list[float]] = {}  # a domain's avg is the mean of its prompts' own avgs
    for r in rows:
        per.setdefault(domain_of(r["kind"]), []).append(triangle_scores(100.0 * np.asarray(r["wins"]))["avg"])
    for d, v in out["domains"].items():
        v["avg_ci"] = boot.interval([[x] for x in per[d]])
    out["overall_ci"] = boot.mean_of_means(list(per.values()))
    out["n"] = len(rows)
    return out
