"""Tests of one namespace's Socket.IO session (greensio._core.session), with a fake clock."""

from __future__ import annotations

import math
from typing import Any, Optional

import pytest

from greensio import _exceptions as errors
from greensio._core.session import AckSlot, Frames, Session
from greensio._exceptions import BufferFullError, DisconnectedError, ProtocolError


def cb(*args: Any) -> None:
    """A callback that must never be called by the session itself."""
    raise AssertionError(f"callback called with {args!r}")


def packet(n: int) -> Frames:
    return [f'2["ev",{n}]']


# -- ack ids ------------------------------------------------------------------


def test_fresh_session() -> None:
    s = Session("/chat")
    assert (s.nsp, s.sid, s.pid, s.offset, s.recovered, s.connected) == ("/chat", None, None, None, False, False)
    assert s.acks == {}
    assert list(s.buffer) == []
    assert s.max_buffer is None
    assert s.next_deadline() == math.inf
    assert s.expire(1e12) == []


def test_ack_ids_increase_from_zero_and_are_never_reused() -> None:
    s = Session("/")
    a = s.add_ack("a", cb, None, False, now=0.0)
    b = s.add_ack("b", cb, 5.0, True, now=0.0)
    assert (a.id, b.id) == (0, 1)
    assert s.resolve(0) is a
    assert s.resolve(1) is b
    c = s.add_ack("c", cb, None, False, now=0.0)
    assert c.id == 2
    assert s.add_ack("d", cb, None, False, now=0.0).id == 3


def test_add_ack_without_timeout() -> None:
    s = Session("/")
    slot = s.add_ack("echo", cb, None, False, now=10.0)
    assert (slot.event, slot.callback, slot.deadline, slot.error_first) == ("echo", cb, math.inf, False)
    assert (slot.sent, slot.done, slot.entry) == (False, False, None)
    assert s.acks == {0: slot}
    assert s.next_deadline() == math.inf
    assert s.expire(1e12) == []
    assert s.acks == {0: slot}


def test_add_ack_with_timeout() -> None:
    s = Session("/")
    slot = s.add_ack("echo", cb, 2.5, True, now=10.0)
    assert slot.deadline == 12.5
    assert slot.error_first is True
    assert s.next_deadline() == 12.5


def test_outcome() -> None:
    s = Session("/")
    plain = s.add_ack("a", cb, None, False, now=0.0)
    first = s.add_ack("b", cb, 1.0, True, now=0.0)
    assert plain.outcome([1, "x"]) == (1, "x")
    assert plain.outcome([]) == ()
    assert first.outcome([1, "x"]) == (None, 1, "x")
    assert first.outcome([]) == (None,)


def test_resolve() -> None:
    s = Session("/")
    slot = s.add_ack("a", cb, 3.0, True, now=0.0)
    assert s.resolve(7) is None
    assert s.resolve("0") is None
    assert s.resolve(None) is None
    assert s.resolve(0) is slot
    assert slot.done is True
    assert s.acks == {}
    assert s.resolve(0) is None  # never settled twice
    assert s.next_deadline() == math.inf
    assert s.expire(100.0) == []  # a resolved slot does not time out


# -- deadlines ------------------------------------------------------------------------


def test_next_deadline_is_the_earliest_pending() -> None:
    s = Session("/")
    a = s.add_ack("a", cb, 5.0, True, now=0.0)
    s.add_ack("b", cb, 2.0, True, now=0.0)
    s.add_ack("c", cb, None, False, now=0.0)
    s.add_ack("d", cb, 3.0, True, now=1.0)
    assert s.next_deadline() == 2.0
    assert s.resolve(1) is not None
    assert s.next_deadline() == 4.0
    s.resolve(3)
    assert s.next_deadline() == 5.0
    s.discard(a)
    assert s.next_deadline() == math.inf


def test_expire_in_deadline_order() -> None:
    s = Session("/")
    a = s.add_ack("a", cb, 5.0, True, now=0.0)
    b = s.add_ack("b", cb, 2.0, True, now=0.0)
    c = s.add_ack("c", cb, 3.0, False, now=0.0)
    d = s.add_ack("d", cb, None, True, now=0.0)
    assert s.expire(1.999) == []
    first = s.expire(2.0)  # a deadline is due at exactly its time
    assert [slot for slot, _ in first] == [b]
    later = s.expire(4.0)
    assert [slot for slot, _ in later] == [c]
    assert all(type(err) is errors.TimeoutError for _, err in first + later)
    assert str(first[0][1]) == "no ack for 'b' in time"
    assert (b.done, c.done) == (True, True)
    assert s.acks == {0: a, 3: d}
    assert s.resolve(1) is None  # an ack that arrives late is ignored
    assert s.next_deadline() == 5.0
    assert [slot for slot, _ in s.expire(10.0)] == [a]
    assert s.acks == {3: d}
    assert s.expire(1e9) == []


def test_settled_acks_with_long_timeouts_do_not_pile_up_until_their_deadline() -> None:
    s = Session("/")
    keep = s.add_ack("keep", cb, 100.0, True, now=0.0)
    for n in range(1, 1001):  # acked at once, each with a 60 s deadline still far away
        s.add_ack("fast", cb, 60.0, True, now=float(n) / 1000)
        assert s.resolve(n) is not None
    assert len(s._deadlines) <= 2 * 64 + 2  # compacted: settled slots are not kept for 60 s
    assert s.next_deadline() == 100.0
    assert s.expire(99.0) == []
    assert [slot for slot, _ in s.expire(100.0)] == [keep]
    assert s.next_deadline() == math.inf
    assert s._deadlines == []


def test_expired_slot_in_the_offline_buffer_is_never_sent() -> None:
    s = Session("/")
    s.buffer_packet(packet(0), None)
    slot = s.add_ack("ev", cb, 1.0, True, now=0.0)
    s.buffer_packet(packet(1), slot)
    s.buffer_packet(packet(2), None)
    [(expired, err)] = s.expire(1.0)
    assert expired is slot
    assert isinstance(err, errors.TimeoutError)
    assert slot.entry is None
    assert s.take_buffer() == [packet(0), packet(2)]
    assert s.acks == {}


# -- offline buffer ------------------------------------------------------------------------------


def test_buffer_keeps_order_and_marks_slots_sent() -> None:
    s = Session("/")
    a = s.add_ack("a", cb, None, False, now=0.0)
    b = s.add_ack("b", cb, 5.0, True, now=0.0)
    s.buffer_packet(packet(0), a)
    s.buffer_packet(packet(1), None)
    s.buffer_packet(['51-["bin",{"_placeholder":true,"num":0}]', b"\x01"], b)
    assert (a.sent, b.sent) == (False, False)
    assert all(slot.entry is not None for slot in (a, b))
    assert s.take_buffer() == [packet(0), packet(1), ['51-["bin",{"_placeholder":true,"num":0}]', b"\x01"]]
    assert (a.sent, b.sent) == (True, True)
    assert (a.entry, b.entry) == (None, None)
    assert list(s.buffer) == []
    assert s.take_buffer() == []
    assert s.acks == {0: a, 1: b}  # still awaiting their acks


def test_buffer_is_unbounded_by_default() -> None:
    s = Session("/")
    for i in range(1000):
        s.buffer_packet(packet(i), None)
    assert s.take_buffer() == [packet(i) for i in range(1000)]


def test_max_buffer() -> None:
    s = Session("/chat", max_buffer=2)
    s.buffer_packet(packet(0), None)
    s.buffer_packet(packet(1), None)
    slot = s.add_ack("ev", cb, 5.0, True, now=0.0)
    with pytest.raises(BufferFullError, match="/chat"):
        s.buffer_packet(packet(2), slot)
    assert slot.done is True
    assert s.acks == {}  # the refused packet's ack slot is freed
    assert s.next_deadline() == math.inf
    with pytest.raises(BufferFullError):
        s.buffer_packet(packet(3), None)
    assert s.take_buffer() == [packet(0), packet(1)]
    s.buffer_packet(packet(4), None)  # room again
    assert s.take_buffer() == [packet(4)]


def test_max_buffer_zero_refuses_everything() -> None:
    s = Session("/", max_buffer=0)
    with pytest.raises(BufferFullError):
        s.buffer_packet(packet(0), None)
    assert list(s.buffer) == []


def test_clear_buffer_without_acks() -> None:
    s = Session("/")
    s.buffer_packet(packet(0), None)
    s.buffer_packet(packet(1), None)
    assert s.clear_buffer() == []
    assert list(s.buffer) == []
    assert s.take_buffer() == []


def test_clear_buffer_returns_the_error_first_slots() -> None:
    s = Session("/")
    plain = s.add_ack("a", cb, None, False, now=0.0)
    first = s.add_ack("b", cb, 5.0, True, now=0.0)
    sent = s.add_ack("c", cb, 5.0, True, now=0.0)
    sent.sent = True  # written directly while connected
    s.buffer_packet(packet(0), plain)
    s.buffer_packet(packet(1), None)
    s.buffer_packet(packet(2), first)
    assert s.clear_buffer() == [first]
    assert list(s.buffer) == []
    assert (plain.done, first.done, sent.done) == (True, True, False)
    assert s.acks == {2: sent}
    assert s.next_deadline() == 5.0
    assert s.take_buffer() == []
    assert s.clear_buffer() == []


def test_discard_removes_a_buffered_packet() -> None:
    s = Session("/")
    a = s.add_ack("a", cb, None, False, now=0.0)
    b = s.add_ack("b", cb, None, False, now=0.0)
    s.buffer_packet(packet(0), a)
    s.buffer_packet(packet(0), b)  # same frames, other slot
    s.discard(b)
    assert s.acks == {0: a}
    assert list(s.buffer) == [(packet(0), a)]
    s.discard(b)  # twice is harmless
    assert s.take_buffer() == [packet(0)]


# -- disconnect -----------------------------------------------------------------------------------


def test_on_disconnect_settles_sent_acks_only() -> None:
    s = Session("/")
    s.on_connect({"sid": "S1"})
    sent_first = s.add_ack("a", cb, 5.0, True, now=0.0)
    sent_plain = s.add_ack("b", cb, None, False, now=0.0)
    sent_first.sent = sent_plain.sent = True  # written directly while connected
    flushed = s.add_ack("c", cb, None, True, now=0.0)  # error-first: a call() waits
    s.buffer_packet(packet(2), flushed)
    assert s.take_buffer() == [packet(2)]  # flushed after a CONNECT: now sent
    unsent_first = s.add_ack("d", cb, 7.0, True, now=0.0)
    unsent_plain = s.add_ack("e", cb, None, False, now=0.0)
    s.buffer_packet(packet(3), unsent_first)
    s.buffer_packet(packet(4), unsent_plain)

    failed = s.on_disconnect()
    assert [slot for slot, _ in failed] == [sent_first, flushed]
    assert all(type(err) is DisconnectedError for _, err in failed)
    assert str(failed[0][1]) == "socket has been disconnected"
    assert (s.connected, s.sid) == (False, None)
    assert (sent_first.done, sent_plain.done, flushed.done) == (True, True, True)
    assert (unsent_first.done, unsent_plain.done) == (False, False)
    assert s.acks == {3: unsent_first, 4: unsent_plain}
    assert s.next_deadline() == 7.0  # the failed slot's deadline is gone, the buffered one's stays
    assert s.expire(6.0) == []
    assert s.take_buffer() == [packet(3), packet(4)]  # still sent after the next connect


def test_on_disconnect_with_nothing_pending() -> None:
    s = Session("/")
    s.on_connect({"sid": "S1"})
    assert s.on_disconnect() == []
    assert s.on_disconnect() == []


# -- connect / recovery ---------------------------------------------------------------------------


def test_connect_data_without_pid_is_auth() -> None:
    s = Session("/")
    assert s.connect_data(None) is None
    auth = {"token": "t"}
    assert s.connect_data(auth) == {"token": "t"}


def test_on_connect() -> None:
    s = Session("/")
    s.on_connect({"sid": "S1"})
    assert (s.sid, s.pid, s.connected, s.recovered) == ("S1", None, True, False)


@pytest.mark.parametrize(
    "reply",
    [None, "S1", 42, [], ["sid"], {}, {"sid": None}, {"sid": 1}, {"pid": "P"}, {"sid": ["S1"]}],
)
def test_invalid_connect_reply(reply: Any) -> None:
    s = Session("/")
    with pytest.raises(ProtocolError):
        s.on_connect(reply)
    assert (s.connected, s.sid) == (False, None)


def test_recovery_round_trip() -> None:
    s = Session("/")
    s.on_connect({"sid": "S1", "pid": "P1"})
    assert (s.pid, s.recovered) == ("P1", False)  # a first connect is never "recovered"
    assert s.event_args(["ev", "a", 1, "off-1"], None) == ["a", 1]
    assert s.event_args(["ev", "b", "off-2"], None) == ["b"]
    assert s.offset == "off-2"
    s.on_disconnect()
    assert s.connect_data({"token": "t"}) == {"pid": "P1", "offset": "off-2", "token": "t"}
    assert s.connect_data(None) == {"pid": "P1", "offset": "off-2"}

    s.on_connect({"sid": "S2", "pid": "P1"})  # same pid: recovered
    assert (s.sid, s.pid, s.connected, s.recovered) == ("S2", "P1", True, True)

    s.on_disconnect()
    s.on_connect({"sid": "S3", "pid": "P2"})  # a new session: not recovered
    assert (s.sid, s.pid, s.recovered) == ("S3", "P2", False)
    # the last offset is kept, as socket.io-client keeps _lastOffset
    assert s.connect_data({"x": 1}) == {"pid": "P2", "offset": "off-2", "x": 1}

    s.on_disconnect()
    s.on_connect({"sid": "S4"})  # the server stopped recovering
    assert (s.pid, s.recovered) == (None, False)
    assert s.connect_data({"x": 1}) == {"x": 1}


@pytest.mark.parametrize("pid", [None, 1, ["P1"], {"p": 1}, True])
def test_non_string_pid_is_no_pid(pid: Any) -> None:
    s = Session("/")
    s.on_connect({"sid": "S1", "pid": "P1"})
    s.on_disconnect()
    s.on_connect({"sid": "S2", "pid": pid})
    assert (s.pid, s.recovered) == (None, False)


def test_auth_keys_win_over_recovery_keys() -> None:
    # socket.io-client: Object.assign({ pid, offset }, data)
    s = Session("/")
    s.on_connect({"sid": "S1", "pid": "P1"})
    s.event_args(["ev", "o1"], None)
    assert s.connect_data({"pid": "mine", "a": 1}) == {"pid": "mine", "offset": "o1", "a": 1}


def test_connect_data_does_not_modify_auth() -> None:
    s = Session("/")
    s.on_connect({"sid": "S1", "pid": "P1"})
    auth = {"token": "t"}
    s.connect_data(auth)
    assert auth == {"token": "t"}


# -- event arguments -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "ack_id", "args", "offset"),
    [
        (["ev", "a", "off"], None, ["a"], "off"),
        (["ev", "off"], None, [], "off"),
        (["ev", {"k": 1}, [1, 2], "off"], None, [{"k": 1}, [1, 2]], "off"),
        (["ev", "a", "off"], 4, ["a", "off"], None),  # an event with an ack id carries no offset
        (["ev", "a", 3], None, ["a", 3], None),  # the last argument is not a string
        (["ev", "a", None], None, ["a", None], None),
        (["ev"], None, [], None),
    ],
)
def test_event_args_with_pid(data: list[Any], ack_id: Optional[int], args: list[Any], offset: Optional[str]) -> None:
    s = Session("/")
    s.on_connect({"sid": "S1", "pid": "P1"})
    assert s.event_args(data, ack_id) == args
    assert s.offset == offset


@pytest.mark.parametrize(
    ("data", "ack_id", "args"),
    [
        (["ev", "a", "off"], None, ["a", "off"]),
        (["ev", "a", "off"], 4, ["a", "off"]),
        (["ev"], None, []),
        (["ev", 1, b"\x00"], None, [1, b"\x00"]),
    ],
)
def test_event_args_without_pid(data: list[Any], ack_id: Optional[int], args: list[Any]) -> None:
    s = Session("/")
    s.on_connect({"sid": "S1"})
    assert s.event_args(data, ack_id) == args
    assert s.offset is None


def test_event_args_keeps_the_last_offset() -> None:
    s = Session("/")
    s.on_connect({"sid": "S1", "pid": "P1"})
    s.event_args(["ev", "1", "o1"], None)
    s.event_args(["ev", "2"], 9)
    s.event_args(["ev", 3], None)
    assert s.offset == "o1"


# -- held events ----------------------------------------------------------------------------------


def test_take_held() -> None:
    s = Session("/")
    s.held.append(("ev", [1]))
    s.held.append(("ev", [2]))
    assert s.take_held() == [("ev", [1]), ("ev", [2])]
    assert s.take_held() == []


def test_slot_type() -> None:
    slot = Session("/").add_ack("a", cb, None, False, now=0.0)
    assert isinstance(slot, AckSlot)
