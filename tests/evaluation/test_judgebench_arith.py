"""JudgeBench: the official two-game counter rule on the real GPT-4o pairs file."""

import json

import pytest

from genrm.evaluation.rescore import rescore
from genrm.evaluation.suites import judgebench
from genrm.data.rows import DataError

# (game 1 decision, game 2 decision as the judge gave it on the swapped pair)
PATTERNS = [("A>B", "B>A"), ("A>B", "A>B"), ("B>A", "A>B"), ("A=B", "B>A"), (None, "A>B"),
            ("A>>B", "B>A"), ("B>A", "B>A"), ("A>B", None), ("A=B", "A=B"), ("B>A", "A=B")]


def official_score(pairs, prefix):
    """JudgeBench's metric, written again: flip game 2 back, +1 for the label, -1 for its flip."""
    flip = {"A>B": "B>A", "B>A": "A>B"}
    chosen = [p for p in pairs if p["source"].startswith(prefix)]
    correct = 0
    for p in chosen:
        d1 = p["judgments"][0]["decision"] if p["judgments"][0] is not None else None
        g2 = p["judgments"][1]["decision"] if p["judgments"][1] is not None else None
        d2 = flip.get(g2, g2)
        c = sum((d == p["label"]) - (d == flip[p["label"]]) for d in (d1, d2))
        correct += c > 0
    return 100 * correct / len(chosen)


@pytest.fixture(scope="module")
def judged(shared_data):
    rows = [json.loads(line) for line in open(shared_data / "judgebench" / "gpt-4o-2024-05-13.jsonl")]
    for k, r in enumerate(rows):
        d1, d2 = PATTERNS[k % len(PATTERNS)]
        r["judgments"] = [None if d1 is None else {"decision": d1}, None if d2 is None else {"decision": d2}]
    return rows


def test_counter_rule_on_the_real_file(tmp_path, judged):
    path = tmp_path / "outputs.jsonl"
    lines = []
    for k, r in enumerate(judged):
        row = dict(r)
        if k % 2:  # published outputs sometimes store the Python repr of the list
            row["judgments"] = repr(r["judgments"])
        lines.append(json.dumps(row))
    path.write_text("\n".join(lines) + "\n")
    got = rescore(str(path), "judgebench")
    assert set(got) == {"overall", "knowledge", "reasoning", "math", "coding", "n"}
    assert got["n"] == 350
    for key, prefix in [("overall", ""), ("knowledge", "mmlu-pro"), ("reasoning", "livebench-reasoning"),
                        ("math", "livebench-math"), ("coding", "livecodebench")]:
        assert got[key] == pytest.approx(official_score(judged, prefix)), key


@pytest.mark.parametrize("d1,d2,label,correct", [
    ("A>B", "B>A", "A>B", True),    # both games right
    ("A>B", "A>B", "A>B", False),   # position bias: +1 - 1 = 0
    ("A>B", "A=B", "A>B", True),    # +1 + 0
    ("A=B", "A=B", "A>B", False),   # 0
    ("B>A", "B>A", "B>A", False),   # game 2 'B>A' flips to 'A>B': +1 - 1
    ("B>A", "A>B", "B>A", True),
    (None, "B>A", "A>B", True),     # missing judgment counts 0
    ("A>>B", "B>A", "A>B", True),   # 'A>>B' is not the label string: 0 + 1
])
def test_counter_cases(d1, d2, label, correct):
    assert (judgebench.counter(judgebench.game_decisions(d1, d2), label) > 0) is correct


def test_identical_responses_are_counted(tmp_path):
    path = tmp_path / "jb.jsonl"
    base = {"original_id": 1, "question": "q", "response_model": "m", "label": "A>B"}
    path.write_text(json.dumps({**base, "pair_id": "p1", "source": "livebench-math", "response_A": "same",
                                "response_B": "same"}) + "\n" + json.dumps(
        {**base, "pair_id": "p2", "source": "mmlu-pro-law", "response_A": "x", "response_B": "y"}) + "\n")
    pairs = judgebench.load(str(path))
    assert [p.id for p in pairs] == ["p1", "p2"] and pairs[0].category == "math"
    assert judgebench.score([("livebench-math", False), ("mmlu-pro-law", True)]) == {
        "overall": 50.0, "knowledge": 100.0, "reasoning": None, "math": 0.0, "coding": None, "n": 2}


def test_bad_judgments_name_the_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"pair_id": "p", "label": "A>B", "source": "livecodebench", "judgments": "[{'decision'"})
                    + "\n")
    with pytest.raises(DataError, match=r"bad.jsonl:1: field 'judgments'"):
        rescore(str(path), "judgebench")
