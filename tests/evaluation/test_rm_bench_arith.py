"""RM-Bench arithmetic against the official `compute_accuracy`, written again here."""

import json

import pytest

from genrm.evaluation.rescore import rescore
from genrm.evaluation.suites import rm_bench
from genrm.data.rows import DataError

KINDS = ("chat", "safety-refuse", "safety-response")


def official_compute_accuracy(results):
    """The official arithmetic, independently: a 3x3 count of strict wins / number of prompts,
    hard = mean of the 3 upper cells, normal = mean of the diagonal, easy = mean of the 3 lower
    cells; a results list with domains is split by domain prefix and averaged over domains."""
    if "domain" in results[0]:
        per = {}
        for prefix in ("chat", "math", "code", "safety"):
            sub = [{k: v for k, v in r.items() if k != "domain"} for r in results if r["domain"].startswith(prefix)]
            if sub:
                acc = official_compute_accuracy(sub)
                per[prefix] = (acc["hard_acc"] + acc["normal_acc"] + acc["easy_acc"]) / 3, acc
        return {"domains": per, "total_avg_acc": sum(a for a, _ in per.values()) / len(per)}
    counts = [[0] * 3 for _ in range(3)]
    for r in results:
        for i in range(3):
            for j in range(3):
                if r["score_chosen"][i] > r["score_rejected"][j]:
                    counts[i][j] += 1
    n = len(results)
    upper = (counts[0][1] + counts[0][2] + counts[1][2]) / n / 3
    diag = (counts[0][0] + counts[1][1] + counts[2][2]) / n / 3
    lower = (counts[1][0] + counts[2][0] + counts[2][1]) / n / 3
    return {"hard_acc": upper, "normal_acc": diag, "easy_acc": lower}


def fake_score(text: str) -> float:
    """A deterministic stand-in reward: words plus markdown marks, coarse enough to tie sometimes."""
    return float(len(text.split()) // 25 + text.count("**") + text.count("#"))


@pytest.fixture(scope="module")
def result_rows(shared_data):
    rows = []
    for kind in KINDS:
        for r in json.load(open(shared_data / "rm_bench" / f"{kind}_filtered.json")):
            rows.append({"id": r["id"], "domain": kind, "score_chosen": [fake_score(t) for t in r["chosen"]],
                         "score_rejected": [fake_score(t) for t in r["rejected"]]})
    return rows


def test_rescore_matches_official_arithmetic_on_real_data(tmp_path, result_rows):
    path = tmp_path / "rm_bench_results.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in result_rows))
    got = rescore(str(path), "rm_bench")
    want = official_compute_accuracy(result_rows)
    assert set(got) == {"chat", "safety", "overall"}
    for dom, (avg, acc) in want["domains"].items():
        assert got[dom]["hard"] == pytest.approx(100 * acc["hard_acc"])
        assert got[dom]["normal"] == pytest.approx(100 * acc["normal_acc"])
        assert got[dom]["easy"] == pytest.approx(100 * acc["easy_acc"])
        assert got[dom]["avg"] == pytest.approx(100 * avg)
        assert set(got[dom]) == {"hard", "normal", "easy", "avg"}
    assert got["overall"] == pytest.approx(100 * want["total_avg_acc"])
    # The two safety files are one domain: pooled prompts, not a mean of two files.
    per_file = []
    for kind in ("safety-refuse", "safety-response"):
        acc = official_compute_accuracy([{k: v for k, v in r.items() if k != "domain"}
                                         for r in result_rows if r["domain"] == kind])
        per_file.append(100 * (acc["hard_acc"] + acc["normal_acc"] + acc["easy_acc"]) / 3)
    assert got["safety"]["avg"] != pytest.approx(sum(per_file) / 2)
    # Ties happen with this score and lose, as officially.
    assert any(r["score_chosen"][i] == r["score_rejected"][j] for r in result_rows for i in range(3) for j in range(3))


def test_single_file_without_domain_is_one_group(tmp_path, result_rows):
    chat = [{k: v for k, v in r.items() if k != "domain"} for r in result_rows if r["domain"] == "chat"]
    path = tmp_path / "chat.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in chat))
    got = rescore(str(path), "rm_bench")
    want = official_compute_accuracy(chat)
    assert got["all"]["hard"] == pytest.approx(100 * want["hard_acc"])
    assert got["overall"] == pytest.approx(got["all"]["avg"])


def test_bad_row_names_line_and_field(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"id": 1, "domain": "chat", "score_chosen": [1, 2, 3], "score_rejected": [1, 2, 3]})
                    + "\n" + json.dumps({"id": 2, "domain": "chat", "score_chosen": [1, 2], "score_rejected": [1, 2, 3]})
                    + "\n")
    with pytest.raises(DataError, match=r"bad.jsonl:2: field 'score_chosen'"):
        rescore(str(path), "rm_bench")


def test_load_keeps_all_nine_cells_even_for_identical_variants(shared_data):
    prompts = rm_bench.load(str(shared_data / "rm_bench"))
    assert {p.kind for p in prompts} == set(KINDS) and len(prompts) == 129 + 284 + 157
    assert {p.domain for p in prompts} == {"chat", "safety"}
    # 12 chat rows repeat a chosen variant; the record build would drop those cells, we keep them.
    chat = [p for p in prompts if p.kind == "chat"]
    assert sum(p.chosen[i] == p.chosen[j] for p in chat for i in range(3) for j in range(i + 1, 3)) == 12
    limited = rm_bench.load(str(shared_data / "rm_bench"), kinds=["safety"], limit=2)
    assert [p.kind for p in limited] == ["safety-refuse"] * 2 + ["safety-response"] * 2
    assert len({p.id for p in prompts}) == len(prompts)


def test_score_domains_and_cell_triangles():
    # prompt 1 wins only the diagonal, prompt 2 everything: normal 100, hard = easy = 50.
    diag = [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
    full = [[1, 1, 1]] * 3
    s = rm_bench.score([("chat", diag), ("chat", full), ("safety-refuse", full)])
    assert s["domains"]["chat"]["normal"] == 100 and s["domains"]["chat"]["hard"] == 50
    assert s["domains"]["chat"]["avg"] == pytest.approx(200 / 3)
    assert s["domains"]["safety"]["avg"] == 100
    assert s["overall"] == pytest.approx((200 / 3 + 100) / 2)
    assert rm_bench.difficulty(0, 2) == "hard" and rm_bench.difficulty(2, 0) == "easy"
    with pytest.raises(DataError):
        rm_bench.score([("chat", [[1, 0], [0, 1]])])
