import json
from collections import Counter

import pytest

from genrm.data.rows import DataError
from genrm.data.sources import get_source, rm_bench


@pytest.fixture(scope="module")
def chat_file(shared_data):
    return str(shared_data / "rm_bench" / "chat_filtered.json")


@pytest.fixture(scope="module")
def chat(chat_file):
    return list(rm_bench.load(chat_file))


def test_registered():
    assert get_source("rm_bench") is rm_bench.load


def test_chat_has_nine_pairs_per_prompt(chat_file, chat):
    rows = json.load(open(chat_file))
    assert len(rows) == 129 and len(chat) == 129 * 9
    cells = Counter((r.meta["rm_bench_id"], r.meta["chosen_variant"], r.meta["rejected_variant"]) for r in chat)
    assert len(cells) == 129 * 9 and set(cells.values()) == {1}
    assert {r.domain for r in chat} == {"general"} and {r.meta["rm_bench_domain"] for r in chat} == {"chat"}
    assert Counter(r.meta["difficulty"] for r in chat) == {"hard": 129 * 3, "normal": 129 * 3, "easy": 129 * 3}
    assert {r.label_kind for r in chat} == {"gold"}


def test_variants_and_difficulty_match_the_rows(chat_file, chat):
    rows = {r["id"]: r for r in json.load(open(chat_file))}
    for rec in chat:
        row = rows[rec.meta["rm_bench_id"]]
        i, j = rec.meta["chosen_variant"], rec.meta["rejected_variant"]
        assert rec.chosen == row["chosen"][i] and rec.rejected == row["rejected"][j]
        assert rec.prompt == [{"role": "user", "content": row["prompt"]}]
        assert rec.meta["difficulty"] == ("hard" if i < j else "normal" if i == j else "easy")
        assert rec.meta["subset"] == row["subset"]
    # the hard pair (0, 1): concise chosen vs detailed-plain rejected
    first = next(iter(rows.values()))
    hard = [r for r in chat if r.meta["rm_bench_id"] == first["id"] and r.meta["difficulty"] == "hard"]
    assert sorted((r.meta["chosen_variant"], r.meta["rejected_variant"]) for r in hard) == [(0, 1), (0, 2), (1, 2)]
    h01 = next(r for r in hard if (r.meta["chosen_variant"], r.meta["rejected_variant"]) == (0, 1))
    assert h01.chosen == first["chosen"][0] and h01.rejected == first["rejected"][1]
    assert len(h01.chosen) < len(h01.rejected)  # concise vs detailed


def test_directory_maps_safety_files(shared_data):
    stats = {}
    recs = list(rm_bench.load(str(shared_data / "rm_bench"), stats=stats))
    by_kind = Counter(r.meta["rm_bench_domain"] for r in recs)
    assert by_kind == {"chat": 129 * 9, "safety-refuse": 284 * 9, "safety-response": 157 * 9}
    assert {r.domain for r in recs if r.meta["rm_bench_domain"].startswith("safety")} == {"safety"}
    assert stats == {"rows": 570, "pairs": 570 * 9, "skipped_identical": 0}


def test_diagonal_option(chat_file):
    recs = list(rm_bench.load(chat_file, pairs="diagonal"))
    assert len(recs) == 129 * 3
    assert all(r.meta["chosen_variant"] == r.meta["rejected_variant"] for r in recs)
    with pytest.raises(DataError, match="field 'pairs'"):
        list(rm_bench.load(chat_file, pairs="upper"))


def _row(**kw):
    row = {"id": 7, "prompt": "Write a function that adds two numbers.",
           "chosen": ["def add(a, b): return a + b", "Here is a function:\ndef add(a, b):\n    return a + b",
                      "## Solution\n```python\ndef add(a, b):\n    return a + b\n```"],
           "rejected": ["def add(a, b): return a - b", "Here is a function:\ndef add(a, b):\n    return a - b",
                        "## Solution\n```python\ndef add(a, b):\n    return a - b\n```"]}
    row.update(kw)
    return row


def test_domain_from_row_field_or_subset(tmp_path):
    p = tmp_path / "total_dataset.jsonl"
    p.write_text(json.dumps(_row(domain="code")) + "\n" + json.dumps(_row(id=8, subset="math-prm")) + "\n")
    recs = list(rm_bench.load(str(p)))
    assert Counter(r.meta["rm_bench_domain"] for r in recs) == {"code": 9, "math": 9}
    p.write_text(json.dumps(_row()) + "\n")
    with pytest.raises(DataError, match=r"total_dataset\.jsonl:1: field 'domain'"):
        list(rm_bench.load(str(p)))
    assert {r.meta["rm_bench_domain"] for r in rm_bench.load(str(p), kind="code")} == {"code"}


def test_bad_inputs(tmp_path):
    p = tmp_path / "code_filtered.json"
    p.write_text(json.dumps([_row(), _row(id=9, chosen=["only", "two"])]))
    with pytest.raises(DataError, match=r"code_filtered\.json\[1\]: field 'chosen': should be a list of 3"):
        list(rm_bench.load(str(p)))
    q = tmp_path / "math_filtered.jsonl"
    q.write_text(json.dumps(_row()) + "\n" + '{"id": 3, "prompt": "x", \n')
    with pytest.raises(DataError, match=r"math_filtered\.jsonl:2: malformed JSON"):
        list(rm_bench.load(str(q)))
    q.write_text(json.dumps({k: v for k, v in _row().items() if k != "rejected"}) + "\n")
    with pytest.raises(DataError, match=r"math_filtered\.jsonl:1: field 'rejected': is missing"):
        list(rm_bench.load(str(q)))
