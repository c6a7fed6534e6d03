"""A fault-injection HTTP/1.1 server for the tests, on raw asyncio streams.

Every byte the client sees is written by a :class:`Script`: the status line,
the headers, and body steps that write bytes, pause, trickle one byte at a
time, stall until the client gives up, cut the connection (``shutdown`` of the
write side, so the client reads EOF), or reset it.  Nothing is buffered or
re-framed behind the test's back: with ``framing="chunked"`` each ``bytes``
step is one chunk, :class:`Raw` bypasses the framing (a cut inside a chunk),
with ``"close"`` the body ends when the server shuts down its side, with
``"length"`` a ``Content-Length`` covers the ``bytes`` steps.

Per connection the server records the requests read and, above all, whether and
when the *client* closed it (EOF or reset seen while the server still held the
connection open): tests assert that an error or an early exit released the
connection at once, checked on the far side of a real socket.

The server runs in a thread with its own event loop (:class:`ServerThread`),
so the blocking client and the asyncio client are tested against the same
bytes; it serves ``http://`` or, given an ``ssl.SSLContext``, ``https://``.
Routes are the first path segment: ``server.url("cut")`` is the ``base_url``
whose requests the script named ``cut`` answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

__all__ = [
    "Abort",
    "Connection",
    "Cut",
    "FaultServer",
    "Pause",
    "Raw",
    "Repeat",
    "Request",
    "Script",
    "ServerThread",
    "Stall",
    "Trickle",
    "end_frame",
    "error_frame",
    "frame",
    "live",
]

SSE = "text/event-stream; charset=UTF-8"
#: How long a test waits for something that must happen (never reached when green).
BOUND = 10.0


# -- frames -------------------------------------------------------------------------


def frame(obj: Any) -> bytes:
    """One ``data:`` frame, as AI Engine writes it (compact JSON, ``\\n\\n``)."""
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"


def live(text: str) -> bytes:
    return frame({"type": "live", "data": text})


def end_frame(reply: Optional[str] = None, **extra: Any) -> bytes:
    answer: Dict[str, Any] = {"success": True, "reply": reply, "images": None, "usage": None}
    answer.update(extra)
    return frame({"type": "end", "data": json.dumps(answer)})


def error_frame(message: str) -> bytes:
    return frame({"type": "error", "data": message})


# -- scripts ----------------------------------------------------------------------


@dataclass(frozen=True)
class Pause:
    """Wait ``seconds`` (the client sees nothing)."""

    seconds: float


@dataclass(frozen=True)
class Stall:
    """Send nothing more, keep the connection open until the client closes it."""


@dataclass(frozen=True)
class Cut:
    """Shut down the write side: the client reads EOF wherever the body is."""


@dataclass(frozen=True)
class Abort:
    """Reset the connection (RST)."""


@dataclass(frozen=True)
class Raw:
    """Bytes written as they are, outside any chunked framing."""

    data: bytes


@dataclass(frozen=True)
class Trickle:
    """``data`` one byte per write (one chunk per byte when chunked), ``interval`` apart."""

    data: bytes
    interval: float = 0.0


@dataclass(frozen=True)
class Repeat:
    """``data`` written ``count`` times, one write each: big bodies without big buffers."""

    data: bytes
    count: int


Step = Union[bytes, Pause, Stall, Cut, Abort, Raw, Trickle, Repeat]


@dataclass
class Script:
    """One answer: status, headers and body steps."""

    status: int = 200
    headers: Sequence[Tuple[str, str]] = (("Content-Type", SSE),)
    body: Sequence[Step] = ()
    #: "chunked", "close", "length", or "raw": no head, the steps write every byte.
    framing: str = "chunked"
    reason: Optional[str] = None
    #: Read the request, then stall or reset before the status line.
    before_head: Optional[Union[Stall, Abort]] = None
    #: Bytes written before the status line: 1xx answers (103 Early Hints).
    interim: bytes = b""

    @property
    def keeps_alive(self) -> bool:
        """The answer ends whole and the connection stays fit for another request."""
        return (
            self.before_head is None
            and self.framing in ("chunked", "length")  # not "close" or "raw"
            and not any(isinstance(step, (Stall, Cut, Abort)) for step in self.body)
        )

    def head(self) -> bytes:
        if self.framing == "raw":
            return self.interim
        reason = self.reason
        if reason is None:
            from http import HTTPStatus

            try:
                reason = HTTPStatus(self.status).phrase
            except ValueError:
                reason = "Whatever"
        lines = [f"HTTP/1.1 {self.status} {reason}"]
        lines += [f"{name}: {value}" for name, value in self.headers]
        if self.framing == "chunked":
            lines.append("Transfer-Encoding: chunked")
        elif self.framing == "length":
            size = 0
            for step in self.body:
                if isinstance(step, bytes):
                    size += len(step)
                elif isinstance(step, Repeat):
                    size += len(step.data) * step.count
            lines.append(f"Content-Length: {size}")
        elif self.framing == "close":
            lines.append("Connection: close")
        return self.interim + ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


Route = Union[Script, Callable[["Request"], Script]]


@dataclass
class Request:
    method: str
    target: str
    headers: Dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Connection:
    """What the server saw of one TCP connection."""

    number: int
    route: Optional[str] = None
    requests: List[Request] = field(default_factory=list)
    #: Set once the connection is gone, whoever closed it.
    gone: threading.Event = field(default_factory=threading.Event)
    #: The client closed it (EOF or reset) while the server still held it open.
    closed_by_client: bool = False
    #: What the server was doing then: "head", "body", "stall", "idle".
    closed_during: Optional[str] = None
    #: ``time.monotonic()`` when the client's close was seen.
    closed_at: Optional[float] = None
    #: The server cut or reset it itself (a script step).
    cut_by_server: bool = False
    #: Answers sent whole (the connection was then fit for another request).
    complete: int = 0

    def wait_gone(self, timeout: float = BOUND) -> bool:
        return self.gone.wait(timeout)


class _ClientGone(Exception):
    pass


class FaultServer:
    """The asyncio server.  Use :class:`ServerThread` to run it."""

    def __init__(self, *, ssl_context: Optional[ssl.SSLContext] = None) -> None:
        self.routes: Dict[str, Route] = {}
        self.connections: List[Connection] = []
        self.ssl_context = ssl_context
        self.port = 0
        self._server: Optional[asyncio.AbstractServer] = None
        self._active = 0
        self._idle = threading.Condition()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def scheme(self) -> str:
        return "https" if self.ssl_context is not None else "http"

    @property
    def origin(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def url(self, route: str) -> str:
        return f"{self.origin}/{route}"

    def route(self, name: str, script: Route) -> str:
        """Answer requests under ``/{name}/`` with ``script``; returns the base_url."""
        self.routes[name] = script
        return self.url(name)

    def connections_for(self, route: str) -> List[Connection]:
        return [c for c in list(self.connections) if c.route == route]

    @property
    def active(self) -> int:
        return self._active

    def wait_idle(self, timeout: float = BOUND) -> bool:
        """Wait until no connection is open (the count /proc/self/fd sees is ours)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._active == 0, timeout)

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._serve, "127.0.0.1", 0, ssl=self.ssl_context, backlog=2048, limit=2**20
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self._server.wait_closed()

    # -- one connection -------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        conn = Connection(len(self.connections))
        self.connections.append(conn)
        with self._idle:
            self._active += 1
        buffer = bytearray()
        pending: Optional[asyncio.Task[bytes]] = None
        phase = "idle"

        async def receive() -> bytes:
            nonlocal pending
            if pending is None:
                pending = asyncio.ensure_future(reader.read(65536))
            try:
                data = await pending
            except (ConnectionError, ssl.SSLError):
                data = b""
            finally:
                pending = None
            if not data:
                raise _ClientGone
            return data

        def watch() -> None:
            # Read ahead while answering: EOF or a reset means the client closed.
            nonlocal pending
            if pending is None:
                pending = asyncio.ensure_future(reader.read(65536))

        def client_left() -> bool:
            if pending is None or not pending.done():
                return False
            return bool(pending.cancelled() or pending.exception() or not pending.result())

        try:
            while True:
                phase = "idle"
                request = await self._read_request(buffer, receive)
                conn.requests.append(request)
                path = request.target
                if "://" in path:  # absolute form, from a proxy that passed it on
                    path = "/" + path.split("://", 1)[1].partition("/")[2]
                name = path.lstrip("/").split("/", 1)[0]
                conn.route = conn.route or name
                route = self.routes.get(name)
                if route is None:
                    script = Script(404, (("Content-Type", "text/plain"),), [b"no route"], "length")
                else:
                    script = route(request) if callable(route) else route
                watch()
                phase = "head"
                if isinstance(script.before_head, Stall):
                    while True:
                        await receive()
                if isinstance(script.before_head, Abort):
                    conn.cut_by_server = True
                    _reset(writer)
                    return
                writer.write(script.head())
                await writer.drain()
                phase = "body"
                ended = await self._body(script, writer, client_left)
                if client_left():
                    raise _ClientGone
                if ended == "stall":
                    phase = "stall"
                    while True:
                        await receive()  # stray bytes: keep stalling
                if ended in ("cut", "abort"):
                    conn.cut_by_server = True
                    if ended == "abort":
                        return
                    phase = "idle"
                    while True:
                        await receive()  # wait for the client to close its side
                # a complete answer: keep the connection for the next request
                conn.complete += 1
                assert pending is not None
                data = await receive()
                buffer += data
        except (_ClientGone, ConnectionError, ssl.SSLError):
            conn.closed_by_client = True
            conn.closed_during = phase
            conn.closed_at = time.monotonic()
        except asyncio.CancelledError:
            pass
        finally:
            if pending is not None:
                pending.cancel()
            with contextlib.suppress(Exception):
                writer.close()
            conn.gone.set()
            self._tasks.discard(task)
            with self._idle:
                self._active -= 1
                self._idle.notify_all()

    async def _read_request(self, buffer: bytearray, receive: Callable[[], Any]) -> Request:
        while b"\r\n\r\n" not in buffer:
            buffer += await receive()
        head, _, rest = bytes(buffer).partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, target, _version = lines[0].split(" ", 2)
        headers: Dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        size = int(headers.get("content-length", "0"))
        body = bytearray(rest)
        while len(body) < size:
            body += await receive()
        buffer[:] = body[size:]
        return Request(method, target, headers, bytes(body[:size]))

    async def _body(
        self,
        script: Script,
        writer: asyncio.StreamWriter,
        client_left: Callable[[], bool],
    ) -> str:
        chunked = script.framing == "chunked"

        async def put(data: bytes) -> None:
            if not data:
                return
            if client_left():
                raise _ClientGone
            writer.write(b"%x\r\n%s\r\n" % (len(data), data) if chunked else data)
            await writer.drain()

        for step in script.body:
            if isinstance(step, bytes):
                await put(step)
            elif isinstance(step, Raw):
                writer.write(step.data)
                await writer.drain()
            elif isinstance(step, Repeat):
                for _ in range(step.count):
                    await put(step.data)
            elif isinstance(step, Trickle):
                for i in range(len(step.data)):
                    await put(step.data[i : i + 1])
                    if step.interval:
                        await asyncio.sleep(step.interval)
            elif isinstance(step, Pause):
                await asyncio.sleep(step.seconds)
            elif isinstance(step, Stall):
                return "stall"
            elif isinstance(step, Cut):
                if writer.can_write_eof():
                    writer.write_eof()
                else:  # TLS: close_notify, then the socket
                    writer.close()
                return "cut"
            elif isinstance(step, Abort):
                _reset(writer)
                return "abort"
        if chunked:
            writer.write(b"0\r\n\r\n")
            await writer.drain()
        elif script.framing in ("close", "raw"):
            if writer.can_write_eof():
                writer.write_eof()
            else:
                writer.close()
            return "cut"
        return "complete"


def _reset(writer: asyncio.StreamWriter) -> None:
    # SO_LINGER with a zero timeout: close() sends RST instead of FIN.
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
    writer.transport.abort()


class ServerThread:
    """Run a :class:`FaultServer` (or any object with async ``start``/``stop``)
    in a daemon thread with its own event loop."""

    def __init__(self, server: Any = None, **kwargs: Any) -> None:
        self.server = server if server is not None else FaultServer(**kwargs)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> Any:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(BOUND)
        return self.server

    def __exit__(self, *exc_info: object) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(BOUND)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(BOUND)
        self.loop.close()


def tokens_script(tokens: Iterable[str], *, reply: Optional[str] = None, **kw: Any) -> Script:
    """The plain happy answer: one live frame per token, then ``end``."""
    body: List[Step] = [live(t) for t in tokens]
    body.append(end_frame(reply))
    return Script(body=body, **kw)
