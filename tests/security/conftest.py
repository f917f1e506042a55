"""Hostile-server tests run monkey-patched, as most gevent applications do (the flood clients run
unpatched in subprocesses of their own). Every test must leave no greenlet and no file descriptor behind."""

from gevent import monkey

monkey.patch_all()

import socket  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from typing import Any, Callable  # noqa: E402

import gevent  # noqa: E402
import pytest  # noqa: E402
import trustme  # noqa: E402

from tests.integration.helpers import open_fds  # noqa: E402
from tests.soak.cycles import greensio_greenlets  # noqa: E402

from .peer import Peer  # noqa: E402

CLEANUP_WAIT = 3.0  # seconds for handler greenlets and closing sockets to finish after a test

socket.getaddrinfo("localhost", 80)  # start gevent's resolver thread pool before any baseline is taken


@pytest.fixture(autouse=True)
def no_leaks() -> Iterator[None]:
    """After the test (its peers stopped, its sockets disconnected): no new greenlet, no new fd."""
    greenlets, fds = greensio_greenlets(), open_fds()
    yield
    with gevent.Timeout(CLEANUP_WAIT, False):
        while greensio_greenlets() - greenlets or open_fds() - fds:
            gevent.sleep(0.02)  # handler greenlets end and sockets close in the hub's next turns
    leaked = greensio_greenlets() - greenlets
    assert not leaked, f"greenlets left running: {_describe(leaked)}"
    assert open_fds() - fds == set(), "file descriptors left open"


def _describe(ids: set[int]) -> list[str]:
    import gc
    import traceback

    import greenlet

    found = [g for g in gc.get_objects() if isinstance(g, greenlet.greenlet) and id(g) in ids]
    return [f"{g!r} at {traceback.format_stack(g.gr_frame, 3) if g.gr_frame else None}" for g in found]


@pytest.fixture
def start_peer() -> Iterator[Callable[..., Any]]:
    """start_peer(cls=Peer, **kwargs) -> a started Peer (or TunnelProxy), stopped at the end of the test."""
    started: list[Any] = []

    def start(cls: Any = Peer, **kwargs: Any) -> Any:
        peer = cls(**kwargs)
        started.append(peer)
        return peer

    yield start
    for peer in started:
        peer.stop()


@pytest.fixture(scope="session")
def tls() -> Any:
    """A trustme CA with a certificate for 127.0.0.1 and localhost: .server_context, .client_context()."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")

    class TLS:
        @staticmethod
        def server_context() -> Any:
            import ssl

            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            cert.configure_cert(ctx)
            return ctx

        @staticmethod
        def client_context() -> Any:
            import ssl

            ctx = ssl.create_default_context()
            ca.configure_trust(ctx)
            return ctx

    return TLS
