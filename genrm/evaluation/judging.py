"""Judge preference records with a GenRM and score the judgments: the one path used by
the trainer's eval steps, the evaluator, the study and the reward server.

    report = judge_records(records, backend, orders=("AB", "BA"), matcher=matcher)
    report.summary()  # accuracy, parse_failure_rate, position_consistency, rationale_consistency, ...

Each record is judged in one or more *orders*: "as_placed" shows the pair in the
record's own seeded placement (`chosen_position`), "AB" shows the chosen response as
A, "BA" as B. Every judgment gives a vote for the chosen response: +1 when the verdict
picks it, -1 when it picks the rejected one, 0 for a tie or an unparsable output.
A record is correct when its votes sum above 0 (the JudgeBench / RM-Bench rule; with
one order: the verdict picked the chosen response).

Judging goes through the one pair-judging core, `genrm.judge.pairs`, and its failure
policy: a judgment whose backend call failed for good (`BackendError` for the batch, or
None from a remote backend) is an *error*: the record is reported in `errors` and left
out of every rate, never scored as a wrong or unparsable answer. Anything else a
backend raises propagates.

Rationale consistency (BRIEF section 2) is the soft recall of the record's human units
by the first `top_k` model reasons, through any matcher and the same side-aware checks
as the rewards (`genrm.reward.scoring`); a record without units has None. With several orders
it is the mean over the orders.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from tqdm.auto import tqdm

from genrm.backends.base import Sampling, chunk_size_for
from genrm.data.record import PreferenceRecord, human_units
from genrm.judge.config import JudgeConfig
from genrm.judge.pairs import Judgment, Pair, judge_pairs, pair_messages
from genrm.judge.votes import mean, vote, won
from genrm.reward.matching import rationale_consistency
from genrm.reward.scoring import RationaleItem, score_rationales

ORDERS = ("as_placed", "AB", "BA")


def chosen_position_for(record: PreferenceRecord, order: str) -> str:
    """Where the chosen response is shown in `order`."""
    if order == "as_placed":
        return record.chosen_position
    if order == "AB":
        return "A"
    if order == "BA":
        return "B"
    raise ValueError(f"unknown judging order {order!r}; known: {', '.join(ORDERS)}")


def record_pair(record: PreferenceRecord, chosen_position: str) -> Pair:
    """The pair to judge for `record` with the chosen response shown at `chosen_position`."""
    a, b = (record.chosen, record.rejected) if chosen_position == "A" else (record.rejected, record.chosen)
    return Pair(record.prompt, a, b)


def judge_messages(record: PreferenceRecord, chosen_position: str, style: str = "rationale",
                   template: str | None = None) -> list[dict]:
    """The judge prompt for `record` with the chosen response shown at `chosen_position`."""
    return pair_messages(record_pair(record, chosen_position), style, template)


@dataclass
class JudgeReport:
    items: list[dict] = field(default_factory=list)
    judge_calls: int = 0
    seconds: float = 0.0
    orders: tuple[str, ...] = ("as_placed",)

    def summary(self) -> dict[str, Any]:
        return summarize(self.items, judge_calls=self.judge_calls, seconds=self.seconds)


def summarize(items: Sequence[dict], judge_calls: int | None = None, seconds: float | None = None) -> dict[str, Any]:
    """Rates over per-record items (as `judge_records` writes them); fractions in 0..1.
    Also used to rescore saved items without a model."""
    ok = [it for it in items if not it.get("error")]
    judgments = [j for it in ok for j in it["judgments"]]
    two = [it for it in ok if it.get("position_consistent") is not None]
    out = {
        "items": len(items),
        "errors": len(items) - len(ok),
        "accuracy": mean(float(it["correct"]) for it in ok),
        "parse_failure_rate": mean(float(not j["valid"]) for j in judgments),
        "position_consistency": mean(float(it["position_consistent"]) for it in two),
        "rationale_consistency": mean(it.get("rationale_consistency") for it in ok),
        "rationale_items": sum(1 for it in ok if it.get("rationale_consistency") is not None),
        "mean_completion_chars": mean(len(j["text"]) for j in judgments),
    }
    if judge_calls is not None:
        out["judge_calls"] = judge_calls
    if seconds is not None:
        out["seconds"] = round(seconds, 3)
    return out


def _score_item(record: PreferenceRecord, orders: Sequence[str], results: Sequence[Judgment]) -> dict:
    judgments, votes, errors = [], [], []
    for order, res in zip(orders, results):
        pos = chosen_position_for(record, order)
        if res.failed or res.verdict is None:  # the backend call failed: an error, never a vote
            errors.append(res.error)
            judgments.append({"order": order, "chosen_position": pos, "text": None, "valid": False,
                              "winner": None, "vote": None, "reasons": []})
            continue
        v = res.verdict
        votes.append(vote(v.winner, pos))
        judgments.append({"order": order, "chosen_position": pos, "text": res.text, "valid": v.valid,
                          "winner": v.winner, "verdict": v.raw, "vote": votes[-1], "reasons": v.reasons})
    failed = bool(errors)
    item = {
        "id": record.id,
        "source": record.source,
        "domain": record.domain,
        "judgments": judgments,
        "error": errors[0] if failed else None,
        "votes": votes,
        "correct": won(votes) if not failed else None,
    }
    if len(judgments) == 2 and not failed:
        # The same response won in both orders (an invalid or tied output is never consistent).
        item["position_consistent"] = votes[0] != 0 and votes[0] == votes[1]
    return item


def _add_rationale(items: list[dict], records: Sequence[PreferenceRecord], matcher, top_k: int) -> None:
    """Rationale consistency of each judgment through `genrm.reward.scoring.score_rationales`, the
    path the rewards use (sides mapped for the order, the first `top_k` reasons, void
    reasons and stance conflicts at 0)."""
    scored, where = [], []
    for k, (it, rec) in enumerate(zip(items, records)):
        if not human_units(rec.rationale_units) or it["error"]:
            continue
        for j, judg in enumerate(it["judgments"]):
            scored.append(RationaleItem.for_record(rec, judg["reasons"], judg["chosen_position"]))
            where.append((k, j))
    matrices = score_rationales(matcher, scored, max_model_units=top_k) if scored else []
    per_item: dict[int, list[float]] = {}
    for (k, j), S in zip(where, matrices):
        rc = None if S is None else rationale_consistency(S, top_k)
        items[k]["judgments"][j]["rationale_consistency"] = rc
        if rc is not None:
            per_item.setdefault(k, []).append(rc)
        else:
            items[k]["match_failures"] = items[k].get("match_failures", 0) + 1
    for k, rcs in per_item.items():
        items[k]["rationale_consistency"] = sum(rcs) / len(rcs)


def judge_records(
    records: Sequence[PreferenceRecord],
    backend,
    *,
    style: str = "rationale",
    template: str | None = None,
    sampling: Sampling | None = None,
    orders: Sequence[str] = ("as_placed",),
    matcher=None,
    top_k: int = 5,
    chunk_size: int | None = None,
    on_item: Callable[[dict], None] | None = None,
    progress: bool = True,
    desc: str = "judge",
) -> JudgeReport:
    """Judge every record in every order through `genrm.judge.pairs.judge_pairs`, vote,
    and (with a `matcher`) score the reasons against the human units. Records go to the
    backend `chunk_size` at a time (None: `chunk_size_for(backend)`, the backend's own size);
    `on_item` gets each finished item (to write it as it finishes), in record order.
    `sampling` defaults to `JudgeConfig().sampling()`."""
    orders = tuple(orders)
    unknown = [o for o in orders if o not in ORDERS]
    if unknown or not orders:
        raise ValueError(f"unknown judging orders {unknown or orders!r}; known: {', '.join(ORDERS)}")
    sampling = sampling or JudgeConfig().sampling()
    if sampling.n != 1:
        raise ValueError("judge_records makes one judgment per prompt and order (sampling.n must be 1)")
    report = JudgeReport(orders=orders)
    chunk_size = chunk_size or chunk_size_for(backend)
    t0 = time.perf_counter()
    bar = tqdm(total=len(records), desc=desc, unit="rec", disable=not progress, leave=False)
    for start in range(0, len(records), chunk_size):
        chunk = list(records[start : start + chunk_size])
        pairs = [record_pair(r, chosen_position_for(r, o)) for r in chunk for o in orders]
        results = judge_pairs(backend, pairs, style=style, template=template, sampling=sampling)
        report.judge_calls += len(pairs)
        n = len(orders)
        items = [_score_item(r, orders, results[k * n : (k + 1) * n]) for k, r in enumerate(chunk)]
        if matcher is not None:
            _add_rationale(items, chunk, matcher, top_k)
        for it in items:
            report.items.append(it)
            if on_item is not None:
                on_item(it)
        bar.update(len(chunk))
    bar.close()
    report.seconds = time.perf_counter() - t0
    return report
