"""The cookie jar of one Manager: RFC 6265 parsing, storage and ``Cookie`` headers, bounded.

Time comes from the caller (``now``, epoch seconds): the core has no clock. Dates
in ``Expires`` are parsed by hand (RFC 6265 §5.1.1), since ``datetime``,
``calendar`` and ``email.utils`` import ``time``.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Iterable, MutableMapping, Optional

__all__ = ["CookieJar", "keep_cookies", "cookie_header", "parse_cookie_date"]

# RFC 6265 §4.1.1 and RFC 2616 §2.2: a cookie name is a token, a value is cookie-octets, maybe in DQUOTEs.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_COOKIE_VALUE = re.compile(r'[\x21\x23-\x2B\x2D-\x3A\x3C-\x5B\x5D-\x7E]*|"[\x21\x23-\x2B\x2D-\x3A\x3C-\x5B\x5D-\x7E]*"')
# Control octets other than HTAB: a Set-Cookie line holding one is ignored entirely (RFC 6265bis §5.6).
_CONTROL = re.compile(r"[\x00-\x08\x0A-\x1F\x7F]")
_WSP = " \t"
_MAX_AGE_DIGITS = 12  # beyond ~31,000 years the exact value does not matter (and int() stays cheap)
_FAR_FUTURE = 253402300799.0  # 9999-12-31T23:59:59Z, the latest date §5.1.1 can express


class _Cookie:
    __slots__ = ("name", "value", "domain", "path", "host_only", "secure", "expires", "created", "used", "order")

    def __init__(
        self,
        name: str,
        value: str,
        domain: str,
        path: str,
        host_only: bool,
        secure: bool,
        expires: Optional[float],
        now: float,
        order: int,
    ) -> None:
        self.name = name
        self.value = value
        self.domain = domain
        self.path = path
        self.host_only = host_only
        self.secure = secure
        self.expires = expires  # None: a session cookie, kept as long as the jar
        self.created = now
        self.used = now
        self.order = order  # creation order, for ties between equal clock readings

    def expired(self, now: float) -> bool:
        return self.expires is not None and self.expires <= now


class CookieJar:
    """The cookies one Manager received (RFC 6265), sent back on its requests.

    Bounded: a ``Set-Cookie`` line over ``max_cookie_size`` characters is
    ignored, and at most ``max_cookies`` cookies are kept (expired ones are
    evicted first, then the least recently used). A cookie whose name is not a
    token, whose value is not RFC 6265 cookie-octets, or whose line holds a
    control octet (CR, LF, NUL...) is dropped, so a server cannot inject a header.

    Domain, Path, Secure, Max-Age and Expires are honoured; HttpOnly and
    SameSite are ignored (there are no scripts and no cross-site requests).
    There is no public-suffix list: a server may set a cookie for a parent
    domain such as ``Domain=co.uk``; the jar is per Manager, so it reaches only
    hosts this Manager itself connects to.
    """

    __slots__ = ("max_cookies", "max_cookie_size", "_cookies", "_order")

    def __init__(self, max_cookies: int = 50, max_cookie_size: int = 4096) -> None:
        if max_cookies < 1 or max_cookie_size < 1:
            raise ValueError("max_cookies and max_cookie_size must be positive")
        self.max_cookies = max_cookies
        self.max_cookie_size = max_cookie_size
        self._cookies: dict[tuple[str, str, str], _Cookie] = {}  # by (name, domain, path)
        self._order = 0

    def __len__(self) -> int:
        return len(self._cookies)

    def __repr__(self) -> str:
        names = [f"{c.name} ({c.domain}{c.path})" for c in self._cookies.values()]
        return f"<CookieJar {len(names)} cookies: {', '.join(names)}>" if names else "<CookieJar empty>"

    def store(self, set_cookie: str, host: str, path: str, secure: bool, now: float) -> None:
        """Keep the cookie of one ``Set-Cookie`` value received from ``host`` for a request to ``path``.

        ``secure`` tells the response came over https/wss; ``now`` is the time in epoch seconds.
        A cookie the rules refuse is dropped silently, as browsers do.
        """
        if len(set_cookie) > self.max_cookie_size or _CONTROL.search(set_cookie):
            return
        pair, _, attributes = set_cookie.partition(";")
        name, has_value, value = pair.partition("=")
        name, value = name.strip(_WSP), value.strip(_WSP)
        if not has_value or not _TOKEN.fullmatch(name) or not _COOKIE_VALUE.fullmatch(value):
            return
        host = _canonical_host(host)
        request_path = _request_path(path)
        domain_attr = cookie_path = None
        max_age: Optional[float] = None
        expires: Optional[float] = None
        secure_only = False
        for attribute in attributes.split(";"):
            key, _, arg = attribute.partition("=")
            key, arg = key.strip(_WSP).lower(), arg.strip(_WSP)
            if key == "expires":
                expires = _or(parse_cookie_date(arg), expires)
            elif key == "max-age":
                max_age = _or(_max_age(arg, now), max_age)
            elif key == "domain" and arg:  # an empty Domain is ignored (RFC 6265 §5.2.3)
                domain_attr = arg.lstrip(".").lower()
            elif key == "path":
                cookie_path = arg if arg.startswith("/") else None
            elif key == "secure":
                secure_only = True
        if secure_only and not secure:
            return  # RFC 6265bis §5.6 step 11: only a secure response may set a Secure cookie
        expiry = max_age if max_age is not None else expires
        if not domain_attr or (_is_ip(host) and domain_attr == host):
            domain, host_only = host, True
        elif _is_ip(host) or not _domain_match(host, domain_attr):
            return  # a cookie for another domain, or a Domain on an IP address: ignored
        else:
            domain, host_only = domain_attr, False
        cookie_path = cookie_path or _default_path(request_path)
        identity = (name, domain, cookie_path)
        old = self._cookies.pop(identity, None)
        if expiry is not None and expiry <= now:
            return  # an expiry in the past deletes the cookie
        self._order += 1
        cookie = _Cookie(name, value, domain, cookie_path, host_only, secure_only, expiry, now, self._order)
        if old is not None:
            cookie.created, cookie.order = old.created, old.order
        self._cookies[identity] = cookie
        if len(self._cookies) > self.max_cookies:
            self._evict(now)

    def header(self, host: str, path: str, secure: bool, now: float) -> Optional[str]:
        """The ``Cookie`` header value for a request to ``host`` and ``path``, or None when no cookie applies.

        RFC 6265 §5.4 order: longer paths first, then earlier creation. ``secure``: the request
        goes over https/wss (Secure cookies are sent only then).
        """
        host = _canonical_host(host)
        request_path = _request_path(path)
        self._drop_expired(now)
        chosen = [
            c
            for c in self._cookies.values()
            if (host == c.domain if c.host_only else _domain_match(host, c.domain))
            and _path_match(request_path, c.path)
            and (secure or not c.secure)
        ]
        if not chosen:
            return None
        chosen.sort(key=lambda c: (-len(c.path), c.created, c.order))
        for cookie in chosen:
            cookie.used = now
        return "; ".join(f"{c.name}={c.value}" for c in chosen)

    def _drop_expired(self, now: float) -> None:
        for key in [k for k, c in self._cookies.items() if c.expired(now)]:
            del self._cookies[key]

    def _evict(self, now: float) -> None:
        self._drop_expired(now)
        excess = len(self._cookies) - self.max_cookies
        if excess > 0:
            oldest = sorted(self._cookies.items(), key=lambda item: (item[1].used, item[1].order))
            for key, _ in oldest[:excess]:
                del self._cookies[key]


def _or(value: Optional[float], default: Optional[float]) -> Optional[float]:
    """A later attribute that parses wins over an earlier one; one that does not parse is ignored."""
    return default if value is None else value


def _canonical_host(host: str) -> str:
    return host.strip("[]").rstrip(".").lower()


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _request_path(path: str) -> str:
    return path.split("?", 1)[0].split("#", 1)[0]


def _domain_match(host: str, domain: str) -> bool:
    """RFC 6265 §5.1.3: identical, or ``host`` is a host name ending in ``.domain``."""
    return host == domain or (host.endswith("." + domain) and not _is_ip(host))


def _default_path(request_path: str) -> str:
    """RFC 6265 §5.1.4: the request path up to, not including, its last ``/`` (``/`` at least)."""
    if not request_path.startswith("/") or request_path.count("/") == 1:
        return "/"
    return request_path[: request_path.rindex("/")]


def _path_match(request_path: str, cookie_path: str) -> bool:
    """RFC 6265 §5.1.4 path-match."""
    if request_path == cookie_path:
        return True
    return request_path.startswith(cookie_path) and (cookie_path.endswith("/") or request_path[len(cookie_path)] == "/")


def _max_age(arg: str, now: float) -> Optional[float]:
    """The expiry a Max-Age value gives (RFC 6265 §5.2.2), or None if the value is not one."""
    digits = arg[1:] if arg.startswith("-") else arg
    if not digits or not digits.isascii() or not digits.isdigit():
        return None
    digits = digits.lstrip("0")
    if arg.startswith("-") or not digits:
        return float("-inf")  # "the earliest representable date and time"
    if len(digits) > _MAX_AGE_DIGITS:
        return _FAR_FUTURE
    return min(now + int(digits), _FAR_FUTURE)


# -- RFC 6265 §5.1.1 dates ----------------------------------------------------------------------

_DATE_DELIMITER = re.compile(r"[\x09\x20-\x2F\x3B-\x40\x5B-\x60\x7B-\x7E]+")
_TIME = re.compile(r"([0-9]{1,2}):([0-9]{1,2}):([0-9]{1,2})(?:[^0-9].*)?", re.DOTALL)
_DAY = re.compile(r"([0-9]{1,2})(?:[^0-9].*)?", re.DOTALL)
_YEAR = re.compile(r"([0-9]{2,4})(?:[^0-9].*)?", re.DOTALL)
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


def parse_cookie_date(text: str) -> Optional[float]:
    """Epoch seconds of a cookie date (RFC 6265 §5.1.1), or None when it is not one.

    Tokens may come in any order; two-digit years 70-99 are 19xx, 00-69 are 20xx.
    """
    hms = day = month = year = None
    for token in _DATE_DELIMITER.split(text):
        if not token:
            continue
        if hms is None and (found := _TIME.fullmatch(token)):
            hms = (int(found[1]), int(found[2]), int(found[3]))
        elif day is None and (found := _DAY.fullmatch(token)):
            day = int(found[1])
        elif month is None and token[:3].lower() in _MONTHS:
            month = _MONTHS.index(token[:3].lower()) + 1
        elif year is None and (found := _YEAR.fullmatch(token)):
            year = int(found[1])
    if hms is None or day is None or month is None or year is None:
        return None
    if 70 <= year <= 99:
        year += 1900
    elif 0 <= year <= 69:
        year += 2000
    hour, minute, second = hms
    if year < 1601 or hour > 23 or minute > 59 or second > 59 or not 1 <= day <= _days_in_month(year, month):
        return None
    return float(_days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second)


def _days_in_month(year: int, month: int) -> int:
    if month == 2:
        return 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (eras of 400 years, March-based years)."""
    year -= month <= 2
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468


# -- the plain-dict jar the transports use today (replaced by CookieJar, then removed) ----------


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
