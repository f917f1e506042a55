"""Leak checks with CI-sized counts: connect/disconnect cycles and server-forced reconnects.

The functions are those of tests/soak/cycles.py (the same checks with large counts,
run by hand). After every cycle, connect_cycles() and reconnect_cycles() wait (at
most 5 s) until the process's greenlets and file descriptors are exactly what they
were before, and fail with what was left otherwise; here the tests also check the
greensio objects alive after gc.collect() and the RSS growth.
"""

from __future__ import annotations

from typing import Any, Callable

import pytest

from tests.servers.process import ServerProcess
from tests.soak.cycles import DEFAULT_ROTATION, Phase, connect_cycles, reconnect_cycles

CYCLES = 200
UPGRADE_CYCLES = 100
UPGRADE_WARMUP = 30  # the polling and upgrade paths take a few more cycles to reach their RSS
WARMUP = 20
# RSS is read from /proc after gc.collect(), once after the warm-up (the first cycles
# allocate one-off things: imports, caches, allocator arenas, and the list that
# gc.get_objects() builds after every cycle reaches its size) and once at the end.
# Healthy runs grow by 0 to 0.5 KB per cycle (a few pages of allocator slack that stop
# growing after a few hundred cycles: tests/soak/cycles.py with 1,000 cycles shows
# 0.01 to 0.12 KB). A disconnected Socket and its Manager kept alive by mistake cost
# about 5 KB (measured by keeping them in a list), a connected client left behind
# about 30 KB (benchmarks: memory per idle client). 1 KB per cycle (200 KB over 200
# cycles, 100 KB over the 100 upgrade cycles) leaves room for allocator noise and
# still fails on any such leak; smaller leaks of greensio objects are caught exactly
# by the object count, leaked greenlets and fds by the checks after every cycle.
MAX_GROWTH_KB_PER_CYCLE = 1.0

pytestmark = pytest.mark.timeout(60)


def _figures(phase: Phase, record_property: Callable[[str, Any], None]) -> None:
    for key, value in phase.summary().items():
        record_property(key, value)
    print(f"\n{phase.name}: {phase.summary()}")


def test_connect_cycles_leave_nothing_behind(
    server: ServerProcess, record_property: Callable[[str, Any], None]
) -> None:
    rotation = [t.split(",") for t in DEFAULT_ROTATION]  # every 4th cycle starts on polling and upgrades
    phase = connect_cycles(server.url, CYCLES, rotation, warmup=WARMUP)
    _figures(phase, record_property)
    assert phase.objects_left == {}
    assert phase.objects_after_close == {}, phase.holders
    assert phase.growth_per_cycle_kb < MAX_GROWTH_KB_PER_CYCLE, phase.summary()


def test_forced_reconnects_leave_nothing_behind(
    server: ServerProcess, record_property: Callable[[str, Any], None]
) -> None:
    _check_reconnects(reconnect_cycles(server.url, CYCLES, ["websocket"], warmup=WARMUP), record_property)


def test_forced_reconnects_with_upgrade_leave_nothing_behind(
    node_server: ServerProcess, record_property: Callable[[str, Any], None]
) -> None:
    # Every reconnect starts on polling and upgrades (Node answers the last GET within 100 ms
    # of the probe, so these are slower cycles: fewer of them, and against Node only).
    phase = reconnect_cycles(node_server.url, UPGRADE_CYCLES, ["polling", "websocket"], warmup=UPGRADE_WARMUP)
    _check_reconnects(phase, record_property)


def _check_reconnects(phase: Phase, record_property: Callable[[str, Any], None]) -> None:
    _figures(phase, record_property)
    # Every close_engine was a "transport close" the client came back from, then the test's own disconnect.
    assert phase.reasons == {"transport close": phase.warmup + phase.cycles, "io client disconnect": 1}
    assert phase.objects_left == {}
    assert phase.objects_after_close == {}, phase.holders
    assert phase.growth_per_cycle_kb < MAX_GROWTH_KB_PER_CYCLE, phase.summary()
