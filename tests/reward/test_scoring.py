import asyncio
import time
from collections import Counter

import numpy as np
import pytest

from genrm.reward.matching import LexicalMatcher, LLMMatcher
from genrm.reward.config import RewardConfig
from genrm.reward.rewards import HybridReward, RationaleReward, make_reward
from genrm.reward.scoring import RationaleItem, ascore_rationales, score_rationales

UNITS = ["{chosen} gives the correct year 1969 for the landing", "{rejected} invents a quote from Armstrong"]


def distinct_reasons(n: int, side: str = "A") -> list[str]:
    """n reasons that share no point with each other (so none is a duplicate)."""
    return [f"Response {side} cites figure {1000 + i} and code {5000 + i} from section {9000 + i}" for i in range(n)]


class Recording(LexicalMatcher):
    """A lexical matcher that keeps what it was asked to score."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def score_matrices(self, pairs, raise_errors=True):
        self.seen += [tuple(map(tuple, p[:2])) for p in pairs]
        return super().score_matrices(pairs, raise_errors)


def test_the_matcher_sees_one_frame_whatever_the_placement():
    m = Recording()
    a = ["Response A gives the correct year 1969 for the landing.", "Response B invents a quote from Armstrong."]
    b = ["Response B gives the correct year 1969 for the landing.", "Response A invents a quote from Armstrong."]
    out = score_rationales(m, [(UNITS, a, "A"), (UNITS, b, "B")])
    assert m.seen[0] == m.seen[1]  # identical input to the matcher
    assert m.seen[0][0][0] == "Response A gives the correct year 1969 for the landing"  # chosen shown as A
    assert np.array_equal(out[0], out[1]) and out[0].tolist() == [[1.0, 0.0], [0.0, 1.0]]
    swapped = score_rationales(m, [(UNITS, b, "A")])[0]  # the same words credited to the other responses
    assert swapped.tolist() == [[0.0, 0.0], [0.0, 0.0]]


def test_rendered_units_without_a_placement_are_read_as_written():
    rendered = ["Response A gives the correct year 1969 for the landing"]
    reasons = ["Response A gives the correct year 1969 for the landing."]
    assert score_rationales(LexicalMatcher(), [(rendered, reasons, None)])[0].tolist() == [[1.0]]
    assert score_rationales(LexicalMatcher(), [(rendered, reasons, "B")])[0].tolist() == [[1.0]]
    with pytest.raises(ValueError, match="side-neutral.*chosen_position"):
        score_rationales(LexicalMatcher(), [(UNITS, reasons, None)])


def test_void_reasons_keep_their_position_and_are_not_sent():
    m = Recording()
    reasons = ["Response A is better overall.", "Response A gives the correct year 1969 for the landing.",
               "Response A gives the correct year 1969 for the landing.", "Response B invents a quote from Armstrong."]
    stats = Counter()
    S = score_rationales(m, [(UNITS, reasons, "A")], stats=stats)[0]
    assert S.shape == (2, 4) and S[:, 0].tolist() == [0, 0] and S[:, 2].tolist() == [0, 0]
    assert S[0, 1] == 1.0 and S[1, 3] == 1.0
    assert len(m.seen[0][1]) == 2  # the filler and the repeat never reached the matcher
    assert stats == Counter({"void_filler": 1, "void_duplicate": 1})


def test_cost_is_bounded_by_max_model_units():
    many = distinct_reasons(2000)
    m = Recording()
    stats = Counter()
    t = time.perf_counter()
    S = score_rationales(m, [RationaleItem(UNITS, many, "A")], stats=stats)[0]
    assert time.perf_counter() - t < 1.0
    assert S.shape == (2, 10) and len(m.seen[0][1]) == 10
    assert stats["reasons_truncated"] == 1990
    assert score_rationales(m, [(UNITS, many, "A")], max_model_units=3)[0].shape == (2, 3)
    with pytest.raises(ValueError, match="max_model_units"):
        score_rationales(m, [(UNITS, many, "A")], max_model_units=0)


class CountingMetaJudge:
    """Scores every pair 0 and records how many model reasons each prompt lists."""

    def __init__(self):
        self.listed = []

    def generate(self, prompts, sampling):
        out = []
        for p in prompts:
            text = p[-1]["content"]
            n = sum(1 for line in text.splitlines() if line[:1] == "R" and line[1:2].isdigit())
            m = sum(1 for line in text.splitlines() if line[:1] == "S" and line[1:2].isdigit())
            self.listed.append(m)
            out.append("\n".join(f"R{i}@S{j}: 0" for i in range(1, n + 1) for j in range(1, m + 1)))
        return out

    async def agenerate(self, prompts, sampling):
        return self.generate(prompts, sampling)


def test_the_metajudge_is_asked_about_at_most_max_model_units_reasons():
    backend = CountingMetaJudge()
    many = "\n".join(f"- {r}." for r in distinct_reasons(2000))
    reward = make_reward(RewardConfig(max_model_units=6), "rationale", matcher=LLMMatcher(backend))
    out = asyncio.run(reward(prompts=["q"], completions=[many + "\n\\boxed{A>B}"], label=["A>B"],
                             rationale_units=[UNITS], chosen_position=["A"]))
    assert out == [0.0] and backend.listed == [6]  # not 2,000 reasons, not 128,000 new tokens
    assert reward.last_metrics["checks/reasons_truncated"] == 1994


def test_async_entry_point_matches_the_sync_one():
    items = [(UNITS, ["Response B gives the correct year 1969 for the landing."], "B")]
    sync = score_rationales(LLMMatcher(CountingMetaJudge()), items)
    got = asyncio.run(ascore_rationales(LLMMatcher(CountingMetaJudge()), items))
    assert [s.tolist() for s in got] == [s.tolist() for s in sync]


def test_rewards_take_the_placement_from_chosen_position_or_the_label():
    reward = HybridReward(LexicalMatcher())
    text = "1. Response B gives the correct year 1969 for the landing.\n\\boxed{B>A}"
    kw = dict(prompts=["q"], completions=[text], rationale_units=[UNITS[:1]])
    assert reward(**kw, label=["B>A"], chosen_position=["B"]) == [1.0]
    assert reward(**kw, label=["B>A"]) == [1.0]  # the label names the same side
    with pytest.raises(ValueError, match="chosen_position must be"):
        reward(**kw, label=["B>A"], chosen_position=["left"])
    with pytest.raises(ValueError, match="3 values for 1"):
        reward(**kw, label=["B>A"], chosen_position=["B", "A", "A"])
    only = HybridReward(LexicalMatcher(), mode="rationale_only")
    with pytest.raises(ValueError, match="side-neutral"):
        only(**kw)  # no placement at all: side-neutral units cannot be read
    assert RationaleReward(LexicalMatcher(), defenses={"stance": False}).defenses.stance is False
