"""Rescore best-of-N result rows without a model (`evaluate/rescore.py format=rewardbench2|best_of_n`).

- `rewardbench2`: rows `{id, subset, num_correct, scores: [...]}`, the first `num_correct`
  scores belonging to the correct completions (RewardBench 2's own results rows have this
  content; a score may be a one-element list, as reward-bench unwraps it). Prints the six
  subsets and `overall` in percent (`genrm.evaluation.bon_arith`).
- `best_of_n`: rows `{id, category?, scores_chosen: [...], scores_rejected: [...]}`. Prints
  the accuracy (% of prompts where every chosen score is above every rejected one), overall
  and per category.
"""

from __future__ import annotations

import numbers
from typing import Any

from genrm.data.rows import DataError, load_rows, require, require_int, require_text
from genrm.evaluation import bon_arith

NOTES = {
    "rewardbench2": "RewardBench 2 per subset and overall (unweighted mean of the six subsets), in %. Non-Ties: mean "
                    "over prompts of 1/k when the correct completion ties k ways for the top score, else 0. Ties: "
                    "0.30 tied acc. + 0.30 ref acc. + 0.20 preferred + 0.20 preferred_hard + 0.01 margin "
                    "(reward-bench's weights, which sum to 1.01).",
    "best_of_n": "% of prompts where every chosen completion scores above every rejected one (ties lose), overall "
                 "and per category; n = prompts.",
}


def _scores(row: dict, name: str, where: str, least: int = 1) -> list[float]:
    v = require(row, name, where, list)
    out = []
    for x in v:
        if isinstance(x, list) and len(x) == 1:  # reward-bench stores some scores as [score]
            x = x[0]
        if not isinstance(x, numbers.Real) or isinstance(x, bool) or x != x:
            raise DataError(f"should be a list of numbers, got {v!r:.80}", field=name, where=where)
        out.append(float(x))
    if len(out) < least:
        raise DataError(f"should hold at least {least} scores, got {len(out)}", field=name, where=where)
    return out


def rescore_rewardbench2(path: str) -> dict[str, Any]:
    """{"Factuality", "Precise IF", "Math", "Safety", "Focus", "Ties", "overall"} in percent
    (None for a subset without rows, and for overall until all six have rows)."""
    prompts, ids = [], set()
    for where, row in load_rows(path, split="train"):
        pid = str(require(row, "id", where, (int, str)))
        subset = require_text(row, "subset", where)
        if pid in ids:
            raise DataError(f"duplicate id {pid!r}", field="id", where=where)
        ids.add(pid)
        scores = _scores(row, "scores", where, least=2)
        nc = require_int(row, "num_correct", where)
        if not 1 <= nc < len(scores):
            raise DataError(f"should be 1..{len(scores) - 1} (some scores must be incorrect ones), got {nc}",
                            field="num_correct", where=where)
        if bon_arith.is_ties(subset):
            try:
                kind, _ = bon_arith.ties_id(pid)
            except ValueError as e:
                raise DataError(str(e), field="id", where=where) from None
            if kind == "tied" and nc < 2:
                raise DataError("a 'tied:' prompt needs at least 2 correct completions", field="num_correct",
                                where=where)
        prompts.append((subset, pid, nc, scores))
    if not prompts:
        raise DataError(f"no rows in {path}")
    got = bon_arith.score_prompts(prompts)
    out: dict[str, Any] = {s: (got["subsets"].get(s) or {}).get("score") for s in bon_arith.SUBSETS}
    out.update({s: v["score"] for s, v in got["subsets"].items() if s not in out})  # subsets named otherwise
    out["overall"] = got["overall"]
    return out


def rescore_best_of_n(path: str) -> dict[str, Any]:
    """{"overall": {"accuracy", "n"}, <category>: {"accuracy", "n"}, ...} in percent."""
    prompts, ids = [], set()
    for where, row in load_rows(path, split="train"):
        pid = str(require(row, "id", where, (int, str)))
        if pid in ids:
            raise DataError(f"duplicate id {pid!r}", field="id", where=where)
        ids.add(pid)
        cat = row.get("category")
        if cat is not None and (not isinstance(cat, str) or not cat.strip()):
            raise DataError(f"should be a category name or absent, got {cat!r:.60}", field="category", where=where)
        won = bon_arith.won_by_scores(_scores(row, "scores_chosen", where), _scores(row, "scores_rejected", where))
        prompts.append((cat, won))
    if not prompts:
        raise DataError(f"no rows in {path}")
    acc = bon_arith.accuracy(prompts)
    return {"overall": {"accuracy": acc["accuracy"], "n": acc["n"]}, **acc["categories"]}
