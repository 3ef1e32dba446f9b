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

from genrm.evaluation.arith import pct
from genrm.io import DataError, load_rows, require_text
from genrm.sources.judgebench import CATEGORIES, HUB_ID, category
from genrm.verdict import flip_label

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
