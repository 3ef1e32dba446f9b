"""OpenAIBackend over real HTTP against `genrm.testing.FakeOpenAIServer` on 127.0.0.1.

Nothing is patched: the backend's real `openai.AsyncOpenAI` client talks to a real
threaded HTTP server started inside each test. Faults (HTTP statuses, hangs, dropped
connections, bad JSON, empty choices) are queued on the server; each request takes
the next queued fault before anything else.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time

import pytest

from genrm.backends.base import BackendError, Sampling
from genrm.backends.openai_http import OpenAIBackend
from genrm.testing import FakeOpenAIServer
from tests.backends.conftest import NO_KEY_ENV


def make_backend(srv: FakeOpenAIServer, **kwargs) -> OpenAIBackend:
    opts = dict(api_key_env=NO_KEY_ENV, backoff=0.0, timeout=5.0, max_retries=3)
    opts.update(kwargs)
    return OpenAIBackend(srv.url, srv.model, **opts)


def echo(body: dict) -> str:
    """A reply naming the request's last message (so outputs can be tied to prompts)."""
    return "echo: " + body["messages"][-1]["content"]


def cache_files(root) -> list:
    return sorted(p for p in root.rglob("*.json"))


# ---------------------------------------------------------------- plain generation


def test_chat_messages_and_raw_strings_are_sent_as_messages(serve):
    srv = serve(default=echo)
    backend = make_backend(srv)
    chat = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 2+2?"}]
    out = backend.generate([chat, "Name a colour."])
    assert out == ["echo: What is 2+2?", "echo: Name a colour."]
    assert srv.requests == 2 and srv.statuses == {200: 2}
    by_last = {b["messages"][-1]["content"]: b for b in srv.bodies}
    assert by_last["What is 2+2?"]["messages"] == chat
    assert by_last["Name a colour."]["messages"] == [{"role": "user", "content": "Name a colour."}]
    assert all(b["model"] == "fake-judge" for b in srv.bodies)
    assert backend.last_errors == [] and backend.stats["requests"] == 2 and backend.stats["retries"] == 0


def test_n_completions_come_back_prompt_major(serve):
    srv = serve(default=lambda body: f"{body['messages'][-1]['content']}#{time.monotonic_ns()}")
    backend = make_backend(srv)
    out = backend.generate(["p0", "p1", "p2"], Sampling(n=3, temperature=0.8, seed=1))
    assert len(out) == 9
    assert [t.split("#")[0] for t in out] == ["p0"] * 3 + ["p1"] * 3 + ["p2"] * 3
    assert len(set(out)) == 9  # three distinct completions per prompt, not one repeated
    assert srv.requests == 3 and all(b["n"] == 3 for b in srv.bodies)  # n rides in one request per prompt


def test_n_completions_keep_the_choice_order(serve):
    srv = serve(replies=["first", "second", "third"])
    assert make_backend(srv).generate(["p"], Sampling(n=3)) == ["first", "second", "third"]


def test_stop_strings_are_sent_and_applied(serve):
    srv = serve(default="1. A is right.\nEND\nextra text after the stop")
    out = make_backend(srv).generate(["p"], Sampling(stop=["END", "###"]))
    assert out == ["1. A is right.\n"]
    assert srv.bodies[0]["stop"] == ["END", "###"]
    make_backend(srv).generate(["p"], Sampling())
    assert "stop" not in srv.bodies[1]  # no stop list: the field is left out


def test_sampling_params_reach_the_server_body(serve):
    srv = serve(default="ok")
    make_backend(srv).generate(["p"], Sampling(max_new_tokens=77, temperature=0.35, top_p=0.9, seed=1234))
    body = srv.bodies[0]
    assert body["max_tokens"] == 77
    assert body["temperature"] == pytest.approx(0.35)
    assert body["top_p"] == pytest.approx(0.9)
    assert body["seed"] == 1234
    assert body["n"] == 1
    make_backend(srv, extra_body={"top_k": 20, "chat_template_kwargs": {"enable_thinking": False}}).generate(["p"])
    assert srv.bodies[1]["top_k"] == 20 and srv.bodies[1]["chat_template_kwargs"] == {"enable_thinking": False}


# ---------------------------------------------------------------- retries


@pytest.mark.parametrize(
    "fault, status",
    [(500, 500), (503, 503), (429, 429), ("drop", 0), ("malformed", 200), ("empty", 200)],
)
def test_transient_faults_are_retried_then_succeed(serve, fault, status):
    srv = serve(default=echo)
    srv.fail(fault, fault)
    backend = make_backend(srv, max_retries=3)
    assert backend.generate(["hello"]) == ["echo: hello"]
    assert srv.requests == 3
    assert backend.stats["retries"] == 2 and backend.stats["requests"] == 3 and backend.stats["failures"] == 0
    assert backend.last_errors == []
    if status == 200:  # malformed / empty: two unusable 200s, then the good one
        assert srv.statuses == {200: 3}
    else:
        assert srv.statuses == {status: 2, 200: 1}


def test_429_honours_retry_after_instead_of_the_backoff(serve):
    srv = serve(default="ok")
    srv.fail(429, 429)  # the server sends Retry-After: 0
    backend = make_backend(srv, backoff=5.0)  # exponential backoff alone would wait >= 2.5 s, then >= 5 s
    t0 = time.monotonic()
    assert backend.generate(["p"]) == ["ok"]
    assert time.monotonic() - t0 < 2.0
    assert srv.statuses == {429: 2, 200: 1} and backend.stats["retries"] == 2


def test_mixed_faults_in_one_call(serve):
    srv = serve(default=echo)
    srv.fail(500, "drop", "malformed", "empty", 429)
    backend = make_backend(srv, max_retries=5, concurrency=2)
    out = backend.generate(["a", "b", "c"])
    assert out == ["echo: a", "echo: b", "echo: c"]
    assert srv.requests == 8 and backend.stats["retries"] == 5
    assert srv.statuses == {500: 1, 0: 1, 429: 1, 200: 5}  # 200s: malformed, empty and the three good ones


# ---------------------------------------------------------------- timeouts


def test_hang_times_out_and_is_retried(serve):
    srv = serve(default="after the hang", hang_s=2.0)
    srv.fail("hang")
    backend = make_backend(srv, timeout=0.3, max_retries=2)
    t0 = time.monotonic()
    assert backend.generate(["p"]) == ["after the hang"]
    elapsed = time.monotonic() - t0
    assert 0.25 < elapsed < 1.8  # gave up on the hung request at ~0.3 s, did not wait the server's 2 s
    assert srv.requests == 2 and srv.statuses[200] == 1
    assert backend.stats["retries"] == 1 and backend.last_errors == []


def test_every_attempt_hanging_fails_with_a_timeout(serve):
    srv = serve(default="never seen", hang_s=1.0)
    srv.fail("hang", "hang")
    backend = make_backend(srv, timeout=0.2, max_retries=1)
    assert backend.generate(["p"]) == [None]
    assert srv.requests == 2 and srv.statuses[200] == 0
    (err,) = backend.last_errors
    assert err.index == 0 and err.attempts == 2 and "Timeout" in err.error


# ---------------------------------------------------------------- failure path


def test_failure_beyond_max_retries_is_none_and_named_others_succeed(serve):
    # The reply is None for the poisoned prompt only: the server answers HTTP 500 for it
    # on every attempt, whatever the arrival order of the concurrent requests.
    srv = serve(default=lambda b: None if "poison" in b["messages"][-1]["content"] else echo(b))
    backend = make_backend(srv, max_retries=2)
    out = backend.generate(["ok-0", "poison-1", "ok-2"], Sampling(n=2))
    assert out == ["echo: ok-0", "echo: ok-0", None, None, "echo: ok-2", "echo: ok-2"]  # None, never "" or 0
    assert out[2] is None and out[3] is None
    (err,) = backend.last_errors
    assert err.index == 1 and err.attempts == 3
    assert "InternalServerError" in err.error and "500" in err.error
    assert srv.statuses == {500: 3, 200: 2}
    assert backend.stats["failures"] == 1 and backend.stats["retries"] == 2
    # the next successful call clears last_errors
    assert backend.generate(["ok-3"]) == ["echo: ok-3"] and backend.last_errors == []


def test_strict_raises_backend_error(serve):
    srv = serve(default="ok")
    srv.fail(500, 500)
    backend = make_backend(srv, max_retries=1, strict=True)
    first = r"http://127.0.0.1:\d+/v1/chat/completions: HTTP 500 Internal Server Error: injected HTTP 500 \(InternalServerError\)"
    with pytest.raises(BackendError, match=r"1 of 1 request\(s\) failed; first: " + first):
        backend.generate(["p"])
    srv.fail(500, 500)
    lenient = make_backend(srv, max_retries=1)
    assert lenient.generate(["p"]) == [None]
    srv.fail(500, 500)
    with pytest.raises(BackendError):
        lenient.generate(["p"], strict=True)  # per-call override
    assert srv.statuses == {500: 6}


def test_400_is_not_retried(serve):
    srv = serve(default="ok")
    srv.fail(400)
    backend = make_backend(srv, max_retries=4)
    assert backend.generate(["p"]) == [None]
    assert srv.requests == 1 and srv.statuses == {400: 1}
    assert backend.stats["retries"] == 0
    (err,) = backend.last_errors
    assert err.attempts == 1 and "BadRequestError" in err.error and "injected HTTP 400" in err.error


def test_bad_request_from_the_server_itself_is_not_retried(serve):
    srv = serve(default="ok")
    backend = make_backend(srv, max_retries=4)
    assert backend.generate([[]]) == [None]  # empty message list: the server answers 400
    assert srv.requests == 1 and srv.statuses == {400: 1}
    assert "messages must be a non-empty list" in backend.last_errors[0].error


# ---------------------------------------------------------------- concurrency


def test_concurrency_limit_holds_on_the_server(serve):
    srv = serve(default=echo, latency=0.1)
    backend = make_backend(srv, concurrency=3)
    prompts = [f"p{i}" for i in range(12)]
    out = backend.generate(prompts)
    assert out == [f"echo: {p}" for p in prompts]
    assert srv.requests == 12
    assert 1 < srv.max_in_flight <= 3


def test_concurrency_limit_holds_across_concurrent_calls_on_one_loop(serve):
    srv = serve(default=echo, latency=0.1)
    backend = make_backend(srv, concurrency=2)

    async def main():
        return await asyncio.gather(
            backend.agenerate([f"a{i}" for i in range(4)]), backend.agenerate([f"b{i}" for i in range(4)])
        )

    a, b = asyncio.run(main())
    assert a == [f"echo: a{i}" for i in range(4)] and b == [f"echo: b{i}" for i in range(4)]
    assert srv.max_in_flight == 2


# ---------------------------------------------------------------- cache


def test_cache_hit_miss_and_persistence(serve, tmp_path):
    srv = serve(default=lambda b: f"{b['messages'][-1]['content']} seed={b['seed']} t={time.monotonic_ns()}")
    backend = make_backend(srv, cache_dir=str(tmp_path))
    s1 = Sampling(temperature=0.7, seed=1)
    first = backend.generate(["p", "q"], s1)
    assert srv.requests == 2 and len(cache_files(tmp_path)) == 2
    again = backend.generate(["p", "q"], s1)
    assert again == first and srv.requests == 2  # no new server request
    assert backend.stats["cache_hits"] == 2
    # a fresh backend (a new process, say) reads the same files
    assert make_backend(srv, cache_dir=str(tmp_path)).generate(["q"], s1) == first[1:] and srv.requests == 2
    # a different seed or prompt misses
    other_seed = backend.generate(["p"], Sampling(temperature=0.7, seed=2))
    assert srv.requests == 3 and other_seed != first[:1] and "seed=2" in other_seed[0]
    backend.generate(["p2"], s1)
    assert srv.requests == 4
    backend.generate(["p"], Sampling(temperature=0.7, seed=1, max_new_tokens=9))  # other sampling params miss too
    assert srv.requests == 5 and len(cache_files(tmp_path)) == 5
    stored = json.loads(cache_files(tmp_path)[0].read_text())
    assert set(stored) >= {"request", "texts"} and isinstance(stored["texts"], list)


def test_n_and_cache(serve, tmp_path):
    srv = serve(replies=["x1", "x2"])
    backend = make_backend(srv, cache_dir=str(tmp_path))
    assert backend.generate(["p"], Sampling(n=2)) == ["x1", "x2"]
    assert backend.generate(["p"], Sampling(n=2)) == ["x1", "x2"] and srv.requests == 1


def test_failures_are_not_cached(serve, tmp_path):
    srv = serve(default="good")
    backend = make_backend(srv, cache_dir=str(tmp_path), max_retries=0)
    srv.fail(500)
    assert backend.generate(["p"]) == [None]
    assert cache_files(tmp_path) == []
    srv.fail("malformed")
    assert backend.generate(["p"]) == [None]
    assert cache_files(tmp_path) == []
    assert backend.generate(["p"]) == ["good"]  # asks the server again
    assert srv.requests == 3 and len(cache_files(tmp_path)) == 1
    assert backend.generate(["p"]) == ["good"] and srv.requests == 3


def test_corrupt_cache_file_is_ignored_and_refetched(serve, tmp_path):
    srv = serve(replies=["v1", "v2", "v3"])
    backend = make_backend(srv, cache_dir=str(tmp_path))
    assert backend.generate(["p"]) == ["v1"]
    (path,) = cache_files(tmp_path)
    path.write_text('{"texts": ["v1"')  # truncated JSON
    assert backend.generate(["p"]) == ["v2"] and srv.requests == 2
    assert json.loads(path.read_text())["texts"] == ["v2"]  # rewritten whole
    path.write_text(json.dumps({"texts": [1]}))  # valid JSON, wrong shape
    assert backend.generate(["p"]) == ["v3"] and srv.requests == 3
    assert backend.generate(["p"]) == ["v3"] and srv.requests == 3


def test_unwritable_cache_keeps_the_answer(serve, tmp_path, caplog):
    srv = serve(default="good")
    backend = make_backend(srv, cache_dir=str(tmp_path))
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    backend.cache_dir = str(blocker)  # every cache write now fails with an OSError
    with caplog.at_level(logging.WARNING):
        assert backend.generate(["p"]) == ["good"]
    assert srv.requests == 1 and backend.stats["retries"] == 0
    assert "could not write the response cache" in caplog.text


# ---------------------------------------------------------------- API key

SECRET = "sk-genrm-test-0123456789abcdef-SECRET"


def test_api_key_from_env_is_sent_as_bearer(serve, monkeypatch):
    monkeypatch.setenv("GENRM_TEST_KEY", SECRET)
    srv = serve(default="authorised", api_key=SECRET)
    backend = make_backend(srv, api_key_env="GENRM_TEST_KEY")
    assert backend.generate(["p"]) == ["authorised"]
    assert srv.statuses == {200: 1}
    # without the key (the variable is not set) the server answers 401, which is not retried
    anon = make_backend(srv, api_key_env=NO_KEY_ENV, max_retries=4)
    assert anon.generate(["p"]) == [None]
    assert srv.statuses == {200: 1, 401: 1} and anon.stats["retries"] == 0
    assert "AuthenticationError" in anon.last_errors[0].error
    with pytest.raises(BackendError, match="AuthenticationError"):
        anon.generate(["p"], strict=True)
    assert srv.statuses[401] == 2


def test_api_key_is_read_at_construction(serve, monkeypatch):
    srv = serve(default="ok", api_key=SECRET)
    monkeypatch.setenv("GENRM_TEST_KEY", "wrong-key")
    backend = make_backend(srv, api_key_env="GENRM_TEST_KEY")
    monkeypatch.setenv("GENRM_TEST_KEY", SECRET)  # too late for this backend
    assert backend.generate(["p"]) == [None] and srv.statuses == {401: 1}


def test_api_key_never_leaks_to_repr_logs_or_cache(serve, monkeypatch, tmp_path, caplog):
    monkeypatch.setenv("GENRM_TEST_KEY", SECRET)
    srv = serve(default=echo, api_key=SECRET, hang_s=0.5)
    caplog.set_level(logging.DEBUG)  # every logger, openai's and httpx's included
    backend = make_backend(srv, api_key_env="GENRM_TEST_KEY", cache_dir=str(tmp_path), max_retries=1, timeout=0.2)
    srv.fail(500, "drop", "hang", 429, 400)
    out = backend.generate(["a", "b", "c", "d"])
    assert out.count(None) >= 1 and backend.last_errors  # a run with retries and failures
    assert any(r.levelno == logging.WARNING and "failed after" in r.getMessage() for r in caplog.records)
    assert any("retrying" in r.getMessage() for r in caplog.records)
    wrong = make_backend(srv, api_key_env=NO_KEY_ENV, cache_dir=str(tmp_path))
    wrong.generate(["e"])  # a 401 is logged too
    assert SECRET not in repr(backend) and SECRET not in str(backend)
    assert "GENRM_TEST_KEY" in repr(backend)
    assert caplog.records
    for record in caplog.records:
        assert SECRET not in record.getMessage(), record.name
    assert SECRET not in caplog.text
    assert SECRET not in " ".join(e.error for e in backend.last_errors + wrong.last_errors)
    files = cache_files(tmp_path)
    assert files  # the successful requests were cached
    for path in files:
        assert SECRET not in path.read_text()
        assert SECRET not in path.name


# ---------------------------------------------------------------- event loops


def test_generate_inside_a_running_event_loop(serve):
    srv = serve(default=echo)
    backend = make_backend(srv)

    async def main():
        loop_before = asyncio.get_running_loop()
        out = backend.generate(["from inside a loop"])  # sync call while a loop is running
        assert asyncio.get_running_loop() is loop_before
        return out

    assert asyncio.run(main()) == ["echo: from inside a loop"]
    assert backend.generate(["outside"]) == ["echo: outside"]  # and again with no loop running
    assert srv.requests == 2


def test_agenerate_and_repeated_loops(serve):
    srv = serve(default=echo)
    srv.fail(500)
    backend = make_backend(srv)

    async def main(tag):
        try:
            return await backend.agenerate([f"{tag}-0", f"{tag}-1"])
        finally:
            await backend.aclose()
            assert not backend._loops  # this loop's client is closed and forgotten

    assert asyncio.run(main("x")) == ["echo: x-0", "echo: x-1"]
    assert asyncio.run(main("y")) == ["echo: y-0", "echo: y-1"]  # a new loop gets its own client
    assert srv.requests == 5 and backend.stats["retries"] == 1


# ---------------------------------------------------------------- loglikelihood


@pytest.fixture(scope="module")
def tiny_hf(tokenizer):
    """A tiny random Llama with the embedded SmolLM2 tokenizer, wrapped as HFBackend."""
    from genrm.backends.hf import HFBackend
    from genrm.testing import tiny_causal_lm

    return HFBackend(model_obj=tiny_causal_lm(tokenizer, hidden_size=32, sharpen=1.0), tokenizer=tokenizer, device="cpu")


def test_loglikelihood_over_http_matches_in_process(serve, tiny_hf):
    srv = serve(backend=tiny_hf)
    backend = make_backend(srv)
    cases = [
        ("The capital of France is", " Paris."),
        ("Question: which response is better?\nAnswer:", " Response A, because it is correct."),
    ]
    for prompt, cont in cases:
        remote = backend.loglikelihood(prompt, cont)
        local = tiny_hf.loglikelihood(prompt, cont)
        assert remote < 0
        assert remote == pytest.approx(local, abs=1e-3)
    assert srv.requests == 2
    body = srv.bodies[0]
    assert body["echo"] is True and body["max_tokens"] == 0 and body["prompt"] == "The capital of France is Paris."
    # a longer continuation is less likely than its own prefix
    assert backend.loglikelihood("The capital of France is", " Paris. It is") < backend.loglikelihood(
        "The capital of France is", " Paris."
    )


@pytest.mark.parametrize("fault", [500, 503, 429, "drop", "malformed", "empty", "hang"])
def test_loglikelihood_faults_are_retried(serve, tiny_hf, fault):
    srv = serve(backend=tiny_hf, hang_s=1.0)
    srv.fail(fault)
    backend = make_backend(srv, max_retries=2, timeout=0.3)
    got = backend.loglikelihood("The capital of France is", " Paris.")
    assert got == pytest.approx(tiny_hf.loglikelihood("The capital of France is", " Paris."), abs=1e-3)
    assert srv.requests == 2 and backend.stats["retries"] == 1 and backend.stats["failures"] == 0


def test_loglikelihood_failing_for_good_raises_not_zero(serve, tiny_hf):
    srv = serve(backend=tiny_hf)
    srv.fail(500, 500, 500)
    backend = make_backend(srv, max_retries=2)
    with pytest.raises(BackendError, match=r"after 3 attempt\(s\).*InternalServerError"):
        backend.loglikelihood("The capital of France is", " Paris.")
    assert srv.requests == 3 and backend.stats["failures"] == 1


def test_loglikelihood_agrees_for_a_tokenizer_that_adds_bos(serve, tokenizer):
    """The server scores the text as vLLM does (with BOS); HFBackend adds BOS to raw strings too."""
    import copy

    from genrm.backends.hf import HFBackend
    from genrm.testing import tiny_causal_lm

    tok = copy.deepcopy(tokenizer)
    tok.add_bos_token = True
    assert tok("x")["input_ids"][0] == tok.bos_token_id  # the case this test is about
    hf = HFBackend(model_obj=tiny_causal_lm(tok, hidden_size=32, sharpen=1.0), tokenizer=tok, device="cpu")
    srv = serve(backend=hf)
    remote = make_backend(srv).loglikelihood("The capital of France is", " Paris.")
    assert remote == pytest.approx(hf.loglikelihood("The capital of France is", " Paris."), abs=1e-3)


def test_loglikelihood_merged_boundary_is_explained(serve, tiny_hf):
    srv = serve(backend=tiny_hf)
    with pytest.raises(BackendError, match="move the space into the continuation"):
        make_backend(srv).loglikelihood("The capital of France is ", "P")


def test_concurrent_calls_keep_their_own_errors(serve):
    srv = serve(default=echo)
    backend = make_backend(srv, max_retries=0)

    async def main():
        e1, e2 = [], []
        # The second call's only prompt is an empty message list: the server answers 400.
        out = await asyncio.gather(backend.agenerate(["a", "b"], errors=e1), backend.agenerate([[]], errors=e2))
        await backend.aclose()
        return out, e1, e2

    (ok, bad), e1, e2 = asyncio.run(main())
    assert ok == ["echo: a", "echo: b"] and bad == [None]
    assert e1 == [] and len(e2) == 1 and "BadRequestError" in e2[0].error
    assert backend.stats["failures"] == 1
    # The sync wrapper takes the list too.
    e3: list = []
    assert backend.generate([[]], errors=e3) == [None] and len(e3) == 1


def test_loglikelihood_needs_a_model_backed_server(serve):
    srv = serve(default="scripted")
    backend = make_backend(srv)
    with pytest.raises(NotImplementedError, match=r"does not offer /completions with echo\+logprobs \(HTTP 404\)"):
        backend.loglikelihood("prompt", " continuation")
    assert srv.statuses == {404: 1}


def test_loglikelihood_rejects_chat_messages(serve):
    srv = serve(default="scripted")
    backend = make_backend(srv)
    with pytest.raises(NotImplementedError, match="raw string"):
        backend.loglikelihood([{"role": "user", "content": "hi"}], " there")
    assert srv.requests == 0


# ---------------------------------------------------------------- settings, root causes, redaction


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"base_url": ""}, "base_url is empty"),
        ({"base_url": None}, "base_url is empty"),
        ({"base_url": 8000}, "base_url must be a URL string, got int 8000"),
        ({"base_url": "ftp://h/v1"}, r"base_url must start with http:// or https:// \(got 'ftp://h/v1'"),
        ({"base_url": "not a url"}, r"base_url contains whitespace \(got 'not a url'\)"),
        ({"base_url": "127.0.0.1:8000/v1"}, "base_url must start with http://"),
        ({"base_url": "http://"}, "base_url names no host"),
        ({"base_url": "http://h:0/v1"}, "base_url has port 0"),
        ({"base_url": "http://h:port/v1"}, "base_url is not a valid URL"),
        ({"base_url": "http://h/v1?api_key=sk-abc123"}, r"cannot carry a query string or fragment \(got 'http://h/v1\?api_key=\*\*\*'\)"),
        ({"timeout": 0}, "timeout must be a number > 0, got 0"),
        ({"timeout": -1}, "timeout must be a number > 0, got -1"),
        ({"timeout": float("nan")}, "timeout must be a number > 0, got nan"),
        ({"timeout": True}, "timeout must be a number > 0, got True"),
        ({"timeout": "5"}, "timeout must be a number > 0, got '5'"),
        ({"max_retries": -1}, "max_retries must be an integer >= 0, got -1"),
        ({"max_retries": 1.5}, "max_retries must be an integer >= 0, got 1.5"),
        ({"concurrency": 0}, "concurrency must be an integer >= 1, got 0"),
        ({"backoff": -0.5}, "backoff must be a number >= 0"),
        ({"model": ""}, "model must be a non-empty string"),
    ],
)
def test_settings_are_checked_at_construction(kwargs, message):
    from genrm.backends.openai_http import BackendConfigError

    opts = {"base_url": "http://127.0.0.1:8000/v1", "model": "m", "api_key_env": NO_KEY_ENV, **kwargs}
    with pytest.raises(BackendConfigError, match=message) as e:
        OpenAIBackend(**opts)
    assert isinstance(e.value, ValueError) and "\n" not in str(e.value)


def test_max_retries_zero_sends_one_request_and_names_the_failure(serve):
    srv = serve(default="ok")
    srv.fail(503)
    backend = make_backend(srv, max_retries=0)
    assert backend.generate(["p"]) == [None]
    (err,) = backend.last_errors
    assert srv.requests == 1 and err.attempts == 1 and err.retryable
    assert f"{srv.url}/chat/completions: HTTP 503 Service Unavailable: injected HTTP 503" in err.error


@pytest.mark.parametrize("status, retried", [(401, False), (403, False), (404, False), (409, False), (422, False),
                                             (408, True), (429, True)])
def test_4xx_other_than_408_and_429_are_never_retried(serve, status, retried):
    srv = serve(default="ok")
    srv.fail(status)
    backend = make_backend(srv, max_retries=3)
    out = backend.generate(["p"])
    assert out == (["ok"] if retried else [None])
    assert srv.requests == (2 if retried else 1)
    if not retried:
        (err,) = backend.last_errors
        assert not err.retryable and f"HTTP {status} " in err.error and f"injected HTTP {status}" in err.error


def test_connection_refused_names_the_url_and_the_cause():
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    backend = OpenAIBackend(f"http://127.0.0.1:{port}/v1", "m", api_key_env=NO_KEY_ENV, max_retries=1, backoff=0.0)
    assert backend.generate(["p"]) == [None]
    (err,) = backend.last_errors
    assert err.error == (f"http://127.0.0.1:{port}/v1/chat/completions: connection refused "
                         "(is the server running on that port?) (APIConnectionError)")
    assert err.attempts == 2 and err.retryable


def test_tls_to_a_plain_http_server_is_named(serve):
    srv = serve(default="ok")
    backend = make_backend(srv, max_retries=0)
    backend_tls = OpenAIBackend(srv.url.replace("http://", "https://"), srv.model, api_key_env=NO_KEY_ENV, max_retries=0)
    assert backend_tls.generate(["p"]) == [None]
    assert "/v1/chat/completions: TLS error (" in backend_tls.last_errors[0].error
    assert backend.generate(["p"]) == ["ok"]  # the server itself is fine


def test_timeout_is_named_with_its_value(serve):
    srv = serve(default="late", latency=1.0)
    backend = make_backend(srv, timeout=0.2, max_retries=0)
    assert backend.generate(["p"]) == [None]
    assert backend.last_errors[0].error.endswith("/v1/chat/completions: timed out after 0.2 s (APITimeoutError)")


def test_dns_failure_is_named():
    """The cause chain the openai client raises for a failed lookup (no network needed:
    an unknown service name fails inside getaddrinfo)."""
    import socket

    import httpx
    import openai

    from genrm.backends.endpoint import root_cause

    try:
        socket.getaddrinfo("localhost", "no-such-service-genrm")
    except socket.gaierror as gai:
        try:
            raise httpx.ConnectError(str(gai)) from gai
        except httpx.ConnectError as ce:
            try:
                raise openai.APIConnectionError(request=httpx.Request("POST", "http://h/v1")) from ce
            except openai.APIConnectionError as exc:
                assert root_cause(exc).startswith("DNS lookup failed (")


def test_credentials_in_base_url_are_redacted_everywhere(serve, caplog, tmp_path):
    srv = serve(default=echo)
    secret = "sk-in-url-0123456789"
    url = srv.url.replace("http://", f"http://judge:{secret}@")
    caplog.set_level(logging.DEBUG)  # httpx logs every request URL at INFO
    backend = OpenAIBackend(url, srv.model, api_key_env=NO_KEY_ENV, max_retries=1, backoff=0.0,
                            cache_dir=str(tmp_path))
    assert backend.generate(["hello"]) == ["echo: hello"]
    srv.fail(500, 500)
    assert backend.generate(["again"]) == [None]
    shown = repr(backend) + str(backend) + backend.url + " ".join(e.error for e in backend.last_errors)
    assert "judge:" not in shown and f"http://***@127.0.0.1:{srv.url.split(':')[2]}" in shown
    assert any("HTTP Request" in r.getMessage() for r in caplog.records)  # httpx did log the URL
    assert "***@127.0.0.1" in caplog.text
    for text in (shown, caplog.text, *(p.read_text() for p in cache_files(tmp_path))):
        assert secret not in text


def test_unknown_backend_option_is_one_line_with_a_did_you_mean():
    """Issue 23: `backend: {bogus: 1}` was a TypeError traceback from the constructor."""
    from genrm.backends import make_backend
    from genrm.backends.endpoint import BackendConfigError

    with pytest.raises(BackendConfigError, match="'batch_sise' is not one the hf backend takes; did you mean 'batch_size'"):
        make_backend({"kind": "hf", "model": "embedded:smollm2-135m", "batch_sise": 2})
    with pytest.raises(BackendConfigError, match="'timeuot' is not one the openai backend takes; did you mean 'timeout'"):
        make_backend({"kind": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "m", "timeuot": 3})
