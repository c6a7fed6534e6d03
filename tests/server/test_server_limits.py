"""The embedded server against hostile clients (issue 11, class 11): raw sockets.

A body nested deeper than PHP's ``json_decode`` allows is WordPress's
``400 rest_invalid_json`` (not a 500 from ``RecursionError``), and a
connection that sends nothing, or half a request head, is closed after
``header_timeout``.
"""

from __future__ import annotations

import json
import socket
import time
from typing import Iterator

import pytest
from support.server_helpers import SUBMIT, raw_request, recorded_request

from opchatgpts_compat.server import DEFAULT_HEADER_TIMEOUT, JSON_MAX_DEPTH, Server

#: Short enough for the suite, long enough for a loaded machine to send a head.
HEADER_TIMEOUT = 1.0
#: How long a test waits for the server to act before it fails.
BOUND = 30.0

DEPTH_ERROR = {
    "code": "rest_invalid_json",
    "message": "Invalid JSON body passed.",
    "data": {
        "status": 400,
        "json_error_code": 1,
        "json_error_message": "Maximum stack depth exceeded",
    },
}


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with Server(header_timeout=HEADER_TIMEOUT) as server:
        yield server


def nested(depth: int, inner: str = "1") -> bytes:
    return ("[" * depth + inner + "]" * depth).encode()


def message_with(value: bytes) -> bytes:
    return b'{"botId":"default","newMessage":"Hi","messages":' + value + b"}"


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(nested(500_000), id="arrays-500000"),
        pytest.param(b'{"a":' * 150_000 + b"1" + b"}" * 150_000, id="objects-150000"),
        pytest.param(b"[" * 500_000, id="unclosed-500000"),
        pytest.param(nested(JSON_MAX_DEPTH + 1), id="arrays-513"),  # Python reads it, PHP not
        pytest.param(message_with(nested(JSON_MAX_DEPTH)), id="deep-in-a-message"),
    ],
)
def test_json_deeper_than_php_reads_is_rest_invalid_json(server: Server, body: bytes) -> None:
    headers = {"Content-Type": "application/json", "X-WP-Nonce": server.nonce}
    answer = raw_request(server.port, "POST", SUBMIT, body, headers, timeout=BOUND)
    assert answer.status == 400
    assert json.loads(answer.body) == DEPTH_ERROR
    # and the server goes on serving
    ok = raw_request(server.port, "POST", SUBMIT, recorded_request("2.0"), headers)
    assert ok.status == 200


def test_json_as_deep_as_php_reads_is_read(server: Server) -> None:
    headers = {"Content-Type": "application/json", "X-WP-Nonce": server.nonce}
    body = message_with(nested(JSON_MAX_DEPTH - 1))  # 512 levels with the object
    answer = raw_request(server.port, "POST", SUBMIT, body, headers, timeout=BOUND)
    assert answer.status == 200


def _closed_by_server(sock: socket.socket) -> bool:
    """Whether the server closes ``sock`` (read until EOF) before ``BOUND`` seconds."""
    sock.settimeout(BOUND)
    try:
        while sock.recv(65536):
            pass
    except socket.timeout:
        return False
    except ConnectionResetError:
        return True
    return True


@pytest.mark.parametrize(
    "sent",
    [
        pytest.param(b"", id="nothing"),
        pytest.param(
            b"POST /wp-json/mwai-ui/v1/chats/submit HTTP/1.1\r\nHost: x\r\n", id="half-head"
        ),
        pytest.param(b"GET / HTTP/1.1\r\nHost: x\r\nX-A: b\r", id="head-short-of-its-end"),
        pytest.param(b"\r\n\r\n\r\n", id="empty-lines-only"),
        pytest.param(b"GET / HTTP/1.1", id="request-line-only"),
    ],
)
def test_a_connection_without_a_whole_head_is_closed(server: Server, sent: bytes) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=BOUND) as sock:
        sock.sendall(sent)
        assert _closed_by_server(sock)


def test_a_head_trickled_in_does_not_reset_the_deadline(server: Server) -> None:
    """Slowloris: ten bytes every 10 ms, 3 s for the whole head; cut after HEADER_TIMEOUT."""
    lines = b"".join(b"X-Slow-%d: %s\r\n" % (n, b"a" * 90) for n in range(30))
    head = b"GET / HTTP/1.1\r\nHost: x\r\n" + lines + b"\r\n"
    sent = 0
    with socket.create_connection(("127.0.0.1", server.port), timeout=BOUND) as sock:
        with pytest.raises(OSError):  # EPIPE or ECONNRESET once the server has closed
            while sent < len(head):
                sock.sendall(head[sent : sent + 10])
                sent += 10
                time.sleep(0.01)  # the pace of the attack, not a wait for the server
    assert sent < len(head)


def test_a_whole_head_then_a_slow_body_is_answered(server: Server) -> None:
    """The deadline is for the head: the body, and the answer, take what they take."""
    body = recorded_request("2.0")
    head = (
        f"POST {SUBMIT} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"X-WP-Nonce: {server.nonce}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=BOUND) as sock:
        sock.sendall(head)
        # Past the header timeout, yet the request is being read: not closed.
        sock.settimeout(HEADER_TIMEOUT * 3)
        with pytest.raises(socket.timeout):
            sock.recv(1)
        sock.settimeout(BOUND)
        sock.sendall(body)
        received = b""
        while True:
            piece = sock.recv(65536)
            if not piece:
                break
            received += piece
    assert received.startswith(b"HTTP/1.1 200 OK\r\n")


def test_the_header_timeout_is_an_option() -> None:
    assert Server().header_timeout == DEFAULT_HEADER_TIMEOUT == 20.0
    for bad in (0, -1.0):
        with pytest.raises(ValueError):
            Server(header_timeout=bad)
