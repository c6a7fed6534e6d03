"""A raw HTTP/1.1 server on 127.0.0.1 for the tests: asyncio streams, no framework.

Raw sockets, so a handler writes exactly the bytes it is given (status line,
headers, chunk framing) in the pieces it chooses.  The server runs its own
event loop in a thread, so the blocking client can talk to it from a test,
and the asyncio client from the test's own loop.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from typing import Awaitable, Callable, Dict, List, Optional, Set, Tuple
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    """One request as the server read it."""

    method: str
    target: str
    headers: List[Tuple[str, str]]
    body: bytes
    at: float = field(default_factory=time.monotonic)

    def header(self, name: str) -> Optional[str]:
        name = name.lower()
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> Dict[str, List[str]]:
        return parse_qs(urlsplit(self.target).query, keep_blank_values=True)

    @property
    def cookies(self) -> Dict[str, str]:
        jar: Dict[str, str] = {}
        for part in (self.header("Cookie") or "").split(";"):
            name, _, value = part.strip().partition("=")
            if name:
                jar[name] = value
        return jar


class Writer:
    """What a handler writes to: raw bytes, each piece flushed on its own."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer
        #: (monotonic time, bytes) of every piece written.
        self.sent: List[Tuple[float, bytes]] = []

    @property
    def closed(self) -> bool:
        """The server closed this connection (it is stopping)."""
        return self._writer.is_closing()

    async def write(self, data: bytes) -> None:
        self._writer.write(data)
        await self._writer.drain()
        self.sent.append((time.monotonic(), data))


#: A handler answers one request; it returns whether the connection stays open.
Handler = Callable[[Request, Writer], Awaitable[bool]]


def chunk(data: bytes) -> bytes:
    """``data`` as one HTTP/1.1 chunk."""
    return b"%x\r\n%s\r\n" % (len(data), data)


def response_head(status: str, headers: List[Tuple[str, str]]) -> bytes:
    lines = [f"HTTP/1.1 {status}"] + [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class LoopbackServer:
    """Serve ``handler`` on ``127.0.0.1:<free port>`` from a thread until :meth:`stop`."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: List[Request] = []
        self.writers: List[Writer] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: Optional[asyncio.base_events.Server] = None
        self._open: Set[asyncio.StreamWriter] = set()
        self._tasks: Set[asyncio.Task[None]] = set()
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LoopbackServer:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        future.result(10)
        return self

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _stop(self) -> None:
        assert self._server is not None
        self._server.close()
        # Closing the sockets ends each connection's loop; cancelling its task
        # instead makes asyncio log the CancelledError from start_server's callback.
        for stream in list(self._open):
            stream.close()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _connection(self, reader: asyncio.StreamReader, stream: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._open.add(stream)
        writer = Writer(stream)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    break
                request = _parse(head)
                length = int(request.header("Content-Length") or 0)
                request.body = await reader.readexactly(length) if length else b""
                self.requests.append(request)
                self.writers.append(writer)
                if not await self.handler(request, writer):
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            stream.close()
            self._open.discard(stream)
            self._tasks.discard(task)

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _parse(head: bytes) -> Request:
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers = []
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers.append((name.strip(), value.strip()))
    return Request(method, target, headers, b"")
