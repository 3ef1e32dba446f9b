"""Pairwise-to-scalar strategies on scripted verdicts: exact scores and counted judge calls."""

from collections import Counter

import numpy as np
import pytest
from scipy.optimize import brentq
from scipy.special import expit
from scipy.stats import spearmanr

from genrm.rlhf.pairwise import Group, PairJudge, score_groups
from genrm.judge.scalarize import REF, Pairing, bradley_terry, make_strategy, outcome
from genrm.testing.scripted_backend import ScriptedBackend, by_number
from genrm.judge.verdict import parse_verdict


def _run(strategy, groups, decide=by_number, style="rationale"):
    backend = ScriptedBackend(decide, style=style)
    judge = PairJudge(backend, style=style)
    return score_groups(groups, strategy, judge), backend


def test_outcome_strengths_ties_and_invalid():
    v = lambda s: parse_verdict(f"1. Reason here.\n\\boxed{{{s}}}")  # noqa: E731
    assert [outcome(v(s)) for s in ("A>>B", "A>B", "A=B", "B>A", "B>>A")] == [1, 1, 0.5, 0, 0]
    assert [outcome(v(s), "graded") for s in ("A>>B", "A>B", "A=B", "B>A", "B>>A")] == [1, 0.75, 0.5, 0.25, 0]
    assert outcome(parse_verdict("no verdict at all")) is None
    tag = parse_verdict("1. A is right.\n<answer>[[A]]</answer>", "answer-tag")
    assert outcome(tag, "graded") == 1.0  # answer tags carry no strength


def test_reference_makes_2g_calls_and_scores_against_the_reference():
    group = Group("Rate it.", ["score 9", "score 5", "score 1"], reference="score 5")
    [res], backend = _run(make_strategy("reference"), [group])
    assert backend.calls == res.calls == 2 * 3
    assert res.scores == [1.0, 0.5, 0.0]  # beats / ties / loses to the reference in both orders
    assert res.ties == 2 and res.failed == res.invalid == 0
    assert res.consistent == res.both_orders == 3


def test_reference_needs_one():
    with pytest.raises(ValueError, match="needs a reference answer; group 0"):
        _run(make_strategy("reference"), [Group("q", ["a"])])


def test_round_robin_exact_win_rates_and_call_count():
    # 3 > 2 = 2 > 1: member 1 and 2 tie with each other.
    group = Group("q", ["score 3", "score 2", "score 2", "score 1"])
    [res], backend = _run(make_strategy("round_robin"), [group])
    g = 4
    assert backend.calls == res.calls == g * (g - 1)
    # Each member meets 3 others in 2 orders: 6 outcomes.
    assert res.scores == [1.0, 0.5, 0.5, 0.0]  # (0 + 0 + 0.5 + 0.5 + 1 + 1) / 6 for the middle two
    assert res.ties == 2  # the 1-vs-2 pair, in both orders
    assert [len(o) for o in res.outcomes] == [6] * 4


def test_round_robin_position_bias_cancels():
    [res], _ = _run(make_strategy("round_robin"), [Group("q", ["x", "y", "z"])], decide=lambda a, b: "A>B")
    assert res.scores == [0.5, 0.5, 0.5]  # "A always wins" is pure position bias
    assert res.consistent == 0 and res.both_orders == 3


def test_invalid_verdicts_are_dropped_not_scored_as_losses():
    def decide(a, b):
        if {a, b} == {"score 1", "score 2"}:
            return "invalid"
        return by_number(a, b)

    [res], _ = _run(make_strategy("round_robin"), [Group("q", ["score 3", "score 2", "score 1"])], decide=decide)
    assert res.invalid == 2 and res.failed == 0
    # member 1 ("score 2") only has its two losses to member 0 left; member 2 ("score 1") likewise.
    assert res.scores == [1.0, 0.0, 0.0]
    assert [len(o) for o in res.outcomes] == [4, 2, 2]


def test_failed_calls_give_none_never_zero():
    [res], _ = _run(make_strategy("round_robin"), [Group("q", ["score 3", "score 2", "score 1"])],
                    decide=lambda a, b: "fail")
    assert res.scores == [None, None, None]
    assert res.all_failed and res.failed == res.calls == 6
    [res], _ = _run(make_strategy("bradley_terry"), [Group("q", ["a", "b"])], decide=lambda a, b: "invalid")
    assert res.scores == [None, None] and res.all_failed
    [res], _ = _run(make_strategy("reference"), [Group("q", ["a"], reference="r")], decide=lambda a, b: "fail")
    assert res.scores == [None]


def test_one_member_left_without_comparisons_is_none():
    def decide(a, b):
        return "fail" if "score 1" in (a, b) else by_number(a, b)

    [res], _ = _run(make_strategy("round_robin"), [Group("q", ["score 3", "score 2", "score 1"])], decide=decide)
    assert res.scores == [1.0, 0.0, None]


def test_bradley_terry_ordering_and_centring():
    group = Group("q", [f"score {k}" for k in (4, 9, 1, 6, 3)])
    [res], backend = _run(make_strategy("bradley_terry"), [group])
    assert backend.calls == 5 * 4
    order = sorted(range(5), key=lambda i: res.scores[i], reverse=True)
    assert order == [1, 3, 0, 4, 2]
    assert sum(res.scores) == pytest.approx(0.0, abs=1e-6)
    assert all(np.isfinite(res.scores))  # the undefeated member stays finite (L2 prior)


def test_bradley_terry_matches_the_closed_form_for_two_players():
    l2 = 0.1
    scores = bradley_terry(2, [(0, 1, 1.0), (0, 1, 1.0)], l2=l2)
    # theta = (d/2, -d/2) with 2 * (1 - sigmoid(d)) = l2 * d / 2 at the optimum.
    d = brentq(lambda d: 2 * (1 - expit(d)) - l2 * d / 2, 0, 100)
    assert scores == pytest.approx([d / 2, -d / 2], rel=1e-4)


def test_bradley_terry_ties_and_graded_strengths():
    [res], _ = _run(make_strategy("bradley_terry"), [Group("q", ["x", "y", "z"])], decide=lambda a, b: "A=B")
    assert res.scores == pytest.approx([0, 0, 0], abs=1e-6) and res.ties == 6

    def decide(a, b):  # 2 beats 1 by a lot, 1 beats 0 a little
        rank = {"r0": 0, "r1": 1, "r2": 2}
        x, y = rank[a], rank[b]
        if abs(x - y) == 2:
            return "A>>B" if x > y else "B>>A"
        return "A>B" if x > y else "B>A"

    [graded], _ = _run(make_strategy("round_robin", strength="graded"), [Group("q", ["r0", "r1", "r2"])], decide)
    assert graded.scores == pytest.approx([(0.25 + 0.0) / 2, (0.75 + 0.25) / 2, (1.0 + 0.75) / 2])


def test_bradley_terry_ignores_reference_outcomes_and_unseen_members():
    assert bradley_terry(3, [(REF, 0, 1.0)]) == [None, None, None]
    out = bradley_terry(3, [(0, 1, 1.0)])
    assert out[2] is None and out[0] > out[1]


@pytest.mark.parametrize("g,rounds", [(8, 1), (8, 2), (9, 3), (6, 3), (5, 4), (2, 1)])
def test_sampled_round_robin_call_count_and_balance(g, rounds):
    strategy = make_strategy("sampled_round_robin", rounds=rounds, seed=3)
    [res], backend = _run(strategy, [Group("q", [f"score {k}" for k in range(g)])])
    assert backend.calls == res.calls == strategy.calls(g) == min(g * (g - 1), 2 * rounds * g)
    if 2 * rounds < g - 1:
        assert [len(o) for o in res.outcomes] == [4 * rounds] * g  # 2m opponents, two orders each
    # With the win-rate fit, a member that beats everyone it meets scores 1.
    assert res.scores[g - 1] == 1.0 and res.scores[0] == 0.0


def test_sampled_round_robin_with_bt_fit_orders_a_large_group():
    g = 16
    strategy = make_strategy("sampled_round_robin", rounds=2, fit="bradley_terry", seed=0)
    [res], backend = _run(strategy, [Group("q", [f"score {k}" for k in range(g)])])
    assert backend.calls == 2 * 2 * g  # 64 instead of 240 for the full round robin
    # 4 opponents each cannot sort 16 exactly; the order must still be close.
    assert spearmanr(res.scores, np.arange(g)).statistic > 0.85


def test_many_groups_go_to_the_backend_as_one_batch():
    groups = [Group("q", ["score 1", "score 2"], reference="score 1") for _ in range(5)]
    results, backend = _run(make_strategy("reference"), groups)
    assert backend.batches == 1 and backend.batch_sizes == [5 * 2 * 2]
    assert [r.scores for r in results] == [[0.5, 1.0]] * 5


def test_comparisons_are_both_orders_of_each_pair():
    cs = make_strategy("round_robin").comparisons(3)
    assert Counter(frozenset((c.a, c.b)) for c in cs) == {frozenset(p): 2 for p in [(0, 1), (0, 2), (1, 2)]}
    assert Pairing(0, 1) in cs and Pairing(1, 0) in cs
    assert make_strategy("reference").comparisons(2) == [Pairing(0, REF), Pairing(REF, 0),
                                                         Pairing(1, REF), Pairing(REF, 1)]


def test_answer_tag_style_round_trip():
    [res], _ = _run(make_strategy("round_robin"), [Group("q", ["score 2", "score 1"])], style="answer-tag")
    assert res.scores == [1.0, 0.0]


def test_unknown_names_fail_clearly():
    with pytest.raises(ValueError, match="unknown strategy 'knockout'"):
        make_strategy("knockout")
    with pytest.raises(ValueError, match="unknown strength"):
        make_strategy("round_robin", strength="loud")
