import pytest

from genrm.config import load_recipe
from genrm.data.record import PreferenceRecord, user_prompt
from genrm.data.sides import CHOSEN, REJECTED, render_units
from genrm.judge.verdict import parse_verdict
from genrm.training.data import grpo_rows, sft_rows, sft_target
from genrm.training.recipe import TrainRecipe
from tests.training.conftest import tiny_args


def _rec(pos: str) -> PreferenceRecord:
    return PreferenceRecord(
        source="helpsteer3", domain="general", prompt=user_prompt("Name a prime."), chosen="7 is prime.",
        rejected="9 is prime.", label_kind="gold", rationale_origin="human", chosen_position=pos,
        rationale_units=[f"{CHOSEN} names 7, which is prime.", f"{REJECTED} names 9, which is 3 x 3."],
    )


def test_sft_target_renders_units_for_the_placement():
    a, b = sft_target(_rec("A")), sft_target(_rec("B"))
    assert a == "1. Response A names 7, which is prime.\n2. Response B names 9, which is 3 x 3.\n\n\\boxed{A>B}"
    assert b == "1. Response B names 7, which is prime.\n2. Response A names 9, which is 3 x 3.\n\n\\boxed{B>A}"


@pytest.mark.parametrize("style", ["rationale", "answer-tag"])
@pytest.mark.parametrize("pos", ["A", "B"])
def test_sft_target_parses_as_a_valid_verdict_for_the_chosen_side(style, pos):
    """What SFT teaches is what the parser reads (the answer-tag target once wrote <answer>A>B</answer>)."""
    target = sft_target(_rec(pos), style=style)
    v = parse_verdict(target, style)
    assert v.valid and v.winner == pos, (target, v.error)
    assert v.reasons == render_units(_rec(pos).rationale_units, pos)
    if style == "answer-tag":
        assert target.endswith(f"<answer>[[{pos}]]</answer>")  # the form the answer-tag template asks for


def test_rows_carry_the_judge_prompt_and_reward_columns(tiny_model, tiny_data, tmp_path):
    recipe = load_recipe(tiny_args(tiny_model, tiny_data, tmp_path / "o"), TrainRecipe)
    rec = _rec("B")
    (row,) = grpo_rows([rec], recipe)
    assert row["prompt"][0]["role"] == "system" and "[Response A]\n9 is prime." in row["prompt"][-1]["content"]
    assert row["label"] == "B>A" and row["chosen_position"] == "B" and row["record_id"] == rec.id
    assert row["rationale_units"] == rec.rationale_units  # side-neutral: the reward maps sides
    (sft,) = sft_rows([rec], recipe)
    assert sft["prompt"] == row["prompt"] and sft["completion"][0]["role"] == "assistant"
    bare = PreferenceRecord(source="generic", domain="general", prompt=user_prompt("q?"), chosen="x", rejected="y",
                            label_kind="gold")
    assert sft_rows([bare], recipe) == []  # no units, no SFT target
