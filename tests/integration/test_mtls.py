"""Client certificates (mutual TLS) against a Node HTTPS server that requires one, over polling,
WebSocket and the upgrade (issue #16)."""

from __future__ import annotations

import re
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

import greensio
from tests.servers.process import ServerProcess

from .helpers import FAST, WAIT, settled

SETTINGS = {"polling": ["polling"], "upgrade": ["polling", "websocket"], "websocket": ["websocket"]}


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def mtls_server(
    node_modules: None, ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    folder = tmp_path_factory.mktemp("mtls")
    server_cert = ca.issue_cert("127.0.0.1", "localhost")
    server_cert.cert_chain_pems[0].write_to_path(str(folder / "cert.pem"))
    server_cert.private_key_pem.write_to_path(str(folder / "key.pem"))
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    server = ServerProcess("node", folder / "node.log", tls_dir=folder, client_cert=True)
    yield server
    server.stop()


def _context(ca: trustme.CA, folder: Path, with_certificate: bool) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    if with_certificate:
        client = ca.issue_cert("greensio-client@example.test")
        client.private_key_and_cert_chain_pem.write_to_path(str(folder / "client.pem"))
        context.load_cert_chain(str(folder / "client.pem"))
    return context


@pytest.mark.parametrize("setting", list(SETTINGS))
def test_a_client_certificate_is_presented_on_every_transport(
    mtls_server: ServerProcess, ca: trustme.CA, tmp_path: Path, setting: str
) -> None:
    context = _context(ca, tmp_path, with_certificate=True)
    options = {**FAST, "transports": SETTINGS[setting], "force_new": True}
    with greensio.connect(mtls_server.url, ssl_context=context, timeout=WAIT, **options) as sio:
        settled(sio)  # the upgrade presents the certificate again, on the WebSocket
        assert sio.transport == SETTINGS[setting][-1]
        assert sio.call("echo", "mutual", timeout=WAIT) == "mutual"


@pytest.mark.parametrize("setting", ["polling", "websocket"])
def test_without_a_client_certificate_the_server_refuses(
    mtls_server: ServerProcess, ca: trustme.CA, tmp_path: Path, setting: str
) -> None:
    context = _context(ca, tmp_path, with_certificate=False)
    options = {**FAST, "transports": SETTINGS[setting], "force_new": True}
    with pytest.raises(greensio.ConnectionError) as raised:
        greensio.connect(mtls_server.url, ssl_context=context, timeout=WAIT, **options)
    assert re.fullmatch(r"TLS with 127\.0\.0\.1:\d+ failed: TLSV13_ALERT_CERTIFICATE_REQUIRED", str(raised.value))
