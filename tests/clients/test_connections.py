"""One connection policy for both front ends, checked on the far side of a real socket.

A connection carries another request only when the answer's body was read to
its framed end (``_exchange.reusable``); otherwise the client closes it.  The
server here (``support.fault_server``) writes each whole answer in ONE write
(head, body and the chunked body's last chunk together), so whether the end
came with the reply does not depend on how the bytes were cut, and keeps the
connection for the next request; it records, per connection, the requests it
read and whether the client closed it.
"""

from __future__ import annotations

import gzip
from typing import Dict, Iterator

import pytest
from support.fault_server import BOUND, LoopbackServer, Request, Writer, chunk, live
from support.twin import BOTH, MESSAGES, Twin, both

from opchatgpts_compat import _exchange

SSE = b"Content-Type: text/event-stream\r\n"
CHUNKED = b"HTTP/1.1 200 OK\r\n" + SSE + b"Transfer-Encoding: chunked\r\n"

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


#: Each test's route (``{name}-{twin}``) and the answer to its every request.
ANSWERS: Dict[str, bytes] = {
    f"{name}-{twin}": data for name, data in {**WHOLE, **LEFT}.items() for twin in BOTH
}


async def answer(request: Request, writer: Writer) -> bool:
    """The route's whole answer in one write; then the next request on this connection."""
    await writer.write(ANSWERS[request.route])
    return True


@pytest.fixture(scope="module")
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer(answer) as s:
        yield s


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
    twin: Twin, name: str, server: LoopbackServer
) -> None:
    route = f"{name}-{twin}"
    await two_streams(twin, server.url(route))
    (conn,) = server.connections_for(route)
    assert len(conn.requests) == 2
    assert await twin.wait(conn.gone.wait, BOUND)  # closing the client closed it
    assert conn.closed_by_client


@both
@pytest.mark.parametrize("name", sorted(LEFT))
async def test_a_body_left_before_its_end_closes_the_connection(
    twin: Twin, name: str, server: LoopbackServer
) -> None:
    route = f"{name}-{twin}"
    client = twin.client(server.url(route), timeout=2)
    try:
        outcome = await twin.collect(client.stream(MESSAGES))
        assert outcome.chunks == ["a", "b"]  # the end frame ends the reply, not the body
        assert outcome.expect_ok().text == "ab"
        (conn,) = server.connections_for(route)
        assert await twin.wait(conn.gone.wait, BOUND)  # while the client is still open
        assert conn.closed_by_client
        assert len(conn.requests) == 1
    finally:
        await twin.close(client)


def test_the_policy_is_stated_once() -> None:
    assert _exchange.reusable(True) is True
    assert _exchange.reusable(False) is False
