"""A model without one readable verdict is reported as `-` with the reason, never as 0.0."""

import json

from genrm.config import load_recipe
from genrm.evaluation import runner
from genrm.evaluation.missing import NO_VERDICT
from genrm.evaluation.models import GenRM
from genrm.evaluation.schema import EvalRecipe
from genrm.testing.scripted_backend import ScriptedBackend

RB2 = "tests/fixtures/rewardbench2/test.jsonl"
BON = "tests/fixtures/best_of_n/generic.jsonl"


def test_a_judge_that_never_gives_a_verdict_has_dash_rows_not_zeros(tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "load_model",
                        lambda spec, judge, seed, **kw: GenRM(ScriptedBackend(lambda a, b: "invalid"), judge, seed))
    out = tmp_path / "eval"
    args = ["models=[{ref: mute, name: mute}]", "suites=[rewardbench2,best_of_n]", f"output_dir={out}",
            f"data.rewardbench2.path={RB2}", "data.rewardbench2.protocols=[pairwise]",
            f"data.best_of_n.path={BON}", "bootstrap_resamples=20"]
    runner.run(load_recipe(args, schema=EvalRecipe))
    summary = json.loads((out / "summary.json").read_text())
    bon = summary["results"]["mute"]["best_of_n"]
    assert bon["always"]["parse_failure_rate"] == 100.0
    m = bon["metrics"]
    assert m["accuracy"] is None and m["accuracy_missing"] == NO_VERDICT and m["missing_reason"] == NO_VERDICT
    assert m["n"] > 0  # counts stay: how many items had no verdict
    rb2 = summary["results"]["mute"]["rewardbench2"]["metrics"]
    assert rb2["protocols"]["pairwise"]["overall"] is None
    assert rb2["length_baselines"]["shortest"]["overall"] is not None  # needs no judge: kept
    report = (out / "report.md").read_text()
    rows = {ln.split(" | ")[0][2:].strip(): ln for ln in report.splitlines() if ln.startswith("| ")}
    assert bon["always"]["position_consistency"] is None  # no winner in either order: nothing to agree on
    for label in ("accuracy", "pairwise: overall", "position consistency"):
        assert f"- ({NO_VERDICT})" in rows[label], rows[label]
    accuracy_rows = [ln for k, ln in rows.items() if "accuracy" in k or "overall" in k]
    assert not any(" 0.0 " in ln for k, ln in rows.items() if not k.startswith(("shortest", "longest"))
                   and ln in accuracy_rows), accuracy_rows


def test_results_csv_and_compare_side_by_side(tmp_path, monkeypatch, capsys):
    from genrm.evaluation.table import COLUMNS

    runs = []
    for name, decide in (("mute", lambda a, b: "invalid"), ("able", None)):
        backend = ScriptedBackend(decide) if decide else ScriptedBackend()
        monkeypatch.setattr(runner, "load_model", lambda spec, judge, seed, b=backend, **kw: GenRM(b, judge, seed))
        out = tmp_path / name
        runner.run(load_recipe(["models=[{ref: judge, name: judge}]", "suites=[best_of_n]", f"output_dir={out}",
                                f"data.best_of_n.path={BON}", "bootstrap_resamples=20"], schema=EvalRecipe))
        runs.append(out)
    import csv

    table = list(csv.DictReader(open(runs[1] / "results.csv")))
    assert tuple(table[0]) == COLUMNS
    acc = next(r for r in table if r["metric"] == "accuracy")
    assert float(acc["value"]) >= 0 and int(acc["n"]) > 0 and acc["ci_low"] != ""
    mute = next(r for r in csv.DictReader(open(runs[0] / "results.csv")) if r["metric"] == "accuracy")
    assert mute["value"] == "" and int(mute["n"]) > 0  # no verdict: an empty cell, not 0
    import importlib.util

    spec = importlib.util.spec_from_file_location("compare_entry", "evaluate/compare.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main([f"runs=[{runs[0]},{runs[1]}]"]) == 0
    got = capsys.readouterr().out
    line = next(ln for ln in got.splitlines() if " accuracy " in ln)
    assert " - " in line + " " and "(n=" in line and "mute" in got.splitlines()[0]


def test_compare_answers_help_fast():
    import subprocess
    import sys

    p = subprocess.run([sys.executable, "evaluate/compare.py", "--help"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and "runs" in p.stdout and "side by side" in p.stdout
