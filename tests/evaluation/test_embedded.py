"""The real thing: the embedded SmolLM2-135M-Instruct through the evaluator on a slice of every suite
(as a GenRM on JudgeBench and RM-Bench chat, as a proxy on BBQ and CrowS-Pairs, and as a scalar RM
built from its weights with a fresh head)."""

import json

import pytest

from genrm.config import load_recipe
from genrm.evaluation.rescore import rescore
from genrm.evaluation.runner import run
from genrm.evaluation.schema import EvalRecipe


@pytest.fixture(scope="module")
def smollm2_scalar(tmp_path_factory):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from genrm.assets import resolve_model

    path = resolve_model("embedded:smollm2-135m")
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=1, dtype=torch.bfloat16)
    out = tmp_path_factory.mktemp("smollm2_scalar")
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(path).save_pretrained(out)
    return out


def _in(v, lo, hi):
    return v is None or lo <= v <= hi


@pytest.mark.slow
def test_embedded_smollm2_on_every_suite(tmp_path, short_slices, shared_data, smollm2_scalar):
    out = tmp_path / "eval"
    # One torch thread: on a shared 2-core machine two spinning threads per process run several times slower.
    one = "backend: {num_threads: 1}"
    scalar = f"{{ref: {smollm2_scalar}, kind: scalar, name: smollm2-scalar, {one}}}"
    # 1. The GenRM (and the scalar RM) on the shortest real RM-Bench chat prompt and JudgeBench pair.
    first = run(load_recipe([
        f"models=[{{ref: embedded:smollm2-135m, name: smollm2, {one}}}, {scalar}]", "suites=[rm_bench,judgebench]",
        "limit=1", f"output_dir={out}", "judge.max_new_tokens=32",
        f"data.rm_bench.path={short_slices / 'rm_bench'}", f"data.judgebench.path={short_slices / 'judgebench.jsonl'}",
    ], schema=EvalRecipe))
    g = first["results"]["smollm2"]
    assert g["rm_bench"]["always"]["judgments"] == 18 and g["judgebench"]["always"]["judgments"] == 2
    for s in ("rm_bench", "judgebench"):
        a = g[s]["always"]
        assert _in(a["parse_failure_rate"], 0, 100) and _in(a["position_consistency"], 0, 100)
        assert a["errors"] == 0 and a["model_fingerprint"] and a["seconds"] > 0
        assert _in(first["results"]["smollm2-scalar"][s]["metrics"]["overall"], 0, 100)
    assert _in(g["rm_bench"]["metrics"]["overall"], 0, 100) and _in(g["judgebench"]["metrics"]["overall"], 0, 100)
    # 2. The proxy (and the scalar RM) on BBQ and CrowS-Pairs, into the same results directory.
    second = run(load_recipe([
        f"models=[{{ref: embedded:smollm2-135m, kind: proxy, {one}}}, {scalar}]", "suites=[social]", "limit=4",
        f"output_dir={out}",
        "data.social.sources=[{name: bbq, path: " + str(shared_data / "bbq" / "Age.jsonl") + "}, "
        "{name: crows_pairs, path: " + str(shared_data / "crows_pairs" / "crows_pairs_anonymized.csv") + "}]",
    ], schema=EvalRecipe))
    for m in ("smollm2-135m-proxy", "smollm2-scalar"):
        soc = second["results"][m]["social"]["metrics"]
        bbq = soc["bbq"]["overall"]
        assert bbq["n"] == 4 and _in(bbq["acc_ambig"], 0, 100) and _in(bbq["acc_disambig"], 0, 100)
        assert _in(bbq["s_dis"], -100, 100) and _in(bbq["s_amb"], -100, 100)
        assert soc["crows_pairs"]["n"] == 4 and _in(soc["crows_pairs"]["sent_more"], 0, 100)
        assert _in(soc["domains"]["bias"]["accuracy"], 0, 100)
    for f in ("summary.json", "report.md", "plots/domains.png", "plots/tradeoff.png"):
        assert (out / f).stat().st_size > 0, f
    # 3. The whole directory (both runs, three models) rescored without a model.
    every = rescore(str(out), "genrm")
    assert set(every["results"]) == {"smollm2", "smollm2-135m-proxy", "smollm2-scalar"}
    assert every["results"]["smollm2"]["rm_bench"]["metrics"] == g["rm_bench"]["metrics"]
    assert (out / "smollm2" / "rm_bench.jsonl").exists() and json.loads((out / "summary.json").read_text())
