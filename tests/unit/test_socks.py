"""The SOCKS5 client handshake (greensio._core.socks), byte for byte: RFC 1928 and RFC 1929."""

from __future__ import annotations

from typing import Optional

import pytest

from greensio import ProtocolError
from greensio._core.socks import Socks5Client, SocksError

NO_AUTH = b"\x05\x01\x00"
BOTH = b"\x05\x02\x00\x02"
OK_IPV4 = b"\x05\x00\x00\x01\x7f\x00\x00\x01\x04\x38"  # bound to 127.0.0.1:1080
OK_IPV6 = b"\x05\x00\x00\x04" + bytes(15) + b"\x01\x04\x38"
OK_NAME = b"\x05\x00\x00\x03\x09localhost\x04\x38"


def run(client: Socks5Client, replies: list[bytes], *, piece: Optional[int] = None) -> list[bytes]:
    """Drive ``client`` through ``replies`` as a server would send them; return everything the client sent.

    Each reply is fed ``needed`` bytes at a time (or ``piece`` at most), as the I/O layer reads it,
    and must be consumed exactly: a reply never holds more than the client asks for.
    """
    sent = [client.greeting()]
    for reply in replies:
        while reply:
            assert client.needed > 0, f"the client asks for nothing, {reply!r} left"
            size = min(client.needed, piece or client.needed)
            answer = client.feed(reply[:size])
            reply = reply[size:]
            if answer:
                assert not reply, "the client answered before its reply was complete"
                sent.append(answer)
    return sent


# -- greetings and byte-exact exchanges ---------------------------------------------------


def test_greeting_without_credentials_offers_no_authentication_only() -> None:
    assert Socks5Client("127.0.0.1", 80, remote_dns=False).greeting() == NO_AUTH


def test_greeting_with_credentials_offers_both_methods() -> None:
    client = Socks5Client("127.0.0.1", 80, username="u", password="p", remote_dns=False)
    assert client.greeting() == BOTH


def test_socks5_ipv4_without_credentials() -> None:
    client = Socks5Client("10.1.2.3", 3000, remote_dns=False)
    sent = run(client, [b"\x05\x00", OK_IPV4])
    assert sent == [NO_AUTH, b"\x05\x01\x00\x01\x0a\x01\x02\x03\x0b\xb8"]
    assert client.done and client.needed == 0


def test_socks5_ipv6_without_credentials() -> None:
    client = Socks5Client("2001:db8::7", 443, remote_dns=False)
    sent = run(client, [b"\x05\x00", OK_IPV6])
    address = bytes.fromhex("20010db8000000000000000000000007")
    assert sent == [NO_AUTH, b"\x05\x01\x00\x04" + address + b"\x01\xbb"]
    assert client.done


def test_socks5_with_credentials() -> None:
    client = Socks5Client("127.0.0.1", 8080, username="alice", password="s3cr3t", remote_dns=False)
    sent = run(client, [b"\x05\x02", b"\x01\x00", OK_IPV4])
    assert sent == [
        BOTH,
        b"\x01\x05alice\x06s3cr3t",
        b"\x05\x01\x00\x01\x7f\x00\x00\x01\x1f\x90",
    ]
    assert client.done


def test_credentials_offered_but_the_server_needs_none() -> None:
    client = Socks5Client("127.0.0.1", 1, username="alice", password="x", remote_dns=False)
    sent = run(client, [b"\x05\x00", OK_IPV4])
    assert sent == [BOTH, b"\x05\x01\x00\x01\x7f\x00\x00\x01\x00\x01"]
    assert client.done


def test_socks5h_sends_the_name() -> None:
    client = Socks5Client("example.com", 443, remote_dns=True)
    sent = run(client, [b"\x05\x00", OK_NAME])
    assert sent == [NO_AUTH, b"\x05\x01\x00\x03\x0bexample.com\x01\xbb"]
    assert client.done


def test_socks5h_with_credentials_and_utf8() -> None:
    client = Socks5Client("localhost", 3000, username="zoë", password="", remote_dns=True)
    sent = run(client, [b"\x05\x02", b"\x01\x00", OK_IPV6])
    assert sent == [BOTH, b"\x01\x04zo\xc3\xab\x00", b"\x05\x01\x00\x03\x09localhost\x0b\xb8"]
    assert client.done


def test_socks5h_sends_an_ip_address_as_one() -> None:
    client = Socks5Client("[::1]", 80, remote_dns=True)
    sent = run(client, [b"\x05\x00", OK_IPV4])
    assert sent[1] == b"\x05\x01\x00\x04" + bytes(15) + b"\x01\x00\x50"


def test_socks5h_sends_an_internationalised_name_in_idna() -> None:
    client = Socks5Client("bücher.example", 80, remote_dns=True)
    assert run(client, [b"\x05\x00"])[1] == b"\x05\x01\x00\x03\x15xn--bcher-kva.example\x00\x50"


def test_rfc1929_reply_with_the_socks_version_is_tolerated() -> None:
    client = Socks5Client("127.0.0.1", 80, username="u", password="p", remote_dns=False)
    run(client, [b"\x05\x02", b"\x05\x00", OK_IPV4])
    assert client.done


@pytest.mark.parametrize(
    ("reply", "reads"),
    [(OK_IPV4, [4, 6]), (OK_IPV6, [4, 18]), (OK_NAME, [4, 1, 11]), (b"\x05\x00\x00\x03\x00\x00\x00", [4, 1, 2])],
)
def test_the_reply_length_comes_from_its_address_type(reply: bytes, reads: list[int]) -> None:
    client = Socks5Client("127.0.0.1", 80, remote_dns=False)
    client.greeting()
    client.feed(b"\x05\x00")
    seen = []
    while not client.done:
        seen.append(client.needed)
        client.feed(reply[: client.needed])
        reply = reply[seen[-1] :]
    assert seen == reads
    assert reply == b""  # consumed whole, nothing more asked


def test_needed_counts_down_while_a_server_trickles() -> None:
    client = Socks5Client("127.0.0.1", 80, remote_dns=False)
    client.greeting()
    assert client.needed == 2
    assert client.feed(b"\x05") == b""
    assert client.needed == 1
    assert client.feed(b"\x00") == b"\x05\x01\x00\x01\x7f\x00\x00\x01\x00\x50"
    seen = []
    for byte in OK_IPV4:
        seen.append(client.needed)
        client.feed(bytes((byte,)))
    assert seen == [4, 3, 2, 1, 6, 5, 4, 3, 2, 1]
    assert client.done and client.needed == 0


@pytest.mark.parametrize("piece", [1, 2, 3])
def test_any_split_of_the_replies_gives_the_same_exchange(piece: int) -> None:
    whole = Socks5Client("h.example", 1, username="u", password="p", remote_dns=True)
    split = Socks5Client("h.example", 1, username="u", password="p", remote_dns=True)
    replies = [b"\x05\x02", b"\x01\x00", OK_NAME]
    assert run(split, replies, piece=piece) == run(whole, replies)
    assert split.done


# -- refusals ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (1, "general SOCKS server failure"),
        (2, "connection not allowed by ruleset"),
        (3, "network unreachable"),
        (4, "host unreachable"),
        (5, "connection refused"),
        (6, "TTL expired"),
        (7, "command not supported"),
        (8, "address type not supported"),
        (9, "unknown reply code 9"),
        (255, "unknown reply code 255"),
    ],
)
def test_every_reply_code_in_words(code: int, words: str) -> None:
    client = Socks5Client("127.0.0.1", 80, remote_dns=False)
    client.greeting()
    client.feed(b"\x05\x00")
    with pytest.raises(SocksError) as caught:
        client.feed(bytes((5, code)))  # known from the first two bytes: the rest is not waited for
    assert caught.value.code == code
    assert str(caught.value) == f"{words} (SOCKS5 reply {code})"
    assert isinstance(caught.value, ProtocolError)
    assert not client.done and client.needed == 0


def test_a_full_refusal_reply_fails_as_well() -> None:
    client = Socks5Client("127.0.0.1", 80, remote_dns=False)
    client.greeting()
    client.feed(b"\x05\x00")
    with pytest.raises(SocksError, match="connection refused"):
        client.feed(b"\x05\x05\x00\x01")


def test_no_acceptable_method() -> None:
    client = Socks5Client("127.0.0.1", 80, remote_dns=False)
    client.greeting()
    with pytest.raises(SocksError, match=r"^accepts none of our authentication methods \(no authentication\)$"):
        client.feed(b"\x05\xff")


def test_no_acceptable_method_with_credentials_names_both() -> None:
    client = Socks5Client("127.0.0.1", 80, username="u", password="p", remote_dns=False)
    client.greeting()
    with pytest.raises(SocksError, match=r"none of our authentication methods \(no authentication, username/pass"):
        client.feed(b"\x05\xff")


@pytest.mark.parametrize(("offered", "method"), [(None, 0x02), ("u", 0x01), (None, 0x80)])
def test_a_method_we_did_not_offer(offered: Optional[str], method: int) -> None:
    client = Socks5Client("127.0.0.1", 80, username=offered, remote_dns=False)
    client.greeting()
    with pytest.raises(SocksError, match=f"chose authentication method {method:#04x}, which we did not offer"):
        client.feed(bytes((5, method)))


def test_wrong_credentials_never_show_the_password() -> None:
    client = Socks5Client("127.0.0.1", 80, username="alice", password="hunter2", remote_dns=False)
    client.greeting()
    client.feed(b"\x05\x02")
    with pytest.raises(SocksError) as caught:
        client.feed(b"\x01\x01")
    assert str(caught.value) == "refused the username/password"
    assert caught.value.code is None
    assert "hunter2" not in repr(client) and "hunter2" not in repr(caught.value)


# -- malformed replies ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("replies", "message"),
    [
        ([b"\x04"], "malformed method selection: version byte 0x04, expected 0x05"),
        ([b"HTTP/1.1"[:2]], "malformed method selection: version byte 0x48"),
        ([b"\x05\x00", b"\x04"], "malformed CONNECT reply: version byte 0x04, expected 0x05"),
        ([b"\x05\x00", b"\x00\x00"], "malformed CONNECT reply: version byte 0x00"),
        ([b"\x05\x00", b"\x05\x00\x00\x02"], "malformed CONNECT reply: address type 0x02"),
        ([b"\x05\x00", b"\x05\x00\x00\x00"], "malformed CONNECT reply: address type 0x00"),
        ([b"\x05\x00", b"\x05\x00\x00\xff"], "malformed CONNECT reply: address type 0xff"),
    ],
)
def test_garbage_replies_are_named(replies: list[bytes], message: str) -> None:
    client = Socks5Client("127.0.0.1", 80, remote_dns=False)
    with pytest.raises(SocksError, match=message) as caught:
        run(client, replies)
    assert caught.value.code is None
    assert not client.done


def test_garbage_username_password_reply() -> None:
    client = Socks5Client("127.0.0.1", 80, username="u", password="p", remote_dns=False)
    with pytest.raises(SocksError, match="malformed username/password reply: version byte 0x02, expected 0x01"):
        run(client, [b"\x05\x02", b"\x02\x00"])


@pytest.mark.parametrize(
    "replies",
    [[b"\x05"], [b"\x05\x00", b"\x05\x00\x00"], [b"\x05\x00", OK_IPV4[:9]], [b"\x05\x00", OK_NAME[:5]]],
)
def test_a_truncated_reply_leaves_the_client_waiting_with_a_known_count(replies: list[bytes]) -> None:
    client = Socks5Client("127.0.0.1", 80, remote_dns=False)
    run(client, replies)
    assert not client.done and client.needed > 0  # the I/O layer reports the close with waiting_for
    assert client.waiting_for in ("method selection", "CONNECT reply")


def test_after_a_failure_the_client_accepts_nothing() -> None:
    client = Socks5Client("127.0.0.1", 80, remote_dns=False)
    client.greeting()
    with pytest.raises(SocksError):
        client.feed(b"\x05\xff")
    assert client.waiting_for == "nothing (failed)"
    with pytest.raises(ValueError, match="fed 1 bytes, 0 expected at most"):
        client.feed(b"\x00")


def test_feeding_past_needed_is_a_caller_error() -> None:
    client = Socks5Client("127.0.0.1", 80, remote_dns=False)
    client.greeting()
    with pytest.raises(ValueError, match="fed 3 bytes, 2 expected at most"):
        client.feed(b"\x05\x00\x05")


def test_greeting_only_once() -> None:
    client = Socks5Client("127.0.0.1", 80, remote_dns=False)
    assert client.needed == 0 and not client.done
    client.greeting()
    with pytest.raises(ValueError):
        client.greeting()


# -- arguments ----------------------------------------------------------------------------------


def test_local_dns_needs_an_ip_address() -> None:
    with pytest.raises(ValueError, match="expected an IP address, got 'example.com'"):
        Socks5Client("example.com", 80, remote_dns=False)


def test_names_up_to_255_bytes() -> None:
    name = ".".join(["a" * 63] * 4)  # 255 bytes
    client = Socks5Client(name, 80, remote_dns=True)
    assert run(client, [b"\x05\x00"])[1] == b"\x05\x01\x00\x03\xff" + name.encode() + b"\x00\x50"
    with pytest.raises(ValueError, match="1 to 255 bytes"):
        Socks5Client(name + ".b", 80, remote_dns=True)
    with pytest.raises(ValueError):
        Socks5Client("", 80, remote_dns=True)


@pytest.mark.parametrize(("username", "password"), [("u" * 256, "p"), ("u", "p" * 256), ("", "p"), ("é" * 128, "")])
def test_credentials_up_to_255_bytes(username: str, password: str) -> None:
    with pytest.raises(ValueError) as caught:
        Socks5Client("127.0.0.1", 80, username=username, password=password, remote_dns=False)
    assert password not in str(caught.value) or not password


def test_credentials_of_255_bytes() -> None:
    client = Socks5Client("127.0.0.1", 80, username="u" * 255, password="p" * 255, remote_dns=False)
    assert run(client, [b"\x05\x02"])[1] == b"\x01\xff" + b"u" * 255 + b"\xff" + b"p" * 255


@pytest.mark.parametrize("port", [-1, 65536])
def test_port_range(port: int) -> None:
    with pytest.raises(ValueError, match="out of range"):
        Socks5Client("127.0.0.1", port, remote_dns=False)
