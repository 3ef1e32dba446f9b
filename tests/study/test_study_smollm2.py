"""The study on the real thing, at the smallest size: the embedded SmolLM2, real BBQ and
RM-Bench records, all-MiniLM-L6-v2 for the reward and the measures."""

import json

import pytest

from tests.study.conftest import REPO


@pytest.mark.slow
def test_study_on_smollm2(shared_data, tmp_path):
    from genrm.study.run import run_study

    out = tmp_path / "study"
    args = [
        "recipe=" + str(REPO / "recipes" / "study" / "toy_cpu.yaml"), f"output_dir={out}", "arms=[base,hybrid]",
        "seeds=[0]", f"data.sources=[{{name: bbq, path: {shared_data / 'bbq'}, max_records: 200}}]",
        f"data.optional_sources=[{{name: rm_bench, path: {shared_data / 'rm_bench' / 'chat_filtered.json'}, "
        "max_records: 40, options: {pairs: diagonal}}]",
        "eval.records=4", "eval.bbq_items=2", "eval.max_new_tokens=48", "trainer.sft.max_steps=2",
        "trainer.sft.per_device_train_batch_size=2", "trainer.grpo.max_steps=1", "trainer.grpo.num_generations=2",
        "trainer.grpo.per_device_train_batch_size=2", "trainer.grpo.max_completion_length=32",
        "trainer.grpo.log_completions=false", "trainer.eval.max_records=2", "trainer.eval.max_new_tokens=32",
        "trainer.eval_steps=1", "stats.resamples=200",
    ]
    assert run_study(args) == 0
    study = json.loads((out / "study.json").read_text())
    assert study["complete"] and [u["arm"] for u in study["units"]] == ["base", "hybrid"]
    assert study["settings"]["reward_matcher"] == "embedding" and study["settings"]["eval"]["matcher"]["kind"] == "embedding"
    for u in study["units"]:
        m = u["measures"]
        assert m["heldout_scored"] == 4 and m["bbq"]["n"] == 2
        assert 0 <= m["accuracy"] <= 100 and 0 <= m["parse_failure_rate"] <= 100
        assert m["rationale_consistency"] is None or 0 <= m["rationale_consistency"] <= 100
    rows = [json.loads(x) for x in (out / "evals" / "base" / "heldout.jsonl").read_text().splitlines()]
    texts = [j["text"] for r in rows for c in r["comparisons"] for j in c["judgments"]]
    assert len(texts) == 4 and all(t for t in texts)  # the real model wrote something for every judgment
    hybrid = next(u for u in study["units"] if u["arm"] == "hybrid")
    assert [p["step"] for p in hybrid["curve"]] == [1]
    # differences are taken against outcome-only, which this grid leaves out
    assert study["differences"] == {} and (out / "plots" / "rc_vs_accuracy.png").is_file() and (out / "study.md").is_file()
