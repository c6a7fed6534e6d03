"""The load server: an AI Engine stream on 127.0.0.1, in its own process.

It must never be the bottleneck, so bodies are built once per scenario and
written in 64 KiB pieces; framing is part of the prebuilt bytes.  ``framing=
frame`` makes every frame its own HTTP chunk (what PHP's ``flush()`` gives);
``coalesced`` puts up to 64 KiB of frames in each chunk.  With ``delay`` or
``stamp`` each frame is written (and flushed) on its own, ``stamp`` putting the
server's ``time.monotonic_ns()`` at the moment of the write in the token.  An
HTTP/1.0 request (the raw-socket "limit" client) gets the same frames without
chunked framing, delimited by closing the connection.

Usage: ``python bench/server.py`` prints ``PORT <n>`` and serves until killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from pathlib import Path
from typing import Dict, List, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import decode, end_frame, live_frame, tokens

WRITE_SIZE = 64 * 1024
HEADERS = (
    b"Content-Type: text/event-stream; charset=UTF-8\r\n"
    b"Cache-Control: no-cache\r\n"
    b"X-Accel-Buffering: no\r\n"
)

_cache: Dict[str, Tuple[List[bytes], List[bytes]]] = {}


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def _split(body: bytes) -> List[bytes]:
    return [body[i : i + WRITE_SIZE] for i in range(0, len(body), WRITE_SIZE)]


def _pieces(prefix: str, chunked: bool) -> List[bytes]:
    """The whole answer body, prebuilt, in write-sized pieces."""
    if prefix not in _cache:
        params = decode(prefix)
        frames = [live_frame(t) for t in tokens(params)] + [end_frame(params)]
        raw = b"".join(frames)
        if params["framing"] == "frame":
            body = b"".join(_chunk(f) for f in frames) + b"0\r\n\r\n"
        else:
            body = b"".join(_chunk(p) for p in _split(raw)) + b"0\r\n\r\n"
        _cache.clear()  # one scenario at a time: keep the memory small
        _cache[prefix] = (_split(raw), _split(body))
    return _cache[prefix][chunked]


async def _paced(writer: asyncio.StreamWriter, prefix: str, chunked: bool) -> None:
    params = decode(prefix)
    delay = int(params["delay"]) / 1e6
    stamp = bool(params["stamp"])
    wrap = _chunk if chunked else (lambda b: b)
    toks = tokens(params)
    for i in range(int(params["n"])):
        if i and delay:
            await asyncio.sleep(delay)
        token = str(time.monotonic_ns()) if stamp else toks[i]
        writer.write(wrap(live_frame(token)))
        await writer.drain()
    writer.write(wrap(end_frame(params)))
    if chunked:
        writer.write(b"0\r\n\r\n")
    await writer.drain()


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            lines = head.split(b"\r\n")
            method, target, version = lines[0].split(b" ", 2)
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if length:
                await reader.readexactly(length)
            path = target.decode()
            prefix = path.split("/")[2] if path.startswith("/b/") else ""
            chunked = version == b"HTTP/1.1"
            params = decode(prefix)
            if method == b"GET":  # the runner's warm-up: build the body now
                _pieces(prefix, chunked)
                writer.write(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
                await writer.drain()
                return
            framing = b"Transfer-Encoding: chunked\r\n" if chunked else b"Connection: close\r\n"
            writer.write(b"HTTP/1.1 200 OK\r\n" + HEADERS + framing + b"\r\n")
            if int(params["delay"]) or int(params["stamp"]):
                await _paced(writer, prefix, chunked)
            else:
                for piece in _pieces(prefix, chunked):
                    writer.write(piece)
                    await writer.drain()
            if not chunked:
                return
    except ConnectionError:
        return
    finally:
        writer.close()


async def main() -> None:
    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=4096)
    port = server.sockets[0].getsockname()[1]
    print(f"PORT {port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
