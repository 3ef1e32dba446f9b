"""summary.json, a Markdown report that explains every number in one line, and PNG plots
(per-domain bars, the RM-Bench matrix as a heatmap, the bias/faithfulness trade-off)."""

from __future__ import annotations

import os
from typing import Any, Callable, Iterator, NamedTuple, Optional

from genrm.evaluation.summary import write_summary

Row = tuple[str, Callable[[dict], Any], str]  # (label, value from one model's suite result, explanation)


class Figure(NamedTuple):
    """A rate shown with its interval and count: `65.6 [56.3, 74.0] (n=96)`."""

    value: float
    ci: Optional[list]
    n: Any


def _get(d: Any, *keys: Any) -> Any:
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, Figure):
        ci = f" [{v.ci[0]:.1f}, {v.ci[1]:.1f}]" if v.ci else ""
        return f"{v.value:.1f}{ci} (n={v.n})"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.1f}"
    return str(v)


def _m(*keys: Any) -> Callable[[dict], Any]:
    return lambda r: _get(r, "metrics", *keys)


def _fig(root: str, *keys: str, n: str = "n") -> Callable[[dict], Any]:
    """The figure at <root>/<keys> with the interval `<last key>_ci` and the count `n` beside it;
    None when there is no figure."""
    def get(r: dict) -> Any:
        v = _get(r, root, *keys)
        return None if v is None else Figure(v, _get(r, root, *keys[:-1], f"{keys[-1]}_ci"),
                                             _get(r, root, *keys[:-1], n))
    return get


def _keys(results: dict, suite: str, *path: str) -> list[str]:
    """Union over models of the keys found at metrics/<path> (domains, categories, ...)."""
    seen: list[str] = []
    for per in results.values():
        for k in _get(per, suite, "metrics", *path) or {}:
            if k not in seen:
                seen.append(k)
    return seen


def _rm_bench_rows(results: dict) -> Iterator[Row]:
    yield ("overall", _fig("metrics", "overall"),
           "mean over domains of each domain's mean(hard, normal, easy); % (official RM-Bench); n = prompts")
    for k, why in (("hard", "chosen less styled than rejected (upper triangle)"), ("normal", "same style (diagonal)"),
                   ("easy", "chosen more styled than rejected (lower triangle)")):
        yield k, _m(k), f"mean over domains of the {why} cells; % of comparisons won, ties lose"
    for d in _keys(results, "rm_bench", "domains"):
        yield (f"{d}", _fig("metrics", "domains", d, "avg"),
               f"{d} domain: mean of its hard, normal and easy accuracies; %; n = prompts")
        yield f"{d} prompts", _m("domains", d, "n"), f"{d} prompts evaluated (9 cells each)"


def _judgebench_rows(results: dict) -> Iterator[Row]:
    yield ("overall", _fig("metrics", "overall"),
           "% of pairs correct by the two-game counter rule (sum of +1/-1 decisions > 0)")
    for c, src in (("knowledge", "mmlu-pro"), ("reasoning", "livebench-reasoning"), ("math", "livebench-math"),
                   ("coding", "livecodebench")):
        yield c, _m(c), f"the same over {src} pairs; %"
    yield "pairs", _m("n"), "pairs evaluated (identical responses included, as officially)"


def _rewardbench_rows(results: dict) -> Iterator[Row]:
    yield "score", _m("score"), "mean of the four section scores (leaderboard score); %"
    for s in ("Chat", "Chat Hard", "Safety", "Reasoning"):
        yield s, _m("sections", s), f"{s}: subset accuracies weighted by reward-bench's fixed example counts; %"
    for s in _keys(results, "rewardbench", "subsets"):
        yield f"  {s}", _m("subsets", s, "accuracy"), f"subset {s}: % chosen preferred (GenRM tie = 0.5)"


RB2_PROTOCOLS = (  # (key, label, what it is); reported apart, never mixed in one number
    ("scores", "RM scores", "every completion scored once (scalar RM / proxy)"),
    ("pairwise", "pairwise", "ours: the correct completion against each incorrect one, in both orders, won when it "
                             "wins all; Ties on round-robin scores"),
    ("ranking", "4-way ranking", "official generative prompt, placement seeded, unparsable = 0.25; Ties by ratings"),
    ("ratings", "ratings", "official 1-10 rating per completion, unparsable = -1"),
)


def _pcts(v: Any, keys: tuple[str, ...]) -> Optional[str]:
    return None if not v else ", ".join(_fmt(v.get(k)) for k in keys)


def _rewardbench2_rows(results: dict) -> Iterator[Row]:
    ties = ("tied_accuracy", "ref_accuracy", "preferred", "preferred_hard", "margin")
    for key, label, why in RB2_PROTOCOLS:
        p = ("protocols", key)
        yield f"{label}: overall", _m(*p, "overall"), f"{why}; unweighted mean of the six subsets (leaderboard); %"
        for s in _keys(results, "rewardbench2", *p, "subsets"):
            yield (f"  {label}: {s}", _fig("metrics", *p, "subsets", s, "score"),
                   "official Ties score: 0.30 tied acc. + 0.30 ref acc. + 0.20 preferred + 0.20 preferred_hard + "
                   "0.01 margin (weights sum to 1.01, as published)" if s.lower() == "ties" else
                   f"{s}: mean over prompts of 1/k when the correct completion ties k ways for the top, else 0; %")
        yield (f"  {label}: Ties parts", lambda r, p=p: _pcts(_get(r, "metrics", *p, "ties"), ties),
               "tied accuracy, ref accuracy, preferred, preferred_hard, tanh margin term; %")
        if key == "ranking":
            yield (f"  {label}: seed spread", lambda r, p=p: _pcts(dict(enumerate(
                       _get(r, "metrics", *p, "overall_spread") or [])), (0, 1)),
                   "min, max of overall over the placement seeds (`data.rewardbench2.seeds`)")
        if key in ("ranking", "ratings"):
            yield (f"  {label}: parse failures", _m(*p, "parse_failure_rate"),
                   "% of generations without a readable verdict or rating")
        if key == "pairwise":
            yield (f"  {label}: Ties strategy", lambda r, p=p: None if not _get(r, "metrics", *p, "ties_strategy") else
                   f"{_get(r, 'metrics', *p, 'ties_strategy')} ({_get(r, 'metrics', *p, 'ties_judge_calls')} calls)",
                   "genrm.judge.scalarize strategy scoring the Ties completions, and the judge calls it cost")
    for pick in ("shortest", "longest"):
        b = ("length_baselines", pick)
        yield f"{pick} answer: overall", _m(*b, "overall"), f"always preferring the {pick} completion (characters); %"
        for s in _keys(results, "rewardbench2", *b, "subsets"):
            yield (f"  {pick} answer: {s}", _m(*b, "subsets", s, "score"),
                   "the same, Ties arithmetic on the lengths" if s.lower() == "ties" else
                   f"the same on {s} (chance on best-of-4: 25)")
    yield "prompts", _m("prompts"), "RewardBench 2 prompts evaluated (Ties: ref and tied rows each)"


def _best_of_n_rows(results: dict) -> Iterator[Row]:
    yield ("accuracy", _fig("metrics", "accuracy"),
           "% of prompts where every chosen completion beat every rejected one (GenRM: won every comparison)")
    for c in _keys(results, "best_of_n", "categories"):
        yield f"  {c}", _fig("metrics", "categories", c, "accuracy"), f"the same over category {c}; %"


def _social_rows(results: dict) -> Iterator[Row]:
    for d in _keys(results, "social", "domains"):
        yield (f"{d} accuracy", _fig("metrics", "domains", d, "accuracy"),
               f"% of gold {d} pairs where the better response won")
    for s in _keys(results, "social", "directional"):
        yield (f"{s} stereotype share", _fig("metrics", "directional", s, "stereotype_share"),
               f"% of directional {s} pairs where the stereotype-consistent option was preferred (50 = no lean)")
    b = ("bbq", "overall")
    yield ("BBQ acc. ambiguous", _fig("metrics", *b, "acc_ambig", n="n_ambig"),
           "% correct on ambiguous contexts (answer: unknown); bias avoidance; n = questions")
    yield ("BBQ acc. disambiguated", _fig("metrics", *b, "acc_disambig", n="n_disambig"),
           "% correct on disambiguated contexts; context faithfulness; n = questions")
    yield "BBQ unknown ambiguous", _m(*b, "unknown_ambig"), "% of ambiguous items where 'unknown' was picked"
    yield "BBQ unknown disamb.", _m(*b, "unknown_disambig"), "% of disambiguated items where 'unknown' was picked"
    yield "BBQ s_DIS", _m(*b, "s_dis"), "bias score on disambiguated contexts, -100..100 (0 = unbiased, BBQ paper)"
    yield "BBQ s_AMB", _m(*b, "s_amb"), "(1 - ambiguous accuracy) x bias score on ambiguous contexts, -100..100"
    yield "BBQ no pick", _m(*b, "no_pick"), "BBQ items with no pick (round-robin tie or cycle, equal top scores)"
    for c in _keys(results, "social", "bbq", "categories"):
        yield f"  {c} s_DIS", _m("bbq", "categories", c, "s_dis"), f"s_DIS of BBQ category {c}"
        yield f"  {c} s_AMB", _m("bbq", "categories", c, "s_amb"), f"s_AMB of BBQ category {c}"
    yield "StereoSet SS", _m("stereoset", "ss"), "% stereotype preferred over anti-stereotype, mean over targets (50 ideal)"
    yield "StereoSet LMS", _m("stereoset", "lms"), "% meaningful sentence preferred over unrelated, mean over targets"
    yield "StereoSet ICAT", _m("stereoset", "icat"), "LMS x min(SS, 100 - SS) / 50 (100 ideal)"
    yield "CrowS-Pairs sent_more", _m("crows_pairs", "sent_more"), "% of pairs preferring the more stereotypical sentence (50 ideal)"
    yield "CrowS-Pairs ties", _m("crows_pairs", "ties"), "pairs with no preference (counted in the denominator above)"


def _rationale_rows(results: dict) -> Iterator[Row]:
    yield "accuracy", _fig("metrics", "accuracy"), "% of records with reference units where the better response won"
    yield ("rationale consistency", _fig("metrics", "rationale_consistency", n="rationale_items"),
           "mean soft recall of the reference units by the top-5 reasons; % (0.25 in the paper = 25)")
    yield "unit origin", _m("unit_origins"), "who wrote the reference units (human annotators in the paper; template = silver units)"
    yield "records with RC", _m("rationale_items"), "records whose reasons were matched (GenRM only)"


def _always_rows(results: dict) -> Iterator[Row]:
    a = lambda *k: (lambda r: _get(r, "always", *k))  # noqa: E731
    yield "items", a("items"), "items scored (errors excluded)"
    yield "errors", a("errors"), "items whose backend call failed for good (reported, not scored; retried on resume)"
    yield "judge calls", a("judge_calls"), "judge generations (GenRM) or responses scored (scalar/proxy), over all resumes"
    yield "parse failures", a("parse_failure_rate"), "% of judgments without one valid verdict (GenRM only)"
    yield ("position consistency", _fig("always", "position_consistency", n="position_pairs"),
           "% of pairs judged in both orders with the same winner in both")
    yield "wall time (s)", a("seconds"), "seconds spent judging/scoring, over all resumes"
    yield "seed", a("seed"), "seed of A/B placement and sampling"
    yield "model fingerprint", a("model_fingerprint"), "hash of the model's config, tokenizer and weight files"
    yield "data fingerprint", a("data_fingerprint"), "hash of the items as evaluated"


SECTIONS = {"rm_bench": ("RM-Bench", _rm_bench_rows), "judgebench": ("JudgeBench", _judgebench_rows),
            "rewardbench": ("RewardBench", _rewardbench_rows), "rewardbench2": ("RewardBench 2", _rewardbench2_rows),
            "best_of_n": ("Best-of-N", _best_of_n_rows), "social": ("Social alignment", _social_rows),
            "rationale": ("Rationale consistency", _rationale_rows)}


def markdown(summary: dict) -> str:
    models = [m["name"] for m in summary["models"]]
    res = summary["results"]
    lines = [f"# Evaluation report: {summary['name']}", "",
             "All scores are percentages (0-100) except BBQ s_DIS/s_AMB (-100..100). '-' = not applicable or no data.",
             "`65.6 [56.3, 74.0] (n=96)`: the figure, its 95% percentile bootstrap interval (items drawn with "
             "replacement, each with all its pairs; seeded with the run's seed) and the number of pairs (BBQ: questions) it counts.",
             "", "| model | kind | reference |", "| --- | --- | --- |"]
    lines += [f"| {m['name']} | {m['kind']} | `{m['ref']}` |" for m in summary["models"]]
    for suite in summary["suites"]:
        title, rows_fn = SECTIONS[suite]
        per = {m: _get(res, m, suite) or {} for m in models}
        lines += ["", f"## {title}", "", "| | " + " | ".join(models) + " | what it is |",
                  "| --- | " + " | ".join("---:" for _ in models) + " | --- |"]
        for label, fn, why in list(rows_fn(res)) + list(_always_rows(res)):
            vals = [fn(per[m]) for m in models]
            if all(v is None for v in vals):
                continue
            lines.append(f"| {label} | " + " | ".join(_fmt(v) for v in vals) + f" | {why} |")
    return "\n".join(lines) + "\n"


HEADLINES = {
    "rm_bench": (("overall", ("overall",)), ("hard", ("hard",)), ("normal", ("normal",)), ("easy", ("easy",))),
    "judgebench": (("overall", ("overall",)), ("knowledge", ("knowledge",)), ("reasoning", ("reasoning",)),
                   ("math", ("math",)), ("coding", ("coding",))),
    "rewardbench": (("score", ("score",)),),
    "rewardbench2": tuple((k, ("protocols", k, "overall")) for k, _, _ in RB2_PROTOCOLS)
    + (("shortest", ("length_baselines", "shortest", "overall")),),
    "best_of_n": (("accuracy", ("accuracy",)),),
    "social": (("BBQ acc ambig", ("bbq", "overall", "acc_ambig")), ("acc disambig", ("bbq", "overall", "acc_disambig")),
               ("s_DIS", ("bbq", "overall", "s_dis")), ("s_AMB", ("bbq", "overall", "s_amb")),
               ("SS", ("stereoset", "ss")), ("CrowS", ("crows_pairs", "sent_more"))),
    "rationale": (("accuracy", ("accuracy",)), ("RC", ("rationale_consistency",))),
}


def _with_ci(r: dict, root: str, *keys: str, unit: str = "") -> str:
    """The value at <root>/<keys> and `unit`, with its interval when one sits beside it."""
    v = _get(r, root, *keys)
    ci = _get(r, root, *keys[:-1], f"{keys[-1]}_ci")
    return _fmt(v) + ("" if v is None else unit) + (f" [{ci[0]:.1f}, {ci[1]:.1f}]" if v is not None and ci else "")


def headlines(summary: dict) -> str:
    """One line per model and suite with the headline numbers (what run.py prints)."""
    lines = []
    for m in summary["models"]:
        for suite in summary["suites"]:
            r = _get(summary["results"], m["name"], suite)
            if not r:
                continue
            vals = ", ".join(f"{k} {_with_ci(r, 'metrics', *path)}" for k, path in HEADLINES[suite])
            a = r["always"]
            lines.append(f"{m['name']:>20} {suite:<11} {vals}; items {a['items']}, errors {a['errors']}, "
                         f"parse failures {_fmt(a['parse_failure_rate'])}%, position consistency "
                         f"{_with_ci(r, 'always', 'position_consistency', unit='%')}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- plots


def write_plots(summary: dict, out_dir: str) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    os.makedirs(out_dir, exist_ok=True)
    res, models = summary["results"], [m["name"] for m in summary["models"]]
    written: list[str] = []

    def save(fig, name: str) -> None:
        p = os.path.join(out_dir, name)
        fig.savefig(p, dpi=110, bbox_inches="tight")
        plt.close(fig)
        written.append(p)

    bars: dict[str, dict[str, float]] = {}  # "suite: domain" -> model -> score
    for m in models:
        for d, v in (_get(res, m, "rm_bench", "metrics", "domains") or {}).items():
            bars.setdefault(f"RM-Bench {d}", {})[m] = v["avg"]
        for d, v in (_get(res, m, "social", "metrics", "domains") or {}).items():
            if v["accuracy"] is not None:
                bars.setdefault(f"social {d}", {})[m] = v["accuracy"]
        for c in ("knowledge", "reasoning", "math", "coding"):
            v = _get(res, m, "judgebench", "metrics", c)
            if v is not None:
                bars.setdefault(f"JudgeBench {c}", {})[m] = v
        for c, v in (_get(res, m, "best_of_n", "metrics", "categories") or {}).items():
            if v["accuracy"] is not None:
                bars.setdefault(f"best-of-N {c}", {})[m] = v["accuracy"]
    if bars:
        fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(bars) * max(1, len(models)) ** 0.5), 4))
        x = np.arange(len(bars))
        w = 0.8 / max(1, len(models))
        for k, m in enumerate(models):
            ax.bar(x + k * w, [bars[g].get(m, np.nan) for g in bars], w, label=m)
        ax.set_xticks(x + w * (len(models) - 1) / 2, list(bars), rotation=30, ha="right")
        ax.set_ylabel("accuracy (%)")
        ax.set_ylim(0, 100)
        ax.axhline(50, color="grey", lw=0.5, ls="--")
        ax.legend(fontsize=8)
        ax.set_title("Accuracy per domain")
        save(fig, "domains.png")
    for m in models:
        doms = _get(res, m, "rm_bench", "metrics", "domains") or {}
        if not doms:
            continue
        fig, axes = plt.subplots(1, len(doms), figsize=(3.2 * len(doms), 3), squeeze=False)
        for ax, (d, v) in zip(axes[0], doms.items()):
            mat = np.asarray(v["matrix"])
            ax.imshow(mat, vmin=0, vmax=100, cmap="viridis")
            for i in range(3):
                for j in range(3):
                    ax.text(j, i, f"{mat[i][j]:.0f}", ha="center", va="center", color="w" if mat[i][j] < 60 else "k")
            names = ["concise", "plain", "markdown"]
            ax.set_xticks(range(3), names, fontsize=7)
            ax.set_yticks(range(3), names, fontsize=7)
            ax.set_xlabel("rejected variant")
            ax.set_ylabel("chosen variant")
            ax.set_title(f"{d} (n={v['n']})", fontsize=9)
        fig.suptitle(f"RM-Bench matrix: {m}", fontsize=10)
        save(fig, f"rm_bench_matrix_{_safe(m)}.png")
    series = _rb2_series(res, models)
    if series:
        groups = list(dict.fromkeys(s for _, v in series for s in v))
        fig, ax = plt.subplots(figsize=(max(6, 0.35 * len(groups) * len(series)), 4))
        x = np.arange(len(groups))
        w = 0.8 / len(series)
        for k, (label, v) in enumerate(series):
            ax.bar(x + k * w, [np.nan if v.get(g) is None else v[g] for g in groups], w, label=label,
                   hatch="//" if label.endswith(" answer") else None)
        ax.set_xticks(x + w * (len(series) - 1) / 2, groups, rotation=20, ha="right")
        ax.set_ylabel("score (%)")
        ax.set_ylim(0, 101)
        ax.axhline(25, color="grey", lw=0.5, ls="--")  # best-of-4 chance
        ax.legend(fontsize=7)
        ax.set_title("RewardBench 2 per subset (hatched: length baselines; dashed: best-of-4 chance)")
        save(fig, "rewardbench2_subsets.png")
    points = [(m, _get(res, m, "social", "metrics", "tradeoff")) for m in models]
    points = [(m, t) for m, t in points if t and t["ambig_accuracy"] is not None and t["disambig_accuracy"] is not None]
    if points:
        fig, ax = plt.subplots(figsize=(5, 4))
        for m, t in points:
            ax.scatter(t["disambig_accuracy"], t["ambig_accuracy"], s=40 + 3 * (t["abs_s_amb"] or 0))
            ax.annotate(f"{m} |s_AMB|={_fmt(t['abs_s_amb'])}", (t["disambig_accuracy"], t["ambig_accuracy"]),
                        fontsize=7, xytext=(4, 4), textcoords="offset points")
        ax.set_xlim(-4, 104)
        ax.set_ylim(-4, 104)
        ax.set_xlabel("context faithfulness: BBQ disambiguated accuracy (%)")
        ax.set_ylabel("bias avoidance: BBQ ambiguous accuracy (%)")
        ax.set_title("Bias avoidance vs context faithfulness")
        save(fig, "tradeoff.png")
    return written


def _rb2_series(res: dict, models: list[str]) -> list[tuple[str, dict]]:
    """(label, {subset: score}) per model and protocol, then the two length baselines."""
    out, base = [], None
    for m in models:
        x = _get(res, m, "rewardbench2", "metrics") or {}
        for key, label, _ in RB2_PROTOCOLS:
            sub = _get(x, "protocols", key, "subsets")
            if sub:
                out.append((f"{m} {label}", {s: v["score"] for s, v in sub.items()}))
        base = base or x.get("length_baselines")
    if out and base:
        out += [(f"{pick} answer", {s: v["score"] for s, v in base[pick]["subsets"].items()})
                for pick in ("shortest", "longest")]
    return out


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def write_report(summary: dict, out_dir: str, plots: bool = True) -> dict[str, Any]:
    """Write summary.json, report.md and (with `plots`) plots/*.png into `out_dir`."""
    os.makedirs(out_dir, exist_ok=True)
    files: dict[str, Any] = {"summary": os.path.join(out_dir, "summary.json"), "report": os.path.join(out_dir, "report.md")}
    write_summary(summary, files["summary"])
    with open(files["report"], "w", encoding="utf-8") as f:
        f.write(markdown(summary))
    if plots:
        files["plots"] = write_plots(summary, os.path.join(out_dir, "plots"))
    return files
