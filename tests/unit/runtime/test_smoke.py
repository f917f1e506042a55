from __future__ import annotations

from .fakes import Recorder, Rig


def test_connects(rig: Rig) -> None:
    sio = rig.connected()
    assert sio.connected
    assert rig.server.connects() == [None]
    got = Recorder()
    sio.on("hello", got)
    rig.server.emit("hello", 1, 2)
    rig.settle()
    assert got.calls == [(1, 2)]
    assert sio.call("echo", 5, timeout=1) == 5
    rig.server.ping()
    rig.settle()
    assert rig.server.pongs == 1
    print(rig.server.log)
