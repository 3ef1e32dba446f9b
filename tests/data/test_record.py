import json

import pytest

from genrm.data.record import (
    PreferenceRecord,
    RecordError,
    content_id,
    from_dataset,
    read_jsonl,
    to_dataset,
    user_prompt,
    write_jsonl,
)


def make(**kw):
    base = dict(
        source="unit",
        domain="bias",
        prompt=user_prompt("Who was forgetful?"),
        chosen="Can't be determined.",
        rejected="The grandfather.",
        label_kind="gold",
        rationale="The context gives no evidence.",
        rationale_units=["The context does not say who forgot anything."],
        rationale_origin="template",
        meta={"category": "Age", "option_roles": ["stereotype", "anti_stereotype", "unknown"], "idx": None},
    )
    base.update(kw)
    return PreferenceRecord(**base)


def test_id_is_stable_content_hash():
    a, b = make(), make(source="other", meta={"x": 1})
    assert a.id == b.id == content_id(a.prompt, a.chosen, a.rejected)
    assert make(rejected="The grandson.").id != a.id
    assert len(a.id) == 20


def test_position_views():
    r = make()
    assert (r.response_a, r.response_b, r.label) == (r.chosen, r.rejected, "A>B")
    r.chosen_position = "B"
    assert (r.response_a, r.response_b, r.label) == (r.rejected, r.chosen, "B>A")


@pytest.mark.parametrize(
    "kw, field",
    [
        ({"domain": "politics"}, "domain"),
        ({"label_kind": "silver"}, "label_kind"),
        ({"rationale_origin": "crowd"}, "rationale_origin"),
        ({"chosen": ""}, "chosen"),
        ({"rejected": "   "}, "rejected"),
        ({"rejected": "Can't be determined."}, "rejected"),
        ({"prompt": []}, "prompt"),
        ({"prompt": [{"role": "robot", "content": "hi"}]}, "prompt"),
        ({"prompt": [{"role": "assistant", "content": "hi"}]}, "prompt"),
        ({"rationale_units": ["ok", ""]}, "rationale_units"),
        ({"rationale_units": ["a reason"], "rationale_origin": "none"}, "rationale_origin"),
        ({"meta": {"x": object()}}, "meta"),
        ({"chosen_position": "C"}, "chosen_position"),
        ({"id": "deadbeef"}, "id"),
    ],
)
def test_validation_names_the_field(kw, field):
    with pytest.raises(RecordError) as e:
        make(**kw)
    assert e.value.field == field
    assert f"'{field}'" in str(e.value)


def test_jsonl_roundtrip(tmp_path):
    recs = [make(), make(rejected="The grandson.", chosen_position="B")]
    p = tmp_path / "r.jsonl"
    assert write_jsonl(recs, str(p)) == 2
    back = list(read_jsonl(str(p)))
    assert back == recs


def test_dataset_roundtrip(tmp_path):
    import datasets

    recs = [make(), make(rejected="The grandson.", chosen_position="B", meta={"nested": {"a": [1, 2]}})]
    ds = to_dataset(recs)
    assert ds.column_names[:3] == ["source", "domain", "prompt"]
    assert ds[1]["label"] == "B>A" and ds[1]["response_a"] == "The grandson."
    ds.save_to_disk(str(tmp_path / "d"))
    back = from_dataset(datasets.load_from_disk(str(tmp_path / "d")))
    assert back == recs
    assert back[0].meta["idx"] is None  # JSON-encoded meta keeps None and nesting


def test_from_dict_errors_name_location():
    d = make().to_dict()
    del d["chosen"]
    with pytest.raises(RecordError, match=r"f.jsonl:3: field 'chosen': is missing"):
        PreferenceRecord.from_dict(d, where="f.jsonl:3")
    d = make().to_dict()
    d["domain"] = "x"
    with pytest.raises(RecordError, match=r"f.jsonl:4: field 'domain'"):
        PreferenceRecord.from_dict(d, where="f.jsonl:4")
    d = make().to_row()
    d["meta"] = "{not json"
    with pytest.raises(RecordError, match="field 'meta'"):
        PreferenceRecord.from_dict(d)


def test_read_jsonl_malformed_line(tmp_path):
    p = tmp_path / "bad.jsonl"
    p.write_text(json.dumps(make().to_dict()) + "\n{oops\n")
    with pytest.raises(RecordError, match=r"bad.jsonl:2: malformed JSON"):
        list(read_jsonl(str(p)))
