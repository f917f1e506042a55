"""The per-Manager cookie jar (greensio._core.cookies): RFC 6265 parsing, storage, Cookie headers, bounds."""

from __future__ import annotations

import datetime
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from greensio._core.cookies import CookieJar, cookie_header, keep_cookies, parse_cookie_date

NOW = 1_700_000_000.0  # 2023-11-14T22:13:20Z
HOST = "example.com"


def jar_with(*lines: str, host: str = HOST, path: str = "/socket.io/", secure: bool = False) -> CookieJar:
    jar = CookieJar()
    for line in lines:
        jar.store(line, host, path, secure, NOW)
    return jar


def sent(jar: CookieJar, host: str = HOST, path: str = "/socket.io/", secure: bool = False, now: float = NOW):
    return jar.header(host, path, secure, now)


# -- name and value ------------------------------------------------------------------------------


def test_a_cookie_is_sent_back() -> None:
    jar = jar_with("io=abc123")
    assert sent(jar) == "io=abc123"
    assert len(jar) == 1


def test_an_empty_jar_sends_no_header() -> None:
    assert sent(CookieJar()) is None


def test_whitespace_around_name_and_value_is_trimmed() -> None:
    assert sent(jar_with(" \tio = abc \t; Path=/")) == "io=abc"


@pytest.mark.parametrize("line", ["noequals", "=value", " =value", ""])
def test_a_line_without_name_or_equals_is_ignored(line: str) -> None:
    assert len(jar_with(line)) == 0


def test_an_empty_value_is_a_value() -> None:
    assert sent(jar_with("empty=")) == "empty="


def test_a_quoted_value_is_kept_with_its_quotes() -> None:
    assert sent(jar_with('q="a=b/c"')) == 'q="a=b/c"'


@pytest.mark.parametrize(
    "value",
    ["AWSALB=abc+/=", "s%3Aabc.def", "a!#$%&'()*+-./:<=>?@[]^_`{|}~z", "Zm9vYmFy=="],
)
def test_cookie_octets_are_accepted(value: str) -> None:
    assert sent(jar_with(f"n={value}")) == f"n={value}"


@pytest.mark.parametrize("value", ["a b", "a,b", "a\\b", 'a"b', '"ab', 'ab"', "caf\u00e9", "\u2603"])
def test_a_value_that_is_not_cookie_octets_drops_the_cookie(value: str) -> None:
    assert len(jar_with(f"n={value}")) == 0


@pytest.mark.parametrize("name", ["a b", "a(b", "a,b", "a/b", "a@b", "a:b", 'a"b', "a]b", "caf\u00e9"])
def test_a_name_that_is_not_a_token_drops_the_cookie(name: str) -> None:
    assert len(jar_with(f"{name}=v")) == 0


@pytest.mark.parametrize("octet", [0x00, 0x01, 0x08, 0x0A, 0x0D, 0x1F, 0x7F])
@pytest.mark.parametrize("where", ["name", "value", "attribute"])
def test_a_control_octet_anywhere_drops_the_cookie(octet: int, where: str) -> None:
    c = chr(octet)
    line = {"name": f"a{c}b=v", "value": f"n=a{c}b", "attribute": f"n=v; Path=/{c}x"}[where]
    jar = jar_with("keep=1", line)
    assert sent(jar) == "keep=1"


def test_header_injection_through_set_cookie_is_impossible() -> None:
    jar = jar_with("sid=abc\r\nX-Injected: 1", "sid2=abc\nSet-Cookie: evil=1", "x=y\r\n\r\nGET / HTTP/1.1")
    assert len(jar) == 0
    assert sent(jar) is None


def test_a_tab_inside_the_value_drops_it_but_around_it_is_whitespace() -> None:
    assert sent(jar_with("a=x\ty", "b=\tv\t")) == "b=v"


# -- Domain -------------------------------------------------------------------------------------


def test_a_cookie_without_domain_is_host_only() -> None:
    jar = jar_with("h=1")
    assert sent(jar, "example.com") == "h=1"
    assert sent(jar, "www.example.com") is None
    assert sent(jar, "other.com") is None


@pytest.mark.parametrize("domain", ["example.com", ".example.com", "EXAMPLE.com", "..example.com"])
def test_a_domain_cookie_reaches_the_subdomains(domain: str) -> None:
    jar = jar_with(f"d=1; Domain={domain}")
    assert sent(jar, "example.com") == "d=1"
    assert sent(jar, "api.example.com") == "d=1"
    assert sent(jar, "a.b.EXAMPLE.COM") == "d=1"
    assert sent(jar, "badexample.com") is None
    assert sent(jar, "example.org") is None


def test_a_subdomain_may_set_a_cookie_for_its_parent() -> None:
    jar = jar_with("p=1; Domain=example.com", host="api.example.com")
    assert sent(jar, "www.example.com") == "p=1"


@pytest.mark.parametrize("domain", ["other.com", "api.example.com", "ample.com", "com.example"])
def test_a_domain_the_host_does_not_match_ignores_the_cookie(domain: str) -> None:
    assert len(jar_with(f"x=1; Domain={domain}")) == 0


def test_an_empty_domain_attribute_is_ignored() -> None:
    jar = jar_with("e=1; Domain=")
    assert sent(jar, HOST) == "e=1"
    assert sent(jar, "www.example.com") is None  # host-only


def test_the_last_domain_attribute_wins() -> None:
    jar = jar_with("x=1; Domain=other.com; Domain=example.com")
    assert sent(jar, "www.example.com") == "x=1"


def test_an_ip_host_gets_host_only_cookies() -> None:
    jar = jar_with("plain=1", "same=1; Domain=127.0.0.1", "other=1; Domain=0.0.1", host="127.0.0.1")
    assert sent(jar, "127.0.0.1") == "plain=1; same=1"
    assert sent(jar, "1.127.0.0.1") is None
    assert len(jar) == 2


def test_ipv6_hosts() -> None:
    jar = jar_with("v6=1", host="::1")
    assert sent(jar, "::1") == "v6=1"
    assert sent(jar, "[::1]") == "v6=1"
    assert sent(jar, "127.0.0.1") is None


def test_host_names_compare_without_case_or_trailing_dot() -> None:
    jar = jar_with("c=1", host="Example.COM.")
    assert sent(jar, "example.com") == "c=1"


def test_there_is_no_public_suffix_list() -> None:
    # documented: a parent domain such as co.uk is accepted; the jar is per Manager
    jar = jar_with("wide=1; Domain=co.uk", host="shop.co.uk")
    assert sent(jar, "other.co.uk") == "wide=1"


# -- Path --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_path", "default"),
    [
        ("/socket.io/", "/socket.io"),
        ("/socket.io/?EIO=4&transport=polling", "/socket.io"),
        ("/a/b/c", "/a/b"),
        ("/a", "/"),
        ("/", "/"),
        ("", "/"),
        ("relative/path", "/"),
    ],
)
def test_the_default_path(request_path: str, default: str) -> None:
    jar = jar_with("d=1", path=request_path)
    assert sent(jar, path=default) == "d=1"
    parent = default.rsplit("/", 1)[0] or "/"
    if parent != default:
        assert sent(jar, path=parent) is None


@pytest.mark.parametrize(
    ("cookie_path", "request_path", "match"),
    [
        ("/", "/anything", True),
        ("/socket.io", "/socket.io", True),
        ("/socket.io", "/socket.io/", True),
        ("/socket.io", "/socket.io/x", True),
        ("/socket.io", "/socket.iox", False),
        ("/socket.io/", "/socket.io", False),
        ("/socket.io/", "/socket.io/x", True),
        ("/a/b", "/a", False),
        ("/A", "/a", False),
    ],
)
def test_path_matching(cookie_path: str, request_path: str, match: bool) -> None:
    jar = jar_with(f"p=1; Path={cookie_path}")
    assert (sent(jar, path=request_path) == "p=1") is match


@pytest.mark.parametrize("attribute", ["Path=", "Path=relative", "Path"])
def test_a_path_not_starting_with_slash_gives_the_default_path(attribute: str) -> None:
    jar = jar_with(f"p=1; {attribute}", path="/socket.io/")
    assert sent(jar, path="/socket.io/") == "p=1"
    assert sent(jar, path="/other") is None


def test_cookies_with_the_same_name_and_other_paths_are_distinct() -> None:
    jar = jar_with("n=root; Path=/", "n=deep; Path=/socket.io")
    assert len(jar) == 2
    assert sent(jar, path="/socket.io/") == "n=deep; n=root"
    assert sent(jar, path="/") == "n=root"


def test_order_longer_paths_first_then_earlier_creation() -> None:
    jar = CookieJar()
    jar.store("a=1; Path=/", HOST, "/", False, NOW)
    jar.store("b=2; Path=/socket.io", HOST, "/", False, NOW + 1)
    jar.store("c=3; Path=/", HOST, "/", False, NOW + 2)
    jar.store("d=4; Path=/socket.io/x", HOST, "/", False, NOW + 3)
    jar.store("e=5; Path=/", HOST, "/", False, NOW)  # same clock reading as a: stored after it
    assert sent(jar, path="/socket.io/x") == "d=4; b=2; a=1; e=5; c=3"


def test_replacing_a_cookie_keeps_its_creation_time() -> None:
    jar = CookieJar()
    jar.store("first=1; Path=/", HOST, "/", False, NOW)
    jar.store("second=2; Path=/", HOST, "/", False, NOW + 1)
    jar.store("first=updated; Path=/", HOST, "/", False, NOW + 2)
    assert sent(jar, path="/", now=NOW + 3) == "first=updated; second=2"
    assert len(jar) == 2


# -- Secure ----------------------------------------------------------------------------------------


def test_a_secure_cookie_is_sent_only_over_a_secure_connection() -> None:
    jar = jar_with("s=1; Secure", "plain=2", secure=True)
    assert sent(jar, secure=True) == "s=1; plain=2"
    assert sent(jar, secure=False) == "plain=2"


def test_a_secure_cookie_from_an_insecure_response_is_ignored() -> None:
    assert len(jar_with("s=1; Secure", secure=False)) == 0


@pytest.mark.parametrize("attribute", ["secure", "SECURE", "Secure=ignored", " Secure "])
def test_secure_in_any_case_and_with_a_value(attribute: str) -> None:
    jar = jar_with(f"s=1;{attribute}", secure=True)
    assert sent(jar, secure=False) is None


def test_httponly_and_samesite_are_accepted_and_ignored() -> None:
    jar = jar_with("h=1; HttpOnly; SameSite=Strict", "l=2; SameSite=Lax; Unknown=attr")
    assert sent(jar) == "h=1; l=2"


# -- Max-Age and Expires -----------------------------------------------------------------------------------


def test_max_age_expires_the_cookie() -> None:
    jar = jar_with("m=1; Max-Age=60")
    assert sent(jar, now=NOW + 59) == "m=1"
    assert sent(jar, now=NOW + 60) is None
    assert len(jar) == 0  # expired cookies are removed


@pytest.mark.parametrize("age", ["0", "-1", "-0", "000", "-99999999999999999999"])
def test_max_age_zero_or_negative_deletes(age: str) -> None:
    jar = jar_with("m=1", f"m=gone; Max-Age={age}")
    assert len(jar) == 0


@pytest.mark.parametrize("age", ["", "abc", "1.5", "+5", " -", "1e3", "\u0661\u0662"])
def test_an_invalid_max_age_is_ignored(age: str) -> None:
    jar = jar_with(f"m=1; Max-Age={age}")
    assert sent(jar, now=NOW + 10**9) == "m=1"  # a session cookie


def test_a_huge_max_age_is_far_future() -> None:
    jar = CookieJar(max_cookie_size=10_000)
    jar.store("m=1; Max-Age=" + "9" * 5000, HOST, "/", False, NOW)  # past int()'s 4300-digit limit
    assert sent(jar, now=NOW + 10**11) == "m=1"


def test_expires_in_the_future_then_past() -> None:
    jar = jar_with("e=1; Expires=Wed, 15 Nov 2023 22:13:20 GMT")  # NOW + 1 day
    assert sent(jar, now=NOW + 86399) == "e=1"
    assert sent(jar, now=NOW + 86400) is None


def test_expires_in_the_past_deletes() -> None:
    jar = jar_with("e=1", "e=x; Expires=Thu, 01 Jan 1970 00:00:00 GMT")
    assert len(jar) == 0


@pytest.mark.parametrize(
    "attributes",
    [
        "Max-Age=60; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
        "Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=60",
        "Expires=Fri, 01 Jan 2100 00:00:00 GMT; Max-Age=60",
        "Max-Age=60; Expires=Fri, 01 Jan 2100 00:00:00 GMT",
    ],
)
def test_max_age_wins_over_expires_in_any_order(attributes: str) -> None:
    jar = jar_with(f"m=1; {attributes}")
    assert sent(jar, now=NOW + 59) == "m=1"
    assert sent(jar, now=NOW + 60) is None


def test_an_unparsable_expires_is_ignored() -> None:
    jar = jar_with("e=1; Expires=tomorrow")
    assert sent(jar, now=NOW + 10**9) == "e=1"


def test_the_last_valid_max_age_wins() -> None:
    jar = jar_with("m=1; Max-Age=10; Max-Age=100; Max-Age=bad")
    assert sent(jar, now=NOW + 50) == "m=1"
    assert sent(jar, now=NOW + 100) is None


# -- RFC 6265 §5.1.1 dates -----------------------------------------------------------------------------------

EPOCH_1994 = 784111777.0  # Sun, 06 Nov 1994 08:49:37 GMT


@pytest.mark.parametrize(
    "text",
    [
        "Sun, 06 Nov 1994 08:49:37 GMT",  # RFC 1123
        "Sunday, 06-Nov-94 08:49:37 GMT",  # RFC 850
        "Sun Nov  6 08:49:37 1994",  # asctime
        "Sun Nov 6 08:49:37 1994 GMT",
        "06 Nov 1994 08:49:37",
        "1994 Nov 6 08:49:37",  # odd orders: each token is recognised by its shape
        "08:49:37 6 November 1994",
        "Nov-06-1994 08:49:37",
        "6 nOv 94 08:49:37",
        "Sun, 06 Nov 1994 08:49:37 +0100",  # zones are not part of the grammar: ignored
        "  ,;Sun,06-NOV-1994;08:49:37;;",
        "6 Nov 1994 8:49:37",
        "06 Nov 1994 08:49:37x",  # trailing non-digits after a token are allowed
        "06th Nov 1994 08:49:37",
    ],
)
def test_date_formats(text: str) -> None:
    assert parse_cookie_date(text) == EPOCH_1994


@pytest.mark.parametrize(
    ("year", "full"),
    [("70", 1970), ("99", 1999), ("00", 2000), ("69", 2069), ("1601", 1601), ("9999", 9999), ("0069", 2069)],
)
def test_two_digit_years(year: str, full: int) -> None:
    expected = datetime.datetime(full, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    assert parse_cookie_date(f"02 Jan {year} 03:04:05") == expected.timestamp()


@pytest.mark.parametrize(
    "text",
    [
        "",
        "tomorrow",
        "Sun, 06 Nov 1994",  # no time
        "06 Nov 08:49:37",  # no year
        "Nov 1994 08:49:37",  # no day (1994 is not a day-of-month)
        "06 1994 08:49:37",  # no month
        "31 Feb 2020 00:00:00",
        "29 Feb 2023 00:00:00",
        "31 Apr 2023 00:00:00",
        "00 Jan 2000 00:00:00",
        "32 Jan 2000 00:00:00",
        "01 Jan 1600 00:00:00",
        "01 Jan 2000 24:00:00",
        "01 Jan 2000 23:60:00",
        "01 Jan 2000 23:59:60",
        "01 Jan 2000 123:00:00",
        "01 Jan 2000 1:2",
        "01 Jan 5 00:00:00",  # a one-digit year is not a year
        "001 Jan 2000 00:00:00",
        "01 Jan 12345 00:00:00",
    ],
)
def test_invalid_dates(text: str) -> None:
    assert parse_cookie_date(text) is None


def test_leap_days() -> None:
    assert parse_cookie_date("29 Feb 2000 00:00:00") == 951782400.0
    assert parse_cookie_date("29 Feb 2024 12:00:00") == 1709208000.0
    assert parse_cookie_date("29 Feb 1900 00:00:00") is None


@given(st.datetimes(min_value=datetime.datetime(1601, 1, 1), max_value=datetime.datetime(9999, 12, 31, 23, 59, 59)))
def test_dates_match_the_standard_library(moment: datetime.datetime) -> None:
    moment = moment.replace(microsecond=0, tzinfo=datetime.timezone.utc)
    text = format_datetime(moment, usegmt=True)  # RFC 1123, as servers write it
    assert parse_cookie_date(text) == moment.timestamp()


# -- bounds --------------------------------------------------------------------------------------------------


def test_a_line_longer_than_the_limit_is_ignored() -> None:
    jar = CookieJar(max_cookie_size=100)
    jar.store("a=" + "x" * 98, HOST, "/", False, NOW)
    jar.store("b=" + "x" * 99, HOST, "/", False, NOW)
    assert sent(jar) == "a=" + "x" * 98


def test_the_default_limits() -> None:
    jar = CookieJar()
    assert (jar.max_cookies, jar.max_cookie_size) == (50, 4096)
    jar.store("big=" + "v" * 4092, HOST, "/", False, NOW)
    jar.store("bigger=" + "v" * 4090, HOST, "/", False, NOW)
    assert len(jar) == 1
    for i in range(200):
        jar.store(f"c{i}=v", HOST, "/", False, NOW + i)
    assert len(jar) == 50


def test_eviction_takes_expired_cookies_first() -> None:
    jar = CookieJar(max_cookies=3)
    jar.store("old=1", HOST, "/", False, NOW)
    jar.store("short=1; Max-Age=5", HOST, "/", False, NOW + 1)
    jar.store("mid=1", HOST, "/", False, NOW + 2)
    jar.store("new=1", HOST, "/", False, NOW + 10)  # short expired at NOW + 6
    assert sent(jar, path="/", now=NOW + 10) == "old=1; mid=1; new=1"


def test_eviction_then_takes_the_least_recently_used() -> None:
    jar = CookieJar(max_cookies=3)
    for i, name in enumerate(("a", "b", "c")):
        jar.store(f"{name}=1; Path=/{name}", HOST, "/", False, NOW + i)
    assert sent(jar, path="/a", now=NOW + 5) == "a=1"  # a was used: b is now the least recently used
    jar.store("d=1; Path=/d", HOST, "/", False, NOW + 6)
    assert [sent(jar, path=f"/{n}", now=NOW + 7) for n in "abcd"] == ["a=1", None, "c=1", "d=1"]


def test_the_oldest_goes_first_when_none_was_used() -> None:
    jar = CookieJar(max_cookies=2)
    for name in ("a", "b", "c"):
        jar.store(f"{name}=1", HOST, "/", False, NOW)  # same clock reading: insertion order decides
    assert sent(jar, path="/") == "b=1; c=1"


@pytest.mark.parametrize(("count", "size"), [(0, 10), (1, 0)])
def test_limits_must_be_positive(count: int, size: int) -> None:
    with pytest.raises(ValueError):
        CookieJar(count, size)


# -- repr and the plain-dict helpers ------------------------------------------------------------------------------


def test_repr_shows_names_never_values() -> None:
    jar = jar_with("session=TOPSECRET; Path=/", "io=abc123DEF")
    text = repr(jar)
    assert "session" in text and "io" in text
    assert "TOPSECRET" not in text and "abc123DEF" not in text
    assert repr(CookieJar()) == "<CookieJar empty>"


def test_the_plain_dict_helpers_still_work() -> None:
    jar: dict[str, str] = {}
    keep_cookies(jar, ["a=1; Path=/", "b=2"])
    keep_cookies(jar, ["a=x; Max-Age=0"])
    assert cookie_header(jar) == "b=2"
