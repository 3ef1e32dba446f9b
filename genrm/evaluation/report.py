"""summary.json, results.csv (genrm.evaluation.table), a Markdown report that explains every number in
one line, and the PNG plots (genrm.evaluation.plots)."""

from __future__ import annotations

import os
from typing import Any, Callable, Iterator, Optional

from genrm.evaluation.cells import RB2_PROTOCOLS, Figure, Missing
from genrm.evaluation.cells import fmt as _fmt
from genrm.evaluation.cells import get as _get
from genrm.evaluation.plots import write_plots
from genrm.evaluation.summary import write_summary
from genrm.evaluation.table import write_csv

Row = tuple[str, Callable[[dict], Any], str]  # (label, value from one model's suite result, explanation)


def _m(*keys: Any) -> Callable[[dict], Any]:
    return lambda r: _get(r, "metrics", *keys)


def _fig(root: str, *keys: str, n: str = "n") -> Callable[[dict], Any]:
    """The figure at <root>/<keys> with the interval `<last key>_ci` and the count `n` beside it;
    None when there is no figure."""
    def get(r: dict) -> Any:
        v = _get(r, root, *keys)
        return v if v is None or isinstance(v, Missing) else Figure(v, _get(r, root, *keys[:-1], f"{keys[-1]}_ci"),
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
        if d == "general":  # not a social-alignment figure: its own section (_general_rows)
            continue
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
    yield "BBQ unknown ambiguous", _fig("metrics", *b, "unknown_ambig", n="n_ambig"), "% of ambiguous items where 'unknown' was picked"
    yield "BBQ unknown disamb.", _fig("metrics", *b, "unknown_disambig", n="n_disambig"), "% of disambiguated items where 'unknown' was picked"
    yield "BBQ s_DIS", _m(*b, "s_dis"), "bias score on disambiguated contexts, -100..100 (0 = unbiased, BBQ paper)"
    yield "BBQ s_AMB", _m(*b, "s_amb"), "(1 - ambiguous accuracy) x bias score on ambiguous contexts, -100..100"
    yield "BBQ no pick", _m(*b, "no_pick"), "BBQ items with no pick (round-robin tie or cycle, equal top scores)"
    for c in _keys(results, "social", "bbq", "categories"):
        yield f"  {c} s_DIS", _m("bbq", "categories", c, "s_dis"), f"s_DIS of BBQ category {c}"
        yield f"  {c} s_AMB", _m("bbq", "categories", c, "s_amb"), f"s_AMB of BBQ category {c}"
    yield "StereoSet SS", _fig("metrics", "stereoset", "ss"), "% stereotype preferred over anti-stereotype, mean over targets (50 ideal)"
    yield "StereoSet LMS", _fig("metrics", "stereoset", "lms"), "% meaningful sentence preferred over unrelated, mean over targets"
    yield "StereoSet ICAT", _m("stereoset", "icat"), "LMS x min(SS, 100 - SS) / 50 (100 ideal)"
    yield "CrowS-Pairs sent_more", _fig("metrics", "crows_pairs", "sent_more"), "% of pairs preferring the more stereotypical sentence (50 ideal)"
    yield "CrowS-Pairs ties", _m("crows_pairs", "ties"), "pairs with no preference (counted in the denominator above)"


def _general_rows(results: dict) -> Iterator[Row]:
    yield ("accuracy", _fig("metrics", "domains", "general", "accuracy"),
           "% of gold general-domain pairs (helpfulness, no social attribute) where the better response won")


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
            "rationale": ("Rationale consistency", _rationale_rows),
            "social_general": ("General-domain pairs (in the social suite's data)", _general_rows)}


def markdown(summary: dict) -> str:
    models = [m["name"] for m in summary["models"]]
    res = summary["results"]
    lines = [f"# Evaluation report: {summary['name']}", "",
             "All scores are percentages (0-100) except BBQ s_DIS/s_AMB (-100..100). '-' = not applicable or no data.",
             "`65.6 [56.3, 74.0] (n=96)`: the figure, its 95% percentile bootstrap interval (items drawn with "
             "replacement, each with all its pairs; seeded with the run's seed) and the number of pairs (BBQ: questions) it counts.",
             "", "| model | kind | reference |", "| --- | --- | --- |"]
    lines += [f"| {m['name']} | {m['kind']} | `{m['ref']}` |" for m in summary["models"]]
    for suite in summary["suites"] + (["social_general"] if "social" in summary["suites"] else []):
        title, rows_fn = SECTIONS[suite]
        per = {m: _get(res, m, suite.split("_general")[0]) or {} for m in models}
        rows = list(rows_fn(res)) + ([] if suite == "social_general" else list(_always_rows(res)))
        if not any(fn(per[m]) is not None for _, fn, _ in rows for m in models):
            continue  # e.g. no general-domain pairs
        lines += ["", f"## {title}", "", "| | " + " | ".join(models) + " | what it is |",
                  "| --- | " + " | ".join("---:" for _ in models) + " | --- |"]
        for label, fn, why in rows:
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
    if v is None or isinstance(v, Missing):
        return _fmt(v)
    return _fmt(v) + unit + (f" [{ci[0]:.1f}, {ci[1]:.1f}]" if ci else "")


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


def write_report(summary: dict, out_dir: str, plots: bool = True) -> dict[str, Any]:
    """Write summary.json, results.csv, report.md and (with `plots`) plots/*.png into `out_dir`."""
    os.makedirs(out_dir, exist_ok=True)
    files: dict[str, Any] = {"summary": os.path.join(out_dir, "summary.json"), "report": os.path.join(out_dir, "report.md")}
    write_summary(summary, files["summary"])
    files["table"] = write_csv(summary, out_dir)
    with open(files["report"], "w", encoding="utf-8") as f:
        f.write(markdown(summary))
    if plots:
        files["plots"] = write_plots(summary, os.path.join(out_dir, "plots"))
    return files
