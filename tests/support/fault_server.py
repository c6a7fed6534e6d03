"""The raw HTTP/1.1 server of the tests, on 127.0.0.1: asyncio streams, no framework.

Every byte the client sees is written by the test, in the pieces it chooses,
in one of two styles:

* a **handler** (:class:`LoopbackServer`) answers each request:
  ``async def handler(request, writer) -> bool`` writes the status line, the
  headers and the body through a :class:`Writer` (:func:`response_head`,
  :func:`chunk`) and returns whether the connection stays open;
* a **script** (:class:`FaultServer`) answers each route: the status line,
  the headers, and body steps that write bytes, pause, trickle one byte at a
  time, stall until the client gives up, cut the connection (``shutdown`` of
  the write side, so the client reads EOF), or reset it.  Nothing is buffered
  or re-framed behind the test's back: with ``framing="chunked"`` each
  ``bytes`` step is one chunk, :class:`Raw` bypasses the framing (a cut inside
  a chunk), with ``"close"`` the body ends when the server shuts down its side,
  with ``"length"`` a ``Content-Length`` covers the ``bytes`` steps.  Routes
  are the first path segment: ``server.url("cut")`` is the ``base_url`` whose
  requests the script named ``cut`` answers.

Both serve several requests on one connection, answered in turn, for as long
as the answers leave it fit for another (keep-alive).  Both run on one core,
:class:`RawServer`.  Per connection (``server.connections_for(route)``) it
records the requests read and, above all, whether and when the *client* closed
it (EOF or reset seen while the server still held the connection open): tests
assert that an error or an early exit released the connection at once, and that
a connection meant for another request was kept, checked on the far side of a
real socket.  It serves ``http://`` or, given an ``ssl.SSLContext``,
``https://``.  It runs on an event loop of its own in a daemon thread
(``with server:``, or :class:`ServerThread`), so the blocking client and the
asyncio client are tested against the same bytes; stopping it closes every
connection it accepted, so that no socket outlives that loop.
:func:`refused_port` is the one port that is no server: nothing listens on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import ssl
import threading
import time
import weakref
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import (
    Any,
    Awaitable,
    Callable,
    Dict,
    Iterable,
    Iterator,
    List,
    Optional,
    Sequence,
    Tuple,
    TypeVar,
    Union,
)
from urllib.parse import parse_qs, urlsplit

__all__ = [
    "Abort",
    "Connection",
    "Cut",
    "FaultServer",
    "Freeze",
    "Handler",
    "Headers",
    "LoopbackServer",
    "Pause",
    "Raw",
    "RawServer",
    "Repeat",
    "Request",
    "Script",
    "ServerThread",
    "Stall",
    "Trickle",
    "Writer",
    "chunk",
    "end_frame",
    "error_frame",
    "frame",
    "live",
    "refused_port",
    "response_head",
]

SSE = "text/event-stream; charset=UTF-8"
#: How long a test waits for something that must happen (never reached when green).
BOUND = 10.0
#: Python 3.11+ upgrades an accepted connection to TLS in place, so the server
#: holds every raw socket, those whose handshake fails included (and closes
#: them when it stops).  Before, the listening socket does the handshake.
_START_TLS = hasattr(asyncio.StreamWriter, "start_tls")


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


def chunk(data: bytes, ext: bytes = b"") -> bytes:
    """``data`` as one HTTP/1.1 chunk (``ext``: the chunk extensions, as written)."""
    return b"%x%s\r\n%s\r\n" % (len(data), ext, data)


def response_head(status: str, headers: Iterable[Tuple[str, str]]) -> bytes:
    """The status line (``"200 OK"``) and the header lines, up to the empty line."""
    lines = [f"HTTP/1.1 {status}"] + [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


# -- requests and connections --------------------------------------------------------


class Headers:
    """A request's header lines as sent: iterate for ``(name, value)`` in order,
    or look one up by name in any case (the first line wins)."""

    def __init__(self, lines: Iterable[Tuple[str, str]] = ()) -> None:
        self._lines = list(lines)

    def get(self, name: str, default: Optional[str] = None) -> Optional[str]:
        name = name.lower()
        for key, value in self._lines:
            if key.lower() == name:
                return value
        return default

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __iter__(self) -> Iterator[Tuple[str, str]]:
        return iter(self._lines)

    def __len__(self) -> int:
        return len(self._lines)

    def __repr__(self) -> str:
        return f"Headers({self._lines!r})"


@dataclass
class Request:
    """One request as the server read it."""

    method: str
    target: str
    headers: Headers
    body: bytes
    #: ``time.monotonic()`` when its head was read whole.
    at: float = field(default_factory=time.monotonic)

    def header(self, name: str) -> Optional[str]:
        return self.headers.get(name)

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def route(self) -> str:
        """The first path segment (of an absolute target too, as a proxy passes it on)."""
        path = self.target
        if "://" in path:  # absolute form
            path = path.split("://", 1)[1].partition("/")[2]
        return path.lstrip("/").split("/", 1)[0]

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


@dataclass
class Connection:
    """What the server saw of one TCP connection."""

    number: int
    #: The first path segment of its first request (:attr:`Request.route`).
    route: Optional[str] = None
    requests: List[Request] = field(default_factory=list)
    #: Set once the connection is gone, whoever closed it.
    gone: threading.Event = field(default_factory=threading.Event)
    #: The client closed it (EOF or reset) while the server still held it open.
    closed_by_client: bool = False
    #: What the server was doing then: "handshake", "head", "body", "stall", "idle".
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


class _Stream:
    """One connection's bytes: requests read, and a read kept pending while the
    server answers, so that it sees the client leave whatever it is doing."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, conn: Connection
    ) -> None:
        self.reader = reader
        self.writer = writer
        #: The socket's own transport (under TLS, when the server does the handshake).
        self.raw = writer.transport
        self.conn = conn
        #: What the server is doing: "handshake", "idle", "head", "body", "stall".
        self.phase = "idle"
        self._buffer = bytearray()
        self._pending: Optional[asyncio.Future[bytes]] = None

    async def receive(self) -> bytes:
        """The next bytes from the client; :class:`_ClientGone` at EOF or a reset."""
        self.watch()
        assert self._pending is not None
        try:
            data = await self._pending
        except (ConnectionError, ssl.SSLError):
            data = b""
        finally:
            self._pending = None
        if not data:
            raise _ClientGone
        return data

    def watch(self) -> None:
        """Read ahead while answering: EOF or a reset means the client closed."""
        if self._pending is None:
            self._pending = asyncio.ensure_future(self.reader.read(65536))

    def client_left(self) -> bool:
        pending = self._pending
        if pending is None or not pending.done():
            return False
        return bool(pending.cancelled() or pending.exception() or not pending.result())

    async def read_request(self) -> Request:
        buffer = self._buffer
        while b"\r\n\r\n" not in buffer:
            buffer += await self.receive()
        head, _, rest = bytes(buffer).partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, target, _version = lines[0].split(" ", 2)
        headers = Headers(
            (name.strip(), value.strip())
            for name, _, value in (line.partition(":") for line in lines[1:] if line)
        )
        at = time.monotonic()
        size = int(headers.get("Content-Length") or 0)
        body = bytearray(rest)
        while len(body) < size:
            body += await self.receive()
        buffer[:] = body[size:]
        return Request(method, target, headers, bytes(body[:size]), at)

    async def write(self, data: bytes) -> None:
        if self.client_left():
            raise _ClientGone
        self.writer.write(data)
        await self.writer.drain()

    def end(self) -> None:
        """Shut down the write side: EOF for the client (TLS: close_notify, then the socket)."""
        if self.writer.can_write_eof():
            self.writer.write_eof()
        else:
            self.writer.close()

    def reset(self) -> None:
        """Reset the connection: SO_LINGER with a zero timeout makes close() send RST."""
        sock = self.writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
        self.writer.transport.abort()

    def close(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
        with contextlib.suppress(Exception):
            self.writer.close()


# -- the core ---------------------------------------------------------------------

_S = TypeVar("_S", bound="RawServer")


class RawServer:
    """The core: accepts connections, reads requests, records who closed what.

    ``open()`` and ``aclose()`` run on the server's event loop; ``with server``
    (or :meth:`start` and :meth:`stop`) runs that loop in a thread of its own.
    Subclasses answer through :meth:`_converse`.
    """

    def __init__(self, *, ssl_context: Optional[ssl.SSLContext] = None) -> None:
        self.ssl_context = ssl_context
        self.connections: List[Connection] = []
        #: Every request read, in order, whatever its connection.
        self.requests: List[Request] = []
        self.port = 0
        self._server: Optional[asyncio.AbstractServer] = None
        self._active = 0
        self._idle = threading.Condition()
        self._tasks: set[asyncio.Task[None]] = set()
        #: Every socket accepted and not yet closed (raw, below TLS when it can).
        self._transports: weakref.WeakSet[asyncio.BaseTransport] = weakref.WeakSet()
        self._thread: Optional[ServerThread] = None

    @property
    def scheme(self) -> str:
        return "https" if self.ssl_context is not None else "http"

    @property
    def origin(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return self.origin

    def url(self, route: str) -> str:
        return f"{self.origin}/{route}"

    @property
    def active(self) -> int:
        return self._active

    def connections_for(self, route: str) -> List[Connection]:
        """The connections whose first request was under ``/{route}/``."""
        return [c for c in list(self.connections) if c.route == route]

    def wait_idle(self, timeout: float = BOUND) -> bool:
        """Wait until no connection is open (the count /proc/self/fd sees is ours)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._active == 0, timeout)

    # -- lifecycle ------------------------------------------------------------------

    async def open(self) -> None:
        self._server = await asyncio.start_server(
            self._serve,
            "127.0.0.1",
            0,
            ssl=None if _START_TLS else self.ssl_context,
            backlog=2048,
            limit=2**20,
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def aclose(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        # A TLS connection still closing politely waits for the client's
        # close_notify: close its socket now, not after this loop is gone.
        for transport in list(self._transports):
            transport.abort()
        await asyncio.sleep(0)  # abort() closes the socket on the loop's next turn
        await self._server.wait_closed()

    def start(self: _S) -> _S:
        """Serve from a thread of its own until :meth:`stop`."""
        self._thread = ServerThread(self)
        self._thread.__enter__()
        return self

    def stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.__exit__(None, None, None)

    def __enter__(self: _S) -> _S:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- one connection -------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        conn = Connection(len(self.connections))
        self.connections.append(conn)
        with self._idle:
            self._active += 1
        stream = _Stream(reader, writer, conn)
        self._transports.add(stream.raw)
        try:
            if self.ssl_context is not None and _START_TLS:
                stream.phase = "handshake"
                await writer.start_tls(self.ssl_context)
                stream.phase = "idle"
            await self._converse(stream)
        except (_ClientGone, ConnectionError, ssl.SSLError):
            conn.closed_by_client = True
            conn.closed_during = stream.phase
            conn.closed_at = time.monotonic()
        except asyncio.CancelledError:
            pass  # the server is stopping
        finally:
            stream.close()
            conn.gone.set()
            self._tasks.discard(task)
            # close() frees the socket on the loop's next turn: the connection
            # counts as gone after that, so that wait_idle() sees it closed.
            asyncio.get_running_loop().call_soon(self._left)

    def _left(self) -> None:
        with self._idle:
            self._active -= 1
            self._idle.notify_all()

    async def _read_request(self, stream: _Stream) -> Request:
        stream.phase = "idle"
        request = await stream.read_request()
        stream.conn.route = stream.conn.route or request.route
        stream.conn.requests.append(request)
        self.requests.append(request)
        return request

    async def _converse(self, stream: _Stream) -> None:
        """Answer the requests of one connection; return to close it."""
        raise NotImplementedError


# -- the handler style ----------------------------------------------------------------


class Writer:
    """What a handler writes to: raw bytes, each piece flushed on its own."""

    def __init__(self, stream: _Stream) -> None:
        self._stream = stream
        #: (monotonic time, bytes) of every piece written.
        self.sent: List[Tuple[float, bytes]] = []

    @property
    def closed(self) -> bool:
        """The connection is closing: the client left, or the server is stopping."""
        return self._stream.writer.is_closing() or self._stream.client_left()

    async def write(self, data: bytes) -> None:
        await self._stream.write(data)
        self.sent.append((time.monotonic(), data))


#: A handler answers one request; it returns whether the connection stays open.
Handler = Callable[[Request, Writer], Awaitable[bool]]


class LoopbackServer(RawServer):
    """``handler`` answers every request: ``with LoopbackServer(handler) as server``."""

    def __init__(self, handler: Handler, *, ssl_context: Optional[ssl.SSLContext] = None) -> None:
        super().__init__(ssl_context=ssl_context)
        self.handler = handler
        #: The :class:`Writer` that answered each request, in order.
        self.writers: List[Writer] = []

    async def _converse(self, stream: _Stream) -> None:
        writer = Writer(stream)
        while True:
            request = await self._read_request(stream)
            self.writers.append(writer)
            stream.watch()
            stream.phase = "body"
            if not await self.handler(request, writer):
                return


# -- the script style -----------------------------------------------------------------


@dataclass(frozen=True)
class Pause:
    """Wait ``seconds`` (the client sees nothing)."""

    seconds: float


@dataclass(frozen=True)
class Stall:
    """Send nothing more, keep the connection open until the client closes it."""


@dataclass(frozen=True)
class Freeze:
    """Read nothing more from here on: the steps after it are the last ones (no
    last chunk), then the connection stays open, the client's close unseen (a
    TLS close_notify unanswered), until the server stops."""


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


Step = Union[bytes, Pause, Stall, Freeze, Cut, Abort, Raw, Trickle, Repeat]


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
            and not any(isinstance(step, (Stall, Freeze, Cut, Abort)) for step in self.body)
        )

    def head(self) -> bytes:
        if self.framing == "raw":
            return self.interim
        reason = self.reason
        if reason is None:
            try:
                reason = HTTPStatus(self.status).phrase
            except ValueError:
                reason = "Whatever"
        headers = list(self.headers)
        if self.framing == "chunked":
            headers.append(("Transfer-Encoding", "chunked"))
        elif self.framing == "length":
            size = 0
            for step in self.body:
                if isinstance(step, bytes):
                    size += len(step)
                elif isinstance(step, Repeat):
                    size += len(step.data) * step.count
            headers.append(("Content-Length", str(size)))
        elif self.framing == "close":
            headers.append(("Connection", "close"))
        return self.interim + response_head(f"{self.status} {reason}", headers)


Route = Union[Script, Callable[[Request], Script]]


class FaultServer(RawServer):
    """Each route's :class:`Script` answers its requests: ``server.route(name, script)``."""

    def __init__(self, *, ssl_context: Optional[ssl.SSLContext] = None) -> None:
        super().__init__(ssl_context=ssl_context)
        self.routes: Dict[str, Route] = {}

    def route(self, name: str, script: Route) -> str:
        """Answer requests under ``/{name}/`` with ``script``; returns the base_url."""
        self.routes[name] = script
        return self.url(name)

    async def _converse(self, stream: _Stream) -> None:
        conn = stream.conn
        while True:
            request = await self._read_request(stream)
            route = self.routes.get(request.route)
            if route is None:
                script = Script(404, (("Content-Type", "text/plain"),), [b"no route"], "length")
            else:
                script = route(request) if callable(route) else route
            stream.watch()
            stream.phase = "head"
            if isinstance(script.before_head, Stall):
                while True:
                    await stream.receive()
            if isinstance(script.before_head, Abort):
                conn.cut_by_server = True
                stream.reset()
                return
            stream.writer.write(script.head())
            await stream.writer.drain()
            stream.phase = "body"
            ended = await self._body(script, stream)
            if stream.client_left():
                raise _ClientGone
            if ended == "freeze":
                await asyncio.Event().wait()  # until the server stops
            if ended == "stall":
                stream.phase = "stall"
                while True:
                    await stream.receive()  # stray bytes: keep stalling
            if ended in ("cut", "abort"):
                conn.cut_by_server = True
                if ended == "abort":
                    return
                stream.phase = "idle"
                while True:
                    await stream.receive()  # wait for the client to close its side
            conn.complete += 1  # a complete answer: keep the connection for the next request

    async def _body(self, script: Script, stream: _Stream) -> str:
        chunked = script.framing == "chunked"
        frozen = False

        async def put(data: bytes) -> None:
            if data:
                await stream.write(chunk(data) if chunked else data)

        for step in script.body:
            if isinstance(step, bytes):
                await put(step)
            elif isinstance(step, Raw):
                stream.writer.write(step.data)
                await stream.writer.drain()
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
            elif isinstance(step, Freeze):
                stream.raw.pause_reading()
                frozen = True
            elif isinstance(step, Cut):
                stream.end()
                return "cut"
            elif isinstance(step, Abort):
                stream.reset()
                return "abort"
        if frozen:
            return "freeze"
        if chunked:
            stream.writer.write(b"0\r\n\r\n")
            await stream.writer.drain()
        elif script.framing in ("close", "raw"):
            stream.end()
            return "cut"
        return "complete"


def tokens_script(tokens: Iterable[str], *, reply: Optional[str] = None, **kw: Any) -> Script:
    """The plain happy answer: one live frame per token, then ``end``."""
    body: List[Step] = [live(t) for t in tokens]
    body.append(end_frame(reply))
    return Script(body=body, **kw)


# -- the thread -------------------------------------------------------------------


class ServerThread:
    """Run a server's ``open()`` and ``aclose()`` on an event loop of its own, in
    a daemon thread: ``with ServerThread() as server`` gives a :class:`FaultServer`
    (``kwargs`` go to it); any object with those two coroutines runs too."""

    def __init__(self, server: Any = None, **kwargs: Any) -> None:
        self.server = server if server is not None else FaultServer(**kwargs)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> Any:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.server.open(), self.loop).result(BOUND)
        return self.server

    def __exit__(self, *exc_info: object) -> None:
        asyncio.run_coroutine_threadsafe(self.server.aclose(), self.loop).result(BOUND)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(BOUND)
        self.loop.close()


@contextlib.contextmanager
def refused_port() -> Iterator[int]:
    """A port of 127.0.0.1 that refuses connections: bound, never listening,
    and held until the block ends, so that no other server takes it meanwhile."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])
