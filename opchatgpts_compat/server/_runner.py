"""Running the site: the listening socket, the event loop or thread, the connections.

:class:`Server` is the public class: the site's settings (checked here), and
its lifecycle in a running event loop (``async with``, :meth:`Server.start`)
or in a thread with its own loop (``with``, :meth:`Server.run_in_thread`).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import socket
import threading
import time
from types import TracebackType
from typing import Callable, Dict, List, Mapping, Optional, Type

from aiohttp import web

from ._app import ChatbotSite
from ._bots import Bot, memory_bot
from ._constants import (
    CHATBOT_PAGE_ID,
    DEFAULT_HEADER_TIMEOUT,
    DEFAULT_PAGE_PATH,
    DEFAULT_SLOW_DELAY,
    DEFAULT_TEXT_INPUT_MAX_LENGTH,
    FAULTS,
    KEEPALIVE_TIMEOUT,
    check_flavor,
)
from ._records import RequestRecord

__all__ = ["Server"]

#: The package's logger, the name README documents.
logger = logging.getLogger(__package__)


class Server(ChatbotSite):
    """An AI Engine-compatible chatbot site on a free local port.

    Args:
        host: address to bind; ``127.0.0.1`` unless told otherwise.
        port: port to bind; ``0`` picks a free one (see :attr:`base_url`).
        flavor: ``"2.0"`` (AI Engine 2.0.9: nonce in the page, no
            ``start_session``, 64 KiB message cap, unknown bot refused),
            ``"3.6"`` (AI Engine 3.6.2: ``start_session``, per-bot
            ``textInputMaxLength``, unknown bot falls back to ``default``) or
            ``"1.6"`` (AI Engine 1.6.94: no nonce needed, a custom bot named
            ``id``, 3,584-byte message cap, a trailing user item of the history
            replaced by the new message).
        require_nonce: refuse a submit without a valid ``X-WP-Nonce`` (401
            ``rest_forbidden``), as AI Engine 2.0.0+ does; ``None``: as the
            flavour does (not 1.6).  A wrong nonce (``X-WP-Nonce`` or
            ``?_wpnonce=``) is refused on every route (403
            ``rest_cookie_invalid_nonce``), as WordPress does.
        nonce: the site's nonce (10 hex digits); random when ``None``.
        delay: seconds between tokens.
        bots: bot id -> bot; the default is ``{"default": memory_bot}``.
        fault: a fault mode for every request (see the module docstring).
        faults: bot id -> fault mode.
        slow_delay: seconds between tokens for the ``slow`` fault.
        event_logs: 3.6: send the ``Generating response...`` status frame first.
        split_frames: write ``data: {...}`` and ``\\n\\n`` as two flushes (two
            HTTP chunks), as PHP does; ``False`` writes each frame at once.
        page_path: where the chatbot page is (also served at ``/`` and at
            ``/chatgpt-free-use/``, opchatgpts.net's page, the client's Referer).
        context_id: the page's post id (``contextId``).
        text_input_max_length: the bot's ``textInputMaxLength``.
        clock: returns the event frames' timestamps (``time.time``).
        shutdown_timeout: seconds given to unfinished answers when closing.
        header_timeout: seconds a new connection has to send its request head
            (status line and headers) before it is closed.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        flavor: str = "2.0",
        require_nonce: Optional[bool] = None,
        nonce: Optional[str] = None,
        delay: float = 0.0,
        bots: Optional[Mapping[str, Bot]] = None,
        fault: Optional[str] = None,
        faults: Optional[Mapping[str, str]] = None,
        slow_delay: float = DEFAULT_SLOW_DELAY,
        event_logs: bool = False,
        split_frames: bool = True,
        page_path: str = DEFAULT_PAGE_PATH,
        context_id: int = CHATBOT_PAGE_ID,
        text_input_max_length: int = DEFAULT_TEXT_INPUT_MAX_LENGTH,
        clock: Callable[[], float] = time.time,
        shutdown_timeout: float = 1.0,
        header_timeout: float = DEFAULT_HEADER_TIMEOUT,
    ) -> None:
        check_flavor(flavor)
        if not header_timeout > 0:
            raise ValueError("header_timeout must be a positive number of seconds")
        for mode in [fault, *(faults or {}).values()]:
            if mode is not None and mode not in FAULTS:
                raise ValueError(f"unknown fault mode {mode!r}; choose from {', '.join(FAULTS)}")
        if delay < 0 or slow_delay < 0:
            raise ValueError("delays must not be negative")
        if not page_path.startswith("/"):
            raise ValueError("page_path must start with '/'")
        self.host = host
        self.port = port
        self.flavor = flavor
        self.require_nonce = flavor != "1.6" if require_nonce is None else require_nonce
        self.nonce = nonce or secrets.token_hex(5)
        self.delay = delay
        self.bots: Dict[str, Bot] = dict(bots) if bots is not None else {"default": memory_bot}
        self.fault = fault
        self.faults: Dict[str, str] = {f"fault-{mode}": mode for mode in FAULTS}
        self.faults.update(faults or {})
        self.slow_delay = slow_delay
        self.event_logs = event_logs
        self.split_frames = split_frames
        self.page_path = page_path
        self.context_id = context_id
        self.text_input_max_length = text_input_max_length
        self.clock = clock
        self.shutdown_timeout = shutdown_timeout
        self.header_timeout = header_timeout
        #: Every request answered, oldest first.
        self.records: List[RequestRecord] = []
        self._changed = threading.Condition()
        self._runner: Optional[web.AppRunner] = None
        self._listener: Optional[asyncio.AbstractServer] = None
        self._thread: Optional[threading.Thread] = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._stop: Optional[asyncio.Event] = None
        self._closing = False

    # -- addresses ------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://host:port`` of the running server (give it to a client)."""
        if self._runner is None:
            raise RuntimeError("the server is not running")
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        host = "[::1]" if host == "::" else f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"

    @property
    def page_url(self) -> str:
        """The chatbot page (for ``Client.from_page``)."""
        return self.base_url + self.page_path

    def rotate_nonce(self, nonce: Optional[str] = None) -> str:
        """Replace the site's nonce (the old one is refused from now on).

        Returns:
            The new nonce (random when ``nonce`` is ``None``).
        """
        self.nonce = nonce or secrets.token_hex(5)
        return self.nonce

    def wait_for(self, predicate: Callable[[List[RequestRecord]], bool], timeout: float) -> bool:
        """Block until ``predicate(records)`` holds, from another thread than the server's.

        Returns:
            Whether it holds (``False`` once ``timeout`` seconds passed).
        """
        with self._changed:
            return self._changed.wait_for(lambda: predicate(list(self.records)), timeout)

    # -- asyncio use ----------------------------------------------------------------

    async def start(self) -> None:
        """Start listening in the running event loop."""
        if self._runner is not None:
            raise RuntimeError("the server is already running")
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        # handler_cancellation: a client that goes away ends its answer at once,
        # even between two slow tokens (recorded as "disconnected").
        runner = web.AppRunner(
            app,
            access_log=None,
            shutdown_timeout=self.shutdown_timeout,
            handler_cancellation=True,
            keepalive_timeout=KEEPALIVE_TIMEOUT,
        )
        await runner.setup()
        try:
            sock = _listen(self.host, self.port)
        except BaseException:
            await runner.cleanup()
            raise
        self.port = sock.getsockname()[1]
        handlers = runner.server
        assert handlers is not None  # set up above
        timeout = self.header_timeout
        try:
            # Not web.SockSite: each connection's protocol is wrapped in the
            # header deadline, which aiohttp does not have.
            self._listener = await asyncio.get_running_loop().create_server(
                lambda: _HeadDeadline(handlers(), timeout), sock=sock
            )
        except BaseException:
            sock.close()
            await runner.cleanup()
            raise
        self._runner = runner
        self._closing = False
        logger.debug("AI Engine %s server on %s", self.flavor, self.base_url)

    async def close(self) -> None:
        """Stop listening and end every connection."""
        runner, self._runner = self._runner, None
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()  # no new connections; cleanup() ends the open ones
        if runner is not None:
            self._closing = True
            await runner.cleanup()

    async def serve_forever(self, ready: Optional[Callable[[Server], None]] = None) -> None:
        """Start, call ``ready(self)``, and serve until cancelled or :meth:`stop`."""
        self._stop = asyncio.Event()
        await self.start()
        try:
            if ready is not None:
                ready(self)
            await self._stop.wait()
        finally:
            await self.close()

    async def __aenter__(self) -> Server:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        await self.close()

    # -- blocking use: a thread with its own event loop --------------------------------

    def run_in_thread(self) -> Server:
        """Start the server in a thread of its own; returns ``self``.

        Works in plain scripts and in Jupyter alike (the kernel's loop is not used).
        Stop it with :meth:`shutdown`.
        """
        if self._thread is not None:
            raise RuntimeError("the server is already running")
        loop = asyncio.new_event_loop()
        started: List[BaseException] = []
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start())
            except BaseException as exc:
                started.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
                loop.run_until_complete(self.close())
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                loop.close()

        thread = threading.Thread(target=run, name=f"opchatgpts-server-{id(self):x}", daemon=True)
        thread.start()
        ready.wait()
        if started:
            thread.join()
            raise started[0]
        self._loop = loop
        self._thread = thread
        return self

    def shutdown(self) -> None:
        """Stop a server started by :meth:`run_in_thread` and wait for its thread."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        self._thread = self._loop = None
        loop.call_soon_threadsafe(loop.stop)
        thread.join()

    def stop(self) -> None:
        """Make :meth:`serve_forever` return (callable from the server's loop only)."""
        if self._stop is not None:
            self._stop.set()

    def __enter__(self) -> Server:
        return self.run_in_thread()

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.shutdown()

    def __repr__(self) -> str:
        where = self.base_url if self._runner is not None else "stopped"
        return f"<Server AI Engine {self.flavor} {where}>"


class _HeadDeadline(asyncio.Protocol):
    """A connection's protocol, closed unless its first request head arrives in time.

    A client that connects and sends nothing, or half a head, would otherwise
    hold a connection (and a file descriptor) for as long as it likes: aiohttp
    has no header timeout.  Heads of later requests on a kept-alive connection
    are bounded by ``keepalive_timeout``.
    """

    def __init__(self, inner: asyncio.Protocol, timeout: float) -> None:
        self._inner = inner
        self._timeout = timeout
        self._timer: Optional[asyncio.TimerHandle] = None
        self._transport: Optional[asyncio.BaseTransport] = None
        self._tail = b""  # the last bytes of the head so far: "\r\n\r\n" may be split
        self._started = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport
        self._timer = asyncio.get_running_loop().call_later(self._timeout, self._expire)
        self._inner.connection_made(transport)

    def _expire(self) -> None:
        self._timer = None
        logger.debug("no request head within %s s: closing the connection", self._timeout)
        assert self._transport is not None
        self._transport.close()

    def data_received(self, data: bytes) -> None:
        if self._timer is not None:
            seen = self._tail + data
            if not self._started:
                # RFC 9112 section 2.2: empty lines before the request line are ignored.
                seen = seen.lstrip(b"\r\n")
                self._started = bool(seen)
            if b"\r\n\r\n" in seen or b"\n\n" in seen:
                self._timer.cancel()
                self._timer = None
            self._tail = seen[-3:]
        self._inner.data_received(data)

    def eof_received(self) -> Optional[bool]:
        return self._inner.eof_received()

    def connection_lost(self, exc: Optional[Exception]) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (IPv4 or IPv6, as the host says)."""
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, _, _, _, address = infos[0]
    sock = socket.create_server(address[:2], family=family)
    sock.setblocking(False)
    return sock
