import json

import pytest

from genrm.data.rows import DataError
from genrm.data.sources import generic, get_source


@pytest.fixture()
def gdir(fixtures_dir):
    return fixtures_dir / "generic"


def test_registered():
    assert get_source("generic") is generic.load


def test_reward_bench_rows(gdir):
    path = gdir / "reward_bench.jsonl"
    rows = [json.loads(line) for line in open(path)]
    recs = list(generic.load(str(path)))
    assert len(recs) == 3
    for rec, row in zip(recs, rows):
        assert rec.prompt == [{"role": "user", "content": row["prompt"]}]
        assert rec.chosen == row["chosen"] and rec.rejected == row["rejected"]
        assert rec.meta["subset"] == row["subset"] and rec.meta["original_id"] == row["id"]
        assert (rec.domain, rec.label_kind, rec.source) == ("general", "gold", "generic")


def test_ultrafeedback_shared_prefix(gdir):
    stats = {}
    recs = list(generic.load(str(gdir / "ultrafeedback.jsonl"), domain="general", stats=stats))
    assert stats["skipped_tie"] == 1 and stats["pairs"] == 2
    first, multi = recs
    assert first.prompt == [{"role": "user", "content": "Explain what a hash table is in one paragraph."}]
    assert first.chosen.startswith("A hash table stores key-value pairs")
    assert first.rejected == "A hash table is a table of hashes."
    assert first.meta == {"original_id": "9b1f0c2e", "score_chosen": 9.0, "score_rejected": 3.0}
    assert [m["role"] for m in multi.prompt] == ["user", "assistant", "user"]
    assert multi.chosen == "Mercury is the smallest planet in the solar system."
    assert multi.rejected == "Pluto is the smallest planet."
    assert len(list(generic.load(str(gdir / "ultrafeedback.jsonl"), skip_ties=False))) == 3


def test_domain_option(gdir):
    recs = list(generic.load(str(gdir / "reward_bench.jsonl"), domain="safety"))
    assert {r.domain for r in recs} == {"safety"}
    with pytest.raises(DataError, match="field 'domain'"):
        list(generic.load(str(gdir / "reward_bench.jsonl"), domain="sports"))


def test_bad_conversations(gdir, tmp_path):
    row = json.loads(open(gdir / "ultrafeedback.jsonl").readline())
    p = tmp_path / "uf.jsonl"
    diverged = {**row, "rejected": [{"role": "user", "content": "Something else"}, row["rejected"][1]]}
    p.write_text(json.dumps(row) + "\n" + json.dumps(diverged) + "\n")
    with pytest.raises(DataError, match=r"uf\.jsonl:2: field 'rejected': chosen and rejected conversations differ"):
        list(generic.load(str(p)))
    p.write_text(json.dumps({**row, "chosen": row["chosen"][:1]}) + "\n")
    with pytest.raises(DataError, match=r"uf\.jsonl:1: field 'chosen': the last message should be the assistant"):
        list(generic.load(str(p)))
    p.write_text(json.dumps({**row, "rejected": "plain text"}) + "\n")
    with pytest.raises(DataError, match=r"uf\.jsonl:1: field 'rejected': should be list"):
        list(generic.load(str(p)))


def test_bad_reward_bench_rows(gdir, tmp_path):
    row = json.loads(open(gdir / "reward_bench.jsonl").readline())
    p = tmp_path / "rb.jsonl"
    p.write_text(json.dumps({k: v for k, v in row.items() if k != "prompt"}) + "\n")
    with pytest.raises(DataError, match=r"rb\.jsonl:1: field 'prompt': is missing"):
        list(generic.load(str(p)))
    p.write_text(json.dumps(row) + "\n" + json.dumps(row)[:-2] + "\n")
    with pytest.raises(DataError, match=r"rb\.jsonl:2: malformed JSON"):
        list(generic.load(str(p)))
