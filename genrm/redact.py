"""Credentials kept out of everything written or printed: a URL's user/password and its
secret-looking query values (`api_key=`, `token=`, ...) become `***`. A leaf module (no
genrm imports), so the recipe writer and the backends share it."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

SECRET_PARAM = re.compile(r"key|token|secret|pass|auth|sig", re.I)


def redact_url(url: str) -> str:
    """`url` with user/password and secret-looking query values replaced by `***`."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, "***" if SECRET_PARAM.search(k) else v) for k, v in pairs], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_strings(obj: Any) -> Any:
    """`obj` (dicts, lists, strings) with every URL-looking string redacted."""
    if isinstance(obj, str):
        return redact_url(obj) if "://" in obj else obj
    if isinstance(obj, dict):
        return {k: redact_strings(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(redact_strings(v) for v in obj)
    return obj
