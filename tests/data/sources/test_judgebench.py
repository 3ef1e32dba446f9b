import json
from collections import Counter

import pytest

from genrm.data.rows import DataError
from genrm.data.sources import get_source, judgebench


@pytest.fixture(scope="module")
def path(shared_data):
    return str(shared_data / "judgebench" / "gpt-4o-2024-05-13.jsonl")


@pytest.fixture(scope="module")
def rows(path):
    return [json.loads(line) for line in open(path)]


def test_registered():
    assert get_source("judgebench") is judgebench.load


def test_real_file(path, rows):
    recs = list(judgebench.load(path))
    assert len(recs) == len(rows) == 350
    assert Counter(r.meta["category"] for r in recs) == {"knowledge": 154, "reasoning": 98, "math": 56, "coding": 42}
    by_id = {r["pair_id"]: r for r in rows}
    for rec in recs:
        row = by_id[rec.meta["pair_id"]]
        want = row["response_A"] if row["label"] == "A>B" else row["response_B"]
        other = row["response_B"] if row["label"] == "A>B" else row["response_A"]
        assert rec.chosen == want and rec.rejected == other
        assert rec.meta["original_label"] == row["label"]
        assert rec.meta["judgebench_source"] == row["source"]
        assert rec.prompt == [{"role": "user", "content": row["question"]}]
        assert rec.domain == "general" and rec.label_kind == "gold"


def test_b_over_a_picks_response_b(path, rows):
    row = next(r for r in rows if r["label"] == "B>A")
    rec = next(r for r in judgebench.load(path) if r.meta["pair_id"] == row["pair_id"])
    assert rec.chosen == row["response_B"] and rec.rejected == row["response_A"]


def test_category_mapping():
    assert judgebench.category("mmlu-pro-computer science") == "knowledge"
    assert judgebench.category("livebench-reasoning") == "reasoning"
    assert judgebench.category("livebench-math") == "math"
    assert judgebench.category("livecodebench") == "coding"
    assert judgebench.category("gsm8k") is None


def _write(tmp_path, rows):
    p = tmp_path / "jb.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(p)


def test_bad_label_and_source(tmp_path, rows):
    with pytest.raises(DataError, match=r"jb\.jsonl:2: field 'label': should be 'A>B' or 'B>A', got 'A=B'"):
        list(judgebench.load(_write(tmp_path, [rows[0], {**rows[1], "label": "A=B"}])))
    with pytest.raises(DataError, match=r"jb\.jsonl:1: field 'source': unknown JudgeBench source 'gsm8k'"):
        list(judgebench.load(_write(tmp_path, [{**rows[0], "source": "gsm8k"}])))
    with pytest.raises(DataError, match=r"jb\.jsonl:1: field 'response_B': is missing"):
        list(judgebench.load(_write(tmp_path, [{k: v for k, v in rows[0].items() if k != "response_B"}])))


def test_malformed_line(tmp_path, rows):
    p = tmp_path / "jb.jsonl"
    p.write_text(json.dumps(rows[0]) + "\n\n" + "{not json}\n")
    with pytest.raises(DataError, match=r"jb\.jsonl:3: malformed JSON"):
        list(judgebench.load(str(p)))
