"""Score a judge's reasons against the human units: the one path used by the rewards
(`genrm.reward.rewards`) and by evaluation (`genrm.evaluation.judging`).

    from genrm.reward.scoring import RationaleItem, score_rationales
    matrices = score_rationales(matcher, [RationaleItem(units, reasons, "B", context=..., responses=(c, r))])
    matrices = score_rationales(matcher, [(units, reasons, "B")])  # plain (units, reasons, chosen_position)

For each item:

1. Sides. Human units (side-neutral, see `genrm.data.sides`) and the model's reasons (written
   against the placement: "A" is the response shown first) are both mapped to chosen/
   rejected with `chosen_position`, then shown to the matcher in one fixed frame (chosen
   as "Response A"). The matcher's input does not depend on the placement, so a flipped
   placement with a flipped completion scores the same. `chosen_position=None` means the
   units are already rendered for the placement the reasons were written against (A/B
   read as written); units with placeholders then raise ValueError.
2. Cost bound. Only the first `max_model_units` reasons (default 10) take part: later ones
   are not matched and earn nothing (the matrix has no column for them), so a completion
   with 2,000 reasons costs what one with 10 does, for every matcher.
3. Reason checks (`genrm.reward.defenses.screen_reasons`): void reasons (too long, filler, pasted,
   keyword soup, duplicate, misattributed) are not sent to the matcher and get a zero
   column: they keep their position, so they still count in P@k.
4. The matcher scores the kept reasons; then pair checks (`apply_pair_checks`) set stance
   conflicts (a point credited to the other response, or negated) to 0, a reason that
   denies the unit it is closest to to 0 against every unit, and divide bundles.

The result per item is the (|units|, min(|reasons|, max_model_units)) score matrix, or None
when the matcher failed for that item (after its own retries), never a silent 0.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Hashable, Sequence

import numpy as np

from genrm.reward.defenses import Defenses, apply_pair_checks, screen_reasons
from genrm.reward.protocol import AsyncMatcher, Matcher
from genrm.data.record import POSITIONS
from genrm.data.sides import PLACEHOLDER, neutralise, render_text
from genrm.judge.verdict import label_winner

DEFAULT_MAX_MODEL_UNITS = 10


@dataclass(frozen=True)
class RationaleItem:
    """One judgment to score. `context` is the text the judge saw (conversation and both
    responses; it feeds the pasted-text check), `responses` = (chosen, rejected) texts
    (short ones let a quoted answer name its side), `key` caches the human units' embeddings
    (the record id)."""

    human_units: Sequence[str]
    reasons: Sequence[str]
    chosen_position: str | None = None
    context: str = ""
    responses: tuple[str, str] | None = None
    key: Hashable | None = None

    @classmethod
    def from_row(cls, human_units: Sequence[str], reasons: Sequence[str], *, chosen_position: str | None = None,
                 label: str | None = None, prompt: Any = None, chosen: str | None = None,
                 rejected: str | None = None) -> "RationaleItem":
        """Item from a dataset row as a reward sees it: the placement is `chosen_position`,
        else the side the `label` prefers (it names the same side), else None (units taken
        as rendered). The context is the prompt (a string or chat messages) and the responses."""
        if chosen_position is not None and chosen_position not in POSITIONS:
            raise ValueError(f"chosen_position must be 'A' or 'B', got {chosen_position!r}")
        if chosen_position is None and label is not None:
            winner = label_winner(label)
            chosen_position = winner if winner in POSITIONS else None
        parts = [_text(m.get("content") if isinstance(m, dict) else m)
                 for m in (prompt if isinstance(prompt, list) else [prompt])]
        context = "\n".join(p for p in parts + [chosen or "", rejected or ""] if p)
        responses = (str(chosen), str(rejected)) if chosen and rejected else None
        return cls(list(human_units), list(reasons), chosen_position, context, responses)

    @classmethod
    def for_record(cls, record, reasons: Sequence[str], chosen_position: str | None = None) -> "RationaleItem":
        """Item for a `PreferenceRecord` judged with the chosen response at `chosen_position`
        (default: the record's own placement)."""
        context = "\n".join([m["content"] for m in record.prompt] + [record.chosen, record.rejected])
        return cls(list(record.rationale_units), list(reasons), chosen_position or record.chosen_position,
                   context, (record.chosen, record.rejected), record.id)


def _text(content: Any) -> str:
    """A message content as text (a string, or a list of {"type": "text", "text": ...} parts)."""
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return "" if content is None else str(content)


@dataclass
class _Prepared:
    n_human: int
    n_pos: int  # reasons taking part (at most max_model_units)
    keep: list[int]  # positions sent to the matcher
    human: list[str]  # side-neutral
    reasons: list[str]  # side-neutral, kept ones
    responses: tuple[str, str] | None
    pair: tuple | None  # what the matcher scores (canonical frame), None when nothing is kept


def _as_item(x: Any) -> RationaleItem:
    if isinstance(x, RationaleItem):
        return x
    if isinstance(x, (tuple, list)) and len(x) == 3:
        return RationaleItem(list(x[0]), list(x[1]), x[2])
    raise TypeError(f"an item is a RationaleItem or (human_units, reasons, chosen_position), got {type(x).__name__}")


def _frame(chosen_position: str | None, human: Sequence[str]) -> str:
    if chosen_position is None:
        if any(PLACEHOLDER.search(u) for u in human):
            raise ValueError("these units are side-neutral ({chosen}/{rejected}): pass the record's chosen_position "
                             "to score reasons against them")
        return "chosen"  # units already rendered: "A" in both texts is the same response
    if chosen_position not in POSITIONS:
        raise ValueError(f"chosen_position must be 'A', 'B' or None, got {chosen_position!r}")
    return "chosen" if chosen_position == "A" else "rejected"


def prepare(item: RationaleItem, max_model_units: int, cfg: Defenses, stats: Counter) -> _Prepared:
    first = _frame(item.chosen_position, item.human_units)
    human = [neutralise(u, first, trusted=True) for u in item.human_units]
    all_reasons = list(item.reasons)
    if len(all_reasons) > max_model_units:
        stats["reasons_truncated"] += len(all_reasons) - max_model_units
    reasons = [neutralise(r, first) for r in all_reasons[:max_model_units]]
    keep = list(range(len(reasons)))
    if human and reasons:
        void = screen_reasons(reasons, item.context, item.responses, cfg)
        for why in void:
            if why:
                stats[f"void_{why}"] += 1
        keep = [j for j, why in enumerate(void) if why is None]
    kept = [reasons[j] for j in keep]
    pair = None
    if human and kept:
        pair = ([render_text(u, "A") for u in human], [render_text(r, "A") for r in kept], item.key)
    return _Prepared(len(human), len(reasons), keep, human, kept, item.responses, pair)


def _assemble(p: _Prepared, S: np.ndarray | None, cfg: Defenses, stats: Counter) -> np.ndarray | None:
    full = np.zeros((p.n_human, p.n_pos), dtype=np.float64)
    if p.pair is None:
        return full
    if S is None:
        return None
    checked = apply_pair_checks(np.asarray(S, dtype=np.float64), p.human, p.reasons, p.responses, cfg)
    stats["pairs_zeroed"] += int(np.count_nonzero(S) - np.count_nonzero(checked))
    full[:, p.keep] = checked
    return full


def _prepare_all(items, max_model_units, defenses, stats):
    if int(max_model_units) < 1:
        raise ValueError(f"max_model_units must be >= 1, got {max_model_units}")
    cfg = defenses if isinstance(defenses, Defenses) else Defenses(**(defenses or {}))
    stats = stats if stats is not None else Counter()
    prepared = [prepare(_as_item(x), int(max_model_units), cfg, stats) for x in items]
    return prepared, [p.pair for p in prepared if p.pair is not None], cfg, stats


def _assemble_all(prepared, matrices, cfg, stats) -> list[np.ndarray | None]:
    got = iter(matrices)
    return [_assemble(p, next(got) if p.pair is not None else None, cfg, stats) for p in prepared]


def score_rationales(matcher: Matcher, items: Sequence, *, max_model_units: int = DEFAULT_MAX_MODEL_UNITS,
                     defenses: Defenses | dict | None = None, raise_errors: bool = False,
                     stats: Counter | None = None) -> list[np.ndarray | None]:
    """Score matrices (|units| x min(|reasons|, max_model_units)) for many items in one
    matcher call (see the module doc). `stats` (a Counter) collects void reasons by kind,
    truncated reasons and pairs zeroed by the pair checks."""
    prepared, pairs, cfg, stats = _prepare_all(items, max_model_units, defenses, stats)
    matrices = matcher.score_matrices(pairs, raise_errors=raise_errors) if pairs else []
    return _assemble_all(prepared, matrices, cfg, stats)


async def ascore_rationales(matcher: AsyncMatcher, items: Sequence, *, max_model_units: int = DEFAULT_MAX_MODEL_UNITS,
                            defenses: Defenses | dict | None = None, raise_errors: bool = False,
                            stats: Counter | None = None) -> list[np.ndarray | None]:
    """`score_rationales` for a matcher with `ascore_matrices` (a remote MetaJudge)."""
    prepared, pairs, cfg, stats = _prepare_all(items, max_model_units, defenses, stats)
    matrices = await matcher.ascore_matrices(pairs, raise_errors=raise_errors) if pairs else []
    return _assemble_all(prepared, matrices, cfg, stats)
