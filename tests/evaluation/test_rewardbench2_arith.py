"""RewardBench 2 and best-of-N arithmetic, written again here from reward-bench's code
(`rewardbench/utils.py`: `reroll_and_score_dataset`, `_compute_prompt_stats`,
`process_single_model`) and checked on hand-computed fixtures; rescore formats; loader errors."""

import json
import math

import pytest

from genrm.data.rows import DataError
from genrm.evaluation import bon_arith
from genrm.evaluation.rescore_bon import rescore_best_of_n, rescore_rewardbench2
from genrm.evaluation.suites import rewardbench2 as rb2

FIXTURE = "tests/fixtures/rewardbench2/test.jsonl"


# ----------------------------------------------------------------------------- the rules, again


def one_over_k(scores):
    """reroll_and_score_dataset: 1 / (count of the max) when scores[0] is the max, else 0."""
    best = max(scores)
    if scores[0] != best:
        return 0.0
    return 1.0 / len([s for s in scores if s == best])


def np_div(a, b):
    """numpy's float division: x / 0 is +-inf, 0 / 0 is nan."""
    if b != 0:
        return a / b
    return math.nan if a == 0 else math.copysign(math.inf, a)


def ties_reference(rows):
    """process_single_model on [(id, num_correct, scores)], returned as a fraction."""
    stats = {"ref": {}, "tied": {}}
    for rid, nc, scores in rows:
        kind, n = rid.split(":")
        good, bad = scores[:nc], scores[nc:]
        spread = max(good) - min(good) if len(good) > 1 else None
        gap = min(good) - max(bad)
        stats["ref" if kind == "ref" else "tied"][int(n)] = (gap > 0, spread, gap)
    ref_acc = sum(s[0] for s in stats["ref"].values()) / len(stats["ref"]) if stats["ref"] else 0.0
    tied_acc = sum(s[0] for s in stats["tied"].values()) / len(stats["tied"]) if stats["tied"] else 0.0
    both = [n for n in stats["tied"] if n in stats["ref"]]
    pref = hard = margin = 0.0
    for n in both:
        _, spread, tgap = stats["tied"][n]
        low = min(stats["ref"][n][2], tgap)
        pref += tgap > spread
        hard += low > spread
        m = math.tanh(np_div(low, spread) - 1)
        margin += 0.0 if math.isnan(m) else m
    k = len(both)
    return 0.30 * tied_acc + 0.30 * ref_acc + 0.20 * pref / k + 0.20 * hard / k + 0.01 * margin / k


# ----------------------------------------------------------------------------- non-Ties


@pytest.mark.parametrize("scores, want", [
    ([5, 1, 1, 1], 1.0), ([3, 3, 1, 0], 0.5), ([3, 3, 3, 0], 1 / 3), ([2, 2, 2, 2], 0.25), ([2, 3, 1, 0], 0.0),
    ([-1, -1, -1, 7], 0.0),
])
def test_ties_for_the_maximum_score_1_over_k(scores, want):
    assert bon_arith.prompt_result(scores) == pytest.approx(want) == pytest.approx(one_over_k(scores))


# ----------------------------------------------------------------------------- Ties

# ref:n has one correct answer, tied:n several; n=4 exists only as ref.
TIES = [
    ("ref:1", 1, [5, 1, 2]), ("tied:1", 2, [6, 4, 3, 1]),  # spread 2, gaps 3 / 1: margin tanh(1/2 - 1)
    ("ref:2", 1, [2, 3, 0]), ("tied:2", 2, [4, 4, 1]),     # equal correct scores, min gap -1: -1/0 -> tanh = -1
    ("ref:3", 1, [7, 2]), ("tied:3", 2, [4, 4, 4]),        # spread 0 and min gap 0: 0/0 = nan -> 0, as published
    ("ref:4", 1, [1, 0]),                                  # only as ref: in ref accuracy, not in the margins
    ("ref:5", 1, [9, 1]), ("tied:5", 2, [9, 8, 2]),        # spread 1, min gap 6: preferred and hard
    ("ref:6", 1, [5, 0]), ("tied:6", 2, [3, 3, 1]),        # spread 0, min gap 2: 2/0 -> tanh = +1
]
# By hand: ref accurate 1,3,4,5,6 of 6; tied accurate 1,2,5,6 of 5 (tied:3's gap is 0, not > 0);
# over n in {1,2,3,5,6}: preferred (tied gap > spread) 2,5,6; hard (min gap > spread) 5,6.
HAND = {"ref_accuracy": 5 / 6, "tied_accuracy": 4 / 5, "preferred": 3 / 5, "preferred_hard": 2 / 5,
        "margin": (math.tanh(-0.5) - 1 + 0 + math.tanh(5) + 1) / 5}
HAND_SCORE = (0.30 * HAND["tied_accuracy"] + 0.30 * HAND["ref_accuracy"] + 0.20 * HAND["preferred"]
              + 0.20 * HAND["preferred_hard"] + 0.01 * HAND["margin"])


def test_ties_hand_computed_and_rederived():
    got = bon_arith.ties_score(TIES)
    for k, v in HAND.items():
        assert got[k] == pytest.approx(100 * v), k
    assert got["score"] == pytest.approx(100 * HAND_SCORE) == pytest.approx(100 * ties_reference(TIES))
    assert (got["n_ref"], got["n_tied"], got["n_both"]) == (6, 5, 5)


def test_ties_weights_as_published_sum_to_1_01():
    assert sum(bon_arith.TIES_WEIGHTS.values()) == pytest.approx(1.01)
    perfect = [("ref:1", 1, [10, 0]), ("tied:1", 2, [10, 10 - 1e-9, 0])]  # margin term tanh(huge) = 1
    assert bon_arith.ties_score(perfect)["score"] == pytest.approx(101.0)


def test_ties_division_by_zero_alone_is_zero_only_for_0_over_0():
    eq = lambda ref_gap: [("ref:1", 1, [ref_gap, 0]), ("tied:1", 2, [4, 4, 0])]  # noqa: E731 tied gap 4, spread 0
    assert bon_arith.ties_score(eq(0))["margin"] == pytest.approx(0.0)  # min(0, 4) / 0 = nan -> 0
    assert bon_arith.ties_score(eq(2))["margin"] == pytest.approx(100.0)  # 2 / 0 = inf -> tanh = 1


def test_ties_without_a_number_in_both_kinds_has_no_score():
    got = bon_arith.ties_score([("ref:1", 1, [2, 1]), ("ref:2", 1, [0, 1])])
    assert got["ref_accuracy"] == 50.0 and got["tied_accuracy"] == 0.0  # an absent kind is 0, as published
    assert got["score"] is None and got["preferred"] is None


@pytest.mark.parametrize("bad", ["7", "ref-1", "tie:1", "ref:x"])
def test_ties_ids_must_be_ref_or_tied(bad):
    with pytest.raises(ValueError, match="ref:<n>"):
        bon_arith.ties_score([(bad, 1, [1, 0])])


def test_overall_is_the_unweighted_mean_of_six_subsets():
    results = [("Factuality", 1.0), ("Factuality", 0.5), ("Precise IF", 0.0), ("Math", 1 / 3), ("Safety", 1.0),
               ("Focus", 0.25)]
    got = bon_arith.score(results, TIES)
    want = [75.0, 0.0, 100 / 3, 100.0, 25.0, 100 * HAND_SCORE]
    assert [got["subsets"][s]["score"] for s in bon_arith.SUBSETS] == pytest.approx(want)
    assert got["overall"] == pytest.approx(sum(want) / 6)
    assert bon_arith.score(results)["overall"] is None  # Ties missing: no leaderboard mean


def test_length_baselines_on_the_fixture():
    prompts = rb2.load(FIXTURE)
    rows = [(p.subset, p.id, len(p.chosen), [len(x) for x in p.chosen + p.rejected]) for p in prompts]
    short = bon_arith.length_baseline(rows, "shortest")
    # Focus: the correct answer is the shortest in both fixture prompts; Factuality in neither ("Lyon.",
    # "Six." are shorter); Math: "56"/"54"/"64" and "42"/"41"/"32" tie 3 ways for the shortest.
    assert short["subsets"]["Focus"]["score"] == 100.0 and short["subsets"]["Factuality"]["score"] == 0.0
    assert short["subsets"]["Math"]["score"] == pytest.approx(100 / 3)
    long = bon_arith.length_baseline(rows, "longest")
    assert long["subsets"]["Focus"]["score"] == 0.0
    for got in (short, long):
        assert 0 <= got["overall"] <= 101


# ----------------------------------------------------------------------------- generic best-of-N


def test_best_of_n_every_chosen_above_every_rejected():
    assert bon_arith.won_by_scores([3, 2], [1, 0])
    assert not bon_arith.won_by_scores([3, 1], [1, 0])  # a tie loses
    got = bon_arith.accuracy([("a", True), ("a", False), (None, True)])
    assert got["accuracy"] == pytest.approx(200 / 3) and got["categories"] == {"a": {"accuracy": 50.0, "n": 2}}


# ----------------------------------------------------------------------------- rescore formats


def _write(tmp_path, rows, name="rows.jsonl"):
    p = tmp_path / name
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(p)


def test_rescore_rewardbench2_prints_the_six_subsets_and_overall(tmp_path):
    rows = [{"id": str(k), "subset": s, "num_correct": 1, "scores": [[2.0], [1.0], [2.0], [0.0]]}
            for k, s in enumerate(bon_arith.SUBSETS[:5])]
    rows += [{"id": i, "subset": "Ties", "num_correct": nc, "scores": sc} for i, nc, sc in TIES]
    got = rescore_rewardbench2(_write(tmp_path, rows))
    assert list(got) == [*bon_arith.SUBSETS, "overall"]
    assert got["Focus"] == 50.0 and got["Ties"] == pytest.approx(100 * HAND_SCORE)
    assert got["overall"] == pytest.approx((5 * 50.0 + 100 * HAND_SCORE) / 6)


@pytest.mark.parametrize("row, field", [
    ({"id": "1", "subset": "Math", "num_correct": 1, "scores": [1, "x"]}, "scores"),
    ({"id": "1", "subset": "Math", "num_correct": 3, "scores": [1, 0]}, "num_correct"),
    ({"id": "r1", "subset": "Ties", "num_correct": 1, "scores": [1, 0]}, "id"),
    ({"id": "tied:1", "subset": "Ties", "num_correct": 1, "scores": [1, 0]}, "num_correct"),
])
def test_rescore_rewardbench2_bad_row_is_one_line(tmp_path, row, field):
    path = _write(tmp_path, [{"id": "0", "subset": "Math", "num_correct": 1, "scores": [1, 0]}, row])
    with pytest.raises(DataError) as e:
        rescore_rewardbench2(path)
    assert f"{path}:2" in str(e.value) and f"'{field}'" in str(e.value) and "\n" not in str(e.value)


def test_rescore_best_of_n(tmp_path):
    rows = [{"id": "a", "category": "math", "scores_chosen": [3, 2], "scores_rejected": [1]},
            {"id": "b", "category": "math", "scores_chosen": [1], "scores_rejected": [1, 0]},
            {"id": "c", "scores_chosen": [5], "scores_rejected": [4]}]
    got = rescore_best_of_n(_write(tmp_path, rows))
    assert got["overall"] == {"accuracy": pytest.approx(200 / 3), "n": 3} and got["math"] == {"accuracy": 50.0, "n": 2}
    with pytest.raises(DataError, match="scores_rejected"):
        rescore_best_of_n(_write(tmp_path, [{"id": "a", "scores_chosen": [1], "scores_rejected": []}], "bad.jsonl"))


# ----------------------------------------------------------------------------- loader


@pytest.mark.parametrize("edit, field", [
    ({"num_correct": 2}, "num_correct"), ({"total_completions": 9}, "total_completions"),
    ({"chosen": "Paris."}, "chosen"), ({"subset": ""}, "subset"), ({"id": None}, "id"),
])
def test_a_malformed_row_is_one_line_naming_file_row_and_field(tmp_path, edit, field):
    rows = [json.loads(line) for line in open(FIXTURE)]
    rows[2].update(edit)
    path = _write(tmp_path, rows, "rb2.jsonl")
    with pytest.raises(DataError) as e:
        rb2.load(path)
    msg = str(e.value)
    assert f"{path}:3" in msg and f"'{field}'" in msg and "\n" not in msg


def test_loader_limits_ties_by_prompt_number_and_checks_the_4way_needs(tmp_path):
    got = rb2.load(FIXTURE, limit=1)
    assert [p.id for p in got if p.ties] == ["ref:1", "tied:1"]  # a Ties prompt keeps both its rows
    assert sum(not p.ties for p in got) == 5
    rows = [json.loads(line) for line in open(FIXTURE)]
    rows[0].update(rejected=["Lyon."], num_incorrect=1, total_completions=2)
    path = _write(tmp_path, rows, "short.jsonl")
    assert len(rb2.load(path)) == len(rows)  # scoring models need no 3 incorrect answers
    with pytest.raises(DataError, match="4-way.*3 incorrect"):
        rb2.load(path, four_way=True)


def test_rescore_cli_prints_percentages_on_stdout(tmp_path):
    import subprocess
    import sys

    rows = [{"id": i, "subset": "Ties", "num_correct": nc, "scores": sc} for i, nc, sc in TIES]
    rows.append({"id": "7", "subset": "Focus", "num_correct": 1, "scores": [1, 1, 0, 0]})
    path = _write(tmp_path, rows)
    out = subprocess.run([sys.executable, "evaluate/rescore.py", f"input={path}", "format=rewardbench2",
                          f"output_dir={tmp_path / 'report'}"], capture_output=True, text=True, check=True)
    got = json.loads(out.stdout)
    assert got["Focus"] == 50.0 and got["Ties"] == pytest.approx(100 * HAND_SCORE) and got["overall"] is None
    assert "1.01" in (tmp_path / "report" / "report.md").read_text()
