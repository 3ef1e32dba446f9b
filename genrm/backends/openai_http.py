"""OpenAI-compatible HTTP backend (OpenAI, vLLM serve, SGLang, llama.cpp server, ...).

- One `AsyncOpenAI` chat-completions request per prompt (n completions in it), at most
  `concurrency` in flight per event loop (an `asyncio.Semaphore`).
- Retries are ours (the client's own are off): exponential backoff with jitter on
  timeouts, connection errors, 408, 429 (honouring Retry-After), 5xx, and on 200
  responses that are not usable (bad JSON, no choices, null content). Other 4xx are
  not retried. A request still failing is None in the output (never ""), logged as a
  warning and listed in `last_errors` (and in the call's `errors` list); with
  `strict=True` it raises `BackendError`. `loglikelihood` is retried the same way and
  raises `BackendError` when it still fails.
- On-disk cache (`cache_dir`): one JSON file per request, named by the SHA-256 of the
  full request (base_url, model, messages, max_tokens, temperature, top_p, n, seed,
  stop, extra_body). Only successful responses are stored. Sampled requests are cached
  too: the seed is in the key, so the same seed replays the same texts (as a seeded
  server would) and a new seed asks the server again.
- The API key is read from the environment variable named by `api_key_env` at
  construction; it is never logged, put in a repr, or written to the cache (the key
  is not part of the request hash). Credentials written into `base_url`
  (`https://user:key@host/v1`, `?api_key=...`) are shown as `***` wherever the URL is.
- `base_url`, `timeout`, `max_retries`, `concurrency` and the backoffs are checked at
  construction (`BackendConfigError`). A failure reads `<url>: <root cause>`: connection
  refused, DNS lookup failed, timed out, TLS error, or the HTTP status with the
  server's own message.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import json
import logging
import os
import random
import time
import weakref
from dataclasses import dataclass, field
from typing import Any, Sequence

from genrm.backends.base import BackendError, Prompt, Sampling
from genrm.backends.endpoint import BackendConfigError, check_base_url, check_number, guard_logs, redact_url, root_cause

log = logging.getLogger(__name__)

_RETRY_STATUS = {408, 429}  # plus every 5xx; any other 4xx is the request's fault, never retried


@dataclass
class RequestError:
    index: int  # prompt index in the call
    error: str  # "<url>: <root cause> (<ExceptionType>)"
    attempts: int
    exception: BaseException | None = field(default=None, repr=False, compare=False)
    retryable: bool = True  # False: retrying cannot help (a 4xx other than 408/429)


class _Unusable(Exception):
    """A 200 response without usable completions (its text reads "unusable reply: ...")."""


def _messages(prompt: Prompt) -> list[dict]:
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    return [{"role": m["role"], "content": m["content"]} for m in prompt]


def _describe(exc: BaseException, url: str = "", timeout: float | None = None) -> str:
    where = f"{url}: " if url else ""
    return f"{where}{root_cause(exc, timeout)} ({type(exc).__name__})"


class OpenAIBackend:
    name = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key_env: str = "OPENAI_API_KEY",
        concurrency: int = 8,
        timeout: float = 60.0,
        max_retries: int = 4,
        backoff: float = 0.5,
        cache_dir: str | None = None,
        extra_body: dict | None = None,
        strict: bool = False,
        backoff_max: float = 30.0,
    ):
        self.base_url = check_base_url(base_url).rstrip("/")
        if not isinstance(model, str) or not model.strip():
            raise BackendConfigError(f"model must be a non-empty string (the served model's name), got {model!r}")
        self.model = model
        self.api_key_env = api_key_env
        self.concurrency = check_number("concurrency", concurrency, integer=True, minimum=1)
        self.timeout = float(check_number("timeout", timeout, minimum=0, strict_min=True))
        self.max_retries = check_number("max_retries", max_retries, integer=True, minimum=0)
        self.backoff = float(check_number("backoff", backoff, minimum=0))
        self.backoff_max = float(check_number("backoff_max", backoff_max, minimum=0))
        self.url = redact_url(self.base_url)  # what errors, logs and reprs show
        guard_logs(self.base_url)
        self.cache_dir = cache_dir
        self.extra_body = dict(extra_body or {})
        self.strict = strict
        # Held only here and handed to the client; __repr__ and logs never show it.
        self.__api_key = os.environ.get(api_key_env) or "EMPTY"
        if api_key_env and api_key_env not in os.environ:
            log.info("%s is not set; sending a placeholder key (fine for local servers)", api_key_env)
        if cache_dir:
            os.makedirs(cache_dir, exist_ok=True)
        self._loops: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self.last_errors: list[RequestError] = []
        self.stats = {"requests": 0, "retries": 0, "cache_hits": 0, "failures": 0}

    def __repr__(self) -> str:
        return f"OpenAIBackend(base_url={self.url!r}, model={self.model!r}, api_key_env={self.api_key_env!r})"

    # ---------------------------------------------------------------- plumbing

    def _state(self) -> tuple[Any, asyncio.Semaphore]:
        """Client and semaphore of the running loop (the limit holds across concurrent calls)."""
        loop = asyncio.get_running_loop()
        state = self._loops.get(loop)
        if state is None:
            from openai import AsyncOpenAI

            client = AsyncOpenAI(base_url=self.base_url, api_key=self.__api_key, max_retries=0, timeout=self.timeout)
            state = (client, asyncio.Semaphore(self.concurrency))
            self._loops[loop] = state
        return state

    async def _close_loop_state(self) -> None:
        state = self._loops.pop(asyncio.get_running_loop(), None)
        if state is not None:
            await state[0].close()

    def _run(self, coro_fn, *args):
        """Run `coro_fn(*args)` to completion from sync code, even inside a running loop."""

        async def main():
            try:
                return await coro_fn(*args)
            finally:
                await self._close_loop_state()

        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(main())
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(asyncio.run, main()).result()

    def _request(self, prompt: Prompt, sampling: Sampling) -> dict:
        req: dict[str, Any] = {
            "model": self.model,
            "messages": _messages(prompt),
            "max_tokens": sampling.max_new_tokens,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "n": sampling.n,
            "seed": sampling.seed,
        }
        if sampling.stop:
            req["stop"] = list(sampling.stop)
        return req

    def cache_key(self, request: dict) -> str:
        blob = json.dumps(
            {"base_url": self.base_url, "request": request, "extra_body": self.extra_body},
            sort_keys=True,
            ensure_ascii=False,
        )
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()

    def _cache_path(self, key: str) -> str:
        return os.path.join(self.cache_dir or "", key[:2], key + ".json")

    def _cache_get(self, key: str, n: int) -> list[str] | None:
        if not self.cache_dir:
            return None
        try:
            with open(self._cache_path(key), encoding="utf-8") as f:
                texts = json.load(f)["texts"]
        except (OSError, ValueError, KeyError, TypeError):
            return None  # missing or unreadable: ask the server
        if isinstance(texts, list) and len(texts) == n and all(isinstance(t, str) for t in texts):
            return texts
        return None

    def _cache_put(self, key: str, request: dict, texts: list[str]) -> None:
        if not self.cache_dir:
            return
        path = self._cache_path(key)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.{random.getrandbits(32):08x}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump({"model": self.model, "request": request, "texts": texts, "created": time.time()}, f)
        os.replace(tmp, path)  # atomic: readers never see half a file

    # ---------------------------------------------------------------- retries

    def _retryable(self, exc: BaseException) -> bool:
        import openai

        if isinstance(exc, (_Unusable, openai.APIConnectionError, openai.APIResponseValidationError)):
            return True  # APITimeoutError is an APIConnectionError
        if isinstance(exc, openai.APIStatusError):
            return exc.status_code in _RETRY_STATUS or exc.status_code >= 500
        return isinstance(exc, (json.JSONDecodeError, asyncio.TimeoutError))

    def _delay(self, attempt: int, exc: BaseException) -> float:
        delay = min(self.backoff_max, self.backoff * (2**attempt)) * random.uniform(0.5, 1.0)
        response = getattr(exc, "response", None)
        retry_after = response.headers.get("retry-after") if response is not None else None
        if retry_after is not None:
            try:
                delay = min(self.backoff_max, max(0.0, float(retry_after)))
            except ValueError:
                pass
        return delay

    async def _with_retries(self, index: int, send, path: str = "/chat/completions") -> tuple[Any, RequestError | None]:
        """`await send()` with our retry policy; (value, None) or (None, error) once retries run out
        or the failure is not retryable. `send` does one request and returns its usable result."""
        attempts, last = 0, None
        for attempt in range(self.max_retries + 1):
            attempts += 1
            try:
                return await send(), None
            except Exception as exc:  # noqa: BLE001 - classified below
                last = exc
                if not self._retryable(exc) or attempt == self.max_retries:
                    break
                self.stats["retries"] += 1
                delay = self._delay(attempt, exc)
                log.debug("request %d attempt %d failed (%s); retrying in %.2fs", index, attempts,
                          _describe(exc, self.url + path, self.timeout), delay)
                await asyncio.sleep(delay)
        assert last is not None  # max_retries >= 0: the loop ran and failed
        err = RequestError(index, _describe(last, self.url + path, self.timeout), attempts, last, self._retryable(last))
        log.warning("request %d failed after %d attempt(s): %s", index, attempts, err.error)
        return None, err

    async def _complete(self, index: int, request: dict) -> tuple[list[str] | None, RequestError | None]:
        key = self.cache_key(request)
        cached = self._cache_get(key, request["n"])
        if cached is not None:
            self.stats["cache_hits"] += 1
            return cached, None
        client, sem = self._state()
        kwargs = dict(request)
        if self.extra_body:
            kwargs["extra_body"] = self.extra_body

        async def send() -> list[str]:
            async with sem:
                self.stats["requests"] += 1
                resp = await client.chat.completions.create(**kwargs)
            return self._texts(resp, request["n"])

        texts, err = await self._with_retries(index, send)
        if texts is not None:
            try:
                self._cache_put(key, request, texts)
            except OSError as exc:  # a full or read-only cache must not lose a good answer
                log.warning("could not write the response cache (%s)", _describe(exc))  # a local path, no URL
        return texts, err

    @staticmethod
    def _texts(resp: Any, n: int) -> list[str]:
        choices = getattr(resp, "choices", None)
        if not isinstance(choices, list) or len(choices) < n:
            got = len(choices) if isinstance(choices, list) else 0
            raise _Unusable(f"unusable reply: expected {n} choice(s), got {got}")
        choices = sorted(choices, key=lambda c: c.index or 0)[:n]
        texts = []
        for c in choices:
            content = getattr(getattr(c, "message", None), "content", None)
            if not isinstance(content, str):
                raise _Unusable("unusable reply: a choice has no text content")
            texts.append(content)
        return texts

    # ---------------------------------------------------------------- public API

    async def agenerate(
        self,
        prompts: Sequence[Prompt],
        sampling: Sampling | None = None,
        strict: bool | None = None,
        errors: list[RequestError] | None = None,
    ) -> list[str | None]:
        """Completions for every prompt (n each, prompt-major); None where a request failed.

        This call's failures are appended to `errors` when given. `last_errors` holds the
        latest call's too, but concurrent calls on one backend overwrite it."""
        sampling = sampling or Sampling()
        requests = [self._request(p, sampling) for p in prompts]
        results = await asyncio.gather(*(self._complete(i, r) for i, r in enumerate(requests)))
        out: list[str | None] = []
        failed = []
        for texts, err in results:
            out.extend(texts if texts is not None else [None] * sampling.n)
            if err is not None:
                failed.append(err)
        self.last_errors = failed
        if errors is not None:
            errors.extend(failed)
        self.stats["failures"] += len(failed)
        if failed and (self.strict if strict is None else strict):
            raise BackendError(f"{len(failed)} of {len(prompts)} request(s) failed; first: {failed[0].error}")
        return out

    async def aclose(self) -> None:
        """Close this event loop's HTTP client (callers that drive `agenerate` on their own
        loop call it when done; the sync methods close theirs themselves)."""
        await self._close_loop_state()

    def generate(
        self,
        prompts: Sequence[Prompt],
        sampling: Sampling | None = None,
        strict: bool | None = None,
        errors: list[RequestError] | None = None,
    ) -> list[str | None]:
        """Sync wrapper of `agenerate` (safe to call from inside a running event loop)."""
        return self._run(self.agenerate, prompts, sampling, strict, errors)

    async def aloglikelihood(self, prompt: Prompt, continuation: str) -> float:
        """Sum log-prob of `continuation` via /completions with echo + logprobs.

        Retried like generation (timeouts, 408/429/5xx, unusable replies); a request still
        failing raises `BackendError`, since a log-probability has no neutral value."""
        if not isinstance(prompt, str):
            raise NotImplementedError(
                "OpenAIBackend.loglikelihood needs the prompt as a raw string: the server's chat "
                "template is unknown here, so render the messages first"
            )
        if not continuation:
            raise BackendError("empty continuation: nothing to score")
        import openai

        client, sem = self._state()
        text = prompt + continuation

        async def send():
            async with sem:
                self.stats["requests"] += 1
                resp = await client.completions.create(
                    model=self.model, prompt=text, max_tokens=0, echo=True, logprobs=1, temperature=0.0
                )
            if not isinstance(getattr(resp, "choices", None), list) or not resp.choices:
                raise _Unusable("unusable reply: no choices")
            return resp

        resp, err = await self._with_retries(0, send, "/completions")
        if err is not None:
            self.stats["failures"] += 1
            exc = err.exception
            if isinstance(exc, openai.APIStatusError) and exc.status_code in (400, 404, 405, 422, 501):
                raise NotImplementedError(
                    f"the server at {self.url} does not offer /completions with echo+logprobs "
                    f"(HTTP {exc.status_code}); loglikelihood needs it (vLLM and llama.cpp servers have it)"
                ) from exc
            raise BackendError(f"loglikelihood request failed after {err.attempts} attempt(s): {err.error}") from exc
        lp = resp.choices[0].logprobs
        if lp is None or not lp.token_logprobs or not lp.text_offset:
            raise NotImplementedError(f"the server at {self.url} returned no echoed logprobs")
        start = len(prompt)
        picked = [v for off, v in zip(lp.text_offset, lp.token_logprobs) if off >= start]
        if not picked or any(v is None for v in picked):
            raise BackendError(
                "no scored tokens for the continuation: it merged with the end of the prompt into one "
                "token (a prompt ending in a space, say); move the space into the continuation"
            )
        return float(sum(picked))

    def loglikelihood(self, prompt: Prompt, continuation: str) -> float:
        return self._run(self.aloglikelihood, prompt, continuation)
