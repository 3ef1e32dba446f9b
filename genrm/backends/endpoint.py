"""An HTTP endpoint as users give it: checked, shown without credentials, and failures
described by their root cause.

- `check_base_url`: an http(s) URL with a host and a valid port, or `BackendConfigError`.
- `redact_url`: user/password and secret-looking query values (`api_key=`, `token=`, ...)
  shown as `***`; `guard_logs` masks the same strings in the HTTP stack's log records
  (httpx logs full request URLs).
- `root_cause`: "HTTP 401 Unauthorized: <the server's message>", "connection refused",
  "DNS lookup failed", "timed out after 5 s", "TLS error (...)", found along the
  exception's causes (openai wraps httpx, which wraps anyio and the socket error).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import socket
import ssl
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from genrm.config import RecipeError

from genrm.redact import SECRET_PARAM as _SECRET_PARAM
from genrm.redact import redact_url  # noqa: F401  (re-exported: callers import it from here)


class BackendConfigError(RecipeError):
    """A backend setting is invalid (one line naming the setting). A RecipeError, so every
    entry point's `cli_main` reports it as one `error:` line."""


def _url_secrets(url: str) -> set[str]:
    """The credential strings inside `url` (userinfo, secret-looking query values)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return set()
    found = set()
    if "@" in parts.netloc:
        userinfo = parts.netloc.rsplit("@", 1)[0]
        found.update(x for x in (userinfo, parts.password, parts.username if not parts.password else None) if x)
    for k, v in parse_qsl(parts.query, keep_blank_values=True):
        if v and _SECRET_PARAM.search(k):
            found.add(v)
    return {x for x in found if len(x) >= 3}


class _RedactSecrets(logging.Filter):
    """Masks credentials from base URLs in log records of the HTTP stack (httpx logs full URLs)."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            msg = record.getMessage()
            if any(x in msg for x in self.secrets):
                for x in sorted(self.secrets, key=len, reverse=True):
                    msg = msg.replace(x, "***")
                record.msg, record.args = msg, ()
        return True


_REDACTOR = _RedactSecrets()


def guard_logs(url: str) -> None:
    """Mask `url`'s credentials in every later log record of the HTTP stack and this package."""
    secrets = _url_secrets(url)
    if not secrets:
        return
    _REDACTOR.secrets |= secrets
    for name in ("httpx", "httpx2", "openai", "openai._base_client", "genrm.backends.openai_http"):
        lg = logging.getLogger(name)
        if _REDACTOR not in lg.filters:
            lg.addFilter(_REDACTOR)


def check_base_url(url: Any) -> str:
    """A usable http(s) URL, or BackendConfigError saying what is wrong with it."""
    if url is not None and not isinstance(url, str):
        raise BackendConfigError(f"base_url must be a URL string, got {type(url).__name__} {url!r}")
    if not url or not url.strip():
        raise BackendConfigError("base_url is empty; set it to the server's URL, e.g. http://127.0.0.1:8000/v1")
    shown = redact_url(url)
    if any(c.isspace() for c in url):
        raise BackendConfigError(f"base_url contains whitespace (got {shown!r})")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise BackendConfigError(f"base_url is not a valid URL ({e}; got {shown!r})") from None
    if parts.scheme not in ("http", "https"):
        raise BackendConfigError(f"base_url must start with http:// or https:// (got {shown!r}; "
                                 "e.g. http://127.0.0.1:8000/v1)")
    if not parts.hostname:
        raise BackendConfigError(f"base_url names no host (got {shown!r})")
    if port == 0:
        raise BackendConfigError(f"base_url has port 0 (got {shown!r})")
    if parts.query or parts.fragment:  # the client appends /chat/completions to the path
        raise BackendConfigError(f"base_url cannot carry a query string or fragment (got {shown!r}); "
                                 "keys go in the environment variable named by api_key_env")
    return url


def check_number(name: str, value: Any, *, integer: bool = False, minimum: float = 0.0,
                 strict_min: bool = False) -> Any:
    """`value` when it is a finite number (an int with `integer`) at or above (`strict_min`:
    above) `minimum`; otherwise BackendConfigError naming `name`."""
    kinds = (int,) if integer else (int, float)
    ok = isinstance(value, kinds) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = value > minimum if strict_min else value >= minimum
    if not ok:
        rule = f"{'an integer' if integer else 'a number'} {'>' if strict_min else '>='} {minimum:g}"
        raise BackendConfigError(f"{name} must be {rule}, got {value!r}")
    return value


def one_line(text: Any, limit: int = 300) -> str:
    """`text` on one line, cut at `limit` characters."""
    return " ".join(str(text).split())[:limit]


def server_message(exc: Any) -> str:
    """The error text a server put in its response body (OpenAI-style or plain)."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        err = body.get("error", body)
        msg = err.get("message") if isinstance(err, dict) else err
        msg = msg or body.get("detail") or body.get("message")
        if msg:
            return one_line(msg)
    response = getattr(exc, "response", None)
    try:
        return one_line(response.text) if response is not None else ""
    except Exception:  # noqa: BLE001 - a streamed or closed body
        return ""


def _chain(exc: BaseException):
    """`exc` and everything that caused it (causes, contexts, exception-group members)."""
    todo, seen = [exc], set()
    while todo:
        e = todo.pop(0)
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        todo.extend([e.__cause__, e.__context__])
        if isinstance(e, BaseExceptionGroup):
            todo.extend(e.exceptions)


_TIMEOUTS = {"TimeoutException", "ConnectTimeout", "ReadTimeout", "WriteTimeout", "PoolTimeout"}


def root_cause(exc: BaseException, timeout: float | None = None) -> str:
    """What went wrong, in words: the HTTP status and the server's message, connection
    refused, DNS failure, timeout, TLS error, or the exception's own text."""
    import openai

    if isinstance(exc, openai.APIStatusError):
        code = exc.status_code
        try:
            phrase = HTTPStatus(code).phrase
        except ValueError:
            phrase = ""
        msg = server_message(exc)
        return f"HTTP {code}{' ' + phrase if phrase else ''}{': ' + msg if msg else ''}"
    chain = list(_chain(exc))
    # httpx errors by name: the openai client ships on httpx or on its fork httpx2
    names = {type(e).__name__ for e in chain}
    if names & _TIMEOUTS or any(isinstance(e, (openai.APITimeoutError, asyncio.TimeoutError, socket.timeout))
                                for e in chain):
        return f"timed out after {timeout:g} s" if timeout else "timed out"
    for e in chain:
        if isinstance(e, ssl.SSLError):
            return f"TLS error ({one_line(getattr(e, 'reason', None) or e, 120)})"
        if isinstance(e, socket.gaierror):
            return f"DNS lookup failed ({one_line(e.strerror or e, 120)})"
        if isinstance(e, ConnectionRefusedError):
            return "connection refused (is the server running on that port?)"
        if isinstance(e, ConnectionResetError):
            return "connection reset by the server"
        if type(e).__name__ == "RemoteProtocolError":
            return f"the server broke the HTTP exchange ({one_line(e, 120)})"
    if isinstance(exc, json.JSONDecodeError):
        return f"reply is not JSON ({exc.msg})"
    for e in chain:  # the first specific text along the causes
        text = one_line(e, 200)
        if text and text != "Connection error.":
            return text
    return type(exc).__name__
