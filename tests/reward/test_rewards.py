import asyncio
import sys
import types

import pytest
from trl.trainer.utils import get_callable_name, is_async_callable

from genrm.reward.config import MatcherConfig, RewardConfig
from genrm.reward.matching import EmbeddingMatcher, LexicalMatcher, LLMMatcher
from genrm.reward.rewards import (
    AsyncHybridReward,
    AsyncRationaleReward,
    FormatReward,
    HybridReward,
    OutcomeReward,
    RationaleReward,
    make_reward,
    matcher_from_config,
)

UNITS = ["Response A gives the correct year 1969 for the landing", "Response B invents a quote from Armstrong"]
GOOD_A = (
    "1. Response A gives the correct year 1969 for the landing.\n"
    "2. Response B invents a quote from Armstrong.\n"
    "\\boxed{A>B}"
)
GOOD_REASONS_WRONG_VERDICT = GOOD_A.replace("\\boxed{A>B}", "\\boxed{B>A}")
LATE_REASONS = (
    "1. Both responses are polite.\n2. Both are short.\n3. Neither uses markdown.\n"
    "4. Response A gives the correct year 1969 for the landing.\n"
    "\\boxed{A>>B}"
)
INVALID = "1. Response A gives the correct year 1969 for the landing.\n\\boxed{A>B} \\boxed{B>A}"


def call(reward, completions, labels=None, units=None, **extra):
    n = len(completions)
    kwargs = {"label": labels or ["A>B"] * n, "rationale_units": units if units is not None else [UNITS] * n}
    return reward(prompts=[[{"role": "user", "content": "When was the moon landing?"}]] * n, completions=completions, **kwargs, **extra)


def test_outcome_binary_and_signed():
    comps = [GOOD_A, [{"role": "assistant", "content": GOOD_REASONS_WRONG_VERDICT}], INVALID, "Equal. \\boxed{A=B}"]
    assert call(OutcomeReward(), comps) == [1.0, 0.0, 0.0, 0.0]
    assert call(OutcomeReward(scale="signed"), comps) == [1.0, -1.0, -1.0, -1.0]
    assert call(OutcomeReward(), [GOOD_REASONS_WRONG_VERDICT], labels=["B>A"]) == [1.0]
    assert call(OutcomeReward(), ["\\boxed{A>>B}"], labels=["A>B"]) == [1.0]  # strength does not matter
    r = OutcomeReward()
    call(r, comps)
    assert r.last_metrics["parse_failures"] == 1 and r.last_metrics["accuracy"] == 0.25
    assert r.__name__ == "outcome" and get_callable_name(r) == "outcome"
    assert call(OutcomeReward(style="answer-tag"), ["1. A.\n<answer>[[B]]</answer>"], labels=["B>A"]) == [1.0]
    with pytest.raises(ValueError, match="scale"):
        OutcomeReward(scale="ternary")


def test_outcome_needs_the_label_column():
    with pytest.raises(ValueError, match="column 'label'.*rationale_units"):
        OutcomeReward()(prompts=["p"], completions=[GOOD_A], rationale_units=[UNITS])
    with pytest.raises(ValueError, match="2 values for 1 completions"):
        OutcomeReward()(prompts=["p"], completions=[GOOD_A], label=["A>B", "B>A"])


def test_format_reward():
    comps = [GOOD_A, INVALID, "\\boxed{A>B}", "1. reason\n\\boxed{A>B} trailing words"]
    assert call(FormatReward(), comps) == [1.0, 0.0, 0.0, 0.0]


def test_rationale_reward_is_ap_and_none_without_units():
    r = RationaleReward(LexicalMatcher())
    assert type(r) is RationaleReward and not is_async_callable(r)
    out = call(r, [GOOD_A, LATE_REASONS, "\\boxed{A>B}", GOOD_A], units=[UNITS, UNITS, UNITS, []])
    assert out[0] == pytest.approx(1.0)
    assert out[1] == pytest.approx((1 / 4) / 2)  # one exact match at position 4 of |R_h| = 2
    assert out[2] == 0.0  # no model reasons
    assert out[3] is None
    assert r.last_metrics["not_applicable"] == 1


def test_rationale_reward_top_k_truncates_model_reasons():
    assert call(RationaleReward(LexicalMatcher(), top_k=3), [LATE_REASONS]) == [0.0]


def test_hybrid_product_is_zero_when_the_verdict_is_wrong():
    h = HybridReward(LexicalMatcher())
    out = call(h, [GOOD_A, GOOD_REASONS_WRONG_VERDICT, INVALID, LATE_REASONS, GOOD_A], units=[UNITS] * 4 + [None])
    assert out[0] == pytest.approx(1.0)
    assert out[1] == 0.0  # perfect reasons, wrong verdict
    assert out[2] == 0.0  # invalid verdict
    assert out[3] == pytest.approx(0.125)
    assert out[4] is None
    m = h.last_metrics
    assert m["outcome_mean"] == pytest.approx(3 / 5)
    assert m["rationale_mean"] == pytest.approx((1 + 1 + 0.5 + 0.125) / 4)
    assert m["parse_failures"] == 1 and m["not_applicable"] == 1
    assert h.stats["parse_failures"] == 1 and h.stats["rows"] == 5


def test_hybrid_can_skip_matching_rows_whose_product_is_zero():
    class Counting(LexicalMatcher):
        pairs = 0

        def score_matrices(self, pairs, raise_errors=True):
            Counting.pairs += len(pairs)
            return super().score_matrices(pairs, raise_errors)

    comps = [GOOD_A, GOOD_REASONS_WRONG_VERDICT, INVALID, LATE_REASONS, GOOD_A]
    units = [UNITS] * 4 + [None]
    full = call(HybridReward(Counting()), comps, units=units)
    assert Counting.pairs == 4
    Counting.pairs = 0
    lean = HybridReward(Counting(), match_wrong_verdicts=False)
    assert call(lean, comps, units=units) == full  # same rewards
    assert Counting.pairs == 2  # the wrong and the invalid verdict were not matched
    assert lean.last_metrics["matched_rows"] == 2
    assert lean.last_metrics["rationale_mean"] == pytest.approx((1 + 0.125) / 2)


def test_hybrid_weighted_and_rationale_only():
    comps = [GOOD_A, GOOD_REASONS_WRONG_VERDICT]
    assert call(HybridReward(LexicalMatcher(), mode="weighted", weights=(0.3, 0.7)), comps) == pytest.approx([1.0, 0.7])
    only = HybridReward(LexicalMatcher(), mode="rationale_only")
    assert only(prompts=["p", "p"], completions=comps, rationale_units=[UNITS, UNITS]) == pytest.approx([1.0, 1.0])
    with pytest.raises(ValueError, match="mode"):
        HybridReward(LexicalMatcher(), mode="sum")


def test_rewards_log_through_trl_log_metric_and_wandb(monkeypatch):
    seen = {}
    call(HybridReward(LexicalMatcher()), [GOOD_A, INVALID], log_metric=lambda k, v: seen.setdefault(k, v))
    assert seen["hybrid/parse_failures"] == 1.0 and seen["hybrid/outcome_mean"] == 0.5
    assert "hybrid/rationale_mean" in seen

    logged = []
    fake = types.SimpleNamespace(run=object(), log=lambda d, commit=True: logged.append((d, commit)))
    monkeypatch.setitem(sys.modules, "wandb", fake)  # restored afterwards, real module included
    call(OutcomeReward(name="acc"), [GOOD_A])
    assert logged == [({"acc/parse_failures": 0.0, "acc/parse_failure_rate": 0.0, "acc/accuracy": 1.0, "acc/mean": 1.0}, False)]


class MetaJudge:
    """Scripted MetaJudge backend: R1 matches S1 exactly, everything else 0."""

    name = "fake-metajudge"

    def __init__(self, broken=False):
        self.broken = broken
        self.calls = 0

    def _answer(self, prompt):
        if self.broken:
            return "I cannot score this."
        text = prompt[-1]["content"]
        n = sum(1 for line in text.splitlines() if line[:1] == "R" and line[1:2].isdigit())
        m = sum(1 for line in text.splitlines() if line[:1] == "S" and line[1:2].isdigit())
        return "\n".join(f"R{i}@S{j}: {1 if i == j == 1 else 0}" for i in range(1, n + 1) for j in range(1, m + 1))

    def generate(self, prompts, sampling):
        self.calls += 1
        return [self._answer(p) for p in prompts]


class AsyncMetaJudge(MetaJudge):
    async def agenerate(self, prompts, sampling):
        await asyncio.sleep(0)
        return self.generate(prompts, sampling)


def test_remote_matcher_makes_the_reward_async():
    h = HybridReward(LLMMatcher(AsyncMetaJudge()))
    r = RationaleReward(LLMMatcher(AsyncMetaJudge()))
    assert isinstance(h, AsyncHybridReward) and isinstance(r, AsyncRationaleReward)
    assert is_async_callable(h) and is_async_callable(r)
    assert get_callable_name(h) == "hybrid"
    out = asyncio.run(call(h, [GOOD_A, GOOD_REASONS_WRONG_VERDICT, GOOD_A], units=[UNITS, UNITS, None]))
    assert out == [pytest.approx(0.5), 0.0, None]  # AP: one exact match at position 1 of |R_h| = 2
    assert h.matcher.backend.calls == 1  # the batch went out in one call


def test_sync_llm_matcher_keeps_the_reward_sync():
    r = RationaleReward(LLMMatcher(MetaJudge()))
    assert type(r) is RationaleReward and not is_async_callable(r)
    assert call(r, [GOOD_A]) == [pytest.approx(0.5)]


def test_metajudge_failure_gives_none_and_is_counted_never_zero():
    h = HybridReward(LLMMatcher(AsyncMetaJudge(broken=True), max_retries=1))
    out = asyncio.run(call(h, [GOOD_A, GOOD_A]))
    assert out == [None, None]
    assert h.last_metrics["match_failures"] == 2 and h.stats["match_failures"] == 2


def test_make_reward_builds_each_kind_of_the_recipe():
    lexical = RewardConfig(matcher=MatcherConfig(kind="lexical"))
    o = make_reward(RewardConfig(kind="outcome", outcome_scale="signed"), "answer-tag")
    assert type(o) is OutcomeReward and o.scale == "signed" and o.style == "answer-tag" and o.__name__ == "outcome"
    h = make_reward(lexical, "rationale")  # hybrid: the product, named after its kind
    assert type(h) is HybridReward and h.mode == "product" and h.__name__ == "hybrid"
    assert isinstance(h.matcher, LexicalMatcher) and h.match_wrong_verdicts and h.max_model_units == 10
    w = make_reward(RewardConfig(kind="weighted", weights=[0.2, 0.8], matcher=MatcherConfig(kind="lexical"),
                                 match_wrong_verdicts=False, max_model_units=3), "rationale")
    assert w.mode == "weighted" and w.weights == (0.2, 0.8) and w.__name__ == "weighted"
    assert w.max_model_units == 3 and not w.match_wrong_verdicts
    r = make_reward(RewardConfig(kind="rationale", defenses={"stance": False}), "rationale",
                    matcher=LLMMatcher(AsyncMetaJudge()))  # a given matcher wins over cfg.matcher
    assert isinstance(r, AsyncRationaleReward) and r.defenses.stance is False and r.__name__ == "rationale"
    assert call(h, [GOOD_A, GOOD_REASONS_WRONG_VERDICT]) == [pytest.approx(1.0), 0.0]
    with pytest.raises(ValueError, match="unknown reward kind 'length'"):
        make_reward(RewardConfig(kind="length"), "rationale")  # type: ignore[arg-type]


def test_matcher_from_config_passes_options_and_the_backend():
    m = matcher_from_config(MatcherConfig(kind="lexical", options={"thresholds": [0.1, 0.2, 0.3, 0.4]}))
    assert isinstance(m, LexicalMatcher) and list(m.thresholds) == [0.1, 0.2, 0.3, 0.4]
    e = matcher_from_config(MatcherConfig(options={"cache_size": 7}))  # embedding by default; loads lazily
    assert isinstance(e, EmbeddingMatcher) and e.cache_size == 7 and e._model is None
    judge = AsyncMetaJudge()
    llm = matcher_from_config(MatcherConfig(kind="llm", options={"max_retries": 5}), backend=judge)
    assert isinstance(llm, LLMMatcher) and llm.backend is judge and llm.max_retries == 5
    built = matcher_from_config(MatcherConfig(kind="llm", backend={"kind": "openai", "base_url": "http://127.0.0.1:9/v1",
                                                                   "model": "m"}))
    assert type(built.backend).__name__ == "OpenAIBackend" and built.is_async
    with pytest.raises(ValueError, match="needs a backend"):
        matcher_from_config(MatcherConfig(kind="llm"))


def test_rationale_units_as_json_string_and_bad_string():
    r = RationaleReward(LexicalMatcher())
    import json

    assert call(r, [GOOD_A], units=[json.dumps(UNITS)]) == [pytest.approx(1.0)]
    with pytest.raises(ValueError, match="not a JSON list"):
        call(r, [GOOD_A], units=["[broken"])


# -- the real thing: BBQ records from ../shared, all-MiniLM-L6-v2, an offline wandb run --


@pytest.mark.slow
def test_hybrid_reward_on_real_bbq_records_with_minilm_and_offline_wandb(shared_data, tmp_path):
    import dataclasses
    import itertools

    import wandb

    from genrm.reward.matching import EmbeddingMatcher
    from genrm.data.sources.bbq import load
    from genrm.judge.verdict import flip_label

    recs = list(itertools.islice(load(str(shared_data / "bbq" / "Age.jsonl")), 0, 240, 40))
    recs = [r if k % 2 else dataclasses.replace(r, chosen_position="B") for k, r in enumerate(recs)]
    assert {r.label for r in recs} == {"A>B", "B>A"} and all(r.rationale_units for r in recs)
    rows = []
    for r in recs:
        reasons = "\n".join(f"{i}. {u}" for i, u in enumerate(r.rationale_units, 1))
        rows += [
            (r, f"{reasons}\n\\boxed{{{r.label}}}"),  # the human reasons and the right verdict
            (r, f"{reasons}\n\\boxed{{{flip_label(r.label)}}}"),  # right reasons, wrong verdict
            (r, f"1. Both responses are short.\n2. Neither uses markdown.\n\\boxed{{{r.label}}}"),  # off-topic
        ]
    reward = HybridReward(EmbeddingMatcher())
    run = wandb.init(mode="offline", dir=str(tmp_path), project="genrm-tests")
    try:
        out = reward(
            prompts=[r.prompt for r, _ in rows],
            completions=[[{"role": "assistant", "content": c}] for _, c in rows],  # TRL's conversational form
            label=[r.label for r, _ in rows],
            rationale_units=[r.rationale_units for r, _ in rows],
        )
        wandb.log({"train/step": 1})  # rewards log with commit=False; the trainer's next log commits
        summary = dict(run.summary)
    finally:
        wandb.finish()
    good, wrong, offtopic = out[0::3], out[1::3], out[2::3]
    assert good == [pytest.approx(1.0)] * len(recs)
    assert wrong == [0.0] * len(recs)
    assert offtopic == [0.0] * len(recs)  # no off-topic reason comes near a human unit
    assert summary["hybrid/parse_failures"] == 0
    assert summary["hybrid/outcome_mean"] == pytest.approx(2 / 3)
    assert list(tmp_path.glob("wandb/offline-run-*/run-*.wandb"))  # the run was written to disk
