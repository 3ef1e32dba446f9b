import dataclasses
import json

import pytest

from genrm.data.record import PreferenceRecord, from_dataset, read_jsonl, to_dataset, write_jsonl
from genrm.data.sides import (
    CHOSEN,
    REJECTED,
    from_placement,
    is_neutral,
    neutralise,
    neutralise_record_units,
    neutralise_units,
    render_text,
    render_units,
    swap_sides,
)
from genrm.data.sources.helpsteer3 import load as load_helpsteer3
from genrm.data.units import split_rule_based


@pytest.mark.parametrize(
    "text, neutral",
    [
        ("@Response 1 is better than @Response 2.", "{chosen} is better than {rejected}."),
        ("Response A's code fails, unlike Response B.", "{chosen}'s code fails, unlike {rejected}."),
        ("Assistant B and Model 1 differ.", "{rejected} and {chosen} differ."),
        ("The first response is short; the second one is long.", "{chosen} is short; {rejected} is long."),
        ("A is concise, while B rambles.", "{chosen} is concise, while {rejected} rambles."),
        ("B gives $7.65, more than A.", "{rejected} gives $7.65, more than {chosen}."),
        ("A better approach exists. Vitamin A and plan B are not sides.",
         "A better approach exists. Vitamin A and plan B are not sides."),
        ("x = A+B and a > b", "x = A+B and a > b"),
        ("Response 1.5 of the spec", "Response 1.5 of the spec"),
    ],
)
def test_neutralise_reads_the_many_names_of_a_side(text, neutral):
    assert neutralise(text, "chosen") == neutral
    assert neutralise(text, "rejected") == swap_sides(neutral)


def test_render_and_from_placement_are_inverse():
    unit = "{chosen} removes spaces, while {rejected} compares the raw string."
    assert render_text(unit, "A") == "Response A removes spaces, while Response B compares the raw string."
    assert render_text(unit, "B") == "Response B removes spaces, while Response A compares the raw string."
    for pos in ("A", "B"):
        assert from_placement(render_text(unit, pos), pos) == unit
    assert render_units([unit, "No side here."], "B")[1] == "No side here."
    with pytest.raises(ValueError, match="chosen_position"):
        render_text(unit, "C")


def test_human_text_may_name_roles_model_text_may_not():
    text = "The chosen response cites a source; the rejected answer does not."
    assert neutralise(text, "rejected", trusted=True) == "{chosen} cites a source; {rejected} does not."
    assert neutralise_units([text], 2) == ["{chosen} cites a source; {rejected} does not."]
    assert from_placement(text, "A") == text  # a judge's "the chosen response" names no side


def test_model_text_cannot_name_a_role():
    """A completion that writes "{chosen}" must still commit to a side."""
    assert from_placement("{chosen} is right", "B") == "chosen is right"
    assert neutralise("{chosen} is right", trusted=True) == "{chosen} is right"  # stored units keep theirs
    assert not is_neutral(["Response A is right"]) and is_neutral(["{rejected} is wrong"])


def test_neutralise_units_follows_the_source_winner_and_is_idempotent():
    units = ["@Response 2 lists safety essentials.", "Response 1 omits water."]
    assert neutralise_units(units, 2) == ["{chosen} lists safety essentials.", "{rejected} omits water."]
    assert neutralise_units(units, 1) == ["{rejected} lists safety essentials.", "{chosen} omits water."]
    once = neutralise_units(units, "2")
    assert neutralise_units(once, 2) == once
    with pytest.raises(ValueError, match="chosen_original"):
        neutralise_units(units, 3)


def helpsteer3_palindrome(fixtures_dir):
    rec = next(iter(load_helpsteer3(str(fixtures_dir / "helpsteer3" / "train.jsonl"))))
    rec.rationale_units = split_rule_based(rec.rationale)  # the build's rule splitter
    assert rec.meta["chosen_response"] == 1  # response1 won
    assert neutralise_record_units(rec)
    return rec


def test_helpsteer3_record_with_b_placed_first_renders_response_1_as_the_right_letter(fixtures_dir):
    rec = helpsteer3_palindrome(fixtures_dir)
    assert rec.rationale_units[0].startswith("{chosen} removes spaces and lowercases the input")
    assert "while {rejected} compares the raw string" in rec.rationale_units[0]
    b_first = dataclasses.replace(rec, chosen_position="B")  # the chosen response1 is shown as B
    assert b_first.response_b == rec.chosen
    shown = render_units(b_first.rationale_units, b_first.chosen_position)
    assert shown[0].startswith("Response B removes spaces and lowercases the input")
    assert "while Response A compares the raw string" in shown[0]
    assert render_units(rec.rationale_units, "A")[0].startswith("Response A removes spaces")


def test_side_neutral_units_survive_jsonl_and_datasets(fixtures_dir, tmp_path):
    rec = dataclasses.replace(helpsteer3_palindrome(fixtures_dir), chosen_position="B")
    path = tmp_path / "r.jsonl"
    write_jsonl([rec], str(path))
    again = next(read_jsonl(str(path)))
    assert again == rec and CHOSEN in again.rationale_units[0] and REJECTED in again.rationale_units[0]
    back = from_dataset(to_dataset([rec]))[0]
    assert back == rec
    assert json.loads(path.read_text())["rationale_units"] == rec.rationale_units


def test_records_that_do_not_say_which_response_won_are_left_alone():
    rec = PreferenceRecord(source="x", domain="general", prompt=[{"role": "user", "content": "q"}], chosen="a",
                           rejected="b", label_kind="gold", rationale_units=["Response 1 is longer here."],
                           rationale_origin="human")
    assert not neutralise_record_units(rec)
    assert rec.rationale_units == ["Response 1 is longer here."]
