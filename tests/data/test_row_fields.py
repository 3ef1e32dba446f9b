"""Row fields as the rewards, the evaluator and the TRL adapter read them
(`genrm.data.record.completion_text`, `human_units`)."""

import json

import pytest

from genrm.data.record import completion_text, human_units


def test_completion_text_forms():
    assert completion_text("x") == "x"
    assert completion_text([{"role": "assistant", "content": "hi"}]) == "hi"
    assert completion_text({"role": "assistant", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}) == "ab"
    assert completion_text(None) is None
    # Only assistant turns count; plain strings in a list are kept; turns are joined by lines.
    assert completion_text([{"role": "user", "content": "q"}, {"role": "assistant", "content": "one"}, "two"]) == "one\ntwo"


def test_human_units_cell_forms():
    assert human_units(None) == [] and human_units("") == [] and human_units("  ") == []
    assert human_units(["  a ", None, "", "b"]) == ["a", "b"]
    assert human_units(json.dumps(["x", " y "])) == ["x", "y"]  # a JSON list stored as a string
    assert human_units("one reason") == ["one reason"]
    with pytest.raises(ValueError, match="not a JSON list"):
        human_units("[not json")
