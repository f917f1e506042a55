"""greensio run through the scenarios of tests/servers/v2/client2_scenarios.js, with the same results.

A second implementation of the same scenario list, for tests/v3/test_reference_client.py:
each function takes the server URL and returns the result dict the Node script prints for
that scenario. Written against the public API of the SPEC with ``protocol=3``, or with
the protocol detected (``run(..., protocol=None)``: the process forgets what it learnt
of the server before each scenario, so that each one detects it again).
The scenarios that socket.io 4.8 and python-socketio 5 also support (all but
connect_root, connect_namespace, auth_query, broadcast and heartbeat, which need the v3
servers' ``whoami``/query/``broadcast``) were run against those v4 servers with the
current runtime and gave exactly the expected results. Waiting is on events with
timeouts, never on sleeps, except ``upgrade``, which checks ``Socket.transport`` until
the upgrade (no event says it).
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import gevent
from gevent.event import AsyncResult

import greensio
from greensio import _registry

STEP_TIMEOUT = 8.0
FAST: dict[str, Any] = {
    "protocol": 3,
    "force_new": True,
    "reconnection_delay": 0.1,
    "reconnection_delay_max": 0.2,
    "timeout": 5.0,
}


def _bytes(value: Any) -> Any:
    return {"bytes": value.hex()} if isinstance(value, (bytes, bytearray)) else value


def _args(value: Any) -> list[Any]:
    """``call()``'s return shape back to the list of ack arguments."""
    if value is None:
        return []
    return [_bytes(v) for v in value] if isinstance(value, tuple) else [_bytes(value)]


def _id_shape(socket_id: str, engine_sid: str) -> str:
    if socket_id == engine_sid:
        return "engine"
    nsp, hash_, rest = socket_id.partition("#")
    return f"{nsp}#engine" if hash_ and rest == engine_sid else "other"


def _connect_shape(socket: greensio.Socket) -> dict[str, Any]:
    info = socket.call("whoami", timeout=STEP_TIMEOUT)
    engine_sid = info["engine_sid"]
    assert socket.id is not None
    return {
        "connected": socket.connected,
        "id_shape": _id_shape(socket.id, engine_sid),
        "server_sid": "id" if info["sid"] == socket.id else "engine" if info["sid"] == engine_sid else "other",
        "nsp": info["nsp"],
    }


def connect_root(url: str) -> dict[str, Any]:
    with greensio.connect(url, **FAST) as socket:
        return _connect_shape(socket)


def connect_namespace(url: str) -> dict[str, Any]:
    manager = greensio.Manager(url, **FAST)
    root, chat = manager.socket("/"), manager.socket("/chat")
    try:
        chat.connect(timeout=STEP_TIMEOUT)
        root.connect(timeout=STEP_TIMEOUT)
        shape = _connect_shape(chat)
        engine_sid = chat.call("whoami", timeout=STEP_TIMEOUT)["engine_sid"]
        return {**shape, "same_engine": root.id == engine_sid}
    finally:
        root.disconnect()
        chat.disconnect()


def echo_ack(url: str) -> dict[str, Any]:
    with greensio.connect(url, **FAST) as socket:
        return {"ack": _args(socket.call("echo", "a", 1, {"k": [True, None]}, timeout=STEP_TIMEOUT))}


def echo_event(url: str) -> dict[str, Any]:
    with greensio.connect(url, **FAST) as socket:
        got = AsyncResult()
        socket.once("echo", lambda *args: got.set(list(args)))
        socket.emit("echo", "b", 2)
        return {"event": [_bytes(v) for v in got.get(timeout=STEP_TIMEOUT)]}


def unicode_polling(url: str) -> dict[str, Any]:
    text = "\U0001f600 \u00e9 \U00010348\u20ac"
    with greensio.connect(url, transports=["polling"], **FAST) as socket:
        ack = _args(socket.call("echo", text, text * 20, timeout=STEP_TIMEOUT))
        return {"ack": ack, "transport": socket.transport}


def _binary(url: str, transport: str) -> dict[str, Any]:
    with greensio.connect(url, transports=[transport], **FAST) as socket:
        got = AsyncResult()
        socket.once("echo", lambda *args: got.set(list(args)))
        socket.emit("echo", b"\x00\x01\xff")
        ack = _args(socket.call("echo", b"\x00\x01\xff", "x", timeout=STEP_TIMEOUT))
        return {
            "ack": ack,
            "event": [_bytes(v) for v in got.get(timeout=STEP_TIMEOUT)],
            "transport": socket.transport,
        }


def binary_polling(url: str) -> dict[str, Any]:
    return _binary(url, "polling")


def binary_websocket(url: str) -> dict[str, Any]:
    return _binary(url, "websocket")


def server_call(url: str) -> dict[str, Any]:
    with greensio.connect(url, **FAST) as socket:
        socket.on("ask", lambda a, b: ("answer", a + b))
        return {"ack": _args(socket.call("server_call", "ask", 1, 2, timeout=STEP_TIMEOUT))}


def refused_namespace(url: str) -> dict[str, Any]:
    try:
        greensio.connect(f"{url}/private", reconnection=False, **FAST).disconnect()
    except greensio.ConnectionError as err:
        return {"error": err.args[0], "connected": False}
    return {"error": None, "connected": True}


def auth_query(url: str) -> dict[str, Any]:
    with greensio.connect(f"{url}/private", query={"token": "secret"}, **FAST) as socket:
        info = socket.call("whoami", timeout=STEP_TIMEOUT)
        return {"connected": socket.connected, "token": info["query"]["token"]}


def server_disconnect(url: str) -> dict[str, Any]:
    with greensio.connect(f"{url}/chat", **FAST) as socket:
        reason = AsyncResult()
        socket.once("disconnect", reason.set)
        socket.emit("disconnect_me")
        return {"reason": reason.get(timeout=STEP_TIMEOUT), "active_after": socket.manager.reconnecting}


def _reconnect_after_server_close(url: str, transports: list[str]) -> dict[str, Any]:
    with greensio.connect(url, transports=transports, **FAST) as socket:
        first_id = socket.id
        reason, back = AsyncResult(), AsyncResult()
        socket.once("disconnect", reason.set)
        socket.manager.once("reconnect", back.set)
        socket.emit("close_engine")
        disconnect_reason = reason.get(timeout=STEP_TIMEOUT)
        back.get(timeout=STEP_TIMEOUT)
        socket.connect(timeout=STEP_TIMEOUT)  # "/" may be joined a moment after the Engine.IO open
        return {
            "disconnect_reason": disconnect_reason,
            "reconnected": socket.connected,
            "new_id": socket.id != first_id,
            "ack_after": _args(socket.call("echo", "again", timeout=STEP_TIMEOUT)),
        }


def reconnect(url: str) -> dict[str, Any]:
    return _reconnect_after_server_close(url, ["polling"])


def reconnect_websocket(url: str) -> dict[str, Any]:
    return _reconnect_after_server_close(url, ["websocket"])


def burst(url: str) -> dict[str, Any]:
    with greensio.connect(url, **FAST) as socket:
        seen: list[tuple[int, int]] = []
        socket.on("burst", lambda i, payload: seen.append((i, len(payload))))
        socket.emit("burst", 20, 10)
        done = socket.wait_for("burst_done", timeout=STEP_TIMEOUT)
        return {"done": done, "indexes": [i for i, _ in seen], "sizes": sorted({n for _, n in seen})}


def websocket_only(url: str) -> dict[str, Any]:
    with greensio.connect(url, transports=["websocket"], **FAST) as socket:
        return {"transport": socket.transport, "ack": _args(socket.call("echo", "ws", timeout=STEP_TIMEOUT))}


def upgrade(url: str) -> dict[str, Any]:
    with greensio.connect(url, **FAST) as socket:
        with gevent.Timeout(STEP_TIMEOUT, False):
            while socket.transport != "websocket":
                gevent.sleep(0.02)
        return {"transport": socket.transport, "ack": _args(socket.call("echo", "up", timeout=STEP_TIMEOUT))}


def broadcast(url: str) -> dict[str, Any]:
    with greensio.connect(f"{url}/chat", **FAST) as sender, greensio.connect(f"{url}/chat", **FAST) as receiver:
        got = AsyncResult()
        receiver.once("news", lambda *args: got.set(list(args)))
        ack = _args(sender.call("broadcast", "news", "hello", 3, timeout=STEP_TIMEOUT))
        return {"ack": ack, "received": got.get(timeout=STEP_TIMEOUT)}


def heartbeat(url: str) -> dict[str, Any]:
    """Two PING/PONG rounds (against a server with a short pingInterval); the Manager's ``ping``
    event fires as the client's PING is written, and ``pong_lag_last`` holds the round trip."""
    with greensio.connect(url, transports=["websocket"], **FAST) as socket:
        pings: list[float] = []
        two = AsyncResult()

        def on_ping() -> None:
            pings.append(socket.manager.stats.pong_lag_last)
            if len(pings) == 3:  # the third PING follows the second PONG
                two.set(True)

        socket.manager.on("ping", on_ping)
        two.get(timeout=STEP_TIMEOUT)
        lag = socket.manager.stats.pong_lag_last
        return {"pongs": 2, "latencies_ok": 0 <= lag < 1}


SCENARIOS: dict[str, Callable[[str], dict[str, Any]]] = {
    f.__name__: f
    for f in (
        connect_root,
        connect_namespace,
        echo_ack,
        echo_event,
        unicode_polling,
        binary_polling,
        binary_websocket,
        server_call,
        refused_namespace,
        auth_query,
        server_disconnect,
        reconnect,
        reconnect_websocket,
        burst,
        websocket_only,
        upgrade,
        broadcast,
        heartbeat,
    )
}


def run(url: str, names: list[str], protocol: Optional[int] = 3) -> dict[str, Any]:
    """Each scenario's result, or ``{"error": ...}`` as the Node script reports failures.

    ``protocol``: the option every scenario uses (None: detected, from scratch each time).
    """
    results: dict[str, Any] = {}
    FAST["protocol"] = protocol
    for name in names:
        if protocol is None:
            _registry._protocols.clear()
        try:
            results[name] = SCENARIOS[name](url)
        except Exception as exc:  # noqa: BLE001 - reported as the Node script does
            results[name] = {"error": "timeout" if isinstance(exc, (greensio.TimeoutError,)) else repr(exc)}
    return results
