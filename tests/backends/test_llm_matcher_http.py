"""The `llm` (MetaJudge) matcher and the hybrid reward over real HTTP.

`LLMMatcher` runs over an `OpenAIBackend` (the real `openai.AsyncOpenAI` client) that
talks to a `FakeOpenAIServer` on 127.0.0.1. The server's MetaJudge is a callable that
reads the units from the rendered MetaJudge prompt it receives and answers with
`R<i>@S<j>: <score>` lines, so the answers depend on the request's content, not on the
order in which concurrent requests arrive.
"""

from __future__ import annotations

import asyncio
import re
import threading

import numpy as np
import pytest

from genrm.backends.openai_http import OpenAIBackend
from genrm.reward.matching import LLMMatcher, MatchError, make_matcher
from genrm.reward.config import MatcherConfig, RewardConfig
from genrm.reward.rewards import AsyncHybridReward, make_reward
from genrm.testing import FakeOpenAIServer
from tests.backends.conftest import NO_KEY_ENV
POISON = "POISON"  # a human unit containing this makes the MetaJudge server fail (HTTP 500)

_UNIT_LINE = re.compile(r"^([RS])(\d+): (.*)$", re.M)
_PAIR = re.compile(r"R(\d+)@S(\d+)")


def _norm(text: str) -> str:
    return " ".join(text.lower().rstrip(" .").split())


def _fmt(score: float) -> str:
    return f"{score:g}"


class MetaJudgeServer:
    """The reply callable of a FakeOpenAIServer acting as the MetaJudge.

    Scores come from `table[(human_unit, model_unit)]`; pairs not in the table score 1
    when the units are the same text (case, spacing and a final period aside), else 0.
    A repair request (the matcher's re-ask) is answered for the listed pairs only.
    A prompt with a POISON human unit gets no reply: the server answers HTTP 500.
    """

    def __init__(self, table: dict | None = None):
        self.table = {(_norm(h), _norm(m)): s for (h, m), s in (table or {}).items()}
        self.lock = threading.Lock()
        self.seen: list[tuple[list[str], list[str], list[tuple[int, int]] | None]] = []

    @staticmethod
    def units(body: dict) -> tuple[list[str], list[str]]:
        # The first user message is the rendered MetaJudge prompt; repairs append turns after it.
        prompt = next(m["content"] for m in body["messages"] if m["role"] == "user")
        human = [t for kind, _, t in _UNIT_LINE.findall(prompt) if kind == "R"]
        model = [t for kind, _, t in _UNIT_LINE.findall(prompt) if kind == "S"]
        return human, model

    def score(self, human: str, model: str) -> float:
        key = (_norm(human), _norm(model))
        return self.table.get(key, 1.0 if key[0] == key[1] else 0.0)

    def __call__(self, body: dict) -> str | None:
        human, model = self.units(body)
        repair = None
        if len(body["messages"]) > 2:  # [system, user, assistant, user(repair)]
            repair = [(int(i), int(j)) for i, j in _PAIR.findall(body["messages"][-1]["content"])]
        with self.lock:
            self.seen.append((human, model, repair))
        if any(POISON in h for h in human):
            return None  # no reply: the fake server answers 500
        pairs = repair or [(i, j) for i in range(1, len(human) + 1) for j in range(1, len(model) + 1)]
        return "\n".join(f"R{i}@S{j}: {_fmt(self.score(human[i - 1], model[j - 1]))}" for i, j in pairs)


def http_backend(srv: FakeOpenAIServer, **kwargs) -> OpenAIBackend:
    opts = dict(api_key_env=NO_KEY_ENV, backoff=0.0, timeout=5.0, max_retries=2)
    opts.update(kwargs)
    return OpenAIBackend(srv.url, srv.model, **opts)


HUMAN = ["Response A cites the 1969 landing date", "Response B invents a quote", "Response A is concise"]
MODEL = ["Response B makes up a quotation", "Response A cites the 1969 landing date", "Both are polite"]
TABLE = {
    (HUMAN[1], MODEL[0]): 0.75,
    (HUMAN[2], MODEL[1]): 0.25,
    (HUMAN[2], MODEL[2]): 0.5,
}
EXPECTED = [[0.0, 1.0, 0.0], [0.75, 0.0, 0.0], [0.0, 0.25, 0.5]]


# ---------------------------------------------------------------- score matrices


def test_llm_matcher_exact_matrix_over_http(serve):
    judge = MetaJudgeServer(TABLE)
    srv = serve(default=judge)
    matcher = LLMMatcher(http_backend(srv))
    S = matcher.score_matrix(HUMAN, MODEL)
    assert S.tolist() == EXPECTED
    assert srv.requests == 1 and srv.statuses == {200: 1}
    body = srv.bodies[0]
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert "R2: Response B invents a quote" in body["messages"][1]["content"]
    assert body["temperature"] == 0.0 and body["n"] == 1
    assert judge.seen == [(HUMAN, MODEL, None)]


def test_llm_matcher_batch_of_records_over_http(serve):
    judge = MetaJudgeServer(TABLE)
    srv = serve(default=judge, latency=0.05)
    matcher = LLMMatcher(http_backend(srv, concurrency=2))
    pairs = [
        (HUMAN, MODEL),
        (["Response B invents a quote"], ["Response B invents a quote.", "Response B makes up a quotation"]),
        (["Only a human unit"], []),  # no model units: zeros, no request
        (["a", "b"], ["b", "a", "c"], "record-key"),
    ]
    out = matcher.score_matrices(pairs)
    assert out[0].tolist() == EXPECTED
    assert out[1].tolist() == [[1.0, 0.75]]
    assert out[2].shape == (1, 0)
    assert out[3].tolist() == [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]
    assert srv.requests == 3 and srv.max_in_flight <= 2 and matcher.calls == 3 and matcher.repairs == 0


# The MetaJudge rules that make side swaps, negations and vague reasons worth nothing.
ZERO_RULES = [
    "The same point means the same claim about the same response. Score 0,",
    "- S<j> credits the point to the wrong response (it says of Response B what R<i> says of Response A, "
    "or the reverse, or it swaps which response is better on that point);",
    "- S<j> negates the point or states its opposite (R<i> says a response does something, S<j> says it does not);",
    "- S<j> is vague, generic or not tied to specific content of the responses.",
]


def test_zero_score_rules_reach_the_metajudge_over_http(serve):
    judge = MetaJudgeServer()
    srv = serve(default=judge)
    attacks = [
        "Response B cites the 1969 landing date",  # credited to the wrong response
        "Response A does not cite the 1969 landing date",  # negated
        "Response A is more helpful overall",  # vague
    ]
    S = LLMMatcher(http_backend(srv)).score_matrix(HUMAN[:1], attacks)
    assert S.tolist() == [[0.0, 0.0, 0.0]]
    assert srv.requests == 1
    system, user = (m["content"] for m in srv.bodies[0]["messages"])
    assert "strict" in system
    for rule in ZERO_RULES:
        assert rule in user, rule
    # The rules come before the units' output format, and every attack reason is listed.
    assert user.index(ZERO_RULES[0]) < user.index("Output exactly 3 lines")
    assert judge.seen == [(HUMAN[:1], attacks, None)]


def test_make_matcher_builds_an_http_backend_from_the_recipe(serve):
    srv = serve(default=MetaJudgeServer(TABLE))
    cfg = {
        "kind": "llm",
        "max_retries": 1,
        "sampling": {"max_new_tokens": 200, "temperature": 0.0},
        "backend": {"kind": "openai", "base_url": srv.url, "model": srv.model, "api_key_env": NO_KEY_ENV},
    }
    matcher = make_matcher(cfg)
    assert isinstance(matcher.backend, OpenAIBackend) and matcher.is_async
    assert matcher.score_matrix(HUMAN, MODEL).tolist() == EXPECTED
    assert srv.bodies[0]["max_tokens"] == 200


# ---------------------------------------------------------------- failures and repair


def test_transport_faults_then_malformed_output_are_repaired(serve):
    judge = MetaJudgeServer(TABLE)
    # The first answer that gets through is incomplete: R1@S3 has no score, R2@S1 is
    # off the levels, the rest of the pairs are missing. The repair is answered by `judge`.
    partial = "R1@S1: 0\nR1@S2: 1\nR1@S3: high\nR2@S1: 0.6\n"
    srv = serve(replies=[partial], default=judge, hang_s=1.0)
    srv.fail(500, "hang", "drop")
    backend = http_backend(srv, timeout=0.3, max_retries=3)
    matcher = LLMMatcher(backend, max_retries=2)
    S = matcher.score_matrix(HUMAN, MODEL)
    assert S.tolist() == EXPECTED
    # 500, hang (timed out), drop, then the partial answer; then one repair request
    assert srv.requests == 5 and srv.statuses[500] == 1 and srv.statuses[0] == 1 and srv.statuses[200] == 2
    assert backend.stats["retries"] == 3 and matcher.repairs == 1 and matcher.calls == 2
    repair = srv.bodies[-1]["messages"]
    assert repair[-2] == {"role": "assistant", "content": partial}
    missing = ["R1@S3", "R2@S1", "R2@S2", "R2@S3", "R3@S1", "R3@S2", "R3@S3"]
    assert f"Some scores are missing or malformed: {', '.join(missing)}." in repair[-1]["content"]
    assert judge.seen[-1][2] == [(1, 3), (2, 1), (2, 2), (2, 3), (3, 1), (3, 2), (3, 3)]


def test_request_failure_for_good_is_reasked_by_the_matcher(serve):
    judge = MetaJudgeServer(TABLE)
    srv = serve(default=judge)
    srv.fail(500, 500)  # the backend gives up on the first ask (max_retries=1) ...
    backend = http_backend(srv, max_retries=1)
    matcher = LLMMatcher(backend, max_retries=2)
    assert matcher.score_matrix(HUMAN, MODEL).tolist() == EXPECTED  # ... the matcher asks again
    assert srv.statuses == {500: 2, 200: 1} and matcher.calls == 2
    # the re-ask is the original prompt (there is no output to repair)
    assert srv.bodies[-1]["messages"] == srv.bodies[0]["messages"]


def test_record_failing_for_good_raises_match_error(serve):
    srv = serve(default=MetaJudgeServer())
    matcher = LLMMatcher(http_backend(srv, max_retries=1), max_retries=1)
    with pytest.raises(MatchError, match=r"lacks 2 of 2 scores .*after 2 attempts.*backend call failed"):
        matcher.score_matrix([f"{POISON} unit"], ["m1", "m2"])
    assert srv.statuses == {500: 4}  # (1 + 1 backend retry) x (1 + 1 matcher re-ask)
    assert matcher.failures == 1


def test_record_failing_for_good_is_none_in_a_batch_others_are_scored(serve):
    srv = serve(default=MetaJudgeServer(TABLE))
    backend = http_backend(srv, max_retries=1)
    matcher = LLMMatcher(backend, max_retries=1)
    pairs = [(HUMAN, MODEL), ([f"{POISON} unit"], ["m1"]), (["x"], ["x", "y"])]
    out = matcher.score_matrices(pairs, raise_errors=False)
    assert out[0].tolist() == EXPECTED
    assert out[1] is None  # never a zero matrix
    assert out[2].tolist() == [[1.0, 0.0]]
    assert srv.statuses == {500: 4, 200: 2} and matcher.failures == 1
    with pytest.raises(MatchError):
        matcher.score_matrices(pairs)


def test_malformed_forever_raises_match_error(serve):
    srv = serve(default="I think they are all quite similar.")
    matcher = LLMMatcher(http_backend(srv), max_retries=2)
    with pytest.raises(MatchError, match=r"lacks 9 of 9 scores.*after 3 attempts.*quite similar"):
        matcher.score_matrix(HUMAN, MODEL)
    assert srv.statuses == {200: 3}  # the first ask and two repairs, each a valid HTTP exchange


def test_async_matcher_over_http_with_a_timeout(serve):
    judge = MetaJudgeServer(TABLE)
    srv = serve(default=judge, hang_s=1.0)
    srv.fail("hang")
    matcher = LLMMatcher(http_backend(srv, timeout=0.3))
    S = asyncio.run(matcher.ascore_matrix(HUMAN, MODEL))
    assert S.tolist() == EXPECTED and srv.statuses[200] == 1 and srv.requests == 2


# ---------------------------------------------------------------- hybrid reward, called the way TRL calls it

UNITS = ["Response A gives the correct year 1969 for the landing", "Response B invents a quote from Armstrong"]
GOOD_A = (
    "1. Response A gives the correct year 1969 for the landing.\n"
    "2. Response B invents a quote from Armstrong.\n"
    "\\boxed{A>B}"
)
WRONG_VERDICT = GOOD_A.replace("\\boxed{A>B}", "\\boxed{B>A}")
LATE = (
    "1. Both responses are polite.\n2. Both are short.\n3. Neither uses markdown.\n"
    "4. Response A gives the correct year 1969 for the landing.\n"
    "\\boxed{A>>B}"
)
SOFT = (
    "1. Response B puts words in Armstrong's mouth.\n"
    "2. Response A gives the correct year 1969 for the landing.\n"
    "\\boxed{A>B}"
)
SOFT_TABLE = {("Response B invents a quote from Armstrong", "Response B puts words in Armstrong's mouth"): 0.5}


def run_in_daemon_loop(coro_fn):
    """Run coroutines on a long-lived event loop in a daemon thread, as TRL's GRPOTrainer
    does for async reward functions (`start_event_loop_in_daemon` +
    `asyncio.run_coroutine_threadsafe(...).result()`)."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    def run():
        asyncio.set_event_loop(loop)
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    ready.wait()
    try:
        return [asyncio.run_coroutine_threadsafe(c(), loop).result(timeout=20) for c in coro_fn]
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        loop.close()


def test_hybrid_reward_over_http_as_trl_calls_it(serve):
    srv = serve(default=MetaJudgeServer(SOFT_TABLE), latency=0.02)
    matcher = MatcherConfig(kind="llm", options={"max_retries": 1}, backend={
        "kind": "openai",
        "base_url": srv.url,
        "model": srv.model,
        "api_key_env": NO_KEY_ENV,
        "max_retries": 1,
        "backoff": 0.0,
        "timeout": 5.0,
        "concurrency": 4,
    })
    reward = make_reward(RewardConfig(kind="hybrid", matcher=matcher), "rationale")
    assert isinstance(reward, AsyncHybridReward) and asyncio.iscoroutinefunction(type(reward).__call__)
    assert reward.__name__ == "hybrid"

    texts = [GOOD_A, WRONG_VERDICT, LATE, GOOD_A, GOOD_A, WRONG_VERDICT, SOFT]
    completions = [[{"role": "assistant", "content": t}] for t in texts]  # conversational, as TRL passes them
    labels = ["A>B", "A>B", "A>B", "A>B", "A>B", "B>A", "A>B"]
    units = [UNITS, UNITS, UNITS, [f"{POISON}: the MetaJudge fails on this row", UNITS[0]], None, UNITS, UNITS]
    prompts = [[{"role": "user", "content": "When was the moon landing? Compare A and B."}]] * len(texts)
    logged = {}
    columns = {
        "label": labels,
        "rationale_units": units,
        "trainer_state": object(),
        "log_extra": lambda *a, **k: None,
        "log_metric": lambda name, value: logged.__setitem__(name, value),
    }

    async def step():
        return await reward(prompts=prompts, completions=completions, completion_ids=[[1]] * len(texts), **columns)

    out, again = run_in_daemon_loop([step, step])  # two training steps on TRL's long-lived loop
    expected = [
        1.0,  # both human units matched exactly, at positions 1 and 2: AP = (1/1 + 2/2) / 2
        0.0,  # right reasons, wrong verdict: product is 0
        (1 / 4) / 2,  # one exact match, at position 4 of |R_h| = 2
        None,  # the MetaJudge failed for good on this row: None, never 0
        None,  # no human units: not applicable
        1.0,  # label B>A, verdict B>A
        (0.5 / 1 + 1.5 / 2) / 2,  # soft match (0.5) at position 1, exact match at 2
    ]
    assert out == [pytest.approx(x) if x is not None else None for x in expected]
    assert again == out
    assert reward.last_metrics["match_failures"] == 1 and reward.last_metrics["not_applicable"] == 1
    assert reward.stats["match_failures"] == 2  # cumulative over both steps
    assert logged["hybrid/match_failures"] == 1.0
    # the poisoned row: (1 + 1 backend retry) x (1 + 1 matcher re-ask) HTTP 500s per step
    assert srv.statuses[500] == 8
    assert srv.statuses[200] == 2 * 5  # five scorable rows per step, one request each
    assert srv.max_in_flight <= 4


def test_hybrid_reward_sync_call_inside_asyncio_run(serve):
    """`await reward(...)` from user code's own asyncio.run also works (one-shot loop)."""
    srv = serve(default=MetaJudgeServer())
    backend = http_backend(srv)
    reward = make_reward(RewardConfig(kind="hybrid"), "rationale", matcher=LLMMatcher(backend))

    async def main():
        return await reward(
            prompts=["q"] * 2,
            completions=[GOOD_A, LATE],
            label=["A>B", "B>A"],
            rationale_units=[UNITS, UNITS],
        )

    assert asyncio.run(main()) == [pytest.approx(1.0), 0.0]
    assert srv.statuses == {200: 2}
    assert np.isclose(reward.last_metrics["rationale_mean"], (1.0 + 0.125) / 2)
