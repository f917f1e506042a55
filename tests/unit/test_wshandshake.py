"""Tests of the WebSocket opening handshake, client side (greensio._core.wshandshake)."""

from __future__ import annotations

import h11
import pytest
from websocket import _handshake as websocket_handshake

from greensio._core.http import ResponseParser
from greensio._core.wshandshake import (
    Accepted,
    ClientHandshake,
    HandshakeError,
    HandshakeRejected,
    accept_value,
    build_request,
    new_key,
)
from greensio._exceptions import ProtocolError

KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455 §1.3
ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
RESOURCE = "/socket.io/?EIO=4&transport=websocket"


def answer(*lines: str, status: str = "101 Switching Protocols", then: bytes = b"") -> bytes:
    return ("\r\n".join([f"HTTP/1.1 {status}", *lines]) + "\r\n\r\n").encode("latin-1") + then


GOOD = ("Upgrade: websocket", "Connection: Upgrade", f"Sec-WebSocket-Accept: {ACCEPT}")


# ------------------------------------------------------------------------------ keys


def test_rfc_example() -> None:
    assert accept_value(KEY) == ACCEPT


def test_new_key() -> None:
    assert new_key(b"the sample nonce") == KEY
    with pytest.raises(ValueError, match="16 random bytes"):
        new_key(b"short")


# ------------------------------------------------------------------------------ the request


def test_request_bytes() -> None:
    request = build_request(RESOURCE, "example.org:8080", KEY, {"Authorization": "Bearer t", "X-A": "b"})
    assert request == (
        b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
        b"Host: example.org:8080\r\n"
        b"Upgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\n"
        b"Authorization: Bearer t\r\n"
        b"X-A: b\r\n"
        b"\r\n"
    )
    assert b"origin" not in request.lower()


def test_request_with_extensions_and_header_pairs() -> None:
    request = build_request("/", "h", KEY, [("Cookie", "a=1"), ("X-A", "1"), ("X-A", "2")], "permessage-deflate")
    assert request == (
        b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        b"Sec-WebSocket-Extensions: permessage-deflate\r\nCookie: a=1\r\nX-A: 1\r\nX-A: 2\r\n\r\n"
    )


@pytest.mark.parametrize("name", ["Host", "host", "HOST", "hOsT"])
def test_a_user_host_header_replaces_the_default(name: str) -> None:
    request = build_request("/", "default:80", KEY, {"X-A": "1", name: "virtual.example"})
    lines = request.split(b"\r\n")
    assert lines[1] == b"Host: virtual.example"
    assert [line for line in lines if line.lower().startswith(b"host:")] == [b"Host: virtual.example"]
    assert lines[-3] == b"X-A: 1"


def test_two_user_host_headers_are_refused() -> None:
    with pytest.raises(ValueError, match="more than one Host header"):
        build_request("/", "h", KEY, [("Host", "a"), ("host", "b")])


@pytest.mark.parametrize("bad", ["\r", "\n", "\0", "x\r\nX-Injected: 1"])
def test_cr_lf_nul_in_a_value_are_refused_without_the_value(bad: str) -> None:
    with pytest.raises(ValueError) as info:
        build_request("/", "h", KEY, {"Authorization": f"Bearer s3cr3t{bad}"})
    assert "'Authorization'" in str(info.value)
    assert "s3cr3t" not in str(info.value)


@pytest.mark.parametrize("name", ["X A", "X:A", "X\r\nA", "X\0", "", "Ä"])
def test_a_name_that_is_not_a_token_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="invalid header name"):
        build_request("/", "h", KEY, {name: "v"})


def test_cr_lf_in_the_host_or_resource_are_refused() -> None:
    with pytest.raises(ValueError, match="'Host'"):
        build_request("/", "h\r\nX: 1", KEY, {})
    with pytest.raises(ValueError):
        build_request("/ HTTP/1.1\r\nX: 1", "h", KEY, {})


# ------------------------------------------------------------------------------ the answer


def test_accepted_with_the_frames_that_came_with_it() -> None:
    data = answer(*GOOD, "Set-Cookie: a=1; Path=/", "Set-Cookie: b=2, c=3", then=b"\x81\x02hi")
    found = ClientHandshake(KEY).feed(data)
    assert found == Accepted(
        headers=(
            ("upgrade", "websocket"),
            ("connection", "Upgrade"),
            ("sec-websocket-accept", ACCEPT),
            ("set-cookie", "a=1; Path=/"),
            ("set-cookie", "b=2, c=3"),
        ),
        set_cookies=["a=1; Path=/", "b=2, c=3"],
        extensions=None,
        rest=b"\x81\x02hi",
    )


def test_split_feeding_gives_the_same_answer() -> None:
    data = answer(*GOOD, "Set-Cookie: a=1", "Set-Cookie: b=2", then=b"\x81\x05hello")
    whole = ClientHandshake(KEY).feed(data)
    assert whole is not None and whole.rest == b"\x81\x05hello"
    for cut in range(1, len(data)):
        handshake = ClientHandshake(KEY)
        first = handshake.feed(data[:cut])
        if first is None:
            found = handshake.feed(data[cut:])
            assert found == whole, cut
        else:
            assert first.rest + data[cut:] == whole.rest and first.headers == whole.headers, cut
    handshake = ClientHandshake(KEY)
    results = [handshake.feed(data[i : i + 1]) for i in range(data.index(b"\x81"))]
    assert results[:-1] == [None] * (len(results) - 1)
    assert results[-1] is not None and results[-1].set_cookies == ["a=1", "b=2"] and results[-1].rest == b""


def test_case_and_token_lists_are_accepted() -> None:
    data = answer("upgrade: WebSocket", "connection: keep-alive, UPGRADE", f"sec-websocket-accept: {ACCEPT}")
    assert ClientHandshake(KEY).feed(data) is not None


def test_offered_extension_is_accepted() -> None:
    data = answer(*GOOD, "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover")
    found = ClientHandshake(KEY, extensions="permessage-deflate; client_max_window_bits").feed(data)
    assert found is not None and found.extensions == "permessage-deflate; server_no_context_takeover"


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (("Connection: Upgrade", f"Sec-WebSocket-Accept: {ACCEPT}"), "Upgrade None, not 'websocket'"),
        (("Upgrade: h2c", "Connection: Upgrade", f"Sec-WebSocket-Accept: {ACCEPT}"), "Upgrade 'h2c'"),
        (("Upgrade: websocket", "Upgrade: websocket", *GOOD[1:]), "Upgrade 'websocket, websocket'"),
        (("Upgrade: websocket", f"Sec-WebSocket-Accept: {ACCEPT}"), "Connection '', without 'upgrade'"),
        (("Upgrade: websocket", "Connection: keep-alive", f"Sec-WebSocket-Accept: {ACCEPT}"), "without 'upgrade'"),
        (("Upgrade: websocket", "Connection: upgraded", f"Sec-WebSocket-Accept: {ACCEPT}"), "without 'upgrade'"),
        (GOOD[:2], "no Sec-WebSocket-Accept"),
        ((*GOOD[:2], "Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA="), "wrong Sec-WebSocket-Accept"),
        ((*GOOD, f"Sec-WebSocket-Accept: {ACCEPT}"), "wrong Sec-WebSocket-Accept"),
        ((*GOOD, "Sec-WebSocket-Extensions: permessage-deflate"), "'permessage-deflate', which were not offered"),
        ((*GOOD, "Sec-WebSocket-Extensions: "), "which were not offered"),
    ],
)
def test_a_bad_101_is_refused(lines: tuple[str, ...], message: str) -> None:
    with pytest.raises(HandshakeError, match=message.replace("(", r"\(")) as info:
        ClientHandshake(KEY).feed(answer(*lines))
    assert not isinstance(info.value, HandshakeRejected)
    assert isinstance(info.value, ProtocolError)


def test_extension_not_among_those_offered_is_refused() -> None:
    data = answer(*GOOD, "Sec-WebSocket-Extensions: x-other")
    with pytest.raises(HandshakeError, match="not offered"):
        ClientHandshake(KEY, extensions="permessage-deflate").feed(data)


def test_redirect_is_not_followed() -> None:
    data = answer(
        "Location: https://x/y", "Set-Cookie: lb=1", "Set-Cookie: s=2", "Content-Length: 0", status="302 Found"
    )
    with pytest.raises(HandshakeRejected) as info:
        ClientHandshake(KEY).feed(data)
    error = info.value
    assert str(error) == "HTTP 302 Found (redirect to https://x/y not followed)"
    assert (error.status, error.reason, error.location, error.set_cookies) == (
        302,
        "Found",
        "https://x/y",
        ["lb=1", "s=2"],
    )


def test_redirect_message_hides_userinfo() -> None:
    data = answer("Location: http://user:pw@evil.example/p?q=1", status="307 Temporary Redirect")
    with pytest.raises(HandshakeRejected) as info:
        ClientHandshake(KEY).feed(data)
    assert str(info.value) == "HTTP 307 Temporary Redirect (redirect to http://***@evil.example/p?q=1 not followed)"
    assert info.value.location == "http://user:pw@evil.example/p?q=1"


def test_redirect_without_location() -> None:
    with pytest.raises(HandshakeRejected, match=r"^HTTP 301 Moved \(redirect to nowhere not followed\)$"):
        ClientHandshake(KEY).feed(answer(status="301 Moved"))


@pytest.mark.parametrize(("status", "message"), [("404 Not Found", "HTTP 404 Not Found"), ("400", "HTTP 400")])
def test_other_status_is_rejected(status: str, message: str) -> None:
    with pytest.raises(HandshakeRejected) as info:
        ClientHandshake(KEY).feed(answer("Location: /ignored", "Content-Length: 5", status=status, then=b"nope!"))
    assert str(info.value) == message
    assert info.value.location is None and info.value.set_cookies == []


def test_rejection_needs_only_the_head() -> None:
    handshake = ClientHandshake(KEY)
    with pytest.raises(HandshakeRejected):
        handshake.feed(answer("Content-Length: 100000000", status="403 Forbidden"))


def test_interim_responses_before_the_101_are_skipped() -> None:
    data = b"HTTP/1.1 100 Continue\r\n\r\n" + answer(*GOOD)
    assert ClientHandshake(KEY).feed(data) is not None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"HTTP/1.1 101 Switching Protocols\nUpgrade: websocket\n\n", "bare LF"),
        (b"SSH-2.0-OpenSSH_9.6\r\n", "not an HTTP/1.x response"),
        (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade : websocket\r\n\r\n", "whitespace between"),
    ],
)
def test_malformed_answer(data: bytes, message: str) -> None:
    with pytest.raises(HandshakeError, match=f"malformed WebSocket handshake response: .*{message}"):
        ClientHandshake(KEY).feed(data)


def test_head_over_64_kib_and_endless_line() -> None:
    handshake = ClientHandshake(KEY)
    assert handshake.feed(b"HTTP/1.1 101 Switching Protocols\r\nX: " + b"a" * 65000) is None
    with pytest.raises(HandshakeError, match="more than 65536 bytes"):
        handshake.feed(b"a" * 1000)
    with pytest.raises(HandshakeError, match="more than 1000 bytes"):
        ClientHandshake(KEY, max_head=1000).feed(answer(*GOOD, "X: " + "a" * 1000))


def test_more_than_100_header_lines() -> None:
    assert ClientHandshake(KEY).feed(answer(*GOOD, *["X: y"] * 97)) is not None
    with pytest.raises(HandshakeError, match="more than 100 header lines"):
        ClientHandshake(KEY).feed(answer(*GOOD, *["X: y"] * 98))
    with pytest.raises(HandshakeError, match="more than 3 header lines"):
        ClientHandshake(KEY, max_header_lines=3).feed(answer(*GOOD, "X: y"))


def test_closed_before_the_head_ends() -> None:
    handshake = ClientHandshake(KEY)
    assert handshake.feed(b"HTTP/1.1 101 Switching") is None
    with pytest.raises(HandshakeError, match="connection closed inside the response"):
        handshake.feed_eof()


# ------------------------------------------------------------------------------ oracles


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer t", "Cookie": "a=1; b=2"}, {"host": "virtual:8080", "X-Empty": ""}],
)
def test_h11_as_a_server_reads_the_request_we_build(headers: dict[str, str]) -> None:
    request = build_request(RESOURCE, "example.org:8080", KEY, headers, "permessage-deflate")
    server = h11.Connection(h11.SERVER)
    server.receive_data(request)
    event = server.next_event()
    assert isinstance(event, h11.Request)
    assert (event.method, event.target, event.http_version) == (b"GET", RESOURCE.encode(), b"1.1")
    host = headers.get("host", "example.org:8080")
    assert list(event.headers) == [
        (b"host", host.encode()),
        (b"upgrade", b"websocket"),
        (b"connection", b"Upgrade"),
        (b"sec-websocket-key", KEY.encode()),
        (b"sec-websocket-version", b"13"),
        (b"sec-websocket-extensions", b"permessage-deflate"),
        *((name.lower().encode(), value.encode()) for name, value in headers.items() if name != "host"),
    ]
    assert isinstance(server.next_event(), h11.EndOfMessage)  # no body
    assert server.next_event() is h11.PAUSED  # h11 saw the upgrade request: it waits for the 101
    assert server.trailing_data == (b"", False)


# Where websocket-client's own check of the 101 (websocket._handshake._validate) is more lenient:
# it takes Upgrade as a token list and ignores Sec-WebSocket-Extensions.
WEBSOCKET_CLIENT_MORE_LENIENT = {"Upgrade: websocket, websocket", "extensions not offered"}


@pytest.mark.parametrize(
    ("name", "lines"),
    [
        ("good", GOOD),
        ("lower case", ("upgrade: WEBSOCKET", "connection: upgrade", f"sec-websocket-accept: {ACCEPT}")),
        ("Upgrade missing", GOOD[1:]),
        ("Upgrade h2c", ("Upgrade: h2c", *GOOD[1:])),
        ("Upgrade: websocket, websocket", ("Upgrade: websocket", "Upgrade: websocket", *GOOD[1:])),
        ("Connection missing", (GOOD[0], GOOD[2])),
        ("Connection keep-alive", (GOOD[0], "Connection: keep-alive", GOOD[2])),
        ("accept missing", GOOD[:2]),
        ("accept wrong", (*GOOD[:2], "Sec-WebSocket-Accept: " + accept_value("x"))),
        ("extensions not offered", (*GOOD, "Sec-WebSocket-Extensions: permessage-deflate")),
    ],
)
def test_websocket_client_checks_the_101_like_we_do(name: str, lines: tuple[str, ...]) -> None:
    try:
        found = ClientHandshake(KEY).feed(answer(*lines))
    except HandshakeError:
        ours = False
    else:
        assert found is not None
        ours = True
    response = ResponseParser(0, head_only=True).feed(answer(*lines))  # the same head, without our checks
    assert response is not None
    headers = {field: response.get(field) for field, _ in response.headers}
    theirs, _ = websocket_handshake._validate(headers, KEY, None)
    assert ours == (name in ("good", "lower case"))
    assert theirs == (ours or name in WEBSOCKET_CLIENT_MORE_LENIENT)
