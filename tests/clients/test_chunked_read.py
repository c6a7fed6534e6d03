"""The blocking front end's chunked reading gives what aiohttp's parser gives.

Each answer below is served byte for byte by a loopback socket server, with
pauses between the writes, and read by ``Client`` (its adapter feeding the
core ``ChunkedReader``, many chunks per read) and by ``AsyncClient`` (aiohttp's
llhttp, whose rules the core reader follows).  Chunks, reply and error
(class, message, partial text) must match.
"""

from __future__ import annotations

import asyncio
import gzip
import random
import socket
import threading
import time
from typing import Any, Iterator, List, Tuple, Union

import pytest

from opchatgpts_compat import AsyncClient, Client, IncompleteStreamError, _chunked

Script = List[Union[bytes, float]]  # bytes to write, or seconds to wait

HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"


def _chunk(data: bytes, ext: bytes = b"") -> bytes:
    return b"%x%s\r\n%s\r\n" % (len(data), ext, data)


def _frame(kind: str, data: str) -> bytes:
    return b'data: {"type":"%s","data":"%s"}\n\n' % (kind.encode(), data.encode())


END = b'data: {"type":"end","data":"{\\"success\\":true,\\"reply\\":\\"abc\\"}"}\n\n'
FRAMES = [_frame("live", t) for t in ("a", "b", "c")]

SCRIPTS = {
    "chunk-per-frame": [HEAD, *(_chunk(f) for f in FRAMES), _chunk(END), b"0\r\n\r\n"],
    "paced": [HEAD, _chunk(FRAMES[0]), 0.05, _chunk(FRAMES[1]), 0.05, _chunk(END), b"0\r\n\r\n"],
    "one-chunk": [HEAD, _chunk(b"".join(FRAMES) + END), b"0\r\n\r\n"],
    "split-everywhere": [
        HEAD,
        _chunk(FRAMES[0])[:1],
        0.02,
        _chunk(FRAMES[0])[1:9],
        0.02,
        _chunk(FRAMES[0])[9:-1],
        0.02,
        _chunk(FRAMES[0])[-1:] + _chunk(FRAMES[1])[:3],
        0.02,
        _chunk(FRAMES[1])[3:] + _chunk(END) + b"0\r\n",
        0.02,
        b"\r\n",
    ],
    "extensions": [HEAD, _chunk(FRAMES[0], b";a=b"), _chunk(END, b' \t;x;y="; z"'), b"0\r\n\r\n"],
    "no-end-frame": [HEAD, *(_chunk(f) for f in FRAMES), b"0\r\n\r\n"],
    "cut-inside-chunk": [HEAD, _chunk(FRAMES[0]), _chunk(FRAMES[1])[:-9]],
    "cut-between-chunks": [HEAD, _chunk(FRAMES[0]), _chunk(FRAMES[1])],
    "cut-inside-size": [HEAD, _chunk(FRAMES[0]), b"2"],
    # A pause before the break: aiohttp's parser refuses all of a read that
    # holds one, the chunk before it too (issue 11).
    "bad-size": [HEAD, _chunk(FRAMES[0]), 0.05, b"zz\r\n" + FRAMES[1] + b"\r\n"],
    "negative-size": [HEAD, _chunk(FRAMES[0]), 0.05, b"-5\r\nabcde\r\n"],
    "empty-body": [HEAD, b"0\r\n\r\n"],
    "timeout": [HEAD, _chunk(FRAMES[0]), 1.5],
    "timeout-inside-chunk": [HEAD, _chunk(FRAMES[0])[:10], 1.5],
    "status-500": [
        b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n",
        _chunk(b'{"success":false,'),
        _chunk(b'"message":"Nope"}'),
        b"0\r\n\r\n",
    ],
    "gzip": [
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Encoding: gzip\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n",
        _chunk(gzip.compress(b"".join(FRAMES) + END)),
        b"0\r\n\r\n",
    ],
    "not-chunked": [
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n",
        *FRAMES,
        END,
    ],
}


def _random_writes(body: bytes, seed: int) -> Script:
    rng = random.Random(seed)
    script: Script = [HEAD]
    at = 0
    while at < len(body):
        size = rng.choice([1, 2, 3, 5, 40, 200])
        script += [body[at : at + size], 0.002]
        at += size
    return script


_MANY = b"".join(_chunk(_frame("live", str(i))) for i in range(40)) + _chunk(END) + b"0\r\n\r\n"
SCRIPTS["random-writes-1"] = _random_writes(_MANY, 1)
SCRIPTS["random-writes-2"] = _random_writes(_MANY, 2)


class _Server:
    """Serve one script per connection, then close the connection."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.script: Script = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn, self.script), daemon=True).start()

    def _answer(self, conn: socket.socket, script: Script) -> None:
        with conn:
            request = b""
            while b"\r\n\r\n" not in request:
                request += conn.recv(65536)
            head, _, body = request.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            while len(body) < length:
                body += conn.recv(65536)
            try:
                for step in script:
                    if isinstance(step, float):
                        time.sleep(step)
                    else:
                        conn.sendall(step)
            except OSError:
                pass

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def server() -> Iterator[_Server]:
    s = _Server()
    yield s
    s.close()


def _read(port: int) -> Tuple[List[str], Any, Any]:
    chunks: List[str] = []
    error: Any = None
    with Client(base_url=f"http://127.0.0.1:{port}", timeout=0.5) as client:
        stream = client.stream([{"role": "user", "content": "Hi"}])
        try:
            with stream:
                for chunk in stream:
                    chunks.append(chunk)
        except Exception as exc:
            error = (type(exc), str(exc), getattr(exc, "partial", None))
    reply = stream.reply.text if stream.reply is not None else None
    return chunks, reply, error


def _read_async(port: int) -> Tuple[List[str], Any, Any]:
    async def read() -> Tuple[List[str], Any, Any]:
        chunks: List[str] = []
        error: Any = None
        async with AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=0.5) as client:
            stream = client.stream([{"role": "user", "content": "Hi"}])
            try:
                async with stream:
                    async for chunk in stream:
                        chunks.append(chunk)
            except Exception as exc:
                error = (type(exc), str(exc), getattr(exc, "partial", None))
        reply = stream.reply.text if stream.reply is not None else None
        return chunks, reply, error

    return asyncio.run(read())


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_same_as_aiohttp(name: str, server: _Server) -> None:
    server.script = SCRIPTS[name]
    assert _read(server.port) == _read_async(server.port)


#: Framing http.client lets through but aiohttp's parser (llhttp) refuses: the
#: blocking front end's reader refuses it too (issue 11, README "Framing"),
#: after handing over the chunks before it.
STRICT = {
    "lf-only-size-line": [HEAD, _chunk(FRAMES[0]), 0.05, _chunk(END).replace(b"\r\n", b"\n", 1)],
    "blank-after-semicolon": [HEAD, _chunk(FRAMES[0]), 0.05, _chunk(END, b"; x")],
    "0x-size": [HEAD, _chunk(FRAMES[0]), 0.05, b"0x%x\r\n%s\r\n" % (len(END), END)],
    "17-digit-size": [HEAD, _chunk(FRAMES[0]), 0.05, b"0%016x\r\n%s\r\n" % (len(END), END)],
}


@pytest.mark.parametrize("name", sorted(STRICT))
def test_stricter_than_read1(name: str, server: _Server) -> None:
    server.script = STRICT[name]
    chunks, reply, error = _read(server.port)
    assert (chunks, reply) == (["a"], None)
    message = f"The connection to http://127.0.0.1:{server.port} was lost before the end frame"
    assert error == (IncompleteStreamError, message, "a")


def test_reader_is_used(server: _Server, monkeypatch: pytest.MonkeyPatch) -> None:
    """A chunked body goes through the core reader, many chunks per call."""
    given: List[bytes] = []
    original = _chunked.ChunkedReader.read

    def spy(self: _chunked.ChunkedReader) -> bytes:
        given.append(original(self))
        return given[-1]

    monkeypatch.setattr(_chunked.ChunkedReader, "read", spy)
    server.script = [HEAD, b"".join(_chunk(f) for f in FRAMES) + _chunk(END) + b"0\r\n\r\n"]
    assert _read(server.port) == (["a", "b", "c"], "abc", None)
    assert b"".join(FRAMES) + END in given  # four chunks in one call
