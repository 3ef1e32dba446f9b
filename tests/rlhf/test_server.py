"""`genrm serve` as a child process on 127.0.0.1, driven by real HTTP clients
(OpenRLHF's own reward client where the protocol is OpenRLHF's)."""

import asyncio
import os
import threading
import time

import httpx
import pytest

from genrm.testing.serve_process import ServerProcess

PROMPT = "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nI have 100 apples. Rate me.<|im_end|>\n<|im_start|>assistant\n"


def _query(response: str) -> str:
    return PROMPT + response + "<|im_end|>"


def _openrlhf_post(url: str, queries, prompts, labels):
    """OpenRLHF 0.11's client: SingleTurnAgentExecutor._fetch_rewards_via_http (180 s, 5 tries)."""
    from openrlhf.utils.agent import SingleTurnAgentExecutor

    executor = SingleTurnAgentExecutor(remote_rm_url=url + "/get_reward")
    return asyncio.run(executor._fetch_rewards_via_http(queries, prompts, labels))


def _metric(url: str, name: str) -> float:
    for line in httpx.get(url + "/metrics").text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"metric {name} not found")


@pytest.fixture(scope="module")
def scripted():
    with ServerProcess(["strategy.name=reference", "log_level=warning", "max_body_bytes=4096",
                        "batching.max_wait_ms=20"], scripted_latency=0.02) as srv:
        yield srv


def test_openrlhf_client_gets_rewards_of_the_recovered_response(scripted):
    # The prompt holds "100": if the response were not cut out of the query, the judge would see 100 > 50.
    [body] = _openrlhf_post(scripted.url, [_query("score 7")], [PROMPT], ["score 50"])
    assert body["rewards"] == [0.0] and body["scores"] == [0.0]
    assert body["extra_logs"]["genrm/judge_calls"] == 2.0
    [body] = _openrlhf_post(scripted.url, [_query("score 70"), _query("score 50")], [PROMPT] * 2, ["score 50"] * 2)
    assert body["rewards"] == [1.0, 0.5]


def test_bearer_token():
    ok = {"query": [_query("score 1")], "prompts": [PROMPT], "labels": ["score 1"]}
    with ServerProcess(["api_key_env=GENRM_TEST_TOKEN", "log_level=warning"], scripted_latency=0.0,
                       env={"GENRM_TEST_TOKEN": "s3cret"}) as srv:
        url = srv.url
        assert httpx.post(url + "/get_reward", json=ok).status_code == 401
        r = httpx.post(url + "/get_reward", json=ok, headers={"Authorization": "Bearer wrong"})
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        assert httpx.get(url + "/metrics").status_code == 401
        assert httpx.get(url + "/health").json()["status"] == "ok"  # open: load balancers probe it
        auth = {"Authorization": "Bearer s3cret"}
        for page in ("/docs", "/redoc", "/openapi.json"):  # they answered without the token
            assert httpx.get(url + page).status_code == 401, page
            assert httpx.get(url + page, headers=auth).status_code == 200, page
        assert "/get_reward" in httpx.get(url + "/openapi.json", headers=auth).json()["paths"]
        r = httpx.post(url + "/get_reward", json=ok, headers={"Authorization": "Bearer s3cret"})
        assert r.status_code == 200 and r.json()["rewards"] == [0.5]


def test_bearer_token_env_must_be_set():
    srv = ServerProcess(["api_key_env=GENRM_UNSET_TOKEN"], scripted_latency=0.0, env={"GENRM_UNSET_TOKEN": ""})
    with pytest.raises(RuntimeError, match="error: api_key_env=GENRM_UNSET_TOKEN: that environment variable is not set"):
        srv.start()


def test_group_strategy_without_group_size_is_refused_at_startup():
    srv = ServerProcess(["strategy.name=bradley_terry"], scripted_latency=0.0)
    with pytest.raises(RuntimeError, match="error: strategy.name=bradley_terry compares a group.*batching.group_size"):
        srv.start()


def test_size_limit_and_malformed_bodies(scripted):
    url = scripted.url
    r = httpx.post(url + "/get_reward", content=b'{"query": [')
    assert r.status_code == 400 and "not valid JSON" in r.json()["detail"]
    r = httpx.post(url + "/get_reward", json={"query": "x", "prompts": [1, 2]})
    assert r.status_code == 422 and "'prompts'" in r.json()["detail"]
    r = httpx.post(url + "/get_reward", json={"query": [_query("a")], "prompts": [PROMPT], "labels": [None]})
    assert r.status_code == 422 and "reference answer" in r.json()["detail"]
    r = httpx.post(url + "/score", json={"groups": [{"prompt": "q", "completions": []}]})
    assert r.status_code == 422 and "groups[0].completions" in r.json()["detail"]

    big = {"query": ["x" * 5000], "prompts": ["p"], "labels": ["l"]}
    assert httpx.post(url + "/get_reward", json=big).status_code == 413

    def chunks():  # no Content-Length: the limit holds while streaming
        for _ in range(10):
            yield b" " * 1000

    assert httpx.post(url + "/get_reward", content=chunks()).status_code == 413
    assert _metric(url, 'genrm_requests_total{endpoint="/get_reward",status="413"}') == 2


def test_score_endpoint_and_metrics(scripted):
    r = httpx.post(scripted.url + "/score", json={"groups": [
        {"prompt": "q", "completions": ["score 1", "score 3"], "reference": "score 2"},
        {"prompt": [{"role": "user", "content": "q"}], "completions": ["score 2"], "reference": "score 2"}]})
    assert r.status_code == 200
    assert [x["scores"] for x in r.json()["results"]] == [[0.0, 1.0], [0.5]]
    assert r.json()["results"][1]["ties"] == 2
    assert _metric(scripted.url, "genrm_judge_calls_total") >= 6
    assert _metric(scripted.url, 'genrm_request_seconds_count{endpoint="/score"}') >= 1


def test_concurrent_requests_are_batched(scripted):
    before = _metric(scripted.url, "genrm_batch_judge_calls_count")

    async def burst():
        async with httpx.AsyncClient() as client:
            rs = await asyncio.gather(*(client.post(scripted.url + "/get_reward", json={
                "query": [_query(f"score {k}")], "prompts": [PROMPT], "labels": ["score 10"]}) for k in range(20)))
        return [r.json()["rewards"][0] for r in rs]

    assert asyncio.run(burst()) == [0.0] * 10 + [0.5] + [1.0] * 9
    batches = _metric(scripted.url, "genrm_batch_judge_calls_count") - before
    assert batches < 20  # 20 one-query requests went to the backend in fewer batches


def test_group_strategy_and_unscored_answer_503():
    with ServerProcess(["strategy.name=round_robin", "batching.group_size=3", "batching.group_wait_s=1",
                        "log_level=warning"], scripted_latency=0.0) as srv:
        async def group(prompt, numbers):
            async with httpx.AsyncClient() as client:
                return await asyncio.gather(*(client.post(srv.url + "/get_reward", json={
                    "query": [prompt + f"score {k}"], "prompts": [prompt], "labels": [None]}) for k in numbers))

        rs = asyncio.run(group("Rate these:", [3, 1, 2]))
        assert [r.json()["rewards"] for r in rs] == [[1.0], [0.0], [0.5]]
        [lone] = asyncio.run(group("Nobody else:", [4]))  # group_wait passes with one member
        assert lone.status_code == 503 and "no verdict" in lone.json()["detail"]


def test_request_timeout_is_504():
    with ServerProcess(["request_timeout_s=0.3", "log_level=warning"], scripted_latency=1.5) as srv:
        r = httpx.post(srv.url + "/get_reward", json={"query": ["q score 1"], "prompts": ["q "], "labels": ["score 2"]},
                       timeout=10)
        assert r.status_code == 504 and "request_timeout_s" in r.json()["detail"]


def test_sigterm_finishes_the_request_in_flight():
    srv = ServerProcess(["log_level=info"], scripted_latency=2.0).start()
    try:
        result = {}

        def post():
            result["r"] = httpx.post(srv.url + "/get_reward", timeout=30, json={
                "query": [_query("score 9")], "prompts": [PROMPT], "labels": ["score 3"]})

        t = threading.Thread(target=post)
        t.start()
        deadline = time.monotonic() + 10
        while httpx.get(srv.url + "/health").json()["pending"] == 0:
            assert time.monotonic() < deadline, "the request never reached the server"
            time.sleep(0.05)
        srv.terminate()  # while the 2 s judge call is running
        t.join(30)
        assert result["r"].status_code == 200 and result["r"].json()["rewards"] == [1.0]
        assert srv.wait(30) == 0, srv.output()
        out = srv.output()
        assert out.index("Shutting down") < out.index("Application shutdown complete")
        assert "genrm serve: stopped" in out
        with pytest.raises(httpx.ConnectError):
            httpx.get(srv.url + "/health")
    finally:
        srv.kill()


@pytest.mark.slow
def test_embedded_model_answers_openrlhf_protocol(tokenizer):
    """The real SmolLM2 judge behind the server, OpenRLHF's client in front of it."""
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                           tokenize=False, add_generation_prompt=True)
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    ids += tokenizer("Paris is the capital of France.<|im_end|>", add_special_tokens=False)["input_ids"]
    query = tokenizer.decode(ids, skip_special_tokens=False)  # what OpenRLHF sends
    with ServerProcess(["judge.backend.model=embedded:smollm2-135m",
                        "judge.template=recipes/prompts/judge_verdict_only.jinja", "judge.max_new_tokens=12",
                        'judge.stop=["\\n"]', "log_level=warning"], startup_timeout=300) as srv:
        [body] = _openrlhf_post(srv.url, [query], [prompt], ["Paris."])
        # The untrained 135M judge copies "\boxed{A>B}" whatever it reads: A wins in both
        # orders, which the two-order reference strategy turns into exactly 0.5.
        assert body["rewards"] == [0.5] and body["scores"] == [0.5]
        assert body["extra_logs"]["genrm/judge_calls"] == 2.0
        assert _metric(srv.url, "genrm_invalid_verdicts_total") == 0
        assert "hf" in httpx.get(srv.url + "/health").json()["backend"].lower()
