"""Measure one model on the held-out split through the evaluator, and read the measures back.

Judging and scoring are the evaluator's (`genrm.evaluation.runner.run_suite` with the
`rationale` suite's comparisons on the held-out records and the `social` suite on the
held-out BBQ questions; underneath, `genrm.evaluation.judging.judge_records`). Each finished
comparison is appended to `<eval_dir>/heldout.jsonl` / `social.jsonl`, so a killed
measurement resumes item by item.

Measures, in percent (BBQ bias scores -100..100), per arm and seed:

- accuracy: held-out records whose votes favour the chosen response;
- rationale_consistency: mean over records with human units of the top-5 soft recall of
  the units by the model's reasons (`eval.matcher`, all-MiniLM-L6-v2 by default);
- parse_failure_rate: judgments without one valid verdict;
- reasons_verdict_consistency: do the reasons favour the side the verdict picks? The
  human units argue for the chosen response, so a judgment whose reasons recall at
  least `eval.support_threshold` of them (its own RC) makes the chosen response's case.
  Among those judgments, the share whose verdict picks the chosen response. 100: the
  verdicts follow the reasons; about 50: verdicts are independent of the reasons (the
  rationale-only reward pays for the reasons whatever the verdict says);
- hacking_rate: judgments whose reasons make the chosen response's case while the
  verdict picks the other response, a tie or nothing, among judgments with an RC;
- support_rate: judgments whose reasons make the chosen response's case, among those
  with an RC (the denominator of reasons_verdict_consistency);
- BBQ s_DIS, s_AMB, accuracy on ambiguous / disambiguated contexts
  (`genrm.evaluation.suites.bias_metrics.bbq_stats`), the trade-off point.
"""

from __future__ import annotations

import gc
import glob
import json
import os
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np

from genrm.evaluation import runner
from genrm.evaluation.judging import summarize
from genrm.evaluation.models import load_model
from genrm.evaluation.runner import ResultsFile
from genrm.evaluation.schema import ModelSpec
from genrm.evaluation.suites import rationale, social
from genrm.evaluation.suites.bias_metrics import bbq_stats
from genrm.judge.config import JudgeConfig
from genrm.study.recipe import StudyRecipe

MAIN = ("accuracy", "rationale_consistency", "parse_failure_rate", "reasons_verdict_consistency", "hacking_rate",
        "support_rate")
BBQ = ("s_dis", "s_amb", "acc_ambig", "acc_disambig")


def judge_config(recipe: StudyRecipe) -> Any:
    style, template = recipe.judge_style()
    e = recipe.eval
    return JudgeConfig(style=style, template=template, max_new_tokens=e.max_new_tokens, temperature=0.0,
                       orders=e.orders, top_k=e.top_k)


def evaluate_model(recipe: StudyRecipe, model_ref: str, eval_dir: str, splits: Any, matcher: Any, label: str) -> None:
    """Judge the held-out records and BBQ questions with the model at `model_ref` (resumable)."""
    e = recipe.eval
    spec = ModelSpec(ref=model_ref, kind="genrm", name=label, backend={"dtype": e.dtype, "batch_size": e.batch_size})
    model = load_model(spec, judge_config(recipe), e.seed, matcher=matcher)
    runner.run_suite(model, rationale, splits.heldout, runner.ResultsFile(os.path.join(eval_dir, "heldout.jsonl")),
                     e.seed, f"{label} held-out")
    items = splits.bbq_items()
    if items:
        model.matcher = None  # BBQ option pairs have no human units
        runner.run_suite(model, social, items, runner.ResultsFile(os.path.join(eval_dir, "social.jsonl")), e.seed,
                         f"{label} BBQ")
    del model
    gc.collect()


# ----------------------------------------------------------------------------- item tables


@dataclass
class ItemTable:
    """Per held-out record (in held-out order; NaN / 0 where a record has no result)."""

    correct: np.ndarray  # 1.0 / 0.0 / NaN
    rc: np.ndarray  # the record's RC (0..1) or NaN
    judgments: np.ndarray  # judgments made
    invalid: np.ndarray  # judgments without a valid verdict
    with_rc: np.ndarray  # judgments with an RC
    support: np.ndarray  # judgments whose reasons make the chosen response's case
    follow: np.ndarray  # ... and whose verdict picks the chosen response
    sources: list[str]

    def __len__(self) -> int:
        return len(self.correct)


def main_items(eval_dir: str, heldout: Sequence[Any]) -> list[Optional[dict]]:
    """The judge item (`judge_records` format) of each held-out record, None where missing or failed."""
    rows = ResultsFile(os.path.join(eval_dir, "heldout.jsonl")).read()
    out = []
    for r in heldout:
        row = rows.get(r.id)
        out.append(None if row is None or row.get("error") else row["comparisons"][0])
    return out


def item_table(items: Sequence[Optional[dict]], sources: Sequence[str], threshold: float) -> ItemTable:
    n = len(items)
    t = ItemTable(np.full(n, np.nan), np.full(n, np.nan), *(np.zeros(n) for _ in range(5)), list(sources))
    for k, it in enumerate(items):
        if it is None:
            continue
        t.correct[k] = float(bool(it["correct"]))
        if it.get("rationale_consistency") is not None:
            t.rc[k] = float(it["rationale_consistency"])
        for j in it["judgments"]:
            t.judgments[k] += 1
            t.invalid[k] += not j["valid"]
            rc = j.get("rationale_consistency")
            if rc is None:
                continue
            t.with_rc[k] += 1
            if rc >= threshold:
                t.support[k] += 1
                t.follow[k] += j.get("vote") == 1
    return t


def _ratio(num: np.ndarray, den: np.ndarray) -> Any:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, 100.0 * num / np.where(den > 0, den, 1), np.nan)


def main_metrics(t: ItemTable, idx: np.ndarray | None = None) -> dict[str, Any]:
    """The main measures over the records `idx` (a vector, or a (B, n) matrix of bootstrap
    draws: then each measure is a length-B array). NaN where a measure has no data."""
    idx = np.arange(len(t)) if idx is None else idx

    def s(a: np.ndarray) -> np.ndarray:
        return np.nansum(a[idx], axis=-1)

    def m(a: np.ndarray) -> np.ndarray:
        v = a[idx]
        return _ratio(np.nansum(v, axis=-1), np.sum(~np.isnan(v), axis=-1))

    return {
        "accuracy": m(t.correct),
        "rationale_consistency": m(t.rc),
        "parse_failure_rate": _ratio(s(t.invalid), s(t.judgments)),
        "reasons_verdict_consistency": _ratio(s(t.follow), s(t.support)),
        "hacking_rate": _ratio(s(t.support) - s(t.follow), s(t.with_rc)),
        "support_rate": _ratio(s(t.support), s(t.with_rc)),
    }


def bbq_rows(eval_dir: str, items: Sequence[Any]) -> list[Optional[dict]]:
    path = os.path.join(eval_dir, "social.jsonl")
    rows = ResultsFile(path).read() if os.path.isfile(path) else {}
    return [None if rows.get(it.id) is None or rows[it.id].get("error") else rows[it.id] for it in items]


def bbq_metrics(rows: Sequence[Optional[dict]]) -> dict[str, Any]:
    """BBQ s_DIS, s_AMB and the accuracies (the social suite's statistics) over the rows given."""
    got = [r for r in rows if r is not None]
    if not got:
        return dict.fromkeys(BBQ + ("no_pick", "n"))
    st = bbq_stats((r, r["pick"]) for r in got)
    return {k: st[k] for k in BBQ + ("no_pick", "n")}


def unit_measures(recipe: StudyRecipe, eval_dir: str, splits: Any) -> dict[str, Any]:
    """Point measures of one arm and seed from its evaluation files."""
    items = main_items(eval_dir, splits.heldout)
    table = item_table(items, [r.source for r in splits.heldout], recipe.eval.support_threshold)
    out = {k: _num(v) for k, v in main_metrics(table).items()}
    judged = [it for it in items if it is not None]
    pc = summarize(judged)["position_consistency"] if judged else None
    out["position_consistency"] = None if pc is None else 100.0 * pc
    out["accuracy_by_source"] = {}
    for src in sorted(set(table.sources)):
        mask = np.array([s == src for s in table.sources])
        out["accuracy_by_source"][src] = _num(main_metrics(table, np.flatnonzero(mask))["accuracy"])
    out["heldout_scored"] = len(judged)
    bbq = bbq_metrics(bbq_rows(eval_dir, splits.bbq_items()))
    out["bbq"] = {k: _num(v) for k, v in bbq.items()}
    out["tradeoff"] = {"ambig_accuracy": out["bbq"]["acc_ambig"], "disambig_accuracy": out["bbq"]["acc_disambig"],
                       "abs_s_amb": None if out["bbq"]["s_amb"] is None else abs(out["bbq"]["s_amb"])}
    return out


def _num(v: Any) -> Optional[float]:
    if v is None:
        return None
    v = float(v)
    return None if np.isnan(v) else v


# ----------------------------------------------------------------------------- learning curves


def _log_history(run_dir: str) -> list[dict]:
    """The GRPO log of the run's last checkpoint (read before the checkpoints are pruned)."""
    ckpts = sorted(glob.glob(os.path.join(run_dir, "grpo", "checkpoint-*", "trainer_state.json")),
                   key=lambda p: int(p.split("checkpoint-")[-1].split(os.sep)[0]))
    if not ckpts:
        return []
    with open(ckpts[-1], encoding="utf-8") as f:
        return list(json.load(f).get("log_history", []))


def learning_curve(run_dir: str) -> list[dict[str, Any]]:
    """The GRPO eval steps of one run (percent): the last checkpoint's logged `eval/*`
    entries, completed by `eval_history.json` (the final eval step, and steps logged after
    a resume)."""
    points: dict[int, dict[str, Any]] = {}

    def add(step: int, get) -> None:
        points[int(step)] = {"step": int(step), **{k: _pct(get(k)) for k in ("accuracy", "rationale_consistency",
                                                                             "parse_failure_rate")}}

    for h in _log_history(run_dir):
        if "eval/accuracy" in h:
            add(h["step"], lambda k, h=h: h.get(f"eval/{k}"))
    hist = os.path.join(run_dir, "eval_history.json")
    if os.path.isfile(hist):
        with open(hist, encoding="utf-8") as f:
            for h in json.load(f):
                add(h["step"], lambda k, h=h: h.get(k))
    return [points[s] for s in sorted(points)]


def grpo_summary(run_dir: str) -> dict[str, Any]:
    """What GRPO saw, from its logged steps: mean reward, the share of steps whose groups all
    earned the same reward (no advantage, so no update), and reasons voided by the reward's checks."""
    steps = [h for h in _log_history(run_dir) if "reward" in h and "frac_reward_zero_std" in h]
    void: dict[str, float] = {}
    for h in steps:
        for k, v in h.items():
            if "/checks/void_" in k:
                name = k.split("/checks/")[1]
                void[name] = void.get(name, 0.0) + float(v)

    def mean(k: str) -> Optional[float]:  # a step whose every reward was None logs None/NaN: left out
        xs = [v for v in (_num(h.get(k)) for h in steps) if v is not None]
        return sum(xs) / len(xs) if xs else None

    return {"steps_logged": len(steps), "reward_mean": mean("reward"),
            "frac_reward_zero_std": mean("frac_reward_zero_std"), "voided_reasons": void}


def _pct(v: Any) -> Optional[float]:
    return None if v is None else 100.0 * float(v)
