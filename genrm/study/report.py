"""study.json and study.md: the grid's measures, mean +- std over seeds, bootstrap intervals
of each difference against outcome-only, and whether the papers' findings show here."""

from __future__ import annotations

import json
import os
import platform
import time
from typing import Any, Optional

from genrm.study import measures as M
from genrm.study.measures import BBQ, MAIN
from genrm.study.plots import write_plots
from genrm.study.recipe import REWARD_OF, StudyRecipe
from genrm.study.stats import differences, mean_std

REFERENCE = "outcome"
LABELS = {
    "accuracy": "outcome accuracy (%)",
    "rationale_consistency": "rationale consistency, top-5 (%)",
    "parse_failure_rate": "parse-failure rate (%)",
    "reasons_verdict_consistency": "reasons-verdict consistency (%)",
    "hacking_rate": "reasons for chosen, verdict not (%)",
    "support_rate": "reasons make the chosen case (%)",
    "position_consistency": "position consistency (%)",
    "s_dis": "BBQ s_DIS (-100..100)",
    "s_amb": "BBQ s_AMB (-100..100)",
    "acc_ambig": "BBQ accuracy, ambiguous (%)",
    "acc_disambig": "BBQ accuracy, disambiguated (%)",
}
# (id, arm, measure, expected sign of arm - outcome-only, the paper's finding)
CLAIMS = (
    ("hybrid_raises_rc", "hybrid", "rationale_consistency", +1,
     "hybrid raises rationale consistency over outcome-only (paper: 0.21 -> 0.37, i.e. 21 -> 37 %)"),
    ("outcome_lowers_rc", "sft", "rationale_consistency", +1,
     "outcome-only training lowers rationale consistency below the model it started from (paper: base 0.25, "
     "outcome-only 0.21; here the GRPO arms start from the SFT arm)"),
    ("hybrid_raises_accuracy", "hybrid", "accuracy", +1,
     "hybrid raises outcome accuracy over outcome-only (paper: RM-Bench 84.9 -> 87.1, Qwen3-30B-A3B)"),
    ("rationale_only_hacks", "rationale", "reasons_verdict_consistency", -1,
     "rationale-only training reward-hacks: its verdicts follow its reasons less often than outcome-only's"),
)


def machine() -> dict[str, Any]:
    """Where the study ran (for the README figures)."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {"cpu": cpu, "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "gpu": gpu,
            "platform": platform.platform(), "python": platform.python_version(), "torch": torch.__version__}


def aggregate(units: list[dict], arms: list[str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for arm in arms:
        ms = [u["measures"] for u in units if u["arm"] == arm and u.get("measures")]
        if not ms:
            continue
        agg = {k: mean_std([m.get(k) for m in ms]) for k in MAIN + ("position_consistency",)}
        agg.update({k: mean_std([m["bbq"].get(k) for m in ms]) for k in BBQ})
        srcs = sorted({s for m in ms for s in m["accuracy_by_source"]})
        agg["accuracy_by_source"] = {s: mean_std([m["accuracy_by_source"].get(s) for m in ms]) for s in srcs}
        out[arm] = agg
    return out


def claims(diffs: dict, arms: list[str]) -> list[dict[str, Any]]:
    out = []
    for cid, arm, key, sign, text in CLAIMS:
        row: dict[str, Any] = {"id": cid, "claim": text, "arm": arm, "measure": key}
        d = diffs.get(arm, {}).get(key)
        if arm not in arms or REFERENCE not in arms:
            row["verdict"] = f"not measured (the study has no '{arm if arm not in arms else REFERENCE}' arm)"
        elif d is None or d["lo"] is None:
            row["verdict"] = "not measurable (no data for this measure)"
        else:
            row.update(diff=d["diff"], lo=d["lo"], hi=d["hi"])
            if not d["excludes_zero"]:
                row["verdict"] = "not reproduced: the interval includes 0"
            elif (d["lo"] > 0) == (sign > 0):
                row["verdict"] = "reproduced"
            else:
                row["verdict"] = "reversed: the interval excludes 0 on the other side"
        out.append(row)
    return out


def settings(recipe: StudyRecipe, out: str) -> dict[str, Any]:
    s: dict[str, Any] = {"model": recipe.model, "eval": dict(vars(recipe.eval)), "stats": dict(vars(recipe.stats))}
    for arm in ("sft", next((a for a in recipe.trained_arms() if a in REWARD_OF), None)):
        if arm is None or arm not in recipe.trained_arms():
            continue
        t = recipe.train_recipe(arm, recipe.seeds[0], "<run>", "<splits>", "<sft>")
        if arm == "sft":
            s["sft"] = {k: getattr(t.sft, k) for k in ("max_steps", "num_train_epochs", "per_device_train_batch_size",
                                                      "gradient_accumulation_steps", "learning_rate", "max_length")}
        else:
            s["grpo"] = {k: getattr(t.grpo, k) for k in ("max_steps", "num_train_epochs", "per_device_train_batch_size",
                                                        "gradient_accumulation_steps", "num_generations", "learning_rate",
                                                        "loss_type", "beta", "epsilon", "max_completion_length",
                                                        "max_prompt_length", "temperature")}
            s["reward_matcher"] = t.reward.matcher.kind
            s["eval_steps"] = {"every": t.eval_steps, "records": t.eval.max_records, "max_new_tokens": t.eval.max_new_tokens}
    return s


def build_study(recipe: StudyRecipe, out: str, splits: Any, units: list[dict], wall_seconds: float) -> dict[str, Any]:
    """The study.json dict from the finished units (bootstrap over their evaluation files)."""
    arms = [a for a in recipe.arms if any(u["arm"] == a for u in units)]
    done = {(u["arm"], u["seed"]): u for u in units}
    seeds = [s for s in recipe.seeds if all((a, s) in done for a in arms)]
    tables: dict[str, list] = {}
    bbq: dict[str, list] = {}
    points: dict[str, list] = {}
    items = splits.bbq_items()
    for arm in arms:
        us = [done[(arm, s)] for s in seeds]
        tables[arm] = [M.item_table(M.main_items(u["eval_dir"], splits.heldout), [r.source for r in splits.heldout],
                                    recipe.eval.support_threshold) for u in us]
        bbq[arm] = [M.bbq_rows(u["eval_dir"], items) for u in us]
        points[arm] = [u["measures"] for u in us]
    diffs = differences(tables, bbq, points, REFERENCE, resamples=recipe.stats.resamples,
                        confidence=recipe.stats.confidence, seed=recipe.stats.seed) if seeds else {}
    expected = [(a, s) for a in recipe.arms for s in recipe.seeds]
    return {
        "name": recipe.name, "created": time.strftime("%Y-%m-%d %H:%M:%S"), "note": recipe.note,
        "machine": machine(), "wall_seconds": round(wall_seconds, 1),
        "complete": all(k in done for k in expected), "arms": arms, "seeds": list(recipe.seeds),
        "seeds_compared": seeds, "reference": REFERENCE, "settings": settings(recipe, out), "data": splits.info,
        "units": sorted(units, key=lambda u: (recipe.arms.index(u["arm"]), u["seed"])),
        "aggregate": aggregate(units, arms), "differences": diffs, "claims": claims(diffs, arms),
    }


# ----------------------------------------------------------------------------- markdown


def _f(v: Optional[float], signed: bool = False) -> str:
    return "-" if v is None else (f"{v:+.1f}" if signed else f"{v:.1f}")


def _ms(a: dict) -> str:
    if a is None or a["mean"] is None:
        return "-"
    return _f(a["mean"]) + (f" ± {a['std']:.1f}" if a["std"] is not None else "")


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + ["| " + " | ".join(r) + " |" for r in rows]


def markdown(study: dict[str, Any]) -> str:
    arms, agg, diffs, st, data = study["arms"], study["aggregate"], study["differences"], study["settings"], study["data"]
    mach = study["machine"]
    where = f"{mach['cpu']} ({mach['cpu_count']} cores, {mach['torch_threads']} torch threads)" + (
        f", GPU {mach['gpu']}" if mach["gpu"] else "")
    lines = [f"# Study: {study['name']}", ""]
    if study["note"]:
        lines += [f"**{study['note']}**", ""]
    lines += [f"Run {study['created']} on {where}; {study['wall_seconds'] / 60:.1f} min of study time (summed over "
              f"resumes). Seeds {study['seeds_compared']}" + ("" if study["complete"] else
                                                                " — **incomplete: some arm/seed runs are missing**") + ".",
              "", "## Settings (fixed in the recipe before any result was seen)", ""]
    g, s = st.get("grpo"), st.get("sft")
    lines.append(f"- model `{st['model']}`; arms {', '.join(arms)}; seeds {study['seeds']}")
    lines.append(f"- data: {data['train_records_used']} training records used ({data['train_with_units']} with rationale "
                 f"units; unit origin {data['train_units_origin']}); sources {data['train_sources']}"
                 + (f"; optional sources absent: {', '.join(data['missing_optional_sources'])}"
                    if data["missing_optional_sources"] else ""))
    lines.append(f"- held out (no arm trains on them; {data['prompts_shared_with_train']} prompts shared with training): "
                 f"{data['heldout_records']} records {data['heldout_sources']} ({data['heldout_with_units']} with units, "
                 f"{data['heldout_left_out_for_length']} left out for prompts over {data['max_prompt_tokens']} tokens), "
                 f"{data['bbq_items']} BBQ questions")
    if s:
        lines.append(f"- SFT warm start: {s['max_steps']} steps x {s['per_device_train_batch_size']} examples, "
                     f"lr {s['learning_rate']}")
    if g:
        lines.append(f"- GRPO: {g['max_steps']} steps x {g['per_device_train_batch_size']} completions "
                     f"({g['num_generations']} per prompt), lr {g['learning_rate']}, loss {g['loss_type']}, beta "
                     f"{g['beta']}, completions up to {g['max_completion_length']} tokens; reward matcher "
                     f"{st['reward_matcher']}; eval step every {st['eval_steps']['every']} steps on "
                     f"{st['eval_steps']['records']} held-out records")
    e = st["eval"]
    lines += [f"- measurement: greedy, up to {e['max_new_tokens']} new tokens, orders {e['orders']}, matcher "
              f"{e['matcher'].get('kind')}, support threshold {e['support_threshold']}; bootstrap "
              f"{st['stats']['resamples']} resamples, {st['stats']['confidence']:.0%} intervals", ""]
    lines += ["## Results (mean ± std over seeds)", ""]
    keys = list(MAIN) + ["position_consistency"] + list(BBQ)
    rows = [[LABELS[k]] + [_ms(agg[a].get(k)) for a in arms] for k in keys
            if any(agg[a].get(k, {}).get("mean") is not None for a in arms)]
    lines += _table(["measure"] + arms, rows) + [""]
    srcs = sorted({x for a in arms for x in agg[a]["accuracy_by_source"]})
    if srcs:
        lines += ["Outcome accuracy by held-out source (%):", ""]
        lines += _table(["source"] + arms, [[x] + [_ms(agg[a]["accuracy_by_source"].get(x)) for a in arms] for x in srcs])
        lines.append("")
    others = [a for a in arms if a in diffs]
    if others:
        lines += [f"## Differences against outcome-only ({st['stats']['confidence']:.0%} bootstrap interval)", "",
                  "Each cell: mean over seeds of (arm - outcome-only) [interval]; * = the interval excludes 0.", ""]
        rows = []
        for k in keys:
            cells = []
            for a in others:
                d = diffs[a].get(k)
                cells.append("-" if d is None or d["diff"] is None else
                             f"{_f(d['diff'], True)} [{_f(d['lo'], True)}, {_f(d['hi'], True)}]"
                             + ("*" if d["excludes_zero"] else ""))
            if any(c != "-" for c in cells):
                rows.append([LABELS[k]] + cells)
        lines += _table(["measure"] + others, rows) + [""]
    lines += ["## Do the papers' findings show here?", ""]
    lines += _table(["finding (paper, 14B-30B)", "here: difference [interval]", "verdict"],
                    [[c["claim"], f"{_f(c.get('diff'), True)} [{_f(c.get('lo'), True)}, {_f(c.get('hi'), True)}]"
                      if "diff" in c else "-", c["verdict"]] for c in study["claims"]])
    lines += ["", reading(study), "",
              "## Figures", "", "- `plots/rc_vs_accuracy.png`: RC against outcome accuracy, per seed and arm mean ± std",
              "- `plots/learning_curves.png`: held-out accuracy and RC at the logged GRPO eval steps",
              "- `plots/tradeoff.png`: BBQ ambiguous vs disambiguated accuracy of every arm and seed", "",
              "## Measures", "", MEASURES, "", "## Runs", ""]
    lines += _table(["arm", "seed", "train (s)", "measure (s)", "model"],
                    [[u["arm"], str(u["seed"]), _f(u["train_seconds"]), _f(u["eval_seconds"]), f"`{u['model']}`"]
                     for u in study["units"] if u.get("measures")])
    return "\n".join(lines) + "\n"


MEASURES = (
    "All on the held-out split, greedy. Outcome accuracy: records whose votes favour the chosen response. "
    "Rationale consistency: mean top-5 soft recall of the record's human units by the model's reasons (records "
    "with units). Parse-failure rate: judgments without one valid verdict. Reasons-verdict consistency: the human "
    "units argue for the chosen response, so a judgment whose reasons recall at least the support threshold of them "
    "makes the chosen response's case; the share of those judgments whose verdict picks the chosen response (100: "
    "verdicts follow the reasons; about 50: independent of them). 'Reasons for chosen, verdict not': such judgments "
    "whose verdict picks the other response, a tie or nothing, among judgments with an RC. BBQ: the social suite's "
    "round robin of each question's three options; s_DIS and s_AMB as in Parrish et al. (2022)."
)


def reading(study: dict[str, Any]) -> str:
    """The reasons an effect may not show at this scale, with this study's own figures."""
    missed = [c for c in study["claims"] if c["verdict"] != "reproduced"]
    if not missed:
        return "Every finding above reproduced at this scale."
    st, data = study["settings"], study["data"]
    g = st.get("grpo") or {}
    widths = [c["hi"] - c["lo"] for c in study["claims"] if c.get("lo") is not None]
    parts = [f"Where a finding does not reproduce, our best reading: (1) scale: `{st['model']}` is far smaller than the "
             "paper's 14B-30B models;"]
    if g:
        parts.append(f"(2) steps: each GRPO arm took {g['max_steps']} steps of {g['per_device_train_batch_size']} "
                     f"completions ({g['per_device_train_batch_size'] // max(1, g['num_generations'])} prompt(s) per "
                     "step), against 2 epochs of about 22k records at batch 256 in the paper"
                     + _zero_std(study) + ";")
    parts.append(f"(3) silver rationales: training units by origin {data['train_units_origin']} — template units "
                 "state what an item's gold structure supports and are not annotators' reasons; the matcher is "
                 f"the {st['eval']['matcher'].get('kind')} matcher, not the paper's LLM MetaJudge;")
    if widths:
        parts.append(f"(4) sample size: the intervals are {min(widths):.1f}-{max(widths):.1f} points wide on "
                     f"{data['heldout_records']} held-out records and {len(study['seeds_compared'])} seed(s);")
    ref = study["aggregate"].get(REFERENCE, {})
    sup, rvc = (ref.get(k, {}).get("mean") for k in ("support_rate", "reasons_verdict_consistency"))
    if sup is not None and rvc is not None:
        parts.append(f"(5) the outcome-only arm's reasons make the chosen response's case in {sup:.0f}% of its "
                     f"judgments, yet its verdict follows them in {rvc:.0f}% of those: reasons learnt from the SFT "
                     "targets' text, not reasons the verdict rests on.")
    base = study["aggregate"].get("base", {}).get("parse_failure_rate", {}).get("mean")
    if base is not None and base > 50:
        parts.append(f"The base model writes no valid verdict in {base:.0f}% of its judgments, so comparisons with it "
                     "measure the SFT warm start more than GRPO.")
    return " ".join(parts)


def _zero_std(study: dict[str, Any]) -> str:
    fr = [u["grpo"]["frac_reward_zero_std"] for u in study["units"]
          if (u.get("grpo") or {}).get("frac_reward_zero_std") is not None]
    if not fr:
        return ""
    return (f", and in {100 * sum(fr) / len(fr):.0f}% of the logged GRPO steps every completion of a prompt earned "
            "the same reward (no advantage, so no update)")


def write_report(study: dict[str, Any], out: str, plots: bool = True) -> dict[str, Any]:
    files: dict[str, Any] = {"json": os.path.join(out, "study.json"), "md": os.path.join(out, "study.md")}
    with open(files["json"], "w", encoding="utf-8") as f:
        json.dump(study, f, indent=1)
    with open(files["md"], "w", encoding="utf-8") as f:
        f.write(markdown(study))
    if plots:
        files["plots"] = write_plots(study, os.path.join(out, "plots"))
    return files
