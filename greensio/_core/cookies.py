"""A minimal cookie jar: what sticky sessions need (name=value, deleted by Max-Age<=0)."""

from __future__ import annotations

from typing import Iterable, MutableMapping

__all__ = ["keep_cookies", "cookie_header"]


def keep_cookies(jar: MutableMapping[str, str], set_cookie_values: Iterable[str]) -> None:
    """Store the cookies of ``Set-Cookie`` header values in ``jar``."""
    for value in set_cookie_values:
        pair, *attributes = value.split(";")
        name, sep, cookie = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            continue
        expired = any(
            key.strip().lower() == "max-age" and age.strip().lstrip("-").isdigit() and int(age) <= 0
            for key, _, age in (a.partition("=") for a in attributes)
        )
        if expired:
            jar.pop(name, None)
        else:
            jar[name] = cookie.strip()


def cookie_header(jar: MutableMapping[str, str]) -> str:
    """The ``Cookie`` header value sending back every kept cookie."""
    return "; ".join(f"{name}={value}" for name, value in jar.items())
