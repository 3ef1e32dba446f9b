import json

import pytest

from genrm.data.rows import DataError
from genrm.data.sources import get_source, moral_stories


@pytest.fixture()
def path(fixtures_dir):
    return str(fixtures_dir / "moral_stories" / "full.jsonl")


def test_registered():
    assert get_source("moral_stories") is moral_stories.load


def test_moral_vs_immoral_with_norm_as_human_rationale(path):
    rows = [json.loads(line) for line in open(path)]
    recs = list(moral_stories.load(path))
    assert len(recs) == len(rows) == 5
    for rec, row in zip(recs, rows):
        assert rec.chosen == row["moral_action"] and rec.rejected == row["immoral_action"]
        assert rec.rationale == row["norm"] and rec.rationale_units == [row["norm"]]
        assert rec.rationale_origin == "human"
        text = rec.prompt[0]["content"]
        assert row["situation"] in text and row["intention"] in text
        assert row["norm"] not in text  # the rationale must not leak into the prompt
        assert (rec.domain, rec.label_kind) == ("morality", "gold")
        assert rec.meta["story_id"] == row["ID"]
    assert recs[0].rationale == "It's wrong to take credit for a colleague's work."


def test_with_consequences(path):
    rec = next(moral_stories.load(path, with_consequences=True))
    assert rec.chosen == ("Priya presents the report and tells the manager that Dan did most of the analysis. "
                          "The manager thanks both of them and Dan feels respected.")
    assert rec.rejected.endswith("Dan finds out and stops trusting Priya.")


def test_bad_rows(tmp_path, path):
    row = json.loads(open(path).readline())
    p = tmp_path / "ms.jsonl"
    p.write_text(json.dumps(row) + "\n" + json.dumps({k: v for k, v in row.items() if k != "immoral_action"}) + "\n")
    with pytest.raises(DataError, match=r"ms\.jsonl:2: field 'immoral_action': is missing"):
        list(moral_stories.load(str(p)))
    p.write_text(json.dumps({**row, "norm": "   "}) + "\n")
    with pytest.raises(DataError, match=r"ms\.jsonl:1: field 'norm': should be a non-empty string"):
        list(moral_stories.load(str(p)))
    p.write_text('{"ID": "x", "norm": "Be kind."\n')
    with pytest.raises(DataError, match=r"ms\.jsonl:1: malformed JSON"):
        list(moral_stories.load(str(p)))
