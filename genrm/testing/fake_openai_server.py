"""A real OpenAI-compatible HTTP server on 127.0.0.1, for tests and offline demos.

It answers `POST /v1/chat/completions` (and `/v1/completions` when backed by a model)
over real HTTP, so clients are exercised end to end, with no patched client. Replies
come from a script (strings, or callables of the request body), or from a local model
through `HFBackend`. Faults can be queued to test a client's error handling: each
request first takes the next queued fault, if any:

- an int: that HTTP status with an OpenAI-style error body (429 carries Retry-After: 0);
- "hang": sleep `hang_s` seconds before answering 504 (the client should time out);
- "malformed": 200 with a body that is not JSON;
- "empty": 200 with valid JSON but no choices;
- "drop": close the connection without a response.

    with FakeOpenAIServer(replies=["1. A is right.\\n" + render_verdict("A>B")]) as srv:
        srv.fail(500, "hang")
        backend = OpenAIBackend(srv.url, srv.model, timeout=0.5)

    python -m genrm.testing.fake_openai_server --port 8000 --backend embedded:smollm2-135m
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import threading
import time
from collections import Counter, deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterable, Union

from genrm.backends.base import Sampling, cut_at_stop
from genrm.backends.hf import HFBackend

Reply = Union[str, Callable[[dict], str]]
FAULTS = ("hang", "malformed", "empty", "drop")


class FakeOpenAIServer:
    def __init__(
        self,
        replies: Iterable[Reply] | None = None,
        *,
        default: Reply | None = None,
        backend: Any = None,
        model: str = "fake-judge",
        api_key: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
        hang_s: float = 5.0,
    ):
        self.model = model
        self.backend = backend
        self.default = default
        self.api_key = api_key
        self.latency = latency
        self.hang_s = hang_s
        self._replies: deque[Reply] = deque(replies or [])
        self._faults: deque[int | str] = deque()
        self._lock = threading.Lock()
        self._model_lock = threading.Lock()  # a local model serves one request at a time
        self.bodies: list[dict] = []  # every parsed request body, faulted ones included
        self.requests = 0  # POSTs to a completions endpoint
        self.in_flight = 0
        self.max_in_flight = 0
        self.statuses: Counter = Counter()  # status codes sent (0 = dropped)
        self._httpd = ThreadingHTTPServer((host, port), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    # ---------------------------------------------------------------- control

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def script(self, *replies: Reply) -> None:
        """Queue replies, one per completion (a request with n=3 takes three)."""
        with self._lock:
            self._replies.extend(replies)

    def fail(self, *faults: int | str) -> None:
        """Queue faults; each of the next requests takes one before anything else."""
        for f in faults:
            if not (isinstance(f, int) or f in FAULTS):
                raise ValueError(f"unknown fault {f!r}; use an HTTP status or one of {FAULTS}")
        with self._lock:
            self._faults.extend(faults)

    def reset_stats(self) -> None:
        with self._lock:
            self.bodies.clear()
            self.requests = self.max_in_flight = 0
            self.statuses.clear()

    def start(self) -> "FakeOpenAIServer":
        # A short poll interval: `stop()` (shutdown) waits up to one interval (0.5 s by default).
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-openai", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> "FakeOpenAIServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---------------------------------------------------------------- answering

    def _next_fault(self) -> int | str | None:
        with self._lock:
            return self._faults.popleft() if self._faults else None

    def _next_reply(self, body: dict) -> str | None:
        with self._lock:
            reply = self._replies.popleft() if self._replies else None
        if reply is None:
            reply = self.default
        if reply is None:
            return None
        return reply(body) if callable(reply) else reply

    def chat_texts(self, body: dict) -> list[str]:
        n = int(body.get("n") or 1)
        if self.backend is not None and not self._replies and self.default is None:
            with self._model_lock:
                return self.backend.generate([body["messages"]], _sampling(body, n))
        texts = []
        for _ in range(n):
            text = self._next_reply(body)
            if text is None:
                raise _HTTPError(500, "fake server: no scripted reply left")
            texts.append(cut_at_stop(text, _stops(body)))
        return texts

    def completion(self, body: dict) -> dict:
        """`/v1/completions`: generation, or echo + logprobs scoring (max_tokens=0)."""
        if self.backend is None:
            raise _HTTPError(404, "this server has no completions endpoint (scripted mode)")
        prompt = body.get("prompt")
        if not isinstance(prompt, str):
            raise _HTTPError(400, "prompt must be a string")
        if body.get("echo"):
            if int(body.get("max_tokens") or 0) != 0:
                raise _HTTPError(400, "echo is only supported with max_tokens=0")
            with self._model_lock:
                tokens, logprobs, offsets = _score_text(self.backend, prompt)
            choice = {
                "index": 0,
                "text": prompt,
                "finish_reason": "length",
                "logprobs": {"tokens": tokens, "token_logprobs": logprobs, "text_offset": offsets, "top_logprobs": None},
            }
            return _envelope("text_completion", self.model, [choice])
        with self._model_lock:
            texts = self.backend.generate([prompt], _sampling(body, int(body.get("n") or 1)))
        choices = [{"index": i, "text": t, "finish_reason": "stop", "logprobs": None} for i, t in enumerate(texts)]
        return _envelope("text_completion", self.model, choices)


class _HTTPError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def _stops(body: dict) -> list[str]:
    stop = body.get("stop") or []
    return [stop] if isinstance(stop, str) else list(stop)


def _sampling(body: dict, n: int):
    temperature = body.get("temperature")
    return Sampling(
        max_new_tokens=int(body.get("max_tokens") or body.get("max_completion_tokens") or 256),
        temperature=1.0 if temperature is None else float(temperature),  # OpenAI's default
        top_p=float(body.get("top_p") if body.get("top_p") is not None else 1.0),
        n=n,
        seed=int(body.get("seed") or 0),
        stop=_stops(body),
    )


def _score_text(backend: Any, text: str) -> tuple[list[str], list[float | None], list[int]]:
    """Per-token log-probs of `text` under the backend's model, with character offsets."""
    import torch

    # Tokenised as vLLM's /completions does: with the tokenizer's special tokens (BOS).
    enc = backend.tokenizer(text, add_special_tokens=True, return_offsets_mapping=True)
    ids, offsets = enc["input_ids"], [a for a, _ in enc["offset_mapping"]]
    with backend.eval_mode():
        inp = torch.tensor([ids], device=backend.device)
        logits = backend.model(input_ids=inp, use_cache=False).logits[0].float()
    logp = torch.log_softmax(logits, dim=-1)
    lps: list[float | None] = [None] + [float(logp[t - 1, ids[t]]) for t in range(1, len(ids))]
    tokens = [text[a:b] for a, b in enc["offset_mapping"]]
    return tokens, lps, offsets


def _envelope(kind: str, model: str, choices: list[dict]) -> dict:
    return {
        "id": f"fake-{time.time_ns()}",
        "object": kind,
        "created": int(time.time()),
        "model": model,
        "choices": choices,
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    }


def _handler_for(fake: FakeOpenAIServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
            pass

        def _send(self, status: int, payload: bytes, headers: dict | None = None) -> None:
            with fake._lock:
                fake.statuses[status] += 1
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout) before we answered

        def _error(self, status: int, message: str, headers: dict | None = None) -> None:
            kind = "rate_limit_error" if status == 429 else "server_error" if status >= 500 else "invalid_request_error"
            body = {"error": {"message": message, "type": kind, "code": status}}
            self._send(status, json.dumps(body).encode(), headers)

        def do_GET(self) -> None:
            if self.path.rstrip("/") == "/v1/models":
                data = {"object": "list", "data": [{"id": fake.model, "object": "model", "owned_by": "genrm"}]}
                self._send(200, json.dumps(data).encode())
            else:
                self._error(404, f"no route {self.path}")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if self.path.rstrip("/") not in ("/v1/chat/completions", "/v1/completions"):
                self._error(404, f"no route {self.path}")
                return
            with fake._lock:
                fake.requests += 1
                fake.in_flight += 1
                fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
            try:
                self._answer(raw)
            finally:
                with fake._lock:
                    fake.in_flight -= 1

        def _answer(self, raw: bytes) -> None:
            try:
                body = json.loads(raw or b"{}")
            except json.JSONDecodeError:
                self._error(400, "request body is not JSON")
                return
            with fake._lock:
                fake.bodies.append(body)
            if fake.latency:
                time.sleep(fake.latency)
            if fake.api_key is not None and self.headers.get("Authorization") != f"Bearer {fake.api_key}":
                self._error(401, "invalid API key")
                return
            fault = fake._next_fault()
            if isinstance(fault, int):
                self._error(fault, f"injected HTTP {fault}", {"Retry-After": "0"} if fault == 429 else None)
                return
            if fault == "hang":
                time.sleep(fake.hang_s)
                self._error(504, "injected hang")
                return
            if fault == "drop":
                with fake._lock:
                    fake.statuses[0] += 1
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if fault == "malformed":
                self._send(200, b'{"id": "x", "choices": [{"index": 0, "message": {"content": "trunc')
                return
            if fault == "empty":
                self._send(200, json.dumps(_envelope("chat.completion", fake.model, [])).encode())
                return
            try:
                if self.path.rstrip("/") == "/v1/completions":
                    payload = fake.completion(body)
                else:
                    if not isinstance(body.get("messages"), list) or not body["messages"]:
                        raise _HTTPError(400, "messages must be a non-empty list")
                    texts = fake.chat_texts(body)
                    choices = [
                        {"index": i, "message": {"role": "assistant", "content": t}, "finish_reason": "stop"}
                        for i, t in enumerate(texts)
                    ]
                    payload = _envelope("chat.completion", fake.model, choices)
            except _HTTPError as e:
                self._error(e.status, e.message)
                return
            self._send(200, json.dumps(payload).encode())

    return Handler


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="OpenAI-compatible test server on 127.0.0.1")
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--model-name", default="fake-judge", help="model id the server reports")
    ap.add_argument("--backend", default=None, help="answer from a local model, e.g. embedded:smollm2-135m")
    ap.add_argument("--reply", default=None, help="answer every request with this text instead")
    ap.add_argument("--api-key-env", default=None, help="require the key held in this environment variable")
    args = ap.parse_args(argv)
    if (args.backend is None) == (args.reply is None):
        ap.error("give exactly one of --backend or --reply")
    backend = None
    if args.backend:
        backend = HFBackend(args.backend)
    key = os.environ.get(args.api_key_env) if args.api_key_env else None
    srv = FakeOpenAIServer(default=args.reply, backend=backend, model=args.model_name, api_key=key, port=args.port)
    print(f"serving {args.model_name} at {srv.url} (Ctrl-C to stop)", flush=True)
    try:
        srv._httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        srv._httpd.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
