"""What a training run leaves behind: its own model card and its judge record."""

import json

from genrm.judge.config import JUDGE_FILE, JudgeConfig, judge_for_model
from genrm.training.run import trainer_owns
from tests.training.conftest import run_train, tiny_args


def test_card_and_judge_record_after_a_tiny_run(tiny_model, tiny_data, tmp_path):
    out = tmp_path / "run"
    r = run_train(tiny_args(tiny_model, tiny_data, out, "judge.template=compact", "sft.max_steps=1",
                            "grpo.max_steps=1", "eval_steps=1"))
    assert r.returncode == 0, r.stderr[-3000:]
    card = (out / "README.md").read_text()
    assert "[None]" not in card and f"base_model: {tiny_model}" in card and f"from `{tiny_model}`" in card
    assert "fingerprint sha256:" in card and "sha256:unknown" not in card and "reward: hybrid" in card
    assert "template: compact" in card and "boxed" in card and "outcome accuracy" in card
    assert f"python evaluate/run.py models=[{out}]" in card and f"genrm serve judge.backend.model={out}" in card
    for stage in ("sft", "grpo"):  # TRL's stage cards no longer say "fine-tuned version of [None]"
        assert "[None]" not in (out / stage / "README.md").read_text()
    rec = json.loads((out / JUDGE_FILE).read_text())
    assert rec["template"] == "compact" and rec["style"] == "rationale"
    assert judge_for_model(str(out), JudgeConfig()).template == "compact"
    if '"parse_failure_rate": 1.0' in (out / "eval_history.json").read_text():  # random weights: no verdict
        assert "outcome accuracy - (no readable verdict)" in card
    assert all(trainer_owns(n) for n in ("README.md", JUDGE_FILE, "compare.json"))  # overwrite=true keeps working


def test_card_shows_the_base_vs_trained_comparison(tmp_path):
    from genrm.training.card import model_card
    from genrm.training.recipe import TrainRecipe

    summary = {"accuracy": 0.75, "parse_failure_rate": 0.0, "rationale_consistency": 0.5, "items": 4}
    dead = {"accuracy": 0.0, "parse_failure_rate": 1.0, "rationale_consistency": 0.0, "items": 4}
    (tmp_path / "compare.json").write_text(json.dumps({"base": dead, "trained": summary}))
    card = model_card(TrainRecipe(), str(tmp_path), None)
    assert "| outcome accuracy | - (no readable verdict) | 0.750 |" in card and "| items | 4 | 4 |" in card
    assert "fingerprint sha256:unknown" in card and "template: built-in rationale" in card
