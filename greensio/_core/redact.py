"""Hiding credentials in text: exception messages, ``repr()`` and log records."""

from __future__ import annotations

import re
from typing import Any, Mapping

__all__ = ["SENSITIVE_HEADERS", "MASK", "redact_url", "redact_headers", "redact_mapping"]

#: Header names (lower case) whose values are credentials.
SENSITIVE_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
MASK = "***"
_SCHEME = re.compile(r"(?:[A-Za-z][A-Za-z0-9+.-]*:)?//")


def redact_url(url: str) -> str:
    """``url`` with its userinfo masked: ``***:***@`` (user and password) or ``***@``; the rest kept.

    The authority ends at the first ``/``, ``?`` or ``#`` after ``//``, as
    ``urllib.parse.urlsplit`` reads it, and its userinfo at the last ``@``.
    """
    prefix = _SCHEME.match(url)
    start = prefix.end() if prefix else 0
    end = len(url)
    for delimiter in "/?#":
        found = url.find(delimiter, start)
        if 0 <= found < end:
            end = found
    at = url.rfind("@", start, end)
    if at < 0:
        return url
    masked = f"{MASK}:{MASK}" if ":" in url[start:at] else MASK
    return f"{url[:start]}{masked}{url[at:]}"


def redact_headers(headers: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``headers`` with the values of credential headers (any case) replaced by ``***``."""
    return {name: MASK if str(name).lower() in SENSITIVE_HEADERS else value for name, value in headers.items()}


def redact_mapping(mapping: Mapping[Any, Any]) -> dict[Any, str]:
    """A copy of ``mapping`` with every value replaced by ``***`` (for ``auth`` and query dicts)."""
    return dict.fromkeys(mapping, MASK)
