"""One `JudgeConfig` for the trainer, the evaluator and the RLHF consumers: today's YAML
keys keep loading, keys that do not apply are refused in one line, one `sampling()`."""

import dataclasses
import glob
import os

import pytest
import yaml

from genrm.backends.base import Sampling
from genrm.config import RecipeError, from_dict, load_recipe
from genrm.evaluation.schema import EvalRecipe
from genrm.judge.config import DEFAULT_BACKEND, JudgeConfig
from genrm.rlhf.pairwise import make_judge
from genrm.testing.scripted_backend import ScriptedBackend
from genrm.training.policy import PolicyGRPORecipe
from genrm.training.recipe import TrainRecipe

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _train(tmp_path, *extra):
    return load_recipe([f"data.path={tmp_path}", *extra], TrainRecipe)


def test_a_style_name_in_template_still_loads_as_that_style(tmp_path):
    """Trainer recipes of today say `judge.template: answer-tag`: it means the answer-tag style."""
    r = _train(tmp_path, "judge.template=answer-tag")
    assert (r.judge.style, r.judge.template) == ("answer-tag", None)
    r = _train(tmp_path, "judge.template=rationale")
    assert (r.judge.style, r.judge.template) == ("rationale", None)
    r = _train(tmp_path, "judge.style=answer-tag")
    assert (r.judge.style, r.judge.template) == ("answer-tag", None)
    r = _train(tmp_path, "judge.template=recipes/prompts/judge_verdict_only.jinja")
    assert (r.judge.style, r.judge.template) == ("rationale", "recipes/prompts/judge_verdict_only.jinja")
    with pytest.raises(RecipeError, match="'judge.template' names the style 'rationale' but 'judge.style' is"):
        _train(tmp_path, "judge.style=answer-tag", "judge.template=rationale")
    assert JudgeConfig(template="answer-tag").style == "answer-tag"  # built directly, too


def test_every_shipped_recipe_judge_section_loads():
    sections = 0
    for path in sorted(glob.glob(os.path.join(REPO, "recipes", "**", "*.yaml"), recursive=True)):
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f) or {}
        for judge in (data.get("judge"), (data.get("reward") or {}).get("judge"),
                      (data.get("trainer") or {}).get("judge")):
            if isinstance(judge, dict):
                cfg = from_dict(JudgeConfig, judge, prefix="judge")
                assert cfg.style in ("rationale", "answer-tag"), path
                sections += 1
    assert sections >= 15  # trainer, evaluator, server, policy and study recipes


def test_the_trainer_refuses_judge_keys_it_does_not_use(tmp_path):
    for key, value in (("max_new_tokens", "64"), ("temperature", "0.7"), ("orders", "one"), ("top_k", "3"),
                       ("backend", "{kind: hf}")):
        with pytest.raises(RecipeError, match=f"key 'judge.{key}' does not apply here: the trainer judges"):
            _train(tmp_path, f"judge.{key}={value}")


def test_the_evaluator_refuses_a_judge_backend_and_seed():
    args = ["models=[{ref: embedded:smollm2-135m}]"]
    r = load_recipe([*args, "judge.max_new_tokens=64", "judge.orders=one", "judge.stop=[END]"], EvalRecipe)
    assert r.judge.sampling(seed=r.seed) == Sampling(max_new_tokens=64, seed=r.seed, stop=["END"])
    with pytest.raises(RecipeError, match="'judge.backend' does not apply here: each model names its own backend"):
        load_recipe([*args, "judge.backend={kind: hf}"], EvalRecipe)
    with pytest.raises(RecipeError, match="'judge.seed' does not apply here: the evaluation samples with"):
        load_recipe([*args, "judge.seed=3"], EvalRecipe)


def test_the_group_scorer_refuses_evaluation_keys_and_defaults_its_backend():
    backend = ScriptedBackend()
    judge = make_judge(JudgeConfig(style="answer-tag", max_new_tokens=9, stop=["\n"]), backend)
    assert judge.backend is backend and judge.style == "answer-tag"
    assert judge.sampling == Sampling(max_new_tokens=9, stop=["\n"])
    with pytest.raises(RecipeError, match="'judge.top_k' does not apply here: an evaluation setting"):
        make_judge(JudgeConfig(top_k=3), backend)
    assert JudgeConfig().backend_config() == DEFAULT_BACKEND and JudgeConfig().backend_config() is not DEFAULT_BACKEND
    policy = load_recipe(["reward.judge.template=answer-tag", "data.path=x"], PolicyGRPORecipe)
    assert policy.reward.judge.style == "answer-tag"


def test_sampling_is_built_from_the_config_with_overrides():
    cfg = JudgeConfig(max_new_tokens=100, temperature=0.5, top_p=0.9, seed=4, stop=["</s>"])
    s = cfg.sampling()
    assert s == Sampling(max_new_tokens=100, temperature=0.5, top_p=0.9, n=1, seed=4, stop=["</s>"])
    s.stop.append("x")
    assert cfg.stop == ["</s>"]  # a copy: a caller cannot change the config through it
    assert cfg.sampling(max_new_tokens=8, seed=1) == dataclasses.replace(cfg.sampling(), max_new_tokens=8, seed=1)
    assert JudgeConfig().sampling() == Sampling()  # greedy, 512 new tokens


def test_values_are_checked():
    for bad in ({"max_new_tokens": 0}, {"temperature": -1}, {"top_p": 0}, {"chunk_size": 0}):
        with pytest.raises(RecipeError, match="judge"):
            from_dict(JudgeConfig, bad, prefix="judge")
    with pytest.raises(RecipeError, match="unknown key 'judge.templte' \\(did you mean 'judge.template'"):
        from_dict(JudgeConfig, {"templte": "x"}, prefix="judge")
