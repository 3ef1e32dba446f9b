"""JudgeBench (ScalerLab): two games per pair and the official counter rule.

Game 1 shows the pair as published (response_A first), game 2 swapped; the
second decision is flipped back to the original order. Each decision equal to
the label counts +1, equal to the flipped label -1, anything else (a tie, an
unparsable or missing judgment) 0; the pair is correct when the sum is above 0.
Score = 100 * correct / n per source category (mmlu-pro* = knowledge,
livebench-reasoning, livebench-math, livecodebench = coding) and overall.

Every pair counts, including pairs whose two responses are the same text, so the
denominators equal the official ones (the record build drops such pairs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Optional, Sequence

from genrm.data.record import user_prompt
from genrm.data.rows import DataError, load_rows, require_text
from genrm.data.sources.judgebench import CATEGORIES, HUB_ID, category
from genrm.evaluation.intervals import Bootstrap
from genrm.evaluation.models import Comparison
from genrm.evaluation.suites.common import is_won
from genrm.judge.verdict import flip_label
from genrm.judge.votes import pct

NAME = "judgebench"
LABELS = ("A>B", "B>A")
__all__ = ["CATEGORIES", "HUB_ID", "category"]


@dataclass
class Pair:
    id: str  # pair_id
    source: str
    question: str
    response_a: str
    response_b: str
    label: str  # "A>B" | "B>A"

    @property
    def category(self) -> Optional[str]:
        return category(self.source)


def load(path: str = HUB_ID, *, split: str = "gpt", config: Optional[str] = None,
         limit: Optional[int] = None) -> list[Pair]:
    """Every JudgeBench pair of a file or hub split (identical responses included)."""
    out: list[Pair] = []
    ids: set[str] = set()
    for where, row in load_rows(path, split=split, config=config):
        if limit is not None and len(out) >= limit:
            break
        pid = require_text(row, "pair_id", where)
        src = require_text(row, "source", where)
        if category(src) is None:
            raise DataError(f"unknown JudgeBench source {src!r} (want mmlu-pro-*, livebench-reasoning, "
                            f"livebench-math or livecodebench)", field="source", where=where)
        label = require_text(row, "label", where).strip()
        if label not in LABELS:
            raise DataError(f"should be 'A>B' or 'B>A', got {label!r}", field="label", where=where)
        if pid in ids:
            raise DataError(f"duplicate pair_id {pid!r}", field="pair_id", where=where)
        ids.add(pid)
        out.append(Pair(pid, src, require_text(row, "question", where), require_text(row, "response_A", where),
                        require_text(row, "response_B", where), label))
    if not out:
        raise DataError(f"no JudgeBench pairs read from {path}")
    return out


# ----------------------------------------------------------------------------- arithmetic


def counter(decisions: Sequence[Optional[str]], label: str) -> int:
    """The official counter over decisions already in the original A/B order."""
    flipped = flip_label(label)
    return sum(1 if d == label else -1 if d == flipped else 0 for d in decisions)


def game_decisions(game1: Optional[str], game2: Optional[str]) -> list[Optional[str]]:
    """Decisions of the two games in the original order: game 2 (B shown first) is flipped back.
    Only "A>B"/"B>A" are flipped (as the official `flip_judgment`); anything else stays."""
    return [game1, flip_label(game2) if game2 in LABELS else game2]


def score(pairs: Iterable[tuple[str, bool]]) -> dict[str, Any]:
    """{"overall", "knowledge", "reasoning", "math", "coding", "n"} from (source, correct) per pair.
    A category with no pairs is None; a source outside the four categories counts in overall only."""
    n = 0
    correct = 0
    per: dict[str, list[int]] = {c: [0, 0] for c in CATEGORIES}
    for source, ok in pairs:
        n += 1
        correct += bool(ok)
        c = category(source)
        if c is not None:
            per[c][0] += bool(ok)
            per[c][1] += 1
    return {"overall": pct(correct, n), **{c: pct(k, m) for c, (k, m) in per.items()}, "n": n}


# ----------------------------------------------------------------------------- running

_DECISION = {"A": "A>B", "B": "B>A", "tie": "A=B"}


def load_items(data: Any, limit: Optional[int]) -> list[Pair]:
    return load(data.path, split=data.split, config=data.config, limit=limit)


def comparisons(pair: Pair, seed: int) -> list:
    """One comparison, placed as published (game 1 shows response_A first)."""
    chosen_pos = "A" if pair.label == "A>B" else "B"
    chosen, rejected = (pair.response_a, pair.response_b) if chosen_pos == "A" else (pair.response_b, pair.response_a)
    return [Comparison(id=pair.id, prompt=user_prompt(pair.question), chosen=chosen, rejected=rejected,
                       chosen_position=chosen_pos, source=NAME)]


def _games(pair: Pair, result: dict) -> list[Optional[str]]:
    """Decisions as JudgeBench stores them: game 1 on the published order, game 2 as the judge
    gave it on the swapped order (not yet flipped back)."""
    published = "A" if pair.label == "A>B" else "B"
    if "scores" in result:  # a scoring model decides the same way in both games
        sc, sr = result["scores"]
        d = "A=B" if sc == sr else pair.label if sc > sr else flip_label(pair.label)
        return [d, flip_label(d)]
    games: list[Optional[str]] = [None, None]
    for j in result["judgments"]:
        d = _DECISION.get(j.get("winner") or "")
        games[0 if j["chosen_position"] == published else 1] = d
    return games if games[1] is not None or len(result["judgments"]) > 1 else games[:1]


def item_row(pair: Pair, results: Sequence[dict]) -> dict[str, Any]:
    """The pair's category and correctness, plus `judgments` in JudgeBench's output format."""
    games = _games(pair, results[0])
    decisions = game_decisions(*games) if len(games) == 2 else games
    correct = counter(decisions, pair.label) > 0
    if correct != is_won(results[0]):
        raise AssertionError(f"JudgeBench pair {pair.id}: counter rule and votes disagree")  # same rule, two ways
    return {"pair_id": pair.id, "source": pair.source, "category": pair.category, "label": pair.label,
            "judgments": [{"decision": d} for d in games], "correct": correct}


def summarize(rows: Sequence[dict], boot: Optional[Bootstrap] = None) -> dict[str, Any]:
    """`score`, plus `overall_ci`: the bootstrap interval of the overall score over pairs."""
    out = score((r["source"], r["correct"]) for r in rows)
    out["overall_ci"] = (boot or Bootstrap()).rate([[r["correct"]] for r in rows])
    return out
