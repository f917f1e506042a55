"""What the real v3 servers do, proven with raw sockets and greensio's pure v3 codec (no runtime).

socket.io 2.5.1 (``node2``) and python-socketio 4.6.1 / python-engineio 3.14.2
(``py4``). These are the facts greensio._core.eio3, engine3, sio3 and protocol
encode; their module docstrings quote them.
"""

from __future__ import annotations

import gzip
import json
import math
import re
import time
from typing import Any

import gevent
import pytest
import websocket

from greensio._core import eio3, sio
from greensio._core.engine3 import EngineState3
from greensio._core.protocol import V3, V4, detect_open, detect_polling, detect_refusal, is_v3_connect_reply
from greensio._core.sio3 import Link, handshake_refusal
from tests.servers.process import ServerProcess

from .raw import RawPolling, RawWebSocket, Refused, http_request

pytestmark = pytest.mark.timeout(60)

VERSION_SENTENCE = b'"The client is using an unsupported version of the Socket.IO or Engine.IO protocols"'


def link_for(sid: str) -> Link:
    return Link(sio.Decoder(), sid)


def decode_all(link: Link, packets: list[Any]) -> list[sio.Packet]:
    """Feed Engine.IO packets (MESSAGE text, binary data) to *link*; the complete Socket.IO packets."""
    out = []
    for packet in packets:
        if isinstance(packet, str):
            assert packet[:1] == "4", packet
            got = link.feed_text(packet[1:])
        else:
            got = link.feed_binary(packet)
        if got is not None:
            out.append(got)
    return out


def open_polling(server: ServerProcess, **query: str) -> tuple[RawPolling, list[Any]]:
    session = RawPolling(server.port, dict(query))
    return session, session.handshake()


def handshake_data(packet: Any) -> dict[str, Any]:
    assert isinstance(packet, str) and packet[:1] == "0"
    data: dict[str, Any] = json.loads(packet[1:])
    return data


# --------------------------------------------------------------------------- polling: the handshake


def test_polling_handshake_node2(node2_server: ServerProcess) -> None:
    session, packets = open_polling(node2_server)
    response = session.handshake_response
    assert response is not None
    assert re.match(rb"\d+:0\{", response.body)  # text framing, no separator
    assert response.headers["content-type"] == "text/plain; charset=UTF-8"
    open_data = handshake_data(packets[0])
    assert set(open_data) == {"sid", "upgrades", "pingInterval", "pingTimeout"}  # no maxPayload
    assert open_data["upgrades"] == ["websocket"]
    assert (open_data["pingInterval"], open_data["pingTimeout"]) == (25000, 20000)
    assert packets[1:] == ["40"]  # "/" joined by the server, in the handshake response
    assert detect_polling(V3, 200, response.body) is V3


def test_polling_handshake_py4(py4_server: ServerProcess) -> None:
    session, packets = open_polling(py4_server)
    response = session.handshake_response
    assert response is not None
    assert response.body[:1] == b"\x00"  # binary framing, though nothing binary is in it
    assert response.headers["content-type"] == "application/octet-stream"
    open_data = handshake_data(packets[0])
    assert set(open_data) == {"sid", "upgrades", "pingInterval", "pingTimeout"}
    assert (open_data["pingInterval"], open_data["pingTimeout"]) == (25000, 60000)
    assert packets[1:] == ["40"]
    assert detect_polling(V3, 200, response.body) is V3


def test_b64_gives_text_framing_on_py4(py4_server: ServerProcess) -> None:
    """With b64=1 (which greensio never sends) python-engineio 3 frames text, binary as b4 + base64."""
    session, _ = open_polling(py4_server, b64="1")
    response = session.handshake_response
    assert response is not None and re.match(rb"\d+:0\{", response.body)
    session.post(['42["burst",1,2,true]'])
    packets = session.poll_until(3)
    body_packets = [p for p in packets if isinstance(p, bytes)]
    assert body_packets == [b"\x00\x00"]


def test_eio4_polling_answers(node2_server: ServerProcess, py4_server: ServerProcess) -> None:
    """Detection: what a v3 server answers to a v4 client's first request."""
    node = http_request(node2_server.port, "GET", {"EIO": "4", "transport": "polling"})
    assert node.status == 200  # engine.io 3 does not look at EIO: a v3 answer
    assert re.match(rb"\d+:0\{", node.body)
    assert detect_polling(V4, node.status, node.body) is V3
    py = http_request(py4_server.port, "GET", {"EIO": "4", "transport": "polling"})
    assert (py.status, py.body) == (400, VERSION_SENTENCE)
    assert detect_polling(V4, py.status, py.body) is V3


def test_v4_servers_answer_eio3(node_server: ServerProcess, py_server: ServerProcess) -> None:
    """Detection the other way: socket.io 4.8 and python-socketio 5 refuse EIO=3 (protocol=3 forced)."""
    node = http_request(node_server.port, "GET", {"EIO": "3", "transport": "polling"})
    assert (node.status, node.body) == (400, b'{"code":5,"message":"Unsupported protocol version"}')
    assert detect_polling(V3, node.status, node.body) is V4
    py = http_request(py_server.port, "GET", {"EIO": "3", "transport": "polling"})
    assert (py.status, py.body) == (400, VERSION_SENTENCE)
    assert detect_polling(V3, py.status, py.body) is V4


# --------------------------------------------------------------------------- polling: namespaces


def test_join_a_namespace(v3_server: ServerProcess) -> None:
    session, packets = open_polling(v3_server)
    link = link_for(session.sid)
    assert decode_all(link, packets[1:]) == [sio.Packet(sio.CONNECT, "/", {"sid": session.sid})]
    text, now = link.join("/chat")
    assert (text, now) == ("0/chat,", None)
    assert text is not None
    reply = session.send_and_poll(["4" + text], 1)
    # python-socketio 4 writes no comma after a namespace with nothing behind it
    assert reply == (["40/chat,"] if v3_server.kind == "node2" else ["40/chat"])
    assert decode_all(link, reply) == [sio.Packet(sio.CONNECT, "/chat", {"sid": f"/chat#{session.sid}"})]
    whoami = session.send_and_poll(['42/chat,1["whoami"]'], 1)
    assert len(whoami) == 1
    (ack,) = decode_all(link, whoami)
    assert (ack.type, ack.nsp, ack.id) == (sio.ACK, "/chat", 1)
    # Node's socket.id is the derived id; python-socketio 4 uses the engine sid in every namespace
    expected_sid = f"/chat#{session.sid}" if v3_server.kind == "node2" else session.sid
    assert ack.data[0]["sid"] == expected_sid


def test_refused_namespace(v3_server: ServerProcess) -> None:
    session, packets = open_polling(v3_server)
    link = link_for(session.sid)
    decode_all(link, packets[1:])
    reply = session.send_and_poll(["40/private,"], 1)
    assert reply == ['44/private,"not authorized"']  # a plain string, not v5's {"message": ...}
    assert decode_all(link, reply) == [sio.Packet(sio.CONNECT_ERROR, "/private", "not authorized")]


def test_unknown_namespace(v3_server: ServerProcess) -> None:
    session, _ = open_polling(v3_server)
    reply = session.send_and_poll(["40/nope,"], 1)
    if v3_server.kind == "node2":
        assert reply == ['44/nope,"Invalid namespace"']
    else:
        assert reply == ["40/nope"]  # python-socketio 4 accepts any namespace


def test_credentials_in_the_handshake_query_reach_both(v3_server: ServerProcess) -> None:
    session, _ = open_polling(v3_server, token="secret")
    reply = session.send_and_poll(["40/private,"], 1)
    assert reply[0] in ("40/private,", "40/private")


def test_credentials_in_the_connect_query_reach_node_only(v3_server: ServerProcess) -> None:
    session, _ = open_polling(v3_server)
    text, _ = link_for(session.sid).join("/private", {"token": "secret", "n": 1})
    assert text == "0/private?token=secret&n=1,"
    reply = session.send_and_poll(["4" + text], 1)
    if v3_server.kind == "node2":
        assert reply == ["40/private,"]
        whoami = session.send_and_poll(['42/private,0["whoami"]'], 1)
        (ack,) = decode_all(link_for(session.sid), whoami)
        assert ack.data[0]["query"]["token"] == "secret"
        assert ack.data[0]["query"]["n"] == "1"
    else:
        assert reply == ['44/private,"not authorized"']  # python-socketio 4 drops "?token=secret"


def test_a_second_connect_for_root_joins_it_twice_on_node(node2_server: ServerProcess) -> None:
    """Why the client never sends 40 for "/" while it is joined: Node runs its connection handler again."""
    session, packets = open_polling(node2_server, welcome="1")
    assert packets[1:] == ["40"]
    assert session.poll_until(1) == ['42["welcome","hi"]']  # the handler of the implicit join
    assert session.send_and_poll(["40"], 1) == ['42["welcome","hi"]']  # a v5 client's CONNECT: again


def test_server_side_namespace_disconnect(v3_server: ServerProcess) -> None:
    session, _ = open_polling(v3_server)
    session.send_and_poll(["40/chat,"], 1)
    reply = session.send_and_poll(['42/chat,["disconnect_me"]'], 1)
    assert reply == (["41/chat,"] if v3_server.kind == "node2" else ["41/chat"])
    link = link_for(session.sid)
    assert decode_all(link, reply) == [sio.Packet(sio.DISCONNECT, "/chat")]


def test_close_engine_from_the_server(v3_server: ServerProcess) -> None:
    ws = RawWebSocket(v3_server.port)
    try:
        ws.recv_packets(2)
        ws.send('42["close_engine"]')
        if v3_server.kind == "py4":
            assert ws.recv() == "1"  # python-engineio 3 sends CLOSE and leaves the closing to the client
        else:
            assert ws.recv() is None and ws.closed_by_server  # Node sends no CLOSE: a close frame
    finally:
        ws.close()


def test_close_engine_over_polling_node2(node2_server: ServerProcess) -> None:
    """Node keeps the CLOSE for the next GET. (python-engineio 3 gives it to a GET already waiting;
    a GET that comes after the session closed gets HTTP 400, or 500 in a race: a transport error.)"""
    session, _ = open_polling(node2_server)
    session.post(['42["close_engine"]'])
    assert session.poll_until(1)[-1] == "1"


def test_leaving_root_drops_every_namespace_on_py4(v3_server: ServerProcess) -> None:
    """The client's DISCONNECT for "/": Node leaves "/" only, python-socketio 4 every namespace."""
    session, _ = open_polling(v3_server)
    session.send_and_poll(["40/chat,"], 1)
    session.post(["41"])
    if v3_server.kind == "node2":
        assert sorted(session.send_and_poll(['42/chat,7["echo","still"]', "2"], 2)) == ["3", '43/chat,7["still"]']
    else:  # only PONGs: /chat is gone, silently (its ack would have come between them)
        assert session.send_and_poll(['42/chat,7["echo","still"]', "2"], 1) == ["3"]
        assert session.send_and_poll(["2"], 1) == ["3"]


def test_root_refused_py4(start_v3_server: Any) -> None:
    server = start_v3_server("py4", root_refuses=True)
    refused = http_request(server.port, "GET", {"EIO": "3", "transport": "polling", "refuse": "1"})
    assert (refused.status, refused.body) == (401, b'"root refused"')
    assert detect_polling(V3, refused.status, refused.body) is None  # nothing to do with versions
    assert handshake_refusal(refused.status, refused.body) == "root refused"
    ws = RawWebSocket(server.port, refuse="1")  # over WebSocket: a 101 (gevent-websocket upgrades first)...
    assert ws.recv() is None and ws.closed_by_server  # ...then a close frame: as the version refusal
    ws.close()


def test_root_with_middleware_node2(start_v3_server: Any) -> None:
    server = start_v3_server("node2", root_middleware=True)
    session, packets = open_polling(server)
    assert len(packets) == 1  # no "40" in the handshake response: "/" has a middleware
    assert session.poll_until(1) == ["40"]
    refused, packets = open_polling(server, refuse="1")
    assert len(packets) == 1
    reply = refused.poll_until(1)
    assert reply == ['44"root refused"']
    link = link_for(refused.sid)
    assert decode_all(link, reply) == [sio.Packet(sio.CONNECT_ERROR, "/", "root refused")]
    # other namespaces wait for "/": Node holds their CONNECT (no answer, only our PONGs)
    assert refused.send_and_poll(["40/chat,", "2"], 1) == ["3"]
    assert refused.send_and_poll(["2"], 1) == ["3"]


# --------------------------------------------------------------------------- polling: events and acks


def test_event_and_ack_both_ways_polling(v3_server: ServerProcess) -> None:
    session, _ = open_polling(v3_server)
    link = link_for(session.sid)
    assert session.send_and_poll(['42["echo","a",1]'], 1) == ['42["echo","a",1]']  # no ack: emitted back
    assert session.send_and_poll(['425["echo","a",1]'], 1) == ['435["a",1]']
    # the server calls the client with an ack; the client's ack reaches the server's callback
    (call,) = decode_all(link, session.send_and_poll(['429["server_call","ask",2]'], 1))
    assert (call.type, call.data) == (sio.EVENT, ["ask", 2])
    if v3_server.kind == "py4":
        assert call.id == 1  # python-socketio 4 counts per socket and namespace, from 1
    else:
        assert isinstance(call.id, int) and call.id >= 0  # socket.io 2.x counts per namespace, for all sockets
    reply = session.send_and_poll([f'43{call.id}["answer",3]'], 1)
    assert reply == ['439[["answer",3]]']


def test_binary_both_ways_polling(v3_server: ServerProcess) -> None:
    session, _ = open_polling(v3_server)
    link = link_for(session.sid)
    response = session.post(['451-3["echo",{"_placeholder":true,"num":0}]', b"\x00\x01\xff"])
    assert response.status == 200
    reply = session.get()
    assert reply.body[:1] == b"\x00"  # binary framing, from Node too once a binary packet is in it
    assert reply.headers["content-type"] == "application/octet-stream"
    packets = eio3.decode_payload(reply.body)
    assert packets == ['461-3[{"_placeholder":true,"num":0}]', b"\x00\x01\xff"]
    assert decode_all(link, packets) == [sio.Packet(sio.ACK, "/", [b"\x00\x01\xff"], 3)]
    burst = session.send_and_poll(['42["burst",2,3,true]'], 5)
    assert decode_all(link, burst) == [
        sio.Packet(sio.EVENT, "/", ["burst", 0, b"\x00\x00\x00"]),
        sio.Packet(sio.EVENT, "/", ["burst", 1, b"\x00\x00\x00"]),
        sio.Packet(sio.EVENT, "/", ["burst_done", 2]),
    ]


def test_astral_characters_both_ways_polling(v3_server: ServerProcess) -> None:
    """What greensio POSTs (binary framing) is read alike by both; both replies decode."""
    text = "\U0001f600 \u00e9 \U00010348\u20ac"
    session, _ = open_polling(v3_server)
    reply = session.send_and_poll(["42" + json.dumps(["echo", text], ensure_ascii=False), '421["echo","é"]'], 2)
    link = link_for(session.sid)
    assert decode_all(link, reply) == [
        sio.Packet(sio.EVENT, "/", ["echo", text]),
        sio.Packet(sio.ACK, "/", ["é"], 1),
    ]
    response = session.post(['42["burst",2,1]'])
    assert response.status == 200
    many = session.send_and_poll(["42" + json.dumps(["server_emit", "x", text * 50], ensure_ascii=False)], 1)
    assert decode_all(link, many)[-1] == sio.Packet(sio.EVENT, "/", ["x", text * 50])


def test_node_frames_text_in_utf16_units(node2_server: ServerProcess) -> None:
    session, _ = open_polling(node2_server)
    session.post(['42["server_emit","x","\U0001f600"]'])
    body = session.get().body
    assert body == '12:42["x","\U0001f600"]'.encode()  # 11 code points, the emoji counting 2 units
    assert eio3.decode_payload(body) == ['42["x","\U0001f600"]']


def test_ping_pong_polling(v3_server: ServerProcess) -> None:
    session, _ = open_polling(v3_server)
    assert session.send_and_poll(["2"], 1) == ["3"]
    # the PONG's data: Node 2.x drops it (but for the upgrade probe), python-engineio 3 echoes it
    expected = "3" if v3_server.kind == "node2" else "3x"
    assert session.send_and_poll(["2x"], 1) == [expected]


def test_py4_ends_an_idle_poll_after_ping_timeout(start_v3_server: Any) -> None:
    """python-engineio 3 answers a long-poll that found nothing within pingTimeout with HTTP 400 and
    closes the session: pingTimeout must exceed pingInterval (its defaults, 25 s and 60 s, do)."""
    server = start_v3_server("py4", ping_interval=2, ping_timeout=1)
    session, _ = open_polling(server)
    started = time.monotonic()
    response = session.get()
    assert response.status == 400
    assert 0.9 < time.monotonic() - started < 3
    assert session.post(["2"]).status == 400  # the session is gone


# --------------------------------------------------------------------------- WebSocket


def test_websocket_handshake(v3_server: ServerProcess) -> None:
    ws = RawWebSocket(v3_server.port)
    try:
        packets = ws.recv_packets(2)
        open_data = handshake_data(packets[0])
        assert open_data["upgrades"] == [] and "maxPayload" not in open_data
        assert packets[1] == "40"  # in its own frame
        assert detect_open(V3, packets) is V3
        assert detect_open(V4, packets) is V3
    finally:
        ws.close()


def test_eio4_websocket_answers(node2_server: ServerProcess, py4_server: ServerProcess) -> None:
    ws = RawWebSocket(node2_server.port, eio="4")
    try:
        packets = ws.recv_packets(2)
        assert "maxPayload" not in handshake_data(packets[0])
        assert packets[1] == "40"
        assert detect_open(V4, packets) is V3
        assert detect_open(V4, packets[:1]) is None  # the OPEN alone does not tell
        assert is_v3_connect_reply("0")
    finally:
        ws.close()
    ws = RawWebSocket(py4_server.port, eio="4")  # 101 Switching Protocols...
    assert ws.recv() is None and ws.closed_by_server  # ...then a close frame before any packet
    ws.close()


def test_v4_servers_answer_eio3_over_websocket(node_server: ServerProcess, py_server: ServerProcess) -> None:
    ws = RawWebSocket(node_server.port, eio="3")  # 101, then an HTTP response in the upgraded stream
    assert ws.raw_rest().startswith(b"HTTP/1.1 400 Bad Request\r\n")
    ws.close()
    ws = RawWebSocket(py_server.port, eio="3")
    assert ws.recv() is None and ws.closed_by_server
    ws.close()
    assert detect_refusal(V3, 400, b"Unsupported protocol version") is V4


def test_event_ack_and_binary_over_websocket(v3_server: ServerProcess) -> None:
    ws = RawWebSocket(v3_server.port)
    try:
        open_packet, root = ws.recv_packets(2)
        sid = handshake_data(open_packet)["sid"]
        link = link_for(sid)
        assert decode_all(link, [root]) == [sio.Packet(sio.CONNECT, "/", {"sid": sid})]
        ws.send('421["echo","a"]')
        assert ws.recv() == '431["a"]'
        ws.send('451-2["echo",{"_placeholder":true,"num":0}]')
        ws.send(b"\x01\x02")  # sent as b"\x04\x01\x02"
        header, attachment = ws.recv_packets(2)
        assert header == '461-2[{"_placeholder":true,"num":0}]'
        assert attachment == b"\x04\x01\x02"  # the binary message starts with the MESSAGE type byte
        assert decode_all(link, [header, eio3.ws_decode_binary(attachment)]) == [
            sio.Packet(sio.ACK, "/", [b"\x01\x02"], 2)
        ]
        ws.send("40/chat,")
        assert ws.recv() in ("40/chat,", "40/chat")
        ws.send('42/chat,3["echo","\U0001f600"]')
        assert decode_all(link, [ws.recv()]) == [sio.Packet(sio.ACK, "/chat", ["\U0001f600"], 3)]
    finally:
        ws.close()


def test_ping_pong_over_websocket(v3_server: ServerProcess) -> None:
    ws = RawWebSocket(v3_server.port)
    try:
        ws.recv_packets(2)
        ws.send("2")
        assert ws.recv() == "3"
    finally:
        ws.close()


def test_upgrade_probe(v3_server: ServerProcess) -> None:
    session, _ = open_polling(v3_server)
    ws = RawWebSocket(v3_server.port, sid=session.sid)
    try:
        ws.send("2probe")
        assert ws.recv() == "3probe"
        assert session.poll() == ["6"]  # polling is paused: a GET is answered with a NOOP
        ws.send("5")
        if v3_server.kind == "py4":
            assert ws.recv() == "6"  # python-engineio 3 answers UPGRADE with a NOOP, on the WebSocket
        ws.send('427["echo","up"]')
        assert ws.recv() == '437["up"]'
    finally:
        ws.close()


# --------------------------------------------------------------------------- heartbeat


def run_heartbeat(ws: RawWebSocket, engine: EngineState3, seconds: float) -> list[float]:
    """Drive *engine* against a live WebSocket for *seconds*: send its PINGs, feed what arrives."""
    rtts: list[float] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        now = time.monotonic()
        engine.tick(now)
        for packet in engine.outbox:
            ws.send(packet)
        engine.outbox.clear()
        assert not engine.expired(now)
        wait = max(0.0, min(engine.next_timer, end) - time.monotonic())
        with gevent.Timeout(wait, False):
            received = ws.recv()
            assert isinstance(received, str)
            before = engine.rtt
            if received[:1] == "4":
                engine.alive(time.monotonic())
            else:
                engine.receive(received, time.monotonic())
            if engine.rtt is not None and engine.rtt is not before:
                rtts.append(engine.rtt)
    return rtts


@pytest.mark.parametrize("kind", ["node2", "py4"])
def test_client_pings_keep_the_connection(kind: str, start_v3_server: Any) -> None:
    """The v3 server never pings; the client's PINGs (EngineState3's schedule) keep it open."""
    options = {"ping_interval": 0.3, "ping_timeout": 0.3} if kind == "node2" else {"ping_interval": 1}
    server = start_v3_server(kind, **options)
    ws = RawWebSocket(server.port)
    try:
        open_packet, _ = ws.recv_packets(2)
        assert isinstance(open_packet, str)
        engine = EngineState3()
        hs = engine.open(open_packet, time.monotonic())
        interval = hs.ping_interval
        rtts = run_heartbeat(ws, engine, 3 * (interval + hs.ping_timeout) if kind == "node2" else 2.5)
        assert len(rtts) >= 2
        assert all(0 <= rtt < 0.5 for rtt in rtts)
        ws.send('421["echo","alive"]')
        assert ws.recv() == '431["alive"]'
    finally:
        ws.close()


def test_node2_closes_a_client_that_does_not_ping(start_v3_server: Any) -> None:
    server = start_v3_server("node2", ping_interval=0.2, ping_timeout=0.2)
    ws = RawWebSocket(server.port)
    try:
        ws.recv_packets(2)
        started = time.monotonic()
        assert ws.recv() is None  # no PING from the server, then the close after interval + timeout
        assert 0.35 < time.monotonic() - started < 2
    finally:
        ws.close()
    assert math.isfinite(started)


def test_websocket_upgrade_with_an_unknown_sid(v3_server: ServerProcess) -> None:
    """Node refuses the upgrade with HTTP 400; gevent-websocket upgrades first, so python-engineio 3
    answers with a 101 and a close frame."""
    if v3_server.kind == "node2":
        with pytest.raises(Refused) as refused:
            RawWebSocket(v3_server.port, sid="nope")
        assert (refused.value.status, refused.value.body) == (400, b"Session ID unknown")
    else:
        ws = RawWebSocket(v3_server.port, sid="nope")
        assert ws.recv() is None and ws.closed_by_server
        ws.close()


def test_tally_and_observe(v3_server: ServerProcess) -> None:
    """The bookkeeping events of the test servers (tests/servers/README.md) work on both."""
    observer, _ = open_polling(v3_server)
    assert observer.send_and_poll(['421["observe"]'], 1) == ['431["ok"]']
    key = f"k-{observer.sid}"
    replies = observer.send_and_poll([f'422["tally","{key}",1]', f'423["tally","{key}",2]'], 2)
    assert sorted(replies) == ['432["ok"]', '433["ok"]']
    assert observer.send_and_poll([f'424["tally_report","{key}"]'], 1) == ["434[[[1,2,1]]]"]
    leaving, _ = open_polling(v3_server)
    leaving.send_and_poll(["40/chat,"], 1)
    leaving.post(["41/chat,"])
    (event,) = decode_all(link_for(observer.sid), observer.poll_until(1))
    assert event.data[0] == "peer_disconnect"
    assert event.data[1] == (f"/chat#{leaving.sid}" if v3_server.kind == "node2" else leaving.sid)
    assert event.data[2] == ("client namespace disconnect" if v3_server.kind == "node2" else "disconnect")


def test_compression_node2(start_v3_server: Any) -> None:
    """--deflate: gzip on polling and permessage-deflate on WebSocket, for every message."""
    server = start_v3_server("node2", deflate=True)
    response = http_request(
        server.port, "GET", {"EIO": "3", "transport": "polling"}, headers={"Accept-Encoding": "gzip"}
    )
    assert response.headers["content-encoding"] == "gzip"
    assert eio3.decode_payload(gzip.decompress(response.body))[1] == "40"
    ws = websocket.create_connection(
        f"ws://127.0.0.1:{server.port}/socket.io/?EIO=3&transport=websocket",
        header={"Sec-WebSocket-Extensions": "permessage-deflate"},
        timeout=5,
    )
    try:
        headers = ws.getheaders()
        assert headers is not None
        assert "permessage-deflate" in headers["sec-websocket-extensions"]
    finally:
        ws.close()
