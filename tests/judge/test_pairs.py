"""The one pair-judging core (`genrm.judge.pairs`) and its failure policy, and the two
callers that go through it: `judge_records` (evaluation) and the RLHF group scorer."""

import asyncio
import threading
import time

import pytest

from genrm.backends.base import BackendError
from genrm.data.record import PreferenceRecord, user_prompt
from genrm.evaluation.judging import judge_records
from genrm.judge.config import JudgeConfig
from genrm.judge.pairs import FAILED, Pair, ajudge_pairs, judge_pairs, pair_messages
from genrm.judge.prompts import render_judge_messages
from genrm.rlhf.pairwise import Group, PairJudge, ascore_groups, score_groups
from genrm.judge.scalarize import make_strategy
from genrm.testing.scripted_backend import ScriptedBackend, responses

PAIR = Pair("Rate it.", "score 9", "score 1")
SWAPPED = Pair("Rate it.", "score 1", "score 9")


class Raising:
    """A backend whose every generate raises `error`."""

    name = "raising"

    def __init__(self, error: Exception):
        self.error, self.calls = error, 0

    def generate(self, prompts, sampling):
        self.calls += 1
        raise self.error


class Async(ScriptedBackend):
    """A backend with `agenerate` (as the OpenAI-compatible one has); its sync path must not be used."""

    def __init__(self, *a, raise_error: Exception | None = None, **kw):
        super().__init__(*a, **kw)
        self.raise_error, self.async_calls = raise_error, 0

    def generate(self, prompts, sampling=None):
        raise AssertionError("the async path must await agenerate")

    async def agenerate(self, prompts, sampling=None):
        self.async_calls += 1
        if self.raise_error is not None:
            raise self.raise_error
        return ScriptedBackend.generate(self, prompts, sampling)


class Short(ScriptedBackend):
    def generate(self, prompts, sampling=None):
        return super().generate(prompts, sampling)[:-1]


def test_both_orders_of_a_pair_are_rendered_generated_and_parsed():
    backend = ScriptedBackend()
    ab, ba = judge_pairs(backend, [PAIR, SWAPPED], sampling=JudgeConfig().sampling())
    assert backend.batches == 1 and backend.batch_sizes == [2]  # one backend call for the batch
    assert (ab.verdict.winner, ab.verdict.raw, ba.verdict.winner, ba.verdict.raw) == ("A", "A>B", "B", "B>A")
    assert not ab.failed and ab.text.endswith("\\boxed{A>B}") and ab.verdict.reasons == ["One response is better."]
    # The prompt is the judge template's rendering of the pair, A and B as given.
    assert pair_messages(PAIR) == render_judge_messages("Rate it.", "score 9", "score 1")
    assert responses(pair_messages(SWAPPED)) == ("score 1", "score 9")


def test_answer_tag_style_and_a_template_reach_the_prompt_and_the_parser():
    backend = ScriptedBackend(style="answer-tag")
    [j] = judge_pairs(backend, [PAIR], style="answer-tag")
    assert j.verdict.raw == "[[A]]" and j.verdict.winner == "A"
    seen = []

    class Spy(ScriptedBackend):
        def generate(self, prompts, sampling=None):
            seen.extend(prompts)
            return ["1. A is right.\n\\boxed{A>B}"] * len(prompts)

    [j] = judge_pairs(Spy(), [PAIR], template="Judge: {{ response_a }} | {{ response_b }}")
    assert seen == [[{"role": "user", "content": "Judge: score 9 | score 1"}]] and j.verdict.raw == "A>B"


def test_a_backend_error_is_a_counted_error_never_a_verdict():
    out = judge_pairs(Raising(BackendError("3 of 3 request(s) failed")), [PAIR, SWAPPED, PAIR])
    assert [j.failed for j in out] == [True] * 3
    assert all(j.verdict is None and j.text is None for j in out)
    assert out[0].error.startswith(FAILED) and "3 of 3 request(s) failed" in out[0].error


def test_a_none_text_fails_that_pair_only():
    backend = ScriptedBackend(lambda a, b: "fail" if a == "score 1" else "A>B")
    ok, failed = judge_pairs(backend, [PAIR, SWAPPED])
    assert not ok.failed and ok.verdict.winner == "A"
    assert failed.failed and failed.error == FAILED and failed.verdict is None


@pytest.mark.parametrize("error", [RuntimeError("CUDA out of memory"), OSError("disk"), ValueError("bug"),
                                   TypeError("bug")])
def test_unexpected_exceptions_propagate(error):
    with pytest.raises(type(error)):
        judge_pairs(Raising(error), [PAIR])
    with pytest.raises(type(error)):
        asyncio.run(ajudge_pairs(Raising(error), [PAIR]))
    with pytest.raises(type(error)):
        asyncio.run(ajudge_pairs(Async(raise_error=error), [PAIR]))


def test_an_output_count_that_differs_from_the_prompts_raises():
    with pytest.raises(RuntimeError, match="returned 1 outputs for 2 prompts"):
        judge_pairs(Short(), [PAIR, SWAPPED])
    with pytest.raises(RuntimeError, match="returned 1 outputs for 2 prompts"):
        asyncio.run(ajudge_pairs(Short(), [PAIR, SWAPPED]))


def test_no_pairs_no_backend_call_and_one_judgment_per_pair():
    backend = Raising(BackendError("unused"))
    assert judge_pairs(backend, []) == [] and asyncio.run(ajudge_pairs(backend, [])) == []
    assert backend.calls == 0
    with pytest.raises(ValueError, match="sampling.n must be 1"):
        judge_pairs(ScriptedBackend(), [PAIR], sampling=JudgeConfig().sampling(n=2))


def test_the_async_path_awaits_agenerate_or_runs_the_sync_call_in_a_thread():
    backend = Async()
    ab, ba = asyncio.run(ajudge_pairs(backend, [PAIR, SWAPPED]))
    assert backend.async_calls == 1 and (ab.verdict.winner, ba.verdict.winner) == ("A", "B")
    [j] = asyncio.run(ajudge_pairs(Async(raise_error=BackendError("gone")), [PAIR]))
    assert j.failed and j.verdict is None and "gone" in j.error
    sync = ScriptedBackend()
    ab, ba = asyncio.run(ajudge_pairs(sync, [PAIR, SWAPPED]))
    assert sync.batches == 1 and (ab.verdict.raw, ba.verdict.raw) == ("A>B", "B>A")
    [j] = asyncio.run(ajudge_pairs(Raising(BackendError("down")), [PAIR]))
    assert j.failed and j.verdict is None


# -- the two callers: the same failure policy ----------------------------------------


def _rec(i: int) -> PreferenceRecord:
    return PreferenceRecord(source="generic", domain="general", prompt=user_prompt(f"Question {i}?"),
                            chosen=f"score {i + 5}", rejected=f"score {i}", label_kind="gold", chosen_position="A")


def test_judge_records_marks_backend_errors_as_errors_left_out_of_every_rate():
    report = judge_records([_rec(0), _rec(1)], Raising(BackendError("endpoint down")), orders=("AB", "BA"),
                           progress=False)
    assert all(it["error"].startswith(FAILED) and it["correct"] is None and it["votes"] == [] for it in report.items)
    s = report.summary()
    assert s["errors"] == 2 and s["accuracy"] is None and s["parse_failure_rate"] is None
    # A None text is the same error, for that record only.
    backend = ScriptedBackend(lambda a, b: "fail" if "score 1" in (a, b) else "A>B")
    items = judge_records([_rec(0), _rec(1)], backend, orders=("AB",), progress=False).items
    assert items[0]["error"] is None and items[0]["correct"] is True
    assert items[1]["error"] == FAILED and items[1]["correct"] is None
    with pytest.raises(OSError):
        judge_records([_rec(0)], Raising(OSError("no such model file")), progress=False)


def test_the_group_scorer_counts_backend_errors_as_failed_and_never_scores_them():
    strategy = make_strategy("round_robin")
    group = Group("q", ["score 3", "score 2", "score 1"])
    [res] = score_groups([group], strategy, PairJudge(Raising(BackendError("down"))))
    assert res.failed == res.calls == 6 and res.all_failed and res.scores == [None, None, None]
    [res] = asyncio.run(ascore_groups([group], strategy, PairJudge(Async(raise_error=BackendError("down")))))
    assert res.failed == 6 and res.scores == [None, None, None]
    # Formerly swallowed into "failed": a RuntimeError/OSError is a bug or a broken setup, and propagates.
    for error in (RuntimeError("CUDA error"), OSError("disk")):
        with pytest.raises(type(error)):
            score_groups([group], strategy, PairJudge(Raising(error)))
        with pytest.raises(type(error)):
            asyncio.run(ascore_groups([group], strategy, PairJudge(Raising(error))))


def test_a_pair_judge_runs_one_sync_batch_at_a_time_from_concurrent_callers():
    class Unlocked:
        name = "unlocked"

        def __init__(self):
            self.active = self.most = 0
            self._count = threading.Lock()

        def generate(self, prompts, sampling):
            with self._count:
                self.active += 1
                self.most = max(self.most, self.active)
            time.sleep(0.05)
            with self._count:
                self.active -= 1
            return ["1. A is right.\n\\boxed{A>B}"] * len(prompts)

    backend = Unlocked()
    judge = PairJudge(backend)

    async def main():
        return await asyncio.gather(*(judge.ajudge([PAIR]) for _ in range(4)))

    out = asyncio.run(main())
    assert backend.most == 1 and judge.batches == 4 and judge.calls == 4
    assert [j.verdict.raw for [j] in out] == ["A>B"] * 4
