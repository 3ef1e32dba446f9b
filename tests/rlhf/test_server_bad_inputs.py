"""`genrm serve` under hostile input, as a client sends it: every bad body gets its 4xx
with a message naming the field or the setting (never a 500), one bad request does not
fail the requests batched with it, a large request does not stop /health, slow clients
are timed out, and a port in use is one line."""

from __future__ import annotations

import asyncio
import json
import select
import socket
import threading
import time
from urllib.parse import urlparse

import httpx
import pytest

from genrm.rlhf import server
from genrm.testing.serve_process import ServerProcess

PROMPT = "<|im_start|>user\nRate me.<|im_end|>\n<|im_start|>assistant\n"
DEEP = 100_000


def _reward(n: int = 1) -> dict:
    return {"query": [PROMPT + f"score {k}<|im_end|>" for k in range(n)], "prompts": [PROMPT] * n, "labels": ["score 1"] * n}


def _group(n: int = 2, **change) -> dict:
    return {"prompt": "Rate these:", "completions": [f"score {k}" for k in range(n)], "reference": "score 1", **change}


# (name, endpoint, body: bytes or JSON, status, a phrase of the message)
CASES = [
    ("invalid_json", "/get_reward", b'{"query": [', 400, "not valid JSON"),
    ("not_utf8", "/get_reward", b'{"query": ["\xff"]}', 400, "not valid JSON"),
    ("deep_json_get_reward", "/get_reward", b'{"query": ' + b"[" * DEEP + b"]" * DEEP + b"}", 400, "nested too deeply"),
    ("deep_json_score", "/score", b'{"groups": [{"prompt": ' + b"[" * DEEP + b"]" * DEEP + b"}]}", 400, "nested too deeply"),
    ("body_a_list", "/get_reward", [1, 2], 422, "JSON object"),
    ("query_missing", "/get_reward", {"prompts": ["p"]}, 422, "field 'query'"),
    ("query_empty", "/get_reward", {"query": []}, 422, "field 'query'"),
    ("query_numbers", "/get_reward", {"query": [1, 2]}, 422, "field 'query'"),
    ("query_nested", "/get_reward", {"query": [["a"]]}, 422, "field 'query'"),
    ("prompts_numbers", "/get_reward", {"query": ["a", "b"], "prompts": [1, 2]}, 422, "field 'prompts' must hold strings"),
    ("prompts_a_string", "/get_reward", {"query": ["a"], "prompts": "p"}, 422, "field 'prompts'"),
    ("prompts_short", "/get_reward", {"query": ["a", "b"], "prompts": ["p"]}, 422, "one entry per query (2)"),
    ("labels_long", "/get_reward", {"query": ["a"], "labels": ["x", "y"]}, 422, "field 'labels'"),
    ("labels_none_for_reference", "/get_reward", {**_reward(), "labels": [None]}, 422, "reference answer"),
    ("too_many_queries", "/get_reward", _reward(51), 413, "max_queries_per_request=50"),
    ("score_body_a_list", "/score", [], 422, "'groups'"),
    ("groups_an_object", "/score", {"groups": {"prompt": "q"}}, 422, "'groups'"),
    ("groups_empty", "/score", {"groups": []}, 422, "'groups'"),
    ("group_a_number", "/score", {"groups": [1]}, 422, "groups[0] must be an object"),
    ("prompt_numbers", "/score", {"groups": [_group(prompt=[1, 2])]}, 422, "groups[0].prompt[0] must be a message"),
    ("prompt_missing", "/score", {"groups": [{"completions": ["a"]}]}, 422, "groups[0].prompt must be"),
    ("prompt_empty_list", "/score", {"groups": [_group(prompt=[])]}, 422, "groups[0].prompt must be"),
    ("message_without_content", "/score", {"groups": [_group(), _group(prompt=[{"role": "user"}])]}, 422,
     "groups[1].prompt[0] must be a message"),
    ("content_a_list", "/score", {"groups": [_group(prompt=[{"role": "user", "content": ["x"]}])]}, 422,
     "groups[0].prompt[0]"),
    ("role_a_number", "/score", {"groups": [_group(prompt=[{"role": 1, "content": "x"}])]}, 422,
     "groups[0].prompt[0].role must be a string"),
    ("completions_empty", "/score", {"groups": [_group(completions=[])]}, 422, "groups[0].completions"),
    ("completions_numbers", "/score", {"groups": [_group(completions=["a", 3])]}, 422, "groups[0].completions"),
    ("reference_a_number", "/score", {"groups": [_group(reference=3)]}, 422, "groups[0].reference must be a string"),
    ("reference_missing", "/score", {"groups": [_group(reference=None)]}, 422, "needs a reference answer"),
    ("too_many_groups", "/score", {"groups": [_group() for _ in range(9)]}, 413, "max_groups_per_request=8"),
    ("group_too_large", "/score", {"groups": [_group(17)]}, 413, "groups[0].completions has 17, over the limit of max_group_size=16"),
    # reference strategy: 2 judge calls per completion, 4 x 16 x 2 = 128
    ("too_many_comparisons", "/score", {"groups": [_group(16) for _ in range(4)]}, 413, "max_comparisons_per_request=100"),
]


@pytest.fixture(scope="module")
def srv():
    with ServerProcess(["strategy.name=reference", "log_level=warning", "batching.max_wait_ms=50",
                        "max_queries_per_request=50", "max_groups_per_request=8", "max_group_size=16",
                        "max_comparisons_per_request=100", "header_timeout_s=1", "body_timeout_s=1",
                        "max_header_bytes=8192"], scripted_latency=0.0) as s:
        yield s


def _post(url: str, endpoint: str, body) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(url + endpoint, content=content, headers={"content-type": "application/json"}, timeout=30)


def test_the_table_is_large_enough():
    assert len(CASES) >= 30 and len({c[0] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("name, endpoint, body, status, phrase", CASES, ids=[c[0] for c in CASES])
def test_bad_body_gets_its_status_naming_the_field(srv, name, endpoint, body, status, phrase):
    r = _post(srv.url, endpoint, body)
    assert r.status_code == status, r.text
    assert phrase in r.json()["detail"]


def test_no_bad_body_reached_a_500_and_the_server_still_scores(srv):
    for _, endpoint, body, *_ in CASES:
        _post(srv.url, endpoint, body)
    r = _post(srv.url, "/get_reward", _reward(3))
    assert r.status_code == 200 and r.json()["rewards"] == [0.0, 0.5, 1.0]
    assert 'status="500"' not in httpx.get(srv.url + "/metrics").text


def test_a_bad_request_does_not_fail_the_requests_batched_with_it(srv):
    bad = [{"query": "x", "prompts": [1, 2]}, {"groups": [_group(prompt=[{"role": "user"}])]},
           {"groups": [_group(prompt=[1, 2])]}]

    async def burst():
        async with httpx.AsyncClient(timeout=30) as c:
            good = [c.post(srv.url + "/get_reward", json=_reward(1)) for _ in range(10)]
            wrong = [c.post(srv.url + ("/get_reward" if "query" in b else "/score"), json=b) for b in bad]
            return await asyncio.gather(*good, *wrong)

    rs = asyncio.run(burst())
    assert [r.status_code for r in rs] == [200] * 10 + [422] * 3
    assert all(r.json()["rewards"] == [0.0] for r in rs[:10])


def _raw(url: str, head: bytes, trickle: bytes = b"", period: float = 0.5, limit: float = 15.0) -> tuple[bytes, float]:
    """Send `head`, then `trickle` one byte per `period`, until the server answers and closes:
    (what it sent back, seconds from connecting until it closed). A byte sent just after the
    server's answer and close meets a reset, which can drop the answer unread: then the
    returned bytes are b"RESET" (the server cut the client off all the same)."""
    u = urlparse(url)
    s = socket.create_connection((u.hostname, u.port))
    start = time.monotonic()
    got, pending = b"", list(trickle)
    try:
        s.sendall(head)
        while time.monotonic() - start < limit:
            if select.select([s], [], [], period)[0]:
                try:
                    chunk = s.recv(65536)
                except ConnectionResetError:
                    return got or b"RESET", time.monotonic() - start
                if not chunk:
                    break  # closed
                got += chunk
            elif pending:
                try:
                    s.send(bytes([pending.pop(0)]))
                except OSError:
                    break
        return got, time.monotonic() - start
    finally:
        s.close()


def _answered_408(got: bytes, setting: bytes) -> bool:
    return got == b"RESET" or (got.startswith(b"HTTP/1.1 408") and setting in got)


def test_a_body_sent_one_byte_at_a_time_gets_408_within_body_timeout(srv):
    head = b"POST /get_reward HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 60\r\n\r\n"
    got, took = _raw(srv.url, head, json.dumps(_reward()).encode()[:60])
    assert _answered_408(got, b"body_timeout_s=1"), got
    assert took < 4  # body_timeout_s=1; uvicorn alone waited for the 30 s of trickle


def test_headers_sent_one_byte_at_a_time_get_408_within_header_timeout(srv):
    got, took = _raw(srv.url, b"", b"POST /get_reward HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n")
    assert _answered_408(got, b"header_timeout_s=1"), got
    assert took < 4


def test_a_silent_connection_is_closed_within_header_timeout(srv):
    got, took = _raw(srv.url, b"")
    assert got.startswith(b"HTTP/1.1 408") and took < 4


def test_headers_over_max_header_bytes_get_431(srv):
    got, _ = _raw(srv.url, b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000)
    assert got.startswith(b"HTTP/1.1 431") and b"max_header_bytes=8192" in got
    assert httpx.get(srv.url + "/health").json()["status"] == "ok"  # normal clients are unaffected


def test_health_answers_while_a_large_round_robin_is_scored():
    """A round robin of 160 completions is 25,440 judge prompts to render and verdicts to
    parse; on the event loop that stopped /health for seconds (25 s for 400)."""
    with ServerProcess(["strategy.name=round_robin", "batching.group_size=2", "log_level=warning"],
                       scripted_latency=0.0) as s:
        result = {}

        def big():
            result["r"] = httpx.post(s.url + "/score", json={"groups": [_group(160, reference=None)]}, timeout=120)

        t = threading.Thread(target=big)
        t.start()
        deadline = time.monotonic() + 30
        while httpx.get(s.url + "/health").json()["pending"] == 0:  # wait until it is being scored
            assert time.monotonic() < deadline and t.is_alive(), "the request never reached the service"
            time.sleep(0.02)
        waits = []
        while t.is_alive():
            start = time.monotonic()
            assert httpx.get(s.url + "/health", timeout=60).status_code == 200
            waits.append(time.monotonic() - start)
            time.sleep(0.05)
        t.join()
        assert result["r"].status_code == 200, result["r"].text
        assert result["r"].json()["results"][0]["judge_calls"] == 160 * 159
        assert len(waits) >= 3 and max(waits) < 1.0, waits
        # The default bound: a group of 400 is refused before any work (413 naming the setting).
        r = httpx.post(s.url + "/score", json={"groups": [_group(400, reference=None)]}, timeout=30)
        assert r.status_code == 413 and "max_group_size=256" in r.json()["detail"]


def test_a_port_in_use_is_one_line_and_exit_code_2(capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        rc = server.main([f"port={port}", "log_level=warning"])
    err = capsys.readouterr().err
    assert rc == 2
    assert err == f"error: port {port} on 127.0.0.1 is in use (another server listens there): stop it, or pick " \
                  "another with port=N (port=0: any free port)\n"


@pytest.mark.parametrize("key", ["max_group_size", "max_comparisons_per_request", "header_timeout_s", "body_timeout_s",
                                 "max_connections"])
def test_limits_must_be_positive(key):
    from genrm.config import RecipeError, from_dict

    with pytest.raises(RecipeError, match=f"{key}=0(\\.0)?: must be > 0"):
        from_dict(server.ServeConfig, {key: 0})
