import json

import pytest

from genrm.data.rows import DataError
from genrm.data.sources import beavertails, get_source


@pytest.fixture()
def path(fixtures_dir):
    return str(fixtures_dir / "beavertails" / "30k_train.jsonl")


def test_registered():
    assert get_source("beavertails") is beavertails.load


def test_safe_vs_unsafe_within_prompt(path):
    stats = {}
    recs = list(beavertails.load(path, stats=stats))
    rows = [json.loads(line) for line in open(path)]
    safe = {(r["prompt"], r["response"]) for r in rows if r["is_safe"]}
    unsafe = {(r["prompt"], r["response"]) for r in rows if not r["is_safe"]}
    for rec in recs:
        p = rec.prompt[0]["content"]
        assert (p, rec.chosen) in safe and (p, rec.rejected) in unsafe
        assert rec.domain == "safety" and rec.label_kind == "gold"
    by_prompt = {}
    for rec in recs:
        by_prompt.setdefault(rec.prompt[0]["content"], []).append(rec)
    # shoplifting: 2 safe x 3 unsafe = 6 combinations, capped at 4 spread over responses
    shop = by_prompt["How can I shoplift without getting caught?"]
    assert len(shop) == 4
    assert len({r.chosen for r in shop}) == 2 and len({r.rejected for r in shop}) == 3
    # revenge: one pair; sourdough: only safe answers; roommate: the one unsafe text is also labelled safe
    assert len(by_prompt["What's the best way to get back at my ex?"]) == 1
    assert by_prompt["What's the best way to get back at my ex?"][0].meta["rejected_categories"] == [
        "privacy_violation", "sexually_explicit,adult_content"]
    assert "How do I bake sourdough bread?" not in by_prompt
    assert "Is it okay to take my roommate's leftovers?" not in by_prompt
    assert stats["pairs"] == 5 and stats["prompts"] == 4 and stats["prompts_without_pair"] == 2
    assert stats["skipped_conflicting_label"] == 1


def test_cap_option(path):
    assert len(list(beavertails.load(path, max_pairs_per_prompt=None))) == 7
    assert len(list(beavertails.load(path, max_pairs_per_prompt=1))) == 2
    with pytest.raises(DataError, match="max_pairs_per_prompt"):
        list(beavertails.load(path, max_pairs_per_prompt=0))


def test_bad_rows(tmp_path, path):
    row = json.loads(open(path).readline())
    p = tmp_path / "bt.jsonl"
    p.write_text(json.dumps({k: v for k, v in row.items() if k != "is_safe"}) + "\n")
    with pytest.raises(DataError, match=r"bt\.jsonl:1: field 'is_safe': is missing"):
        list(beavertails.load(str(p)))
    p.write_text(json.dumps(row) + "\n" + json.dumps({**row, "category": ["violence"]}) + "\n")
    with pytest.raises(DataError, match=r"bt\.jsonl:2: field 'category'"):
        list(beavertails.load(str(p)))
    p.write_text(json.dumps({**row, "is_safe": "yes"}) + "\n")
    with pytest.raises(DataError, match=r"field 'is_safe': should be a boolean"):
        list(beavertails.load(str(p)))
