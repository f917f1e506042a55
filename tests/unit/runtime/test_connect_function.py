"""greensio.connect(): a connected Socket, or an error with nothing left running.

connect() builds its Manager with the default transports and clock; here those
defaults are the fakes.
"""

from __future__ import annotations

from collections.abc import Iterator

import gevent
import pytest

import greensio
from greensio import _manager

from .fakes import Rig


@pytest.fixture(autouse=True)
def fakes_by_default(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(_manager, "GeventTransports", lambda: rig.server)
    monkeypatch.setattr(_manager, "GEVENT_CLOCK", rig.clock)
    yield


def test_connect_returns_a_connected_socket(rig: Rig) -> None:
    sio = greensio.connect(Rig.URL + "/chat", auth={"k": "v"}, force_new=True)
    rig.managers.append(sio.manager)
    assert sio.connected and sio.namespace == "/chat"
    assert rig.server.connects("/chat") == [{"k": "v"}]


def test_connect_fails_at_the_first_failed_attempt_and_leaves_nothing_running(rig: Rig) -> None:
    rig.server.refuse(1, "cannot connect to server.test:3000: [Errno 111] Connection refused")
    with pytest.raises(greensio.ConnectionError, match="Connection refused"):
        greensio.connect(Rig.URL, force_new=True)
    assert len(rig.server.opens) == 1
    rig.settle()
    assert rig.clock.sleepers == 0


def test_connect_with_retry_tries_until_the_timeout_then_raises_chained_to_the_last_error(rig: Rig) -> None:
    rig.server.refuse(10**9, "refused")

    def time_passes() -> None:
        while True:
            rig.clock.advance(1)

    clock = gevent.spawn(time_passes)
    try:
        with pytest.raises(greensio.TimeoutError) as raised:
            greensio.connect(Rig.URL, timeout=0.05, retry=True, force_new=True, reconnection_delay_max=1)
    finally:
        clock.kill()
    assert isinstance(raised.value.__cause__, greensio.ConnectionError)
    assert str(raised.value.__cause__) == "refused"
    assert len(rig.server.opens) > 1


def test_connect_raises_the_namespace_refusal_with_its_data(rig: Rig) -> None:
    rig.server.refusals["/"] = ("bad token", {"retry": False})
    with pytest.raises(greensio.ConnectionError, match="bad token") as raised:
        greensio.connect(Rig.URL, force_new=True)
    assert raised.value.data == {"retry": False}
