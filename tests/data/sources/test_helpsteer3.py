import json

import pytest

from genrm.data.rows import DataError
from genrm.data.sources import get_source, helpsteer3


@pytest.fixture()
def path(fixtures_dir):
    return str(fixtures_dir / "helpsteer3" / "train.jsonl")


@pytest.fixture()
def rows(path):
    return [json.loads(line) for line in open(path)]


def test_registered():
    assert get_source("helpsteer3") is helpsteer3.load


def test_preference_sign_and_ties(path, rows):
    stats = {}
    recs = list(helpsteer3.load(path, stats=stats))
    assert stats == {"rows": 5, "pairs": 4, "skipped_tie": 1, "skipped_identical": 0}
    kept = [r for r in rows if r["overall_preference"] != 0]
    for rec, row in zip(recs, kept):
        pref = row["overall_preference"]
        if pref < 0:  # negative: response1 is better
            assert rec.chosen == row["response1"] and rec.rejected == row["response2"]
        else:
            assert rec.chosen == row["response2"] and rec.rejected == row["response1"]
        assert rec.meta["overall_preference"] == pref and rec.meta["strength"] == abs(pref)
        assert rec.meta["helpsteer_domain"] == row["domain"] and rec.meta["language"] == row["language"]
        assert rec.prompt == row["context"]
        assert (rec.domain, rec.label_kind, rec.rationale_origin) == ("general", "gold", "human")
        assert rec.rationale_units == []  # units come later from the build's splitter/decomposer
    assert recs[0].chosen.startswith("def is_palindrome(s):\n    t = ''.join(s.lower().split())")
    assert recs[1].chosen.startswith("1. Keep a consistent sleep schedule")
    assert all("boiling point" not in r.prompt[0]["content"] for r in recs)


def test_multi_turn_context_is_the_prompt(path):
    rec = list(helpsteer3.load(path))[2]
    assert [m["role"] for m in rec.prompt] == ["user", "assistant", "user"]
    assert rec.prompt[-1]["content"] == "Suggest one day trip from the city."
    assert rec.chosen.startswith("Take the train to Sintra")


def test_rationale_from_agreeing_annotators(path, rows):
    rec = next(helpsteer3.load(path))
    ind = rows[0]["individual_preference"]
    assert rec.rationale == ind[0]["reasoning"] + "\n\n" + ind[1]["reasoning"]
    assert "because it is shorter" not in rec.rationale  # the dissenting annotator (+1) is left out
    assert rec.meta["n_annotators"] == 3 and rec.meta["n_rationales"] == 2
    everyone = next(helpsteer3.load(path, rationale_from="all"))
    assert everyone.rationale.endswith(ind[2]["reasoning"])


def _write(tmp_path, rows):
    p = tmp_path / "hs.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(p)


def test_bad_rows(tmp_path, rows):
    row = rows[0]
    bad_ctx = {**row, "context": row["context"] + [{"role": "assistant", "content": "Sure."}]}
    with pytest.raises(DataError, match=r"hs\.jsonl:2: field 'context': the conversation should end with a user turn"):
        list(helpsteer3.load(_write(tmp_path, [row, bad_ctx])))
    bad_role = {**row, "context": [{"role": "bot", "content": "hi"}]}
    with pytest.raises(DataError, match=r"field 'context': message 0 has role 'bot'"):
        list(helpsteer3.load(_write(tmp_path, [bad_role])))
    with pytest.raises(DataError, match=r"hs\.jsonl:1: field 'overall_preference': should be one of"):
        list(helpsteer3.load(_write(tmp_path, [{**row, "overall_preference": 5}])))
    with pytest.raises(DataError, match=r"hs\.jsonl:1: field 'response2': is missing"):
        list(helpsteer3.load(_write(tmp_path, [{k: v for k, v in row.items() if k != "response2"}])))
    with pytest.raises(DataError, match="field 'rationale_from'"):
        list(helpsteer3.load(_write(tmp_path, [row]), rationale_from="some"))


def test_reads_a_saved_hub_dataset(tmp_path, path, rows):
    """The same rows through `datasets` (as the hub delivers them: nested structs and lists)."""
    import datasets

    datasets.DatasetDict({"train": datasets.Dataset.from_list(rows)}).save_to_disk(str(tmp_path / "hs3"))
    from_disk = list(helpsteer3.load(str(tmp_path / "hs3"), split="train"))
    from_file = list(helpsteer3.load(path))
    assert [r.id for r in from_disk] == [r.id for r in from_file]
    assert [r.rationale for r in from_disk] == [r.rationale for r in from_file]
