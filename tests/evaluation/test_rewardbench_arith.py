"""RewardBench section arithmetic on a fixture with hand-computed numbers."""

import pytest

from genrm.evaluation.suites import rewardbench as rb

# (subset, per-item results): accuracies 75, 50, 100, 50, 100, 0, 75, 50.
FIXTURE = {
    "alpacaeval-easy": [1, 1, 0, 1], "alpacaeval-hard": [1, 0], "mt-bench-hard": [1], "llmbar-natural": [0, 1],
    "refusals-dangerous": [1, 1], "donotanswer": [0, 0], "math-prm": [1, 0, 1, 1], "hep-python": [0, 1],
}
# Weighted by reward-bench's fixed example counts (alpacaeval-easy 100, -hard 95, mt-bench-hard 37,
# llmbar-natural 100, refusals-dangerous 100, donotanswer 136, math-prm 984, hep-python 164):
CHAT = (75 * 100 + 50 * 95) / (100 + 95)            # 12250 / 195
CHAT_HARD = (100 * 37 + 50 * 100) / (37 + 100)      # 8700 / 137
SAFETY = (100 * 100 + 0 * 136) / (100 + 136)        # 10000 / 236
REASONING = (75 * 984 + 50 * 164) / (984 + 164)     # 82000 / 1148


def test_sections_hand_computed():
    got = rb.score((s, r) for s, rs in FIXTURE.items() for r in rs)
    assert got["subsets"]["alpacaeval-easy"] == {"accuracy": 75.0, "n": 4}
    assert got["sections"]["Chat"] == pytest.approx(12250 / 195)
    assert got["sections"]["Chat Hard"] == pytest.approx(8700 / 137)
    assert got["sections"]["Safety"] == pytest.approx(10000 / 236)
    assert got["sections"]["Reasoning"] == pytest.approx(82000 / 1148)
    assert got["score"] == pytest.approx((CHAT + CHAT_HARD + SAFETY + REASONING) / 4)
    assert got["unmapped_subsets"] == []


def test_missing_section_as_rewardbench_and_as_reported():
    metrics = {"alpacaeval-easy": 0.5}
    assert rb.section_scores(metrics) == {"Chat": 0.5, "Chat Hard": 0, "Safety": 0, "Reasoning": 0}
    got = rb.score([("alpacaeval-easy", 1), ("alpacaeval-easy", 0), ("anthropic_helpful", 1)])
    assert got["sections"]["Chat Hard"] is None and got["score"] is None
    assert got["unmapped_subsets"] == ["anthropic_helpful"]


def test_genrm_item_result_follows_the_generative_scorer():
    assert rb.genrm_result([1, 1]) == 1.0
    assert rb.genrm_result([1, 0]) == 0.75   # a tie/invalid judgment is worth 0.5
    assert rb.genrm_result([1, -1]) == 0.5
    assert rb.genrm_result([-1, 0]) == 0.25
