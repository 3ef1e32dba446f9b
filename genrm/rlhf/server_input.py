"""What `genrm serve` accepts from a client, and how long it waits for it.

* `read_body`: the body within `max_body_bytes` (413) and `body_timeout_s` (408: uvicorn
  has no body read timeout, so a client sending 1 byte/s would hold a request forever).
* `parse_json`: 400 for invalid JSON and for JSON nested too deeply to read.
* `score_groups_of` / `reward_samples_of`: the `/score` and `/get_reward` bodies checked
  field by field (422 naming the field) and against the per-request bounds (413 naming
  the setting), before anything joins a batch: one bad request fails alone.
* `guarded_http`: uvicorn's HTTP protocol with the head limits it lacks (a header read
  timeout, 408, and a header size limit, 431).

The parsers are plain functions: the server runs them in a worker thread (a large body
takes CPU time the event loop must not spend).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Callable

from fastapi import HTTPException, Request

from genrm.rlhf.openrlhf_protocol import ProtocolError, parse_request, sample
from genrm.rlhf.pairwise import Group

Sample = tuple[Any, str, "str | None"]  # (judge prompt, response, reference)


async def read_body(request: Request, max_bytes: int, timeout_s: float) -> bytes:
    """The request body, or 413 (over `max_bytes`) / 408 (not all there within `timeout_s`)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise HTTPException(413, f"body of {declared} bytes is over the limit of max_body_bytes={max_bytes}")

    async def chunks() -> bytes:
        parts, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_bytes:  # also without Content-Length: the limit holds while streaming
                raise HTTPException(413, f"body is over the limit of max_body_bytes={max_bytes}")
            parts.append(chunk)
        return b"".join(parts)

    try:  # a total, not a per-chunk, deadline: a byte every second would pass any per-chunk one
        return await asyncio.wait_for(chunks(), timeout_s)
    except asyncio.TimeoutError:
        raise HTTPException(408, f"the body did not arrive within body_timeout_s={timeout_s}",
                            headers={"Connection": "close"}) from None


def parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except RecursionError:  # json's C scanner refuses depth past the recursion limit
        raise HTTPException(400, "body is JSON nested too deeply to read") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise HTTPException(400, f"body is not valid JSON: {e}") from None


def _too_large(what: str, n: int, setting: str, limit: int) -> HTTPException:
    return HTTPException(413, f"{what} has {n}, over the limit of {setting}={limit} (a server setting)")


def _check_prompt(prompt: Any, where: str) -> None:
    if isinstance(prompt, str):
        return
    if not isinstance(prompt, list) or not prompt:
        raise ProtocolError(f"{where} must be a string or a non-empty list of chat messages")
    for i, m in enumerate(prompt):
        if not isinstance(m, dict) or not isinstance(m.get("content"), str):
            raise ProtocolError(f"{where}[{i}] must be a message {{'role', 'content'}} with string 'content'")
        if not isinstance(m.get("role", "user"), str):
            raise ProtocolError(f"{where}[{i}].role must be a string")


def score_groups_of(body: Any, *, max_groups: int, max_group_size: int, max_comparisons: int,
                    calls: Callable[[int], int]) -> list[Group]:
    """The groups of a `/score` body; `calls(n)`: the judge calls a group of n costs."""
    if not isinstance(body, dict) or not isinstance(body.get("groups"), list) or not body["groups"]:
        raise ProtocolError("body must be {'groups': [{'prompt', 'completions', 'reference'?}, ...]}")
    groups = body["groups"]
    if len(groups) > max_groups:
        raise _too_large("the request", len(groups), "max_groups_per_request", max_groups)
    out, total = [], 0
    for k, g in enumerate(groups):
        if not isinstance(g, dict):
            raise ProtocolError(f"groups[{k}] must be an object {{'prompt', 'completions', 'reference'?}}")
        _check_prompt(g.get("prompt"), f"groups[{k}].prompt")
        comps = g.get("completions")
        if not isinstance(comps, list) or not comps or not all(isinstance(c, str) for c in comps):
            raise ProtocolError(f"groups[{k}].completions must be a non-empty list of strings")
        if len(comps) > max_group_size:
            raise _too_large(f"groups[{k}].completions", len(comps), "max_group_size", max_group_size)
        ref = g.get("reference")
        if ref is not None and not isinstance(ref, str):
            raise ProtocolError(f"groups[{k}].reference must be a string")
        total += calls(len(comps))
        if total > max_comparisons:  # a round robin costs G(G-1): bound the work, not just the body
            raise _too_large(f"the request (up to groups[{k}]) in judge calls", total,
                             "max_comparisons_per_request", max_comparisons)
        out.append(Group(g["prompt"], comps, ref))
    return out


def reward_samples_of(body: Any, *, max_queries: int) -> tuple[list[Sample], list[str | None]]:
    """(one judge sample per query, the prompts) of a `/get_reward` body."""
    queries = body.get("query") if isinstance(body, dict) else None
    if isinstance(queries, list) and len(queries) > max_queries:  # before the per-query work
        raise _too_large("field 'query'", len(queries), "max_queries_per_request", max_queries)
    queries, prompts, labels = parse_request(body)
    return [sample(q, p, lab) for q, p, lab in zip(queries, prompts, labels)], prompts


def _raw_response(status: int, reason: str, detail: str) -> bytes:
    body = json.dumps({"detail": detail}).encode()
    return (f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
            "connection: close\r\n\r\n").encode() + body


def guarded_http(header_timeout_s: float, max_header_bytes: int) -> type:
    """uvicorn's httptools protocol, plus: a request's head (request line and headers) must
    arrive within `header_timeout_s` of its first byte (of the connection, for the first
    request) and within `max_header_bytes`, else 408/431 and the connection is closed.
    uvicorn itself waits forever for a head dribbled one byte at a time (its keep-alive
    timer only runs between requests)."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol  # only `run` needs uvicorn's internals

    class GuardedHttp(HttpToolsProtocol):
        _head_timer: asyncio.TimerHandle | None = None
        _head_bytes = 0

        def connection_made(self, transport: Any) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._await_head()

        def _await_head(self) -> None:
            if self._head_timer is None:
                self._head_bytes = 0
                self._head_timer = self.loop.call_later(header_timeout_s, self._refuse, 408, "Request Timeout",
                                                        f"request headers did not arrive within header_timeout_s={header_timeout_s}")

        def _head_done(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def on_message_begin(self) -> None:  # the first byte of a request: its head is due
            super().on_message_begin()
            self._await_head()

        def on_headers_complete(self) -> None:
            self._head_done()
            super().on_headers_complete()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self._head_timer is not None:  # still reading a head after this chunk
                self._head_bytes += len(data)
                if self._head_bytes > max_header_bytes:
                    self._refuse(431, "Request Header Fields Too Large",
                                 f"request headers are over max_header_bytes={max_header_bytes}")

        def connection_lost(self, exc: Exception | None) -> None:
            self._head_done()
            super().connection_lost(exc)

        def _refuse(self, status: int, reason: str, detail: str) -> None:
            self._head_done()
            if self.transport.is_closing():
                return
            if self.cycle is None or self.cycle.response_complete:  # never inside another response
                self.transport.write(_raw_response(status, reason, detail))
            self.transport.close()

    return GuardedHttp
