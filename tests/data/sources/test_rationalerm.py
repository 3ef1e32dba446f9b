import json

import pytest

from genrm.data.rows import DataError
from genrm.data.sources import get_source, rationalerm


@pytest.fixture()
def rdir(fixtures_dir):
    return fixtures_dir / "rationalerm"


def test_registered():
    assert get_source("rationalerm") is rationalerm.load


def test_list_typed_rows(rdir):
    path = rdir / "test.jsonl"
    rows = [json.loads(line) for line in open(path)]
    stats = {}
    recs = list(rationalerm.load(str(path), stats=stats))
    assert stats["pairs"] == 2 and stats["skipped_tie"] == 1
    assert recs[0].chosen == rows[0]["response1"]  # overall_preference -2
    assert recs[1].chosen == rows[1]["response2"]  # overall_preference +2
    assert recs[0].rationale_units == [  # side-neutral: response1 won here
        "{chosen}'s slicing creates a new list, so the original is preserved as asked.",
        "{rejected}'s list.reverse() modifies the list in place, contradicting the requirement.",
        "{chosen} explains that the original list stays unchanged.",
    ]
    assert recs[1].rationale_units[:2] == [  # response2 won: "Response 2" is the chosen one
        "{chosen} covers the feud, the secret marriage and the tragic ending.",
        "{rejected} omits the family feud and the deaths that define the plot.",
    ]
    for rec, row in zip(recs, rows):
        assert rec.rationale == "\n".join(row["human-checklist"])  # the annotators' own words stay
        assert rec.rationale_origin == "human" and rec.label_kind == "gold" and rec.domain == "general"
        assert rec.prompt == row["context"]
        assert rec.meta["rationalerm_domain"] == row["domain"]


def test_string_typed_rows(rdir):
    recs = list(rationalerm.load(str(rdir / "strings.jsonl")))
    hike, km = recs
    assert hike.prompt == [{"role": "user", "content": "What should I pack for a weekend hiking trip?"}]
    assert hike.chosen.startswith("Pack water")  # label "B>A"
    assert hike.rationale_units == [
        "{chosen} lists safety essentials such as a first-aid kit and a headlamp.",
        "{rejected} mentions only snacks and omits water and clothing.",
        "{chosen} accounts for changing weather with layers and a rain jacket.",
    ]
    assert km.prompt == [{"role": "user", "content": "Convert 5 km to miles."}]  # JSON-encoded context
    assert km.chosen == "5 km is about 3.11 miles." and len(km.rationale_units) == 2
    assert hike.meta["preference_field"] == "label"


def test_directory_reads_top_level_files(rdir):
    assert len(list(rationalerm.load(str(rdir)))) == 4


def test_missing_preference_names_the_field(rdir, tmp_path):
    with pytest.raises(DataError, match=r"no_preference\.jsonl:1: field 'overall_preference': no preference column"):
        list(rationalerm.load(str(rdir / "bad" / "no_preference.jsonl")))
    row = json.loads(open(rdir / "bad" / "no_preference.jsonl").readline())
    p = tmp_path / "rr.jsonl"
    p.write_text(json.dumps({**row, "better": "response2"}) + "\n")
    rec = next(rationalerm.load(str(p), preference_field="better"))
    assert rec.chosen == "Green." and rec.rejected == "Red."
    with pytest.raises(DataError, match="field 'winner'"):
        list(rationalerm.load(str(p), preference_field="winner"))


def test_better_side_values():
    assert rationalerm.better_side(-1, "p", "x") == 1 and rationalerm.better_side("3", "p", "x") == 2
    assert rationalerm.better_side("A>>B", "p", "x") == 1 and rationalerm.better_side("Response 2", "p", "x") == 2
    assert rationalerm.better_side("A=B", "p", "x") == 0
    with pytest.raises(DataError, match="field 'p'"):
        rationalerm.better_side("C", "p", "x")
    with pytest.raises(DataError, match="-3..3"):
        rationalerm.better_side(7, "p", "x")


def test_bad_rows(rdir, tmp_path):
    row = json.loads(open(rdir / "test.jsonl").readline())
    p = tmp_path / "rr.jsonl"
    p.write_text(json.dumps({**row, "overall_preference": "response3"}) + "\n")
    with pytest.raises(DataError, match=r"rr\.jsonl:1: field 'overall_preference': cannot tell which response"):
        list(rationalerm.load(str(p)))
    p.write_text(json.dumps({**row, "human-checklist": []}) + "\n")
    with pytest.raises(DataError, match=r"rr\.jsonl:1: field 'human-checklist': holds no units"):
        list(rationalerm.load(str(p)))
    p.write_text(json.dumps({**row, "context": "[{\"role\": \"user\""}) + "\n")
    with pytest.raises(DataError, match=r"field 'context': looks like JSON but does not parse"):
        list(rationalerm.load(str(p)))
