"""The embedded SmolLM2-135M-Instruct through the rewardbench2 and best_of_n suites on the offline
fixtures (one prompt per subset): as an LLM proxy and as a GenRM under all three protocols."""

import pytest

from genrm.config import load_recipe
from genrm.evaluation.rescore import rescore
from genrm.evaluation.runner import run
from genrm.evaluation.schema import EvalRecipe

FIXTURE = "tests/fixtures/rewardbench2/test.jsonl"


def _in(v, lo=0.0, hi=101.0):  # the Ties score goes up to 101 (its weights sum to 1.01, as published)
    return v is None or lo <= v <= hi


@pytest.mark.slow
def test_embedded_smollm2_on_rewardbench2_and_best_of_n(tmp_path):
    out = tmp_path / "eval"
    one = "backend: {num_threads: 1}"  # one torch thread: the machine is shared
    summary = run(load_recipe([
        f"models=[{{ref: embedded:smollm2-135m, name: smollm2, {one}}}, "
        f"{{ref: embedded:smollm2-135m, kind: proxy, name: smollm2-proxy, {one}}}]",
        "suites=[rewardbench2,best_of_n]", "limit=1", f"output_dir={out}", "judge.max_new_tokens=8",
        f"data.rewardbench2.path={FIXTURE}", "data.rewardbench2.protocols=[pairwise,ranking,ratings]",
        "data.best_of_n.path=tests/fixtures/best_of_n/generic.jsonl", "bootstrap_resamples=100",
    ], schema=EvalRecipe))
    g, p = (summary["results"][m]["rewardbench2"] for m in ("smollm2", "smollm2-proxy"))
    assert set(g["metrics"]["protocols"]) == {"pairwise", "ranking", "ratings"}
    assert set(p["metrics"]["protocols"]) == {"scores"}
    for r in (g, p):
        assert r["always"]["errors"] == 0 and r["always"]["model_fingerprint"] and r["always"]["judge_calls"] > 0
        for proto in r["metrics"]["protocols"].values():
            assert set(proto["subsets"]) == {"Factuality", "Precise IF", "Math", "Safety", "Focus", "Ties"}
            assert all(_in(v["score"]) for v in proto["subsets"].values()) and _in(proto["overall"])
            assert _in(proto.get("parse_failure_rate"), 0, 100)
        for base in r["metrics"]["length_baselines"].values():
            assert _in(base["overall"])
    assert g["metrics"]["prompts"] == p["metrics"]["prompts"] == 7  # 5 best-of-4 prompts, ref:1 and tied:1
    assert _in(g["always"]["parse_failure_rate"], 0, 100) and _in(g["always"]["position_consistency"], 0, 100)
    for m in ("smollm2", "smollm2-proxy"):
        assert _in(summary["results"][m]["best_of_n"]["metrics"]["accuracy"], 0, 100)
    for f in ("summary.json", "report.md", "plots/rewardbench2_subsets.png"):
        assert (out / f).stat().st_size > 0, f
    assert "## RewardBench 2" in (out / "report.md").read_text()
    again = rescore(str(out), "genrm")
    assert again["results"]["smollm2"]["rewardbench2"]["metrics"] == g["metrics"]
    # The proxy's best-of-N rows are `format=best_of_n` rescore input: the same accuracy again.
    bon = rescore(str(out / "smollm2-proxy" / "best_of_n.jsonl"), "best_of_n")
    assert bon["overall"]["accuracy"] == summary["results"]["smollm2-proxy"]["best_of_n"]["metrics"]["accuracy"]
