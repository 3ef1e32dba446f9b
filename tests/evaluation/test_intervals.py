"""The evaluator's 95% bootstrap intervals: the arithmetic, summary.json, report.md and the
headline table, on hand-made results files (no model)."""

import json
import math
import re

import pytest

from genrm.config import RecipeError, load_recipe
from genrm.evaluation.intervals import Bootstrap
from genrm.evaluation.report import markdown, write_report
from genrm.evaluation.results import ResultsFile
from genrm.evaluation.schema import EvalRecipe, expand_shortcuts
from genrm.evaluation.suites import rm_bench, social
from genrm.evaluation.summary import build_summary, format_headline_table, headline, headline_rows


def _rate(k, n):
    return [[True]] * k + [[False]] * (n - k)


def test_interval_contains_the_estimate_and_narrows_with_n():
    boot = Bootstrap()
    widths = []
    for n in (24, 96, 384):
        k = round(0.65625 * n)
        lo, hi = boot.rate(_rate(k, n))
        assert lo <= 100.0 * k / n <= hi
        widths.append(hi - lo)
    assert widths[0] > widths[1] > widths[2] > 0
    rc = [[x] for x in (10.0, 35.0, 60.0, 20.0, 80.0, 45.0, 55.0, 30.0)]  # rationale consistency, percent
    lo, hi = boot.interval(rc)
    assert lo <= sum(x for (x,) in rc) / len(rc) <= hi


def test_interval_is_deterministic_for_a_seed():
    groups = [[i % 3 == 0] for i in range(50)]
    assert Bootstrap(seed=7).rate(groups) == Bootstrap(seed=7).rate(groups)
    draws = {tuple(Bootstrap(seed=s, resamples=200).rate(groups)) for s in range(6)}
    assert len(draws) > 1  # the seed does choose the resamples


def test_interval_matches_hand_computed_cases():
    # Four items, three won: a resample wins k of 4 with k ~ Binomial(4, 3/4), so P(k <= 0) = 1/256
    # and P(k <= 1) = 13/256 straddle 2.5% (lower end 1/4), P(k <= 3) = 175/256 < 97.5% (upper 4/4).
    assert Bootstrap(resamples=20000).rate(_rate(3, 4)) == [25.0, 100.0]
    # n = 96 at 65.6%: close to the normal approximation p +- 1.96 sqrt(p(1-p)/n) = [56.1, 75.1].
    lo, hi = Bootstrap(resamples=4000).rate(_rate(63, 96))
    p, se = 63 / 96, math.sqrt(63 / 96 * 33 / 96 / 96)
    assert abs(lo - 100 * (p - 1.96 * se)) < 1.5 and abs(hi - 100 * (p + 1.96 * se)) < 1.5
    # No spread, no values, no resamples.
    assert Bootstrap().rate([[True, False]] * 10) == [50.0, 50.0]
    assert Bootstrap().rate([]) is None and Bootstrap().rate([[]]) is None
    assert Bootstrap(resamples=0).rate(_rate(3, 4)) is None


def test_items_are_drawn_with_all_their_pairs():
    # Two identical pairs per item carry no more information than one: the same interval,
    # wider than a bootstrap that took the 2n pairs as independent.
    x = [i % 3 != 0 for i in range(60)]
    boot = Bootstrap()
    assert boot.rate([[v, v] for v in x]) == boot.rate([[v] for v in x])
    lo2, hi2 = boot.rate([[v] for v in x + x])
    lo, hi = boot.rate([[v] for v in x])
    assert hi - lo > hi2 - lo2


def test_mean_of_means_resamples_within_each_stratum():
    # Stratum 1 = {0, 100}: its resampled mean is 0, 50 or 100 (1/4, 1/2, 1/4); stratum 2 is always 50.
    # The mean of the two means is 25, 50 or 75, so the 95% interval is [25, 75].
    assert Bootstrap(resamples=4000).mean_of_means([[0.0, 100.0], [50.0], []]) == [25.0, 75.0]
    assert Bootstrap().mean_of_means([]) is None


def test_rm_bench_overall_and_domains_carry_intervals():
    full, none, diag = [[1] * 3] * 3, [[0] * 3] * 3, [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
    rows = [{"kind": "chat", "wins": w} for w in (full, none, diag, full)] + \
           [{"kind": "math", "wins": w} for w in (full, diag)]
    m = rm_bench.summarize(rows, Bootstrap())
    assert m["n"] == 6 and m["domains"]["chat"]["n"] == 4
    for v, ci in [(m["overall"], m["overall_ci"])] + [(d["avg"], d["avg_ci"]) for d in m["domains"].values()]:
        assert ci[0] <= v <= ci[1] and ci[0] < ci[1]
    assert m["overall"] == pytest.approx((m["domains"]["chat"]["avg"] + m["domains"]["math"]["avg"]) / 2)


# ----------------------------------------------------------------------------- summary and report


def _comparison(cid, correct, consistent):
    votes = [1, 1] if correct and consistent else [1, -1] if not consistent else [-1, -1]
    return {"id": cid, "votes": votes, "correct": correct, "error": None, "position_consistent": consistent,
            "judgments": [{"order": o, "chosen_position": o[0], "valid": True, "winner": "A", "vote": v, "text": "x"}
                          for o, v in zip(("AB", "BA"), votes)]}


def _rationale_results(root, n=96, won=63, seed=0):
    """A rationale results file: `won` of `n` records won (each consistent), the rest split."""
    rf = ResultsFile(str(root / "trained" / "rationale.jsonl"))
    for i in range(n):
        ok = i < won
        rf.append({"id": f"r{i}", "error": None, "source": "bbq", "domain": "bias", "units": 2, "origin": "template",
                   "correct": ok, "rationale_consistency": 40.0 + (i % 4) * 10, "match_failures": 0,
                   "comparisons": [_comparison(f"r{i}", ok, ok)]})
    (root / "trained" / "rationale.meta.json").write_text(json.dumps({"seed": seed, "kind": "genrm"}))


def test_summary_json_and_report_show_interval_and_count(tmp_path):
    _rationale_results(tmp_path)
    summary = build_summary(str(tmp_path), name="t")
    files = write_report(summary, str(tmp_path / "out"), plots=False)
    saved = json.load(open(files["summary"]))["results"]["trained"]["rationale"]
    m, a = saved["metrics"], saved["always"]
    assert m["n"] == 96 and m["accuracy"] == pytest.approx(65.625)
    assert m["accuracy_ci"] == Bootstrap(seed=0).rate(_rate(63, 96))
    assert m["accuracy_ci"][0] > 50.0
    assert m["rationale_items"] == 96 and m["rationale_consistency_ci"][0] <= m["rationale_consistency"]
    assert a["position_pairs"] == 96 and a["position_consistency"] == pytest.approx(65.625)
    assert a["position_consistency_ci"] == m["accuracy_ci"]  # the same items, the same seed
    report = open(files["report"]).read()
    lo, hi = m["accuracy_ci"]
    assert f"| accuracy | 65.6 [{lo:.1f}, {hi:.1f}] (n=96) |" in report
    assert re.search(r"\| position consistency \| 65\.6 \[\d+\.\d, \d+\.\d\] \(n=96\) \|", report)
    assert re.search(r"\| rationale consistency \| 55\.0 \[\d+\.\d, \d+\.\d\] \(n=96\) \|", report)
    assert "95% percentile bootstrap interval" in report
    # A rescore repeats the run's intervals; the run's seed and resamples choose them.
    assert build_summary(str(tmp_path))["results"] == summary["results"]
    other = build_summary(str(tmp_path), resamples=0)["results"]["trained"]["rationale"]
    assert other["metrics"]["accuracy_ci"] is None and other["always"]["position_consistency_ci"] is None
    assert "| accuracy | 65.6 (n=96) |" in markdown(build_summary(str(tmp_path), resamples=0))


def test_headline_row_and_console_table(tmp_path):
    _rationale_results(tmp_path)
    summary = build_summary(str(tmp_path), name="t", models=[("trained", "genrm", "x"), ("base", "genrm", "y")])
    summary["results"]["base"] = {}  # a model without any headline suite
    summary["models"].append({"name": "base", "kind": "genrm", "ref": "y"})
    row = headline(summary, "trained")
    assert row["suite"] == "rationale" and row["n"] == 96 and row["accuracy"] == pytest.approx(65.625)
    assert row["accuracy_ci"] == summary["results"]["trained"]["rationale"]["metrics"]["accuracy_ci"]
    assert row["position_consistency_ci"] and row["parse_failure_rate"] == 0.0
    assert row["rationale_consistency"] == pytest.approx(55.0)
    rows = headline_rows(summary)
    assert [r["model"] for r in rows] == ["trained", "base"] and rows[1]["accuracy"] is None
    table = format_headline_table(rows)
    lines = table.splitlines()
    assert len(lines) == 4 and "accuracy % [95% CI]" in lines[0]
    lo, hi = row["accuracy_ci"]
    assert f"65.6 [{lo:.1f}, {hi:.1f}]" in lines[2] and lines[2].split()[-1] == "96"
    assert lines[3].split()[0] == "base" and set(lines[3].split()[1:]) == {"-"}
    with pytest.raises(KeyError, match="nobody"):
        headline(summary, "nobody")


def test_social_gold_and_bbq_accuracies_carry_intervals():
    def bbq(k, cond, gold_pairs, pick):
        return {"part": "bbq", "source": "bbq", "domain": "bias", "category": "Age", "example_id": k,
                "context_condition": cond, "question_polarity": "neg", "gold_index": 2, "unknown_index": 2,
                "stereotype_index": 0, "option_roles": ["a", "b", "u"], "gold_pairs": gold_pairs, "pick": pick}

    rows = [bbq(k, "ambig" if k % 2 else "disambig", [True, k % 3 != 0], 2 if k % 4 else 0) for k in range(40)]
    m = social.summarize(rows, Bootstrap())
    bias = m["domains"]["bias"]
    assert bias["n"] == 80 and bias["items"] == 40
    assert bias["accuracy_ci"][0] <= bias["accuracy"] <= bias["accuracy_ci"][1] < 100.0
    o = m["bbq"]["overall"]
    assert o["n_ambig"] == o["n_disambig"] == 20
    for cond in ("ambig", "disambig"):
        lo, hi = o[f"acc_{cond}_ci"]
        assert lo <= o[f"acc_{cond}"] <= hi


def test_bootstrap_resamples_recipe_key(tmp_path):
    def recipe(*argv):
        return load_recipe(expand_shortcuts([f"models=[{tmp_path}]", *argv]), schema=EvalRecipe)

    assert recipe().bootstrap_resamples == 1000 and recipe("bootstrap_resamples=0").bootstrap_resamples == 0
    with pytest.raises(RecipeError, match="bootstrap_resamples"):
        recipe("bootstrap_resamples=-5")
