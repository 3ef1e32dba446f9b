"""The evaluator end to end with tiny random models: files, resume, rescore, errors."""

import json
import os

import pytest

from genrm.config import RecipeError, load_recipe
from genrm.evaluation.missing import NO_VERDICT
from genrm.evaluation.rescore import rescore
from genrm.evaluation.runner import ResultsFile, run
from genrm.evaluation.schema import EvalRecipe, expand_shortcuts
from genrm.evaluation.suites import rm_bench
from genrm.data.rows import DataError
from genrm.outputs import OutputDirError


def recipe(argv):
    return load_recipe(expand_shortcuts(argv), schema=EvalRecipe)


def _metrics(summary):
    return {m: {s: r["metrics"] for s, r in per.items()} for m, per in summary["results"].items()}


def test_three_kinds_side_by_side_then_rescore(tmp_path, tiny_dir, tiny_scalar_dir, data_overrides, short_slices):
    out = tmp_path / "eval"
    r = recipe([f"models=[{tiny_dir},{tiny_dir}@proxy,{tiny_scalar_dir}@scalar]",
                "suites=[rm_bench,judgebench,social]", "limit=1", f"output_dir={out}", "judge.max_new_tokens=4",
                *data_overrides])
    summary = run(r)
    names = [m["name"] for m in summary["models"]]
    assert names == [tiny_dir.name, f"{tiny_dir.name}-proxy", f"{tiny_scalar_dir.name}-scalar"]
    for m in names:
        for s in ("rm_bench", "judgebench", "social"):
            res = summary["results"][m][s]
            a = res["always"]
            assert a["items"] == {"rm_bench": 1, "judgebench": 1, "social": 3}[s] and a["errors"] == 0
            assert a["seed"] == 0 and a["seconds"] > 0 and a["model_fingerprint"] and a["data_fingerprint"]
            assert a["judge_calls"] > 0
    genrm = summary["results"][names[0]]
    assert genrm["rm_bench"]["always"]["judge_calls"] == 9 * 2  # 9 cells x 2 orders per prompt
    assert 0 <= genrm["rm_bench"]["always"]["parse_failure_rate"] <= 100
    jb_always = genrm["judgebench"]["always"]  # the tiny random judge may give no verdict at all
    assert (jb_always["position_consistency"] is None if jb_always["parse_failure_rate"] == 100.0
            else 0 <= jb_always["position_consistency"] <= 100)
    proxy = summary["results"][names[1]]
    assert proxy["rm_bench"]["always"]["parse_failure_rate"] is None
    # Each distinct response is scored once and reused by its 3 cells (a repeated variant once in all).
    prompts = rm_bench.load(str(short_slices / "rm_bench"), limit=1)
    distinct = {(p.prompt, x) for p in prompts for x in p.chosen + p.rejected}
    assert proxy["rm_bench"]["always"]["judge_calls"] == len(distinct) <= 6
    for m in names:
        rb = summary["results"][m]["rm_bench"]["metrics"]
        if summary["results"][m]["rm_bench"]["always"]["parse_failure_rate"] == 100.0:  # the tiny random judge
            assert rb["overall"] is None and rb["overall_missing"] == NO_VERDICT  # never read as 0
        else:
            assert 0 <= rb["overall"] <= 100
        assert set(rb["domains"]) == {"chat"}
        soc = summary["results"][m]["social"]["metrics"]
        assert set(soc) >= {"domains", "bbq", "stereoset", "crows_pairs", "tradeoff"}
    for f in ("summary.json", "report.md", "recipe.yaml", "plots/domains.png"):  # 1 BBQ item: no trade-off point
        assert (out / f).exists(), f
    report = (out / "report.md").read_text()
    assert "| overall |" in report and "what it is" in report
    # Every table row has a one-line explanation after the numbers.
    rows = [ln for ln in report.splitlines() if ln.startswith("| ") and not ln.startswith("| ---")]
    assert all(ln.rstrip(" |").split(" | ")[-1].strip() for ln in rows)
    # rescore recomputes the same numbers from the saved files alone.
    again = rescore(str(out), "genrm")
    assert _metrics(again) == _metrics(summary)
    # A scoring model's RM-Bench rows are RM-Bench's own result rows: its official scorer agrees.
    official = rescore(str(out / f"{tiny_scalar_dir.name}-scalar" / "rm_bench.jsonl"), "rm_bench")
    assert official["chat"]["avg"] == pytest.approx(summary["results"][names[2]]["rm_bench"]["metrics"]["overall"])
    # GenRM JudgeBench rows carry JudgeBench's `judgments`: its official counter rule agrees.
    jb = rescore(str(out / names[0] / "judgebench.jsonl"), "judgebench")
    if genrm["judgebench"]["always"]["parse_failure_rate"] == 100.0:  # ours: no verdict, not 0
        assert genrm["judgebench"]["metrics"]["overall"] is None
    else:
        assert jb["overall"] == genrm["judgebench"]["metrics"]["overall"]


def test_rerun_is_a_no_op_and_model_change_is_refused(tmp_path, tiny_dir, tiny_scalar_dir, data_overrides):
    out = tmp_path / "eval"
    args = [f"models=[{tiny_dir}@proxy]", "suites=[judgebench]", "limit=3", f"output_dir={out}", *data_overrides]
    run(recipe(args))
    mdir = out / f"{tiny_dir.name}-proxy"
    meta = json.loads((mdir / "judgebench.meta.json").read_text())
    run(recipe(args))
    again = json.loads((mdir / "judgebench.meta.json").read_text())
    assert again["model_calls"] == meta["model_calls"] and again["runs"] == meta["runs"] == 1
    lines = (mdir / "judgebench.jsonl").read_text().splitlines()
    assert len(lines) == 3
    swapped = [f"models=[{{ref: {tiny_scalar_dir}, kind: proxy, name: {mdir.name}}}]", *args[1:]]
    with pytest.raises(DataError, match="another model"):
        run(recipe(swapped))
    # overwrite replaces only the evaluator's own files: a user's notes there stop it, untouched
    (out / "notes.md").write_text("mine")
    with pytest.raises(OutputDirError, match=r"did not write \(notes.md\)"):
        run(recipe(swapped + ["overwrite=true"]))
    assert (out / "notes.md").read_text() == "mine" and (mdir / "judgebench.jsonl").exists()
    (out / "notes.md").unlink()
    # overwrite wins over the default resume=true: a fresh run, not the old numbers (what `make demo` reruns)
    run(recipe(swapped + ["overwrite=true"]))
    fresh = json.loads((mdir / "judgebench.meta.json").read_text())
    assert fresh["model_calls"] > 0 and fresh["runs"] == 1 and fresh != meta


def test_resume_refuses_other_settings_or_changed_items(tmp_path, tiny_dir, data_overrides):
    """Issue 23: a resume reused saved items after the judge settings, the seed or the data under
    the same ids had changed, mixing old and new work; now it names what changed."""
    out = tmp_path / "eval"
    args = [f"models=[{tiny_dir}]", "suites=[judgebench]", "limit=2", f"output_dir={out}", "judge.max_new_tokens=4",
            *data_overrides]
    run(recipe(args))
    meta = out / tiny_dir.name / "judgebench.meta.json"
    for change, named in (["judge.max_new_tokens=5"], "judge.max_new_tokens"), (["seed=1"], "seed"):
        with pytest.raises(DataError, match=f"judged with other settings \\({named}"):
            run(recipe(args + change))
    run(recipe(args + ["judge.chunk_size=1", "limit=3"]))  # batching and a longer run are the same work
    assert json.loads(meta.read_text())["runs"] == 2
    rows = out / tiny_dir.name / "judgebench.jsonl"
    first = json.loads(rows.read_text().splitlines()[0])
    first["item_sha"] = "0" * 16  # what a saved item looks like when its data changed since
    rows.write_text("\n".join([json.dumps(first)] + rows.read_text().splitlines()[1:]) + "\n")
    with pytest.raises(DataError, match=f"item {first['id']!r} changed since it was judged"):
        run(recipe(args + ["limit=3"]))


def test_torn_last_line_is_cut_and_bad_middle_line_named(tmp_path):
    p = tmp_path / "judgebench.jsonl"
    p.write_text('{"id": "a", "error": null}\n{"id": "b", "err')
    assert list(ResultsFile(str(p)).read()) == ["a"]
    assert p.read_text() == '{"id": "a", "error": null}\n'
    p.write_text('{"id": "a"}\nnot json\n{"id": "b"}\n')
    with pytest.raises(DataError, match=r"judgebench.jsonl:2"):
        ResultsFile(str(p)).read()


def test_recipe_shortcuts_and_errors(tmp_path):
    r = recipe(["models=[outputs/run1,embedded:smollm2-135m@proxy,http://127.0.0.1:8000/v1]", "suites=[social]"])
    assert [(m.ref, m.kind) for m in r.models] == [("outputs/run1", "genrm"), ("embedded:smollm2-135m", "proxy"),
                                                  ("http://127.0.0.1:8000/v1", "genrm")]
    assert [m.label for m in r.models] == ["run1", "smollm2-135m-proxy", "127.0.0.1_8000"]
    with pytest.raises(RecipeError, match="did you mean 'limit'"):
        recipe(["models=[a]", "limt=3"])
    with pytest.raises(RecipeError, match="share the name"):
        recipe(["models=[x/run,y/run]"])
    with pytest.raises(RecipeError, match=r"unknown model kind '@scalr' in 'x/run@scalr'; did you mean '@scalar'\?"):
        recipe(["models=[x/run@scalr]"])
    with pytest.raises(RecipeError, match="kinds: @genrm, @scalar, @proxy"):
        recipe(["models=[x/run@judge]"])
    with pytest.raises(RecipeError, match="unknown embedded model 'smollm2'; did you mean 'embedded:smollm2-135m'"):
        recipe(["models=[embedded:smollm2]"])
    # a name is the model's results directory: it cannot point outside output_dir
    for bad in ("../escaped", "a/b", ".."):
        with pytest.raises(RecipeError, match="must be one plain directory name"):
            recipe([f"models=[{{ref: x/run, name: '{bad}'}}]", f"output_dir={tmp_path}/e"])
    assert not (tmp_path / "escaped").exists()
    with pytest.raises(RecipeError, match="models"):
        recipe(["suites=[rm_bench]"])
    with pytest.raises(RecipeError, match="suites.0"):
        recipe(["models=[a]", "suites=[rm_bnch]"])
    shipped = sorted(os.listdir(os.path.join(os.path.dirname(__file__), "..", "..", "recipes", "eval")))
    assert "embedded.yaml" in shipped
    for name in shipped:
        load_recipe([f"recipe=recipes/eval/{name}"], schema=EvalRecipe)


def test_model_ref_that_is_not_a_model_dir(tmp_path):
    from genrm.evaluation.models import resolve_ref

    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="without a model"):
        resolve_ref(str(tmp_path / "empty"))
    assert resolve_ref("Org/some-model") == "Org/some-model"


def test_rewardbench_and_rationale_suites(tmp_path, tiny_dir, fixtures_dir):
    out = tmp_path / "eval"
    summary = run(recipe([
        f"models=[{tiny_dir},{tiny_dir}@proxy]", "suites=[rewardbench,rationale]", f"output_dir={out}",
        f"data.rewardbench.path={fixtures_dir / 'generic' / 'reward_bench.jsonl'}",
        f"data.rationale.path={fixtures_dir / 'rationalerm' / 'test.jsonl'}", "data.rationale.options={}",
        "matcher={kind: lexical}", "judge.max_new_tokens=8", "plots=false",
    ]))
    g = summary["results"][tiny_dir.name]
    rb = g["rewardbench"]["metrics"]
    assert set(rb["subsets"]) == {"math-prm", "xstest-should-respond", "alpacaeval-easy"}
    # One subset per section present: each section equals its one subset; Chat Hard is missing.
    assert rb["sections"]["Reasoning"] == rb["subsets"]["math-prm"]["accuracy"]
    assert rb["sections"]["Chat Hard"] is None and rb["score"] is None
    if g["rewardbench"]["always"]["parse_failure_rate"] == 100.0:  # the tiny random judge: no verdict, not 0
        assert all(v["accuracy"] is None for v in rb["subsets"].values())
    else:
        assert all(v["accuracy"] in (0.0, 25.0, 50.0, 75.0, 100.0) for v in rb["subsets"].values())  # GenRM halves
    ra = g["rationale"]
    assert ra["metrics"]["n"] == 2 and ra["always"]["judgments"] == 4  # the fixture's tie row is no pair
    assert ra["metrics"]["rationale_items"] == 2 and 0 <= ra["metrics"]["rationale_consistency"] <= 100
    proxy = summary["results"][f"{tiny_dir.name}-proxy"]
    assert proxy["rationale"]["metrics"]["rationale_consistency"] is None
    assert all(v["accuracy"] in (0.0, 100.0) for v in proxy["rewardbench"]["metrics"]["subsets"].values())
    assert "Rationale consistency" in (out / "report.md").read_text()
    # Accuracy and position consistency carry their interval over the 2 records, seeded by the run.
    assert ra["always"]["position_pairs"] == 2
    if ra["always"]["parse_failure_rate"] == 100.0:  # the tiny random judge: '-' with the reason, not 0.0
        assert ra["metrics"]["accuracy"] is None and "| accuracy | - (no readable verdict" in (out / "report.md").read_text()
        return
    lo, hi = ra["metrics"]["accuracy_ci"]
    assert lo <= ra["metrics"]["accuracy"] <= hi
    assert json.loads((out / tiny_dir.name / "rationale.meta.json").read_text())["bootstrap_resamples"] == 1000
    assert f"| accuracy | {ra['metrics']['accuracy']:.1f} [{lo:.1f}, {hi:.1f}] (n=2) |" in (out / "report.md").read_text()


def _entry(name):
    import importlib.util

    path = os.path.join(os.path.dirname(__file__), "..", "..", "evaluate", f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"evaluate_{name}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_entry_scripts_give_one_error_line(tmp_path, capsys, tiny_dir):
    from genrm.config import cli_main

    run_main = _entry("run").main
    rc = cli_main(run_main, [f"models=[{tiny_dir}]", "suites=[judgebench]", f"output_dir={tmp_path / 'o'}",
                             f"data.judgebench.path={tmp_path / 'missing.jsonl'}"],
                  errors=(DataError, ValueError, OSError))
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("error: ") and "missing.jsonl" in err[0]
    rescore_main = _entry("rescore").main
    rc = cli_main(rescore_main, [f"input={tmp_path}", "format=judgebnch"], errors=(DataError,))
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "did you mean 'judgebench'" in err[0]


def test_rationale_suite_on_built_records_filters_by_unit_origin(tmp_path, fixtures_dir):
    import dataclasses

    from genrm.evaluation.suites import rationale
    from genrm.data.record import content_id, write_jsonl
    from genrm.data.sources import get_source

    human = list(get_source("rationalerm")(str(fixtures_dir / "rationalerm" / "test.jsonl")))
    human = [r for r in human if r.rationale_units]
    h = human[0]
    chosen = h.chosen + " (silver copy)"
    silver = [dataclasses.replace(h, chosen=chosen, id=content_id(h.prompt, chosen, h.rejected),
                                  rationale_origin="template")]
    path = tmp_path / "eval.jsonl"
    write_jsonl(human + silver, str(path))

    data = recipe(["models=[m]", f"data.rationale.records=[{path}]"]).data.rationale
    assert [r.id for r in rationale.load_items(data, None)] == [r.id for r in human]  # human units only, by default
    data = recipe(["models=[m]", f"data.rationale.records=[{path}]", "data.rationale.origins=[human,template]"]).data.rationale
    got = rationale.load_items(data, None)
    assert [r.id for r in got] == [r.id for r in human + silver]
    assert rationale.summarize([rationale.item_row(r, [{"votes": [1, 1]}]) for r in got])["unit_origins"] == \
        "human, template"
    data = recipe(["models=[m]", f"data.rationale.records=[{path}]", "data.rationale.origins=[llm]"]).data.rationale
    with pytest.raises(DataError, match=f"origin llm in {path}"):
        rationale.load_items(data, None)
    with pytest.raises(RecipeError, match="data.rationale.origins"):
        recipe(["models=[m]", "data.rationale.origins=[silver]"])


def test_a_model_limit_caps_that_model_only(tmp_path, tiny_dir, fixtures_dir):
    """`models.N.limit`: a base that writes no verdict can be judged on fewer items; its rows
    carry their own n and its meta the items it was given."""
    out = tmp_path / "eval"
    summary = run(recipe([
        f"models=[{{ref: {tiny_dir}, name: full}}, {{ref: {tiny_dir}, name: capped, limit: 1}}]",
        "suites=[rationale]", f"output_dir={out}",
        f"data.rationale.path={fixtures_dir / 'rationalerm' / 'test.jsonl'}", "data.rationale.options={}",
        "matcher={kind: lexical}", "judge.max_new_tokens=8", "plots=false",
    ]))
    full, capped = (summary["results"][m]["rationale"] for m in ("full", "capped"))
    assert full["metrics"]["n"] == 2 and capped["metrics"]["n"] == 1 and capped["always"]["judgments"] == 2
    meta = json.loads((out / "capped" / "rationale.meta.json").read_text())
    assert meta["items_expected"] == 1
    assert meta["data_fingerprint"] != json.loads((out / "full" / "rationale.meta.json").read_text())["data_fingerprint"]
    with pytest.raises(RecipeError, match="limit"):
        recipe([f"models=[{{ref: {tiny_dir}, limit: 0}}]", "suites=[rationale]"])
