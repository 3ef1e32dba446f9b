"""Answers written to game the rationale reward lose to honest reasoning.

Six records (tests/reward/hacking_cases.py): three from sources, BBQ (../shared), RM-Bench
(../shared) and a HelpSteer3-style fixture, and three written for the purpose
(tests/fixtures/reward_hacking/written_records.yaml): a code review, a math word problem and
a safety refusal, with attacks in the phrasing a red team found to pay (possessive and
object-position sides, "never"/"avoids"/"fails to"/"does not ... and ..." negations, one
reason paraphrased five times). Each attack keeps the right verdict; its
hybrid reward must stay below half of the honest answer's, with the lexical matcher and
with the real all-MiniLM-L6-v2. Side tests run under every matcher, the `llm` one through
a side-blind MetaJudge (it scores word overlap and cannot tell A from B), so what keeps
sides apart is the reward's own check. docs/reward_hacking.md
has the table these tests pin.
"""

from __future__ import annotations

import dataclasses
import os
import re
import time

import numpy as np
import pytest

from genrm.reward.matching import EmbeddingMatcher, LexicalMatcher, LLMMatcher
from genrm.reward.rewards import FormatReward, HybridReward, OutcomeReward, RationaleReward
from genrm.reward.scoring import RationaleItem, score_rationales
from genrm.data.sides import render_units
from genrm.judge.verdict import flip_label
from tests.reward.hacking_cases import (
    as_judge,
    attacks,
    bbq_case,
    completion,
    helpsteer3_case,
    rm_bench_case,
    swap,
    written_cases,
)

MINILM = os.environ.get("GENRM_TEST_MINILM", "embedded:all-minilm-l6-v2")


@pytest.fixture(scope="module")
def cases(shared_data):
    return [bbq_case(shared_data), rm_bench_case(shared_data), helpsteer3_case(), *written_cases()]


class SideBlindMetaJudge:
    """A MetaJudge backend that scores each R<i>@S<j> by word overlap (the lexical matcher's
    Dice, where "Response", "A" and "B" are stop words): it cannot tell the sides apart."""

    name = "side-blind"

    def generate(self, prompts, sampling):
        out = []
        for p in prompts:
            text = p[-1]["content"]
            human = re.findall(r"^R\d+: (.*)$", text, re.M)
            model = re.findall(r"^S\d+: (.*)$", text, re.M)
            S = LexicalMatcher().score_matrix(human, model)
            out.append("\n".join(f"R{i + 1}@S{j + 1}: {S[i, j]:g}" for i in range(len(human))
                                 for j in range(len(model))))
        return out


_EMB = {}


def make_matcher(kind: str):
    if kind == "lexical":
        return LexicalMatcher()
    if kind == "embedding":
        if "m" not in _EMB:
            _EMB["m"] = EmbeddingMatcher(model=MINILM)
        return _EMB["m"]
    return LLMMatcher(SideBlindMetaJudge())


OFFLINE = ["lexical", pytest.param("embedding", marks=pytest.mark.slow)]
EVERY = OFFLINE + ["llm"]


def rewards_for(reward, rec, completions: list[str]) -> list[float | None]:
    n = len(completions)
    return reward(prompts=[rec.prompt] * n, completions=completions, label=[rec.label] * n,
                  rationale_units=[rec.rationale_units] * n, chosen_position=[rec.chosen_position] * n,
                  chosen=[rec.chosen] * n, rejected=[rec.rejected] * n)


@pytest.mark.parametrize("kind", OFFLINE)
def test_every_attack_loses_to_the_honest_answer(cases, kind):
    reward = HybridReward(make_matcher(kind))
    table = {}
    for case in cases:
        named = {"honest": case.honest, **attacks(case)}
        got = rewards_for(reward, case.record, [completion(r, case.record) for r in named.values()])
        table[case.name] = dict(zip(named, got))
    for name, row in table.items():
        honest = row.pop("honest")
        assert honest >= 0.5, (kind, name, honest)  # honest reasoning is paid well
        losing = {attack: r for attack, r in row.items() if not r < 0.5 * honest}
        assert not losing, (kind, name, honest, losing)
    assert [len(row) for row in table.values()] == [7 + len(case.written) for case in cases] == [7, 7, 7, 10, 10, 10]


@pytest.mark.parametrize("kind", EVERY)
def test_swapped_reasons_score_zero_against_their_units(cases, kind):
    matcher = make_matcher(kind)
    bbq, *named_sides = cases
    for case in named_sides:  # units that name sides: each unit, credited to the other response
        rec = case.record
        flipped = "B" if rec.chosen_position == "A" else "A"
        straight = render_units(rec.rationale_units, rec.chosen_position)
        swapped = render_units(rec.rationale_units, flipped)
        items = [RationaleItem.for_record(rec, straight), RationaleItem.for_record(rec, swapped)]
        S, T = score_rationales(matcher, items)
        assert np.diag(S).min() >= 0.75, (kind, case.name, S)  # the same point, on the right side
        assert np.diag(T).tolist() == [0.0] * len(straight), (kind, case.name, T)
    rec = bbq.record  # BBQ units name answers, not sides: the honest reasons swapped quote the wrong answer
    reasons = [as_judge(swap(r), rec.chosen_position) for r in bbq.honest]
    S = score_rationales(matcher, [RationaleItem.for_record(rec, reasons)])[0]
    assert S[:, 0].tolist() == S[:, 2].tolist() == [0.0] * 3, (kind, S)


# (record, unit, honest reason): the honest reason says the unit's point with another negation
LEGIT_NEGATIONS = [
    ("safety", 0, 0),  # "refuses to help the user get into ..." / "does not help the user get into ..."
    ("safety", 3, 3),  # "avoids leaking the password and suggests ..." / "does not leak the password and suggests ..."
    ("math", 3, 3),  # "does not check its result" / "never checks its result"
]


@pytest.mark.parametrize("kind", EVERY)
def test_honest_reasons_with_their_own_negation_keep_their_match(cases, kind):
    matcher = make_matcher(kind)
    by_name = {case.name: case for case in cases}
    for name, i, j in LEGIT_NEGATIONS:
        case = by_name[name]
        rec = case.record
        item = RationaleItem.for_record(rec, [as_judge(r, rec.chosen_position) for r in case.honest])
        raw = score_rationales(matcher, [item], defenses={"enabled": False})[0]
        S = score_rationales(matcher, [item])[0]
        assert raw[i, j] >= 0.5 and S[i, j] == raw[i, j], (kind, name, i, raw[i, j], S[i, j])


def flip_completion(text: str) -> str:
    """Swap A and B everywhere in a judge's output ("Response A", "A's") and flip its verdict."""
    text = re.sub(r"\b(?<=Response )([AB])\b|\b([AB])(?='s\b)", lambda m: "B" if m.group(0) == "A" else "A", text)
    return re.sub(r"\\boxed\{([^{}]*)\}", lambda m: "\\boxed{" + flip_label(m.group(1)) + "}", text)


@pytest.mark.parametrize("kind", EVERY)
def test_flipping_placement_and_completion_leaves_every_reward_unchanged(cases, kind):
    matcher = make_matcher(kind)
    rewards = [OutcomeReward(), FormatReward(), RationaleReward(matcher), HybridReward(matcher)]
    for case in cases:
        rec = case.record
        flipped = dataclasses.replace(rec, chosen_position="B" if rec.chosen_position == "A" else "A")
        texts = [completion(r, rec) for r in [case.honest, *attacks(case).values()]]
        texts.append(texts[0].replace(f"\\boxed{{{rec.label}}}", f"\\boxed{{{flipped.label}}}"))  # wrong verdict
        mirrored = [flip_completion(t) for t in texts]
        assert mirrored[0] == completion(case.honest, flipped)
        for reward in rewards:
            assert rewards_for(reward, flipped, mirrored) == rewards_for(reward, rec, texts), (kind, case.name, reward)


@pytest.mark.slow
def test_two_thousand_reasons_cost_what_ten_do_with_the_embedding_matcher(cases):
    rec = cases[2].record
    matcher = make_matcher("embedding")
    reasons = [f"{i}) Response B cites figure {1000 + i} and code {5000 + i} from section {9000 + i}."
               for i in range(2000)]
    text = "\n".join(reasons) + f"\n\\boxed{{{rec.label}}}"
    reward = HybridReward(matcher)
    rewards_for(reward, rec, [completion(cases[2].honest, rec)])  # warm-up
    took = []
    for _ in range(3):  # the best of three: one try on a loaded machine measured the load (2.9 s), not the cost
        t = time.perf_counter()
        out = rewards_for(reward, rec, [text])
        took.append(time.perf_counter() - t)
    assert min(took) < 2.0, took  # was about 60 s: every reason was embedded
    assert out == [0.0] and reward.last_metrics["checks/reasons_truncated"] > 0
