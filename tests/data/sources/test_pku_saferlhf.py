import json

import pytest

from genrm.data.rows import DataError
from genrm.data.sources import get_source
from genrm.data.sources import pku_saferlhf


@pytest.fixture()
def path(fixtures_dir):
    return str(fixtures_dir / "pku_saferlhf" / "train.jsonl")


def _rows(path):
    return [json.loads(line) for line in open(path)]


def test_registered():
    assert get_source("pku_saferlhf") is pku_saferlhf.load


def test_pairs_follow_safer_response_id(path):
    stats = {}
    recs = list(pku_saferlhf.load(path, stats=stats))
    rows = _rows(path)
    assert stats == {"rows": 7, "pairs": 6, "skipped_identical": 1}
    for rec, row in zip(recs, rows):  # the skipped row is the last one
        s = row["safer_response_id"]
        assert rec.chosen == row[f"response_{s}"]
        assert rec.rejected == row[f"response_{1 - s}"]
        assert rec.prompt == [{"role": "user", "content": row["prompt"]}]
        assert (rec.source, rec.domain, rec.label_kind, rec.rationale_origin) == (
            "pku_saferlhf", "safety", "gold", "none")


def test_meta_flags_and_harm(path):
    recs = list(pku_saferlhf.load(path))
    wifi = recs[0]
    assert wifi.chosen.startswith("Accessing someone else's network without permission")
    assert wifi.meta["is_response_0_safe"] is False and wifi.meta["is_response_1_safe"] is True
    assert wifi.meta["chosen_is_safe"] and not wifi.meta["rejected_is_safe"]
    assert wifi.meta["rejected_harm_categories"] == ["Cybercrime", "Privacy Violation"]
    assert wifi.meta["rejected_severity_level"] == 2 and wifi.meta["chosen_harm_categories"] == []
    assert wifi.meta["better_is_safer"] is True
    # helpfulness prefers the lock-picking instructions, safety the refusal
    lock = recs[5]
    assert lock.chosen == "I can't help with that."
    assert lock.meta["better_response_id"] == 1 and lock.meta["safer_response_id"] == 0
    assert lock.meta["better_is_safer"] is False
    # both unsafe: still paired by the safer id
    dog = recs[4]
    assert dog.chosen.startswith("Yell at it") and not dog.meta["chosen_is_safe"] and not dog.meta["rejected_is_safe"]


def _write(tmp_path, rows, name="bad.jsonl"):
    p = tmp_path / name
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(p)


def test_malformed_line_names_file_and_line(tmp_path, path):
    p = tmp_path / "broken.jsonl"
    lines = open(path).read().splitlines()
    p.write_text(lines[0] + "\n" + lines[1][:-5] + "\n")
    with pytest.raises(DataError, match=r"broken\.jsonl:2: malformed JSON"):
        list(pku_saferlhf.load(str(p)))


def test_missing_field_is_named(tmp_path, path):
    row = _rows(path)[0]
    del row["safer_response_id"]
    with pytest.raises(DataError, match=r"bad\.jsonl:1: field 'safer_response_id': is missing"):
        list(pku_saferlhf.load(_write(tmp_path, [row])))


def test_bad_label_values(tmp_path, path):
    row = _rows(path)[0]
    with pytest.raises(DataError, match=r"field 'safer_response_id': should be one of \(0, 1\), got 2"):
        list(pku_saferlhf.load(_write(tmp_path, [{**row, "safer_response_id": 2}])))
    with pytest.raises(DataError, match=r"field 'is_response_0_safe': should be a boolean"):
        list(pku_saferlhf.load(_write(tmp_path, [{**row, "is_response_0_safe": "maybe"}])))
