"""Tests of the listener registry (greensio._emitter)."""

from __future__ import annotations

from typing import Any

import pytest

from greensio._emitter import DIRECT, GREENLET, NOBODY, Emitter, listener_mode, take


def h1(*args: Any) -> None:
    pass


def h2(*args: Any) -> None:
    pass


def h3(*args: Any) -> None:
    pass


# -- on / once / off / listeners / take -----------------------------------------------------


def test_empty() -> None:
    e = Emitter()
    assert e.listeners("x") == []
    assert take(e, "x") == []
    assert e.listeners_any() == []
    assert e.listeners_any_outgoing() == []


def test_on_returns_the_handler_and_keeps_order() -> None:
    e = Emitter()
    assert e.on("msg", h1) is h1
    assert e.on("msg", h2) is h2
    assert e.on("other", h3) is h3
    assert e.listeners("msg") == [h1, h2]
    assert e.listeners("other") == [h3]
    assert take(e, "msg") == [h1, h2]
    assert take(e, "msg") == [h1, h2]  # `on` handlers stay


def test_decorator_form() -> None:
    e = Emitter()

    @e.on("connect")
    def on_connect() -> None:
        pass

    @e.once("connect")
    def once_connect() -> None:
        pass

    assert callable(on_connect) and callable(once_connect)
    assert e.listeners("connect") == [on_connect, once_connect]
    assert take(e, "connect") == [on_connect, once_connect]
    assert e.listeners("connect") == [on_connect]


def test_the_same_handler_twice_is_called_twice() -> None:
    e = Emitter()
    e.on("x", h1)
    e.on("x", h1)
    assert take(e, "x") == [h1, h1]
    e.off("x", h1)  # removes one registration
    assert e.listeners("x") == [h1]


def test_once_is_removed_on_take() -> None:
    e = Emitter()
    e.on("x", h1)
    e.once("x", h2)
    e.on("x", h3)
    assert e.listeners("x") == [h1, h2, h3]
    assert take(e, "x") == [h1, h2, h3]
    assert e.listeners("x") == [h1, h3]
    assert take(e, "x") == [h1, h3]


def test_only_once_handlers() -> None:
    e = Emitter()
    assert e.once("x", h1) is h1
    e.once("x", h2)
    assert take(e, "x") == [h1, h2]
    assert e.listeners("x") == []
    assert take(e, "x") == []


def test_take_does_not_touch_other_events() -> None:
    e = Emitter()
    e.once("a", h1)
    e.once("b", h2)
    assert take(e, "a") == [h1]
    assert e.listeners("b") == [h2]


def test_listeners_returns_a_copy() -> None:
    e = Emitter()
    e.on("x", h1)
    e.listeners("x").append(h2)
    assert e.listeners("x") == [h1]


def test_off_one_handler() -> None:
    e = Emitter()
    e.on("x", h1)
    e.once("x", h2)
    e.on("x", h3)
    e.off("x", h2)
    assert e.listeners("x") == [h1, h3]
    e.off("x", h2)  # not registered: no error
    e.off("nope", h1)
    assert e.listeners("x") == [h1, h3]
    e.off("x", h1)
    e.off("x", h3)
    assert e.listeners("x") == []
    assert take(e, "x") == []


def test_off_an_event() -> None:
    e = Emitter()
    e.on("x", h1)
    e.on("x", h2)
    e.on("y", h3)
    e.off("x")
    assert e.listeners("x") == []
    assert e.listeners("y") == [h3]
    e.off("nope")


def test_off_everything() -> None:
    e = Emitter()
    e.on("x", h1)
    e.once("y", h2)
    e.on_any(h3)
    e.on_any_outgoing(h3)
    e.off()
    assert e.listeners("x") == []
    assert e.listeners("y") == []
    # catch-all listeners have their own off_any / off_any_outgoing
    assert e.listeners_any() == [h3]
    assert e.listeners_any_outgoing() == [h3]


def test_register_again_after_off() -> None:
    e = Emitter()
    e.on("x", h1)
    e.off("x", h1)
    e.on("x", h2)
    assert take(e, "x") == [h2]


def test_non_callable_handler() -> None:
    e = Emitter()
    with pytest.raises(TypeError):
        e.on("x", "not a function")  # type: ignore[call-overload]
    with pytest.raises(TypeError):
        e.once("x", 42)  # type: ignore[call-overload]
    assert e.listeners("x") == []


def test_bound_methods_are_removed_by_equality() -> None:
    class Handler:
        def method(self) -> None:
            pass

    obj = Handler()
    e = Emitter()
    e.on("x", obj.method)
    e.off("x", obj.method)  # a new bound-method object, equal to the first
    assert e.listeners("x") == []


# -- catch-all listeners ---------------------------------------------------------------------


def test_any_incoming() -> None:
    e = Emitter()
    assert e.on_any(h1) is h1
    assert e.on_any(h2) is h2
    assert e.prepend_any(h3) is h3
    assert e.listeners_any() == [h3, h1, h2]
    e.off_any(h1)
    assert e.listeners_any() == [h3, h2]
    e.off_any(h1)  # not registered: no error
    e.off_any()
    assert e.listeners_any() == []


def test_any_outgoing() -> None:
    e = Emitter()
    assert e.on_any_outgoing(h1) is h1
    assert e.on_any_outgoing(h2) is h2
    assert e.prepend_any_outgoing(h3) is h3
    assert e.listeners_any_outgoing() == [h3, h1, h2]
    e.off_any_outgoing(h1)
    assert e.listeners_any_outgoing() == [h3, h2]
    e.off_any_outgoing(h1)
    e.off_any_outgoing()
    assert e.listeners_any_outgoing() == []


def test_incoming_and_outgoing_are_separate() -> None:
    e = Emitter()
    e.on_any(h1)
    e.on_any_outgoing(h2)
    assert e.listeners_any() == [h1]
    assert e.listeners_any_outgoing() == [h2]
    e.off_any()
    assert e.listeners_any_outgoing() == [h2]
    e.on_any(h1)
    e.off_any_outgoing()
    assert e.listeners_any() == [h1]


def test_any_listener_copies() -> None:
    e = Emitter()
    e.on_any(h1)
    e.on_any_outgoing(h1)
    e.listeners_any().append(h2)
    e.listeners_any_outgoing().append(h2)
    assert e.listeners_any() == [h1]
    assert e.listeners_any_outgoing() == [h1]


def test_any_decorator_style() -> None:
    e = Emitter()

    @e.on_any
    def everything(event: str, *args: Any) -> None:
        pass

    @e.on_any_outgoing
    def sent(event: str, *args: Any) -> None:
        pass

    assert e.listeners_any() == [everything]
    assert e.listeners_any_outgoing() == [sent]


def test_listener_mode_says_whether_an_event_needs_a_handler_greenlet() -> None:
    e = Emitter()

    def own(*args: Any) -> None:
        pass

    own.direct = True  # type: ignore[attr-defined]
    assert listener_mode(e, "news") is NOBODY
    assert listener_mode(e, 42) is NOBODY  # not an event name: nobody can listen
    e.on("news", own)
    assert listener_mode(e, "news") is DIRECT
    e.on("news", lambda *a: None)
    assert listener_mode(e, "news") is GREENLET
    e.off("news")
    assert listener_mode(e, "news") is NOBODY
