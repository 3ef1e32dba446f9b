"""`genrm serve`: a GenRM as an HTTP reward server (FastAPI on uvicorn).

    genrm serve judge.backend.model=outputs/genrm-run/final strategy.name=reference
    genrm serve recipe=recipes/serve_openai.yaml port=8000   # a GenRM behind an OpenAI-compatible URL
    python -m genrm.rlhf.server ...                                # the same

Endpoints:

* `POST /get_reward`: OpenRLHF's protocol (`genrm.rlhf.openrlhf_protocol`):
  `{"query": [...], "prompts": [...], "labels": [...]}` -> `{"rewards", "scores", "extra_logs"}`.
  Any unscored completion makes it a 503 (OpenRLHF's client retries), never a 0.
* `POST /score`: whole groups, `{"groups": [{"prompt", "completions", "reference"?}]}` ->
  `{"results": [{"scores": [float | null], "judge_calls", "failed_calls", "invalid_verdicts"}]}`.
* `GET /health`, `GET /metrics` (Prometheus: requests by endpoint and status, latency
  histograms, judge calls, failed calls, invalid verdicts, batch sizes).

Binds 127.0.0.1 unless `host` says otherwise (a port in use: one `error:` line, exit 2).
With `api_key_env=NAME` every endpoint but /health (/docs, /redoc and /openapi.json too)
needs `Authorization: Bearer <$NAME>` (401 otherwise).

Limits (`genrm.rlhf.server_input` checks the bodies):

* 400: invalid JSON, or JSON nested too deeply to read; 422: a body that is not the
  protocol, naming the field (checked per request, before it joins a batch: a bad
  request fails alone).
* 413: a body over `max_body_bytes`, more than `max_queries_per_request` queries, more
  than `max_groups_per_request` groups, a group over `max_group_size` completions, or a
  request costing more than `max_comparisons_per_request` judge calls (a round robin of
  G costs G(G-1)); the message names the setting.
* 408: a request head not in within `header_timeout_s`, a body not in within
  `body_timeout_s` (the connection is closed); 431: a head over `max_header_bytes`.
  Idle keep-alive connections close after `keep_alive_s`; beyond `max_connections`
  connections and requests at once uvicorn answers 503.
* 504: scoring longer than `request_timeout_s`.

Parsing, prompt rendering, verdict parsing and fits run in worker threads, so /health
answers while a large request is scored. Concurrent requests are batched into backend
calls (`batching.*`, see `genrm.rlhf.service`). SIGTERM stops accepting connections and
finishes the requests in flight (up to `graceful_timeout_s`).
"""

from __future__ import annotations

import asyncio
import errno
import hmac
import logging
import os
import signal
import socket
import sys
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Optional

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import JSONResponse, Response

from genrm.config import RecipeError, cli_main
from genrm.rlhf.openrlhf_protocol import ProtocolError, payload
from genrm.rlhf.server_input import guarded_http, parse_json, read_body, reward_samples_of, score_groups_of
from genrm.rlhf.service import RewardService, ServiceConfig, build_service, load_service_config

log = logging.getLogger("genrm.rlhf.server")
ENDPOINTS = ("/get_reward", "/score", "/health", "/metrics")


@dataclass
class ServeConfig(ServiceConfig):
    host: str = "127.0.0.1"
    port: int = 8000  # 0: any free port (printed on the "listening on" line)
    api_key_env: Optional[str] = None  # name of the environment variable holding the bearer token
    max_body_bytes: int = 8 * 1024 * 1024
    request_timeout_s: float = 170.0  # OpenRLHF's client gives up after 180 s
    graceful_timeout_s: int = 120
    log_level: str = "info"
    # Work per request. The defaults fit OpenRLHF and TRL runs with up to 64 samples per
    # prompt and batches of a few thousand queries, with room to spare.
    max_queries_per_request: int = 16384  # /get_reward
    max_groups_per_request: int = 16384  # /score
    max_group_size: int = 256  # completions in one /score group
    max_comparisons_per_request: int = 131072  # judge calls of one /score request (32 round robins of 64)
    # Slow clients: uvicorn times out neither a request's head nor its body by itself.
    header_timeout_s: float = 10.0
    body_timeout_s: float = 60.0
    keep_alive_s: float = 5.0
    max_header_bytes: int = 64 * 1024
    max_connections: Optional[int] = 4096  # connections plus requests at once (uvicorn's limit_concurrency)

    def validate(self) -> None:
        if self.api_key_env and not os.environ.get(self.api_key_env):
            raise RecipeError(f"api_key_env={self.api_key_env}: that environment variable is not set")
        for key in ("max_body_bytes", "request_timeout_s", "max_queries_per_request", "max_groups_per_request",
                    "max_group_size", "max_comparisons_per_request", "header_timeout_s", "body_timeout_s",
                    "keep_alive_s", "max_header_bytes", "max_connections"):
            value = getattr(self, key)
            if value is not None and value <= 0:
                raise RecipeError(f"{key}={value}: must be > 0")
        if self.strategy.name != "reference" and self.batching.group_size is None:
            raise RecipeError(f"strategy.name={self.strategy.name} compares a group, and /get_reward brings one "
                              "completion per request: set batching.group_size (OpenRLHF's --rollout.n_samples_per_prompt)")


class Metrics:
    """Prometheus metrics in their own registry (several apps can live in one process)."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        r = self.registry = CollectorRegistry()
        self.requests = Counter("genrm_requests", "HTTP requests", ["endpoint", "status"], registry=r)
        self.latency = Histogram("genrm_request_seconds", "Request latency", ["endpoint"], registry=r,
                                 buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 180))
        self.in_flight = Gauge("genrm_requests_in_flight", "Requests being served", registry=r)
        self.judge_calls = Counter("genrm_judge_calls", "Judge generations requested", registry=r)
        self.failed = Counter("genrm_judge_failures", "Judge calls whose backend request failed", registry=r)
        self.invalid = Counter("genrm_invalid_verdicts", "Judge answers without a readable verdict", registry=r)
        self.unscored = Counter("genrm_unscored_completions", "Completions left without a score", registry=r)
        self.batch_calls = Histogram("genrm_batch_judge_calls", "Judge calls per backend batch", registry=r,
                                     buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512))
        self.batch_seconds = Histogram("genrm_batch_seconds", "Backend time per batch", registry=r)

    def on_batch(self, results: list, seconds: float) -> None:
        calls = sum(res.calls for res in results)
        self.judge_calls.inc(calls)
        self.failed.inc(sum(res.failed for res in results))
        self.invalid.inc(sum(res.invalid for res in results))
        self.unscored.inc(sum(s is None for res in results for s in res.scores))
        self.batch_calls.observe(calls)
        self.batch_seconds.observe(seconds)


class _Observe:
    """ASGI middleware: count every HTTP request by endpoint and status, time it."""

    def __init__(self, app: Any, metrics: Metrics):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        endpoint = scope["path"] if scope["path"] in ENDPOINTS else "other"
        status = {"code": 500}

        async def send_status(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        start = time.perf_counter()
        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send_status)
        finally:
            self.metrics.in_flight.dec()
            self.metrics.latency.labels(endpoint).observe(time.perf_counter() - start)
            self.metrics.requests.labels(endpoint, str(status["code"])).inc()


def create_app(cfg: ServeConfig, backend: Any = None) -> Any:
    """The ASGI app; the backend is built at startup unless given (tests, benchmarks)."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    metrics = Metrics()
    state: dict[str, RewardService] = {}
    token = os.environ.get(cfg.api_key_env) if cfg.api_key_env else None

    @asynccontextmanager
    async def lifespan(app):
        state["service"] = build_service(cfg, backend, on_batch=metrics.on_batch)
        log.info("serving %r with strategy %s", state["service"].judge.backend, cfg.strategy.name)
        yield
        await state["service"].aclose()

    # The docs pages are added below, behind the token like every endpoint but /health.
    app = FastAPI(title="genrm reward server", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)

    async def auth(request: Request) -> None:
        if token is None:
            return
        given = request.headers.get("authorization", "")
        if not (given.startswith("Bearer ") and hmac.compare_digest(given[7:].encode(), token.encode())):
            raise HTTPException(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})

    async def timed(coro):
        try:
            return await asyncio.wait_for(coro, cfg.request_timeout_s)
        except asyncio.TimeoutError:
            raise HTTPException(504, f"scoring took longer than request_timeout_s={cfg.request_timeout_s}") from None

    @app.exception_handler(ProtocolError)
    async def protocol_error(request: Request, exc: ProtocolError):
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(ValueError)
    async def value_error(request: Request, exc: ValueError):  # e.g. a strategy needing a missing reference
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.get("/health")
    async def health():
        svc = state.get("service")
        return {"status": "ok" if svc else "starting", "strategy": cfg.strategy.name,
                "backend": repr(svc.judge.backend) if svc else None, "pending": svc.pending if svc else 0}

    @app.get("/metrics", dependencies=[Depends(auth)])
    async def prometheus():
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/openapi.json", include_in_schema=False, dependencies=[Depends(auth)])
    async def openapi():
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False, dependencies=[Depends(auth)])
    async def docs():
        return get_swagger_ui_html(openapi_url="/openapi.json", title=app.title)

    @app.get("/redoc", include_in_schema=False, dependencies=[Depends(auth)])
    async def redoc():
        return get_redoc_html(openapi_url="/openapi.json", title=app.title)

    async def body(request: Request) -> Any:
        raw = await read_body(request, cfg.max_body_bytes, cfg.body_timeout_s)
        return await asyncio.to_thread(parse_json, raw)  # an 8 MB body takes the loop's time otherwise

    @app.post("/get_reward", dependencies=[Depends(auth)])
    async def get_reward(request: Request):
        samples, prompts = await asyncio.to_thread(reward_samples_of, await body(request),
                                                   max_queries=cfg.max_queries_per_request)
        svc = state["service"]
        scored = await timed(asyncio.gather(*(svc.score_one(*s, key=p) for s, p in zip(samples, prompts))))
        scores = [s for s, _ in scored]
        missing = sum(s is None for s in scores)
        if missing:
            raise HTTPException(503, f"{missing} of {len(scores)} completion(s) got no verdict from the GenRM "
                                     "(failed judge calls or unreadable verdicts); see /metrics")
        return payload(scores, [r for _, r in scored])

    @app.post("/score", dependencies=[Depends(auth)])
    async def score(request: Request):
        svc = state["service"]
        groups = await asyncio.to_thread(
            score_groups_of, await body(request), max_groups=cfg.max_groups_per_request,
            max_group_size=cfg.max_group_size, max_comparisons=cfg.max_comparisons_per_request,
            calls=svc.strategy.calls)
        results = await timed(svc.score_groups(groups))
        return {"results": [{"scores": r.scores, "judge_calls": r.calls, "failed_calls": r.failed,
                             "invalid_verdicts": r.invalid, "ties": r.ties} for r in results]}

    return _Observe(app, metrics)


def _bind(host: str, port: int) -> socket.socket:
    """The listening socket; a port in use (or not ours to take) is one line, not a traceback."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        if e.errno == errno.EADDRINUSE:
            raise RecipeError(f"port {port} on {host} is in use (another server listens there): stop it, or pick "
                              "another with port=N (port=0: any free port)") from None
        raise RecipeError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    return sock


def run(cfg: ServeConfig, backend: Any = None) -> None:
    """Serve until SIGTERM/SIGINT; prints `genrm serve: listening on http://host:port` once bound."""
    import uvicorn

    logging.basicConfig(level=cfg.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    sock = _bind(cfg.host, cfg.port)
    config = uvicorn.Config(create_app(cfg, backend), log_level=cfg.log_level, access_log=False,
                            timeout_graceful_shutdown=cfg.graceful_timeout_s, lifespan="on",
                            http=guarded_http(cfg.header_timeout_s, cfg.max_header_bytes),
                            timeout_keep_alive=cfg.keep_alive_s,  # type: ignore[arg-type]  # a float works
                            limit_concurrency=cfg.max_connections)
    server = uvicorn.Server(config)
    # uvicorn re-raises the signal that stopped it once it has shut down gracefully; with a
    # no-op handler in place that ends the process normally (exit 0) instead of by the signal.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)

    async def main():
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started and not task.done():
            await asyncio.sleep(0.05)
        if server.started:
            host, port = sock.getsockname()[:2]
            print(f"genrm serve: listening on http://{host}:{port}", flush=True)
        await task

    asyncio.run(main())
    print("genrm serve: stopped", flush=True)


def main(argv: list[str] | None = None) -> int:
    def serve(args: list[str]) -> int:
        run(load_service_config(argv=args, schema=ServeConfig))
        return 0

    return cli_main(serve, argv, errors=(ValueError,))


if __name__ == "__main__":
    sys.exit(main())
