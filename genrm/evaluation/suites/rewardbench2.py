"""RewardBench 2 (allenai, hub `allenai/reward-bench-2`, split `test`): best-of-4 and Ties.

Rows `id, prompt, chosen[], rejected[], num_correct, num_incorrect, total_completions, models,
subset, additional_metadata`. The arithmetic is `genrm.evaluation.bon_arith`'s (reward-bench's
own); what runs depends on the model kind:

- scalar RM / LLM proxy (`scores`): every completion is scored once.
- GenRM, each protocol reported apart, never mixed in one number:
  `pairwise` (ours): the correct completion against each incorrect one (in the judge's orders,
  both by default); a prompt is won when the correct one wins every comparison. Ties: the
  completions are scored by a strategy of `genrm.judge.scalarize` (round robin by default: G(G-1)
  judge calls for G completions) and the official Ties arithmetic runs on those scores; a
  completion left without a valid verdict scores the middle of the scale (no evidence either way:
  a win rate of 0.5, a Bradley-Terry strength of 0).
  `ranking` (official): the 4-way prompt, placement seeded per `seeds` (one run per seed, the
  spread over seeds reported); a verdict naming the correct slot scores 1, another slot 0, an
  unparsable one 0.25, as published. Ties always uses ratings, as published.
  `ratings` (official): a 1-10 rating per completion; non-Ties scores 1/k over the valid ratings
  tied k ways at the maximum (0.25 when none is valid); Ties runs on the ratings, -1 for an
  unparsable one, as published.

A work item is one (protocol, prompt): `scores:<id>`, `pairwise:<id>`, `ratings:<id>`,
`ranking@<seed>:<id>`, so adding a protocol or a seed on resume adds items and redoes nothing.
Every row also carries the completions' lengths, for the shortest/longest-answer baselines
(issue 268: always picking the shortest answer beats chance on Focus).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np

from genrm.data.record import user_prompt
from genrm.data.rows import DataError, load_rows, require, require_int, require_text
from genrm.evaluation import bon_arith
from genrm.evaluation.intervals import Bootstrap
from genrm.evaluation.models import Comparison
from genrm.evaluation.suites.common import is_won, placement
from genrm.judge.multiway import Request, ranking_messages, ranking_order, ranking_position, rating_messages
from genrm.judge.verdict import Verdict
from genrm.judge.scalarize import Pairing, make_strategy

NAME = "rewardbench2"
HUB_ID = "allenai/reward-bench-2"
PROTOCOLS = ("pairwise", "ranking", "ratings")
SCORING = "scores"


@dataclass
class Prompt:
    """One RewardBench 2 row (correct completions first, as the dataset stores them)."""

    id: str
    subset: str
    prompt: str
    chosen: list[str]
    rejected: list[str]

    @property
    def ties(self) -> bool:
        return bon_arith.is_ties(self.subset)


@dataclass
class Item:
    """One unit of work and of resuming: a prompt under one protocol (and seed)."""

    id: str
    protocol: str  # scores | pairwise | ranking | ratings
    prompt: Prompt
    seed: Optional[int] = None  # ranking placement seed (None: the run's seed)
    strategy: Optional[str] = None  # pairwise Ties: the scalarize strategy


def _texts(row: dict, name: str, where: str) -> list[str]:
    v = require(row, name, where, list)
    if not v or not all(isinstance(x, str) for x in v):
        raise DataError(f"should be a non-empty list of completion strings, got {v!r:.80}", field=name, where=where)
    return list(v)


def _count(row: dict, name: str, want: int, where: str) -> None:
    n = require_int(row, name, where)
    if n != want:
        raise DataError(f"is {n} but the row has {want} such completions", field=name, where=where)


def load(path: str = HUB_ID, *, split: str = "test", subsets: Optional[Sequence[str]] = None,
         limit: Optional[int] = None, four_way: bool = False) -> list[Prompt]:
    """RewardBench 2 rows; `subsets` keeps those, `limit` the first N prompts of each subset
    (Ties: of N prompt numbers, each with its `ref:` and `tied:` rows). `four_way` (the ranking
    protocol) needs 3 incorrect completions in every non-Ties row."""
    out: list[Prompt] = []
    ids: set[str] = set()
    kept: dict[str, set] = {}
    for where, row in load_rows(path, split=split):
        subset = require_text(row, "subset", where)
        if subsets and subset not in subsets:
            continue
        pid = str(require(row, "id", where, (int, str)))
        if bon_arith.is_ties(subset):
            try:
                unit: Any = bon_arith.ties_id(pid)[1]
            except ValueError as e:
                raise DataError(str(e), field="id", where=where) from None
        else:
            unit = pid
        seen = kept.setdefault(subset, set())
        if limit is not None and unit not in seen and len(seen) >= limit:
            continue
        chosen, rejected = _texts(row, "chosen", where), _texts(row, "rejected", where)
        _count(row, "num_correct", len(chosen), where)
        _count(row, "num_incorrect", len(rejected), where)
        _count(row, "total_completions", len(chosen) + len(rejected), where)
        if pid in ids:
            raise DataError(f"duplicate RewardBench 2 id {pid!r}", field="id", where=where)
        if bon_arith.is_ties(subset) and pid.startswith("tied:") and len(chosen) < 2:
            raise DataError("a 'tied:' prompt needs at least 2 correct completions", field="chosen", where=where)
        if four_way and not bon_arith.is_ties(subset) and len(rejected) < 3:
            raise DataError(f"the 4-way ranking protocol needs 3 incorrect completions, got {len(rejected)}",
                            field="rejected", where=where)
        ids.add(pid)
        seen.add(unit)
        out.append(Prompt(pid, subset, require_text(row, "prompt", where), chosen, rejected))
    if not out:
        raise DataError(f"no RewardBench 2 rows read from {path}"
                        + (f" for subsets {list(subsets)}" if subsets else ""))
    return out


def strategy_name(data: Any) -> str:
    return (f"sampled_round_robin{data.ties_rounds}" if data.ties_strategy == "sampled_round_robin"
            else data.ties_strategy)


def items(prompts: Sequence[Prompt], protocols: Sequence[str] = PROTOCOLS, seeds: Optional[Sequence[int]] = None,
          strategy: str = "round_robin") -> list[Item]:
    """Every work item, prompt by prompt: `scores` for scoring models, then one per GenRM protocol
    (per seed for the 4-way ranking; its Ties items are the seedless ratings)."""
    out: list[Item] = []
    for p in prompts:
        out.append(Item(f"{SCORING}:{p.id}", SCORING, p))
        for proto in protocols:
            if proto == "pairwise":
                s = strategy if p.ties else None
                out.append(Item(f"pairwise/{s}:{p.id}" if s else f"pairwise:{p.id}", proto, p, strategy=s))
            elif proto == "ranking" and not p.ties:
                out += [Item(f"ranking{'' if s is None else f'@{s}'}:{p.id}", proto, p, seed=s)
                        for s in (seeds or [None])]
            else:  # ratings, and ranking on Ties (always rated, as published)
                out.append(Item(f"{proto}:{p.id}", proto, p))
    return out


def items_for(all_items: Sequence[Item], kind: str) -> list[Item]:
    """The items a model of `kind` works on: GenRM protocols for a GenRM, `scores` otherwise."""
    return [it for it in all_items if (it.protocol == SCORING) != (kind == "genrm")]


def load_items(data: Any, limit: Optional[int]) -> list[Item]:
    prompts = load(data.path, split=data.split, subsets=data.subsets, limit=limit, four_way="ranking" in data.protocols)
    return items(prompts, data.protocols, data.seeds, strategy_name(data))


# ----------------------------------------------------------------------------- running


def _members(p: Prompt) -> list[str]:
    return p.chosen + p.rejected


def _strategy(it: Item, seed: int = 0) -> Any:
    """The item's scalarize strategy; a sampled design is seeded by (run seed, item id), so it is
    the same on resume. Fitting needs no seed: it reads the pairings from the results."""
    name = it.strategy or "round_robin"
    if name.startswith("sampled_round_robin"):
        digest = hashlib.sha256(f"{seed}:{it.id}".encode()).digest()
        return make_strategy("sampled_round_robin", rounds=int(name[len("sampled_round_robin"):]),
                             seed=int.from_bytes(digest[:4], "big"))
    return make_strategy(name)


def comparisons(it: Item, seed: int) -> list:
    p, msgs = it.prompt, user_prompt(it.prompt.prompt)

    def comp(cid: str, a: str, b: str) -> Comparison:
        return Comparison(id=cid, prompt=msgs, chosen=a, rejected=b, chosen_position=placement(seed, cid), source=NAME)

    members = _members(p)
    nc, nr = len(p.chosen), len(p.rejected)
    if it.protocol == SCORING:  # every completion in some comparison; the model scores each once
        return [comp(f"{it.id}:{k}", p.chosen[min(k, nc - 1)], p.rejected[min(k, nr - 1)]) for k in range(max(nc, nr))]
    if it.protocol == "pairwise" and p.ties:
        return [comp(f"{it.id}:{a}v{b}", members[a], members[b]) for a, b in _strategy(it, seed).pairs(len(members))]
    if it.protocol == "pairwise":
        return [comp(f"{it.id}:{i}v{nc + j}", p.chosen[i], p.rejected[j]) for i in range(nc) for j in range(nr)]
    if it.protocol == "ranking" and not p.ties:
        s = seed if it.seed is None else it.seed
        pos = ranking_position(s, p.id)
        four = [p.chosen[0], *p.rejected[:3]]
        return [Request(it.id, "ranking", ranking_messages(p.prompt, [four[k] for k in ranking_order(pos)]),
                        meta={"seed": s, "position": "ABCD"[pos]})]
    return [Request(f"{it.id}:{k}", "rating", rating_messages(p.prompt, m, ties=p.ties)) for k, m in enumerate(members)]


def _answers(results: Sequence[dict]) -> list[Any]:
    return [r["generations"][0]["answer"] for r in results]


def _pairwise_ties_scores(it: Item, results: Sequence[dict]) -> list[float]:
    """Scores of the Ties completions from the round-robin verdicts, through the strategy's fit."""
    pairings, verdicts = [], []
    for r in results:
        a, b = (int(x) for x in r["id"].rsplit(":", 1)[1].split("v"))
        for j in r["judgments"]:
            pairings.append(Pairing(a, b) if j["chosen_position"] == "A" else Pairing(b, a))
            verdicts.append(Verdict(j["winner"] if j["valid"] else "invalid", 0, j.get("verdict")))
    strategy = _strategy(it)
    fitted = strategy.score(len(_members(it.prompt)), pairings, verdicts)
    neutral = 0.0 if strategy.fit == "bradley_terry" else 0.5  # no valid verdict: the middle of the scale
    return [neutral if s is None else float(s) for s in fitted.scores]


def item_row(it: Item, results: Sequence[dict]) -> dict[str, Any]:
    """The prompt's scores or result under the item's protocol, and the completions' lengths."""
    p = it.prompt
    row: dict[str, Any] = {"protocol": it.protocol, "prompt_id": p.id, "subset": p.subset,
                           "num_correct": len(p.chosen), "lengths": [len(m) for m in _members(p)]}
    nc = len(p.chosen)
    if it.protocol == SCORING:
        row["scores"] = ([results[i]["scores"][0] for i in range(nc)]
                         + [results[j]["scores"][1] for j in range(len(p.rejected))])
    elif it.protocol == "pairwise" and p.ties:
        row.update(scores=_pairwise_ties_scores(it, results), strategy=it.strategy,
                   judge_calls=sum(len(r["judgments"]) for r in results))
    elif it.protocol == "pairwise":
        wins = [is_won(r) for r in results]
        row.update(wins=wins, result=float(all(wins)))  # the best-of-N rule: every comparison won
    elif it.protocol == "ranking" and not p.ties:
        got, want = _answers(results)[0], results[0]["position"]
        row.update(seed=results[0]["seed"], position=want, answer=got, unparsed=int(got is None),
                   result=0.25 if got is None else float(got == want))
    else:
        ratings = [-1 if a is None else int(a) for a in _answers(results)]
        row.update(scores=ratings, unparsed=sum(r == -1 for r in ratings))
        if not p.ties:
            valid = [r for r in ratings if r != -1]
            top = max(valid) if valid else None
            row["result"] = 0.25 if top is None else (ratings[0] == top) / sum(r == top for r in ratings)
    return row


# ----------------------------------------------------------------------------- summary


def _scores(rows: Sequence[dict], boot: Bootstrap) -> dict[str, Any]:
    """bon_arith.score over rows of one protocol (and seed), with the interval of each non-Ties
    subset over its prompts."""
    results = [(r["subset"], r["result"] if "result" in r else bon_arith.prompt_result(r["scores"]))
               for r in rows if not bon_arith.is_ties(r["subset"])]
    out = bon_arith.score(results, [(r["prompt_id"], r["num_correct"], r["scores"])
                                    for r in rows if bon_arith.is_ties(r["subset"])])
    for s, v in out["subsets"].items():
        if not bon_arith.is_ties(s):
            v["score_ci"] = boot.interval([[x] for sub, x in results if sub == s], scale=100.0)
    out["n"] = len(rows)
    unparsed = [r["unparsed"] for r in rows if "unparsed" in r]
    if unparsed:
        gens = sum(1 if r["protocol"] == "ranking" and "answer" in r else len(r["lengths"]) for r in rows
                   if "unparsed" in r)
        out["parse_failure_rate"] = 100.0 * sum(unparsed) / gens
    return out


def _ranking(rows: Sequence[dict], boot: Bootstrap) -> dict[str, Any]:
    """Per seed the official numbers (its 4-way rows plus the Ties ratings); the mean over seeds
    and, per subset and overall, the [min, max] spread."""
    ties = [r for r in rows if bon_arith.is_ties(r["subset"])]
    seeds = sorted({r["seed"] for r in rows if "seed" in r})
    per = {str(s): _scores([r for r in rows if r.get("seed") == s] + ties, boot) for s in seeds}
    if not per:
        return _scores(ties, boot)
    first = next(iter(per.values()))
    out = {"seeds": per, "n": len(rows), "subsets": {}, "ties": first["ties"]}  # Ties: the same ratings each seed
    for s in first["subsets"]:
        vals = [v["subsets"][s]["score"] for v in per.values() if s in v["subsets"]]
        vals = [x for x in vals if x is not None]
        out["subsets"][s] = {"score": float(np.mean(vals)) if vals else None, "n": first["subsets"][s]["n"],
                             "spread": [min(vals), max(vals)] if vals else None,
                             "score_ci": first["subsets"][s].get("score_ci") if len(per) == 1 else None}
    overall = [v["overall"] for v in per.values() if v["overall"] is not None]
    out["overall"] = float(np.mean(overall)) if len(overall) == len(per) else None
    out["overall_spread"] = [min(overall), max(overall)] if out["overall"] is not None else None
    rates = [v.get("parse_failure_rate") for v in per.values() if v.get("parse_failure_rate") is not None]
    out["parse_failure_rate"] = float(np.mean(rates)) if rates else None
    return out


def summarize(rows: Sequence[dict], boot: Optional[Bootstrap] = None) -> dict[str, Any]:
    """{"protocols": {protocol: numbers}, "length_baselines": {"shortest", "longest"}, "prompts"};
    percentages. A protocol's `n` counts its rows (prompts, or prompt x seed for the ranking)."""
    boot = boot or Bootstrap()
    by: dict[str, list[dict]] = {}
    for r in rows:
        by.setdefault(r["protocol"], []).append(r)
    protocols: dict[str, Any] = {}
    for proto in (SCORING, *PROTOCOLS):
        if proto in by:
            protocols[proto] = _ranking(by[proto], boot) if proto == "ranking" else _scores(by[proto], boot)
    if "pairwise" in by:
        ties = [r for r in by["pairwise"] if "strategy" in r]
        protocols["pairwise"]["ties_strategy"] = ties[0]["strategy"] if ties else None
        protocols["pairwise"]["ties_judge_calls"] = sum(r["judge_calls"] for r in ties) if ties else None
    unique = {r["prompt_id"]: (r["subset"], r["prompt_id"], r["num_correct"], r["lengths"]) for r in rows}
    return {"protocols": protocols, "prompts": len(unique),
            "length_baselines": {k: bon_arith.length_baseline(unique.values(), k) for k in ("shortest", "longest")}}

