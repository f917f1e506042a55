"""The names python-socketio's client users import, and what greensio.compat adds or decides itself."""

from __future__ import annotations

import math
import ssl
import warnings

import pytest

import greensio
from greensio import compat

from .helpers import TRANSPORTS, WAIT


def test_the_client_names_and_the_exception_tree(impl):
    for name in ("Client", "SimpleClient", "ClientNamespace", "exceptions"):
        assert hasattr(impl, name), name
    errors = impl.exceptions
    for name in ("ConnectionError", "ConnectionRefusedError", "TimeoutError", "BadNamespaceError", "DisconnectedError"):
        assert issubclass(getattr(errors, name), errors.SocketIOError), name
    assert issubclass(errors.ConnectionRefusedError, errors.ConnectionError)
    assert not issubclass(errors.DisconnectedError, errors.ConnectionError)
    assert errors.ConnectionRefusedError().error_args == {"message": "Connection rejected by server"}
    assert errors.ConnectionRefusedError("no").error_args == {"message": "no"}
    assert errors.ConnectionRefusedError("no", {"code": 1}).error_args == {"message": "no", "data": {"code": 1}}
    assert errors.ConnectionRefusedError("no", 1, 2).error_args == {"message": "no", "data": (1, 2)}
    assert impl.Client.reason.SERVER_DISCONNECT == "server disconnect"
    assert not impl.Client().is_asyncio_based()
    assert impl.ClientNamespace().namespace == "/"


# -- greensio.compat only ------------------------------------------------------------------------


def test_compat_errors_are_greensio_errors_too():
    errors = compat.exceptions
    assert issubclass(errors.SocketIOError, greensio.Error)
    assert issubclass(errors.ConnectionError, greensio.ConnectionError)
    assert issubclass(errors.ConnectionError, ConnectionError)  # the builtin, through greensio's
    assert issubclass(errors.TimeoutError, greensio.TimeoutError) and issubclass(errors.TimeoutError, TimeoutError)
    assert issubclass(errors.DisconnectedError, greensio.DisconnectedError)
    assert issubclass(errors.CallDisconnectedError, errors.DisconnectedError)
    assert issubclass(errors.CallDisconnectedError, errors.TimeoutError)
    assert not issubclass(errors.BadNamespaceError, greensio.ConnectionError)


def test_client_options_become_manager_options(node_server):
    sio = compat.Client(
        reconnection_attempts=0,
        reconnection_delay=0.25,
        request_timeout=3,
        ssl_verify=False,
        handler_concurrency=4,  # a greensio option passes through
        handle_sigint=True,
    )
    sio.connect(node_server.url, transports="websocket", socketio_path="/socket.io/")
    try:
        assert sio._manager is not None
        options = sio._manager.options
        assert options.reconnection_attempts == math.inf  # 0 means for ever
        assert options.reconnection_delay == 0.25 and options.timeout == 3 and options.ssl_verify is False
        assert options.handler_concurrency == 4 and options.transports == ("websocket",)
        assert options.path == "/socket.io"
    finally:
        sio.disconnect()


def test_websocket_extra_options_headers_sslopt_and_proxy():
    from greensio.compat._options import translate

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        options = translate(
            True,
            0,
            1,
            5,
            0.5,
            "default",
            None,
            {
                "websocket_extra_options": {
                    "header": ["X-A: 1", "X-B:2"],
                    "sslopt": {"cert_reqs": ssl.CERT_NONE},
                    "http_proxy_host": "proxy.example",
                    "http_proxy_port": 3128,
                    "http_proxy_auth": ("u", "p w"),
                    "enable_multithread": True,
                },
            },
        )
    assert options.headers == {"X-A": "1", "X-B": "2"}
    assert options.manager["ssl_verify"] is False
    assert options.manager["proxy"] == "http://u:p%20w@proxy.example:3128"
    assert [str(w.message) for w in caught] == [
        "greensio.compat ignores websocket_extra_options ['enable_multithread']"
    ]


def test_extra_headers_reach_the_server(node_server):
    sio = compat.Client(websocket_extra_options={"header": {"X-Extra": "e"}})
    sio.connect(node_server.url, headers={"X-Own": "o"}, transports=TRANSPORTS)
    try:
        headers = sio.call("whoami", timeout=WAIT)["headers"]
        assert (headers["x-extra"], headers["x-own"]) == ("e", "o")
    finally:
        sio.disconnect()


def test_http_session_is_ignored_with_a_warning():
    with pytest.warns(UserWarning, match="ignores http_session"):
        compat.Client(http_session=object())


def test_unsupported_serializer_and_options_compat_sets_itself_are_refused():
    with pytest.raises(ValueError, match="serializer"):
        compat.Client(serializer="pickle")
    with pytest.raises(TypeError, match="transports"):
        compat.Client(transports=["websocket"])


def test_unknown_and_bad_options_are_refused_at_construction():
    with pytest.raises(TypeError, match="no_such_option"):
        compat.Client(no_such_option=1)
    with pytest.raises(ValueError, match="reconnection_delay"):
        compat.Client(reconnection_delay=-1)


def test_no_valid_transport():
    with pytest.raises(ValueError, match="No valid transports"):
        compat.Client().connect("http://127.0.0.1:1", transports=["carrier-pigeon"])
