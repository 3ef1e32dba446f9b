"""The whole grid on a tiny random model (2 arms x 2 seeds, real BBQ and RM-Bench records),
and a SIGKILL of the study process followed by a resume."""

import json
import math
import os
import signal
import time

from genrm.data.record import prompt_key, read_jsonl
from genrm.study.measures import BBQ, MAIN
from tests.study.conftest import events, run_study_process, tiny_study_args


def _in_range(v, lo, hi) -> bool:
    return v is None or (isinstance(v, float) and not math.isnan(v) and lo <= v <= hi)


def test_tiny_grid_writes_everything_in_range(tiny_model, shared_data, tmp_path):
    from genrm.study.run import run_study

    out = tmp_path / "study"
    t0 = time.time()
    assert run_study(tiny_study_args(tiny_model, out, shared_data)) == 0
    took = time.time() - t0
    for name in ("study.json", "study.md", "recipe.yaml", "settings.json", "progress.jsonl",
                 "plots/rc_vs_accuracy.png", "plots/learning_curves.png", "plots/tradeoff.png",
                 "splits/heldout.jsonl", "splits/bbq.jsonl", "splits/train.jsonl"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    for arm in ("sft", "outcome"):
        for seed in (0, 1):
            assert (out / "results" / f"{arm}-seed{seed}.json").is_file()
            assert (out / "recipes" / f"{arm}-seed{seed}.yaml").is_file()
            assert (out / "runs" / arm / f"seed{seed}" / "config.json").is_file()  # the model
            assert not list((out / "runs" / arm / f"seed{seed}").glob("*/checkpoint-*"))  # pruned
    study = json.loads((out / "study.json").read_text())
    assert study["complete"] and study["arms"] == ["sft", "outcome"] and study["seeds_compared"] == [0, 1]
    assert study["data"]["heldout_records"] == 6 and study["data"]["bbq_items"] == 4
    for u in study["units"]:
        m = u["measures"]
        assert m["heldout_scored"] == 6
        for k in MAIN + ("position_consistency",):
            assert _in_range(m[k], 0.0, 100.0), (k, m[k])
        assert _in_range(m["bbq"]["acc_ambig"], 0, 100) and _in_range(m["bbq"]["acc_disambig"], 0, 100)
        assert _in_range(m["bbq"]["s_dis"], -100, 100) and _in_range(m["bbq"]["s_amb"], -100, 100)
        assert m["bbq"]["n"] == 4
        assert m["accuracy"] is not None and m["parse_failure_rate"] is not None
    curves = {(u["arm"], u["seed"]): u["curve"] for u in study["units"]}
    assert [p["step"] for p in curves[("outcome", 0)]] == [1] and curves[("sft", 0)] == []
    grpo = next(u for u in study["units"] if u["arm"] == "outcome")["grpo"]
    assert grpo["steps_logged"] == 1 and 0.0 <= grpo["frac_reward_zero_std"] <= 1.0
    for arm, agg in study["aggregate"].items():
        assert agg["accuracy"]["n"] == 2 and _in_range(agg["accuracy"]["mean"], 0, 100)
    d = study["differences"]["sft"]
    for k in MAIN + BBQ:
        if k in d and d[k]["lo"] is not None:
            assert d[k]["lo"] <= d[k]["diff"] + 1e-9 and d[k]["diff"] <= d[k]["hi"] + 1e-9
            assert -100 <= d[k]["lo"] <= d[k]["hi"] <= 100 if k not in ("s_dis", "s_amb") else True
    assert {c["id"] for c in study["claims"]} >= {"hybrid_raises_rc", "rationale_only_hacks"}
    md = (out / "study.md").read_text()
    for section in ("## Settings", "## Results (mean ± std over seeds)", "## Differences against outcome-only",
                    "## Do the papers' findings show here?", "## Runs"):
        assert section in md
    # nothing measured was trained on
    train = list(read_jsonl(str(out / "splits" / "train.jsonl")))
    held = list(read_jsonl(str(out / "splits" / "heldout.jsonl"))) + list(read_jsonl(str(out / "splits" / "bbq.jsonl")))
    assert not {prompt_key(r.prompt) for r in train} & {prompt_key(r.prompt) for r in held}
    assert not {r.id for r in train} & {r.id for r in held}
    # the GRPO arms started from their seed's SFT run
    rec = (out / "recipes" / "outcome-seed1.yaml").read_text()
    assert f"ref: {out / 'runs' / 'sft' / 'seed1'}" in rec and "kind: outcome" in rec
    print(f"tiny grid: {took:.0f} s")

    # a rerun does nothing new: every arm/seed is skipped and the report is rebuilt
    before = {p: p.stat().st_mtime_ns for p in (out / "results").iterdir()}
    assert run_study(tiny_study_args(tiny_model, out, shared_data)) == 0
    assert {p: p.stat().st_mtime_ns for p in (out / "results").iterdir()} == before
    assert sum(e["event"] == "skip" for e in events(out)) == 4


def test_kill_and_resume(tiny_model, shared_data, tmp_path):
    out = tmp_path / "study"
    args = tiny_study_args(tiny_model, out, shared_data, "arms=[outcome]", "seeds=[0]")
    proc = run_study_process(args, stdout=open(tmp_path / "first.log", "w"), stderr=open(tmp_path / "first.err", "w"),
                             start_new_session=True)
    deadline = time.time() + 240
    while time.time() < deadline and not any(e["event"] == "done" for e in events(out)):
        assert proc.poll() is None, (tmp_path / "first.err").read_text()[-3000:]
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # right after the SFT warm start of seed 0 finished
    proc.wait()
    first = [e for e in events(out) if e["event"] == "done"]
    assert [(e["arm"], e["seed"]) for e in first] == [("sft", 0)]
    sft_result = out / "results" / "sft-seed0.json"
    sft_model = out / "runs" / "sft" / "seed0" / "model.safetensors"
    marks = (sft_result.stat().st_mtime_ns, sft_model.stat().st_mtime_ns)
    assert not (out / "study.json").exists()

    proc = run_study_process(args, stdout=open(tmp_path / "second.log", "w"), stderr=open(tmp_path / "second.err", "w"))
    assert proc.wait(timeout=300) == 0, (tmp_path / "second.err").read_text()[-3000:]
    ev = events(out)
    starts = [(e["arm"], e["seed"]) for e in ev if e["event"] == "start"]
    assert starts.count(("sft", 0)) == 1  # never started again after it finished
    assert ("skip" in [e["event"] for e in ev if (e["arm"], e["seed"]) == ("sft", 0)])
    assert (sft_result.stat().st_mtime_ns, sft_model.stat().st_mtime_ns) == marks
    assert "sft seed 0 finished earlier, skipped" in (tmp_path / "second.log").read_text()
    study = json.loads((out / "study.json").read_text())
    assert study["complete"] and [u["arm"] for u in study["units"]] == ["outcome"]

    # the warm start was trained, not measured; listing `sft` later measures it without training it again
    trained_for = json.loads(sft_result.read_text())["train_seconds"]
    proc = run_study_process([*args, "arms=[sft,outcome]"], stdout=open(tmp_path / "third.log", "w"),
                             stderr=open(tmp_path / "third.err", "w"))
    assert proc.wait(timeout=300) == 0, (tmp_path / "third.err").read_text()[-3000:]
    assert sft_model.stat().st_mtime_ns == marks[1]
    unit = json.loads(sft_result.read_text())
    assert unit["measured"] and unit["measures"]["heldout_scored"] == 6 and unit["train_seconds"] >= trained_for
    assert [u["arm"] for u in json.loads((out / "study.json").read_text())["units"]] == ["sft", "outcome"]
