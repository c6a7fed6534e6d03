"""One connection policy for both front ends, checked on the far side of a real socket.

A connection carries another request only when the answer's body was read to
its framed end (``_exchange.reusable``); otherwise the client closes it.  The
server here writes each whole answer in ONE ``sendall`` (head, body and the
chunked body's last chunk together), so whether the end came with the reply
does not depend on how the bytes were cut; it records, per connection, the
requests it read and whether the client closed it.
"""

from __future__ import annotations

import gzip
import socket
import threading
from dataclasses import dataclass, field
from typing import Dict, Iterator, List

import pytest
from support.twin import MESSAGES, Twin, both

from opchatgpts_compat import _exchange

SSE = b"Content-Type: text/event-stream\r\n"
CHUNKED = b"HTTP/1.1 200 OK\r\n" + SSE + b"Transfer-Encoding: chunked\r\n"
BOUND = 10.0


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def live(text: str) -> bytes:
    return b'data: {"type":"live","data":"%s"}\n\n' % text.encode()


END = b'data: {"type":"end","data":"{\\"success\\":true,\\"reply\\":\\"ab\\"}"}\n\n'
EVENTS = live("a") + live("b") + END
JSON = b'{"success":true,"reply":"ab"}'


def length(head: bytes, body: bytes) -> bytes:
    return head + b"Content-Length: %d\r\n\r\n%s" % (len(body), body)


#: Answers whose body ends with the reply: the connection is kept.
WHOLE = {
    "chunked": CHUNKED + b"\r\n" + chunk(live("a")) + chunk(live("b")) + chunk(END) + b"0\r\n\r\n",
    "chunked-one-chunk": CHUNKED + b"\r\n" + chunk(EVENTS) + b"0\r\n\r\n",
    "chunked-trailer": CHUNKED + b"\r\n" + chunk(EVENTS) + b"0\r\nX-Sum: 1\r\n\r\n",
    "chunked-gzip": CHUNKED
    + b"Content-Encoding: gzip\r\n\r\n"
    + chunk(gzip.compress(EVENTS))
    + b"0\r\n\r\n",
    "length": length(b"HTTP/1.1 200 OK\r\n" + SSE, EVENTS),
    "length-json": length(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n", JSON),
}

#: Answers whose body does not end with the reply: the client closes the connection.
LEFT = {
    "chunked-no-last-chunk": CHUNKED + b"\r\n" + chunk(EVENTS),
    "chunked-cut-in-trailer": CHUNKED + b"\r\n" + chunk(EVENTS) + b"0\r\nX-Sum: 1\r\n",
    "length-longer": b"HTTP/1.1 200 OK\r\n"
    + SSE
    + b"Content-Length: %d\r\n\r\n%s"
    % (
        len(EVENTS) + 10,
        EVENTS,
    ),
}


@dataclass
class Conn:
    requests: int = 0
    closed_by_client: bool = False
    gone: threading.Event = field(default_factory=threading.Event)


class KeepAliveServer:
    """Answer every request on a connection with the route's bytes, in one write."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.answers: Dict[str, bytes] = {}
        self.conns: Dict[str, List[Conn]] = {}
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, name: str, answer: bytes) -> str:
        self.answers[name] = answer
        self.conns[name] = []
        return f"http://127.0.0.1:{self.port}/{name}"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, sock: socket.socket) -> None:
        conn = Conn()
        buffer = b""
        with sock:
            try:
                while True:
                    while b"\r\n\r\n" not in buffer:
                        data = sock.recv(65536)
                        if not data:
                            conn.closed_by_client = True
                            return
                        buffer += data
                    head, _, buffer = buffer.partition(b"\r\n\r\n")
                    size = 0
                    for line in head.split(b"\r\n"):
                        if line.lower().startswith(b"content-length:"):
                            size = int(line.split(b":")[1])
                    while len(buffer) < size:
                        buffer += sock.recv(65536)
                    buffer = buffer[size:]
                    name = head.split(b" ")[1].decode().split("/")[1]
                    if conn.requests == 0:
                        self.conns[name].append(conn)
                    conn.requests += 1
                    sock.sendall(self.answers[name])
            except OSError:
                conn.closed_by_client = True
            finally:
                conn.gone.set()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def server() -> Iterator[KeepAliveServer]:
    s = KeepAliveServer()
    yield s
    s.close()


async def two_streams(twin: Twin, base_url: str) -> None:
    client = twin.client(base_url, timeout=2)
    try:
        for _ in range(2):
            outcome = await twin.collect(client.stream(MESSAGES))
            assert outcome.expect_ok().text == "ab"
            assert outcome.chunks in (["a", "b"], ["ab"])  # ["ab"]: the JSON answer
    finally:
        await twin.close(client)


@both
@pytest.mark.parametrize("name", sorted(WHOLE))
async def test_a_body_read_to_its_end_keeps_the_connection(
    twin: Twin, name: str, server: KeepAliveServer
) -> None:
    route = f"{name}-{twin}"
    await two_streams(twin, server.url(route, WHOLE[name]))
    (conn,) = server.conns[route]
    assert conn.requests == 2
    assert await twin.wait(conn.gone.wait, BOUND)  # closing the client closed it
    assert conn.closed_by_client


@both
@pytest.mark.parametrize("name", sorted(LEFT))
async def test_a_body_left_before_its_end_closes_the_connection(
    twin: Twin, name: str, server: KeepAliveServer
) -> None:
    route = f"{name}-{twin}"
    client = twin.client(server.url(route, LEFT[name]), timeout=2)
    try:
        outcome = await twin.collect(client.stream(MESSAGES))
        assert outcome.chunks == ["a", "b"]  # the end frame ends the reply, not the body
        assert outcome.expect_ok().text == "ab"
        (conn,) = server.conns[route]
        assert await twin.wait(conn.gone.wait, BOUND)  # while the client is still open
        assert conn.closed_by_client
        assert conn.requests == 1
    finally:
        await twin.close(client)


def test_the_policy_is_stated_once() -> None:
    assert _exchange.reusable(True) is True
    assert _exchange.reusable(False) is False
