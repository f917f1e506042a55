"""A wave of readable WebSockets is read over several turns of the hub, so waiting greenlets run
in between (issue #17: a broadcast to 10,000 sockets must not hold the hub for its whole length)."""

from __future__ import annotations

import socket
import time

import gevent
from gevent import socket as gsocket

from greensio._core.wsframe import OP_TEXT
from greensio._io import websocket
from greensio._io.websocket import WebSocketTransport

SOCKETS = 200
# Seconds of handling per message: libev hands over up to 64 ready sockets per turn, which
# would be 128 ms of work in one turn without the budget.
WORK = 0.002


def _server_frame(text: str) -> bytes:
    data = text.encode()
    return bytes((0x80 | OP_TEXT, len(data))) + data  # unmasked: server to client


def test_a_wave_of_readable_sockets_is_spread_over_several_turns() -> None:
    pairs = [gsocket.socketpair() for _ in range(SOCKETS)]
    transports = [WebSocketTransport(client, 1 << 20) for client, _ in pairs]
    loop = gevent.get_hub().loop
    turns: list[float] = []
    ticks: list[float] = []

    def on_packets(packets: list[str | bytes]) -> None:
        turns.append(loop.now())
        deadline = time.perf_counter() + WORK
        while time.perf_counter() < deadline:  # a handler's CPU work, in the hub
            pass

    for transport in transports:
        assert transport.watch(on_packets, lambda reason, error: None)

    def tick() -> None:
        for _ in range(10**6):
            ticks.append(time.perf_counter())
            gevent.sleep(0)

    ticker = gevent.spawn(tick)
    try:
        gevent.sleep(0.05)
        for _, server in pairs:  # the broadcast: every socket readable at once
            server.sendall(_server_frame('42["news",1]'))
        with gevent.Timeout(10, AssertionError(f"only {len(turns)} of {SOCKETS} read")):
            while len(turns) < SOCKETS:
                gevent.sleep(0.01)
    finally:
        ticker.kill()
        for transport in transports:
            transport.close()
        for _, server in pairs:
            server.close()
    assert len(set(turns)) >= 10  # read over many turns of the loop...
    gaps = [b - a for a, b in zip(ticks, ticks[1:])]
    assert max(gaps) < websocket.TURN_BUDGET + 0.04  # ... and the ticker ran between them


def test_the_budget_is_per_turn_not_per_socket() -> None:
    # a single socket is read at once whatever its size: the budget only spreads many sockets
    client, server = socket.socketpair()
    transport = WebSocketTransport(gsocket.socket(fileno=client.detach()), 1 << 20)
    got: list[object] = []
    assert transport.watch(got.extend, lambda reason, error: None)
    try:
        server.sendall(_server_frame('42["a"]') * 100)
        with gevent.Timeout(5):
            while len(got) < 100:
                gevent.sleep(0.001)
    finally:
        transport.close()
        server.close()
    assert got == ['42["a"]'] * 100
