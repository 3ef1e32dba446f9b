"""The policy-GRPO recipe schema, its data rows and its TRL config (the runs themselves
are in tests/rlhf/test_trl.py)."""

from pathlib import Path

import pytest

from genrm.config import RecipeError, load_recipe
from genrm.training.policy import PolicyData, PolicyGRPORecipe, checkpointing_keys, grpo_config, prompt_rows
from genrm.data.record import PreferenceRecord, user_prompt, write_jsonl
from genrm.rlhf.server import ServeConfig

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["policy_grpo_smoke.yaml", "policy_grpo_qwen3_8b.yaml"])
def test_policy_recipes_load(name):
    r = load_recipe([f"recipe={REPO / 'recipes' / name}"], PolicyGRPORecipe)
    assert r.output_dir == f"outputs/policy/{r.name}"
    assert r.grpo["num_generations"] >= 2


def test_qwen3_recipe_asks_a_vllm_served_genrm():
    r = load_recipe([f"recipe={REPO / 'recipes' / 'policy_grpo_qwen3_8b.yaml'}"], PolicyGRPORecipe)
    assert r.reward.judge.backend["kind"] == "openai" and r.reward.judge.backend["base_url"].endswith("/v1")
    assert r.reward.strategy.name == "sampled_round_robin" and r.reward.strategy.fit == "bradley_terry"


def test_serve_recipe_loads():
    cfg = load_recipe([f"recipe={REPO / 'recipes' / 'serve' / 'genrm_vllm.yaml'}"], ServeConfig)
    assert cfg.host == "127.0.0.1" and cfg.judge.backend["kind"] == "openai" and cfg.batching.workers == 4


def test_recipe_errors_are_one_line_naming_the_key():
    smoke = f"recipe={REPO / 'recipes' / 'policy_grpo_smoke.yaml'}"
    with pytest.raises(RecipeError, match="unknown key 'reward.strategy.nme'"):
        load_recipe([smoke, "reward.strategy.nme=x"], PolicyGRPORecipe)
    r = load_recipe([smoke, "data.path=x.jsonl"], PolicyGRPORecipe)  # replaces the recipe's data.build
    assert (r.data.path, r.data.build) == ("x.jsonl", None)
    with pytest.raises(RecipeError, match="data.path and data.build are both set"):
        load_recipe([smoke, "data.path=x.jsonl", "data.build=b.yaml"], PolicyGRPORecipe)
    r = load_recipe([smoke, "grpo.num_generation=4"], PolicyGRPORecipe)
    with pytest.raises(RecipeError, match="grpo: .*num_generation"):
        grpo_config(r, "/tmp/unused")


def test_grpo_config_takes_the_recipe_keys(tmp_path):
    r = load_recipe([f"recipe={REPO / 'recipes' / 'policy_grpo_smoke.yaml'}"], PolicyGRPORecipe)
    args = grpo_config(r, str(tmp_path))
    assert (args.num_generations, args.max_completion_length, args.max_steps, args.loss_type) == (2, 16, 2, "grpo")
    assert args.output_dir == str(tmp_path) and args.report_to in ([], ["none"], "none")


def test_prompt_rows_use_chosen_as_reference(tmp_path):
    recs = [PreferenceRecord(source="t", domain="general", prompt=user_prompt(f"Q{i}?"), chosen=f"good {i}",
                             rejected=f"bad {i}", label_kind="gold") for i in range(5)]
    path = tmp_path / "train.jsonl"
    write_jsonl(recs, str(path))
    rows = prompt_rows(PolicyData(path=str(tmp_path), max_prompts=3))
    assert rows == [{"prompt": [{"role": "user", "content": f"Q{i}?"}], "reference": f"good {i}"} for i in range(3)]
    assert len(prompt_rows(PolicyData(path=str(path)))) == 5
    with pytest.raises(RecipeError, match="eval.jsonl does not exist"):
        prompt_rows(PolicyData(path=str(tmp_path), split="eval"))


def test_checkpointing_keys_follow_the_installed_transformers():
    old = {"gradient_checkpointing", "gradient_checkpointing_kwargs", "output_dir"}
    new = old | {"activation_checkpointing", "activation_checkpointing_kwargs"}
    kw = {"activation_checkpointing": True, "activation_checkpointing_kwargs": {"x": 1}, "output_dir": "o"}
    assert checkpointing_keys(kw, old) == {"gradient_checkpointing": True,
                                           "gradient_checkpointing_kwargs": {"x": 1}, "output_dir": "o"}
    assert checkpointing_keys(kw, new) == kw
    assert checkpointing_keys({"gradient_checkpointing": True}, {"activation_checkpointing"}) == {
        "activation_checkpointing": True}


def test_qwen3_recipe_checkpointing_reaches_grpo_config(tmp_path):
    # The 8B recipe sets activation_checkpointing; transformers 5.17 (vLLM 0.31's) names it gradient_checkpointing.
    smoke = f"recipe={REPO / 'recipes' / 'policy_grpo_smoke.yaml'}"
    args = grpo_config(load_recipe([smoke, "grpo.activation_checkpointing=true"], PolicyGRPORecipe), str(tmp_path))
    assert args.gradient_checkpointing is True
    assert getattr(args, "activation_checkpointing", True) is True
