"""A matcher failure never becomes a 0 reward: the completion gets None (no advantage),
and the trainer hands TRL the recipe's reward as its only reward function, so TRL never
sums a NaN with another function's value as 0."""

import json
import math

import numpy as np

from genrm.config import load_recipe
from genrm.training.recipe import TrainRecipe
from genrm.training.rewards import training_reward
from genrm.training.stages import run_grpo
from tests.training.conftest import tiny_args, tiny_records


class Flaky:
    """Fails on every other pair (as a MetaJudge that gave up after its retries)."""

    def __init__(self):
        self.n = 0

    def score_matrices(self, pairs, raise_errors=True):
        out = []
        for hu, mu, *_ in pairs:
            self.n += 1
            out.append(None if self.n % 2 else np.ones((len(hu), max(1, len(mu)))))
        return out


def test_failed_match_is_none_not_zero(tiny_model, tiny_data, tmp_path):
    recipe = load_recipe(tiny_args(tiny_model, tiny_data, tmp_path / "o"), TrainRecipe)
    reward = training_reward(recipe, "rationale", matcher=Flaky())
    rec = tiny_records(1)[0]
    right = f"1. It gives the correct sum 0 for 0 plus 0.\n2. The other answer is off by one.\n\\boxed{{{rec.label}}}"
    out = reward(prompts=["p"] * 4, completions=[right] * 4, label=[rec.label] * 4,
                 rationale_units=[rec.rationale_units] * 4, chosen_position=[rec.chosen_position] * 4,
                 record_id=[rec.id] * 4)
    assert out[0] is None and out[2] is None and out[1] == out[3] and out[1] > 0.5
    assert reward.reward.last_metrics["match_failures"] == 2


def test_trainer_uses_one_reward_and_keeps_nan(tiny_model, tiny_data, tmp_path, monkeypatch):
    """What TRL does with the None of a failed match (the test above shows our reward gives
    it): with the recipe's reward as the only function, the row is NaN, not 0."""
    import genrm.training.stages as stages

    made = []

    def failing_reward(recipe, style, rows_path=None, matcher=None):
        real = training_reward(recipe, style, rows_path, matcher=Flaky())

        def reward(prompts=None, completions=None, **kw):
            real(prompts=prompts, completions=completions, **kw)  # runs (and logs) as in training
            return [None] * len(completions)  # as if every MetaJudge call had failed for good

        reward.__name__ = real.__name__
        made.append(reward)
        return reward

    monkeypatch.setattr(stages, "training_reward", failing_reward)
    recipe = load_recipe(tiny_args(tiny_model, tiny_data, tmp_path / "o", "sft.enabled=false", "eval_steps=0",
                                   "grpo.max_steps=1", "save_steps=1"), TrainRecipe)
    run_grpo(recipe, tiny_records(8), [], str(tiny_model), str(tmp_path / "o" / "grpo"), str(tmp_path / "o"))
    assert len(made) == 1
    state = json.loads((tmp_path / "o" / "grpo" / "checkpoint-1" / "trainer_state.json").read_text())
    logs = state["log_history"][0]
    reward_keys = [k for k in logs if k.startswith("rewards/") and k.endswith("/mean")]
    assert reward_keys == ["rewards/hybrid/mean"], logs  # the only reward function
    # NaN (written as null by the trainer state), never 0
    for key in ("rewards/hybrid/mean", "reward"):
        assert logs[key] is None or math.isnan(logs[key]), (key, logs)
