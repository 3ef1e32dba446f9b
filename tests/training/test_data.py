import pytest

from genrm.config import RecipeError, load_recipe
from genrm.data.record import PreferenceRecord, user_prompt
from genrm.data.sides import CHOSEN, REJECTED, render_units
from genrm.judge.verdict import parse_verdict
from genrm.training.data import decision_reason, grpo_rows, sft_rows, sft_target
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
    recipe = load_recipe(tiny_args(tiny_model, tiny_data, tmp_path / "o", "sft.both_orders=false",
                                   "grpo.both_orders=false"), TrainRecipe)
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


def test_both_orders_hold_each_pair_in_both_placements(tiny_model, tiny_data, tmp_path):
    """Order augmentation: the same pair with the chosen response as A and as B, the verdict
    flipped to match and the units rendered for each placement; a constant verdict earns half."""
    args = tiny_args(tiny_model, tiny_data, tmp_path / "o")
    recipe = load_recipe(args + ["sft.both_orders=true", "grpo.both_orders=true"], TrainRecipe)
    rec = _rec("B")
    rows = sft_rows([rec], recipe)
    assert len(rows) == 2
    by_pos = {}
    for row in rows:
        user = row["prompt"][-1]["content"]
        pos = "A" if "[Response A]\n7 is prime." in user else "B"
        assert f"[Response {'B' if pos == 'A' else 'A'}]\n9 is prime." in user
        by_pos[pos] = row["completion"][0]["content"]
    assert set(by_pos) == {"A", "B"}
    for pos, target in by_pos.items():
        assert target == sft_target(_rec(pos), decision=recipe.sft.decision_reason)
        v = parse_verdict(target, "rationale")
        assert v.valid and v.winner == pos
        assert v.reasons[0] == f"Response {pos} names 7, which is prime."
    grpo = grpo_rows([rec], recipe)
    assert [(r["chosen_position"], r["label"]) for r in grpo] == [("B", "B>A"), ("A", "A>B")]
    assert len({r["record_id"] for r in grpo}) == 1  # one record, two placements
    plain = load_recipe(args + ["sft.both_orders=false", "grpo.both_orders=false"], TrainRecipe)
    assert len(sft_rows([rec], plain)) == 1 and len(grpo_rows([rec], plain)) == 1


def test_max_units_keeps_the_first_units():
    target = sft_target(_rec("A"), max_units=1)
    assert target == "1. Response A names 7, which is prime.\n\n\\boxed{A>B}"


def test_label_kinds_and_max_units_are_checked(tiny_model, tiny_data, tmp_path):
    args = tiny_args(tiny_model, tiny_data, tmp_path / "o")
    with pytest.raises(RecipeError, match="data.label_kinds"):
        load_recipe(args + ["data.label_kinds=[gold,silver]"], TrainRecipe)
    with pytest.raises(RecipeError, match="sft.max_units"):
        load_recipe(args + ["sft.max_units=0"], TrainRecipe)
    assert load_recipe(args + ["data.label_kinds=[gold]"], TrainRecipe).data.label_kinds == ["gold"]


@pytest.mark.parametrize("pos", ["A", "B"])
def test_decision_reason_quotes_the_chosen_response_then_names_its_side(pos):
    target = sft_target(_rec(pos), decision=True)
    assert target.endswith(f'3. So "7 is prime." (Response {pos}) is the better response.\n\n\\boxed{{{pos}>{"B" if pos == "A" else "A"}}}')
    v = parse_verdict(target, "rationale")
    assert v.valid and v.winner == pos and len(v.reasons) == 3
    long = PreferenceRecord(source="generic", domain="general", prompt=user_prompt("q?"), chosen=" ".join(["word"] * 40),
                            rejected="no", label_kind="gold", rationale_units=["u"], rationale_origin="human")
    assert decision_reason(long) == 'So "' + " ".join(["word"] * 12) + ' ..." (Response A) is the better response.'
