"""The blocking front end's chunked reading gives what aiohttp's parser gives.

Each answer below is served byte for byte by a loopback socket server
(``support.fault_server``, every byte written by the script, head included),
with pauses between the writes, and read by ``Client`` (its adapter feeding the
core ``ChunkedReader``, many chunks per read) and by ``AsyncClient`` (aiohttp's
llhttp, whose rules the core reader follows).  Chunks, reply and error
(class, message, partial text) must match.
"""

from __future__ import annotations

import asyncio
import gzip
import random
from typing import Any, Dict, Iterator, List, Tuple

import pytest
from support.fault_server import FaultServer, Pause, Script, Step, chunk

from opchatgpts_compat import AsyncClient, Client, IncompleteStreamError, _chunked

HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"


def _frame(kind: str, data: str) -> bytes:
    return b'data: {"type":"%s","data":"%s"}\n\n' % (kind.encode(), data.encode())


END = b'data: {"type":"end","data":"{\\"success\\":true,\\"reply\\":\\"abc\\"}"}\n\n'
FRAMES = [_frame("live", t) for t in ("a", "b", "c")]

#: The writes of each answer, head included: bytes, or a pause between two.
SCRIPTS: Dict[str, List[Step]] = {
    "chunk-per-frame": [HEAD, *(chunk(f) for f in FRAMES), chunk(END), b"0\r\n\r\n"],
    "paced": [
        HEAD,
        chunk(FRAMES[0]),
        Pause(0.05),
        chunk(FRAMES[1]),
        Pause(0.05),
        chunk(END),
        b"0\r\n\r\n",
    ],
    "one-chunk": [HEAD, chunk(b"".join(FRAMES) + END), b"0\r\n\r\n"],
    "split-everywhere": [
        HEAD,
        chunk(FRAMES[0])[:1],
        Pause(0.02),
        chunk(FRAMES[0])[1:9],
        Pause(0.02),
        chunk(FRAMES[0])[9:-1],
        Pause(0.02),
        chunk(FRAMES[0])[-1:] + chunk(FRAMES[1])[:3],
        Pause(0.02),
        chunk(FRAMES[1])[3:] + chunk(END) + b"0\r\n",
        Pause(0.02),
        b"\r\n",
    ],
    "extensions": [HEAD, chunk(FRAMES[0], b";a=b"), chunk(END, b' \t;x;y="; z"'), b"0\r\n\r\n"],
    "no-end-frame": [HEAD, *(chunk(f) for f in FRAMES), b"0\r\n\r\n"],
    "cut-inside-chunk": [HEAD, chunk(FRAMES[0]), chunk(FRAMES[1])[:-9]],
    "cut-between-chunks": [HEAD, chunk(FRAMES[0]), chunk(FRAMES[1])],
    "cut-inside-size": [HEAD, chunk(FRAMES[0]), b"2"],
    # A pause before the break: aiohttp's parser refuses all of a read that
    # holds one, the chunk before it too (issue 11).
    "bad-size": [HEAD, chunk(FRAMES[0]), Pause(0.05), b"zz\r\n" + FRAMES[1] + b"\r\n"],
    "negative-size": [HEAD, chunk(FRAMES[0]), Pause(0.05), b"-5\r\nabcde\r\n"],
    "empty-body": [HEAD, b"0\r\n\r\n"],
    "timeout": [HEAD, chunk(FRAMES[0]), Pause(1.5)],
    "timeout-inside-chunk": [HEAD, chunk(FRAMES[0])[:10], Pause(1.5)],
    "status-500": [
        b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n",
        chunk(b'{"success":false,'),
        chunk(b'"message":"Nope"}'),
        b"0\r\n\r\n",
    ],
    "gzip": [
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Encoding: gzip\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n",
        chunk(gzip.compress(b"".join(FRAMES) + END)),
        b"0\r\n\r\n",
    ],
    "not-chunked": [
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n",
        *FRAMES,
        END,
    ],
}


def _random_writes(body: bytes, seed: int) -> List[Step]:
    rng = random.Random(seed)
    script: List[Step] = [HEAD]
    at = 0
    while at < len(body):
        size = rng.choice([1, 2, 3, 5, 40, 200])
        script += [body[at : at + size], Pause(0.002)]
        at += size
    return script


_MANY = b"".join(chunk(_frame("live", str(i))) for i in range(40)) + chunk(END) + b"0\r\n\r\n"
SCRIPTS["random-writes-1"] = _random_writes(_MANY, 1)
SCRIPTS["random-writes-2"] = _random_writes(_MANY, 2)


@pytest.fixture(scope="module")
def server() -> Iterator[FaultServer]:
    with FaultServer() as s:
        yield s


def _serve(server: FaultServer, name: str, writes: List[Step]) -> str:
    """Answer each request under ``/{name}/`` with ``writes``, then shut down
    the connection (EOF for the client); returns that ``base_url``."""
    return server.route(name, Script(framing="raw", body=writes))


def _read(base_url: str) -> Tuple[List[str], Any, Any]:
    chunks: List[str] = []
    error: Any = None
    with Client(base_url=base_url, timeout=0.5) as client:
        stream = client.stream([{"role": "user", "content": "Hi"}])
        try:
            with stream:
                for text in stream:
                    chunks.append(text)
        except Exception as exc:
            error = (type(exc), str(exc), getattr(exc, "partial", None))
    reply = stream.reply.text if stream.reply is not None else None
    return chunks, reply, error


def _read_async(base_url: str) -> Tuple[List[str], Any, Any]:
    async def read() -> Tuple[List[str], Any, Any]:
        chunks: List[str] = []
        error: Any = None
        async with AsyncClient(base_url=base_url, timeout=0.5) as client:
            stream = client.stream([{"role": "user", "content": "Hi"}])
            try:
                async with stream:
                    async for text in stream:
                        chunks.append(text)
            except Exception as exc:
                error = (type(exc), str(exc), getattr(exc, "partial", None))
        reply = stream.reply.text if stream.reply is not None else None
        return chunks, reply, error

    return asyncio.run(read())


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_same_as_aiohttp(name: str, server: FaultServer) -> None:
    base_url = _serve(server, name, SCRIPTS[name])
    assert _read(base_url) == _read_async(base_url)


#: Framing http.client lets through but aiohttp's parser (llhttp) refuses: the
#: blocking front end's reader refuses it too (issue 11, README "Framing"),
#: after handing over the chunks before it.
STRICT = {
    "lf-only-size-line": [
        HEAD,
        chunk(FRAMES[0]),
        Pause(0.05),
        chunk(END).replace(b"\r\n", b"\n", 1),
    ],
    "blank-after-semicolon": [HEAD, chunk(FRAMES[0]), Pause(0.05), chunk(END, b"; x")],
    "0x-size": [HEAD, chunk(FRAMES[0]), Pause(0.05), b"0x%x\r\n%s\r\n" % (len(END), END)],
    "17-digit-size": [HEAD, chunk(FRAMES[0]), Pause(0.05), b"0%016x\r\n%s\r\n" % (len(END), END)],
}


@pytest.mark.parametrize("name", sorted(STRICT))
def test_stricter_than_read1(name: str, server: FaultServer) -> None:
    base_url = _serve(server, name, STRICT[name])
    chunks, reply, error = _read(base_url)
    assert (chunks, reply) == (["a"], None)
    message = f"The connection to http://127.0.0.1:{server.port} was lost before the end frame"
    assert error == (IncompleteStreamError, message, "a")


def test_reader_is_used(server: FaultServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """A chunked body goes through the core reader, many chunks per call."""
    given: List[bytes] = []
    original = _chunked.ChunkedReader.read

    def spy(self: _chunked.ChunkedReader) -> bytes:
        given.append(original(self))
        return given[-1]

    monkeypatch.setattr(_chunked.ChunkedReader, "read", spy)
    writes: List[Step] = [HEAD, b"".join(chunk(f) for f in FRAMES) + chunk(END) + b"0\r\n\r\n"]
    assert _read(_serve(server, "reader", writes)) == (["a", "b", "c"], "abc", None)
    assert b"".join(FRAMES) + END in given  # four chunks in one call
