"""The asyncio front end, on ``aiohttp``.  Twin of ``_sync.py``.

It only moves bytes: the request comes from ``_request``, the meaning of the
answer from ``_protocol``.  The body is read with ``content.readany()`` (what
``iter_any()`` uses): whatever bytes have arrived, with no line splitting and
no line-length cap (``async for line in content`` splits on LF only and fails
on long lines: https://github.com/aio-libs/aiohttp/issues/4453).
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
from collections import deque
from contextlib import contextmanager
from types import TracebackType
from typing import Any, Deque, Generator, Iterator, Mapping, Optional, Type

import aiohttp

from ._exceptions import OpchatgptsError
from ._models import Reply
from ._protocol import Failure, ReplyParser, proxy_status_error, transport_error
from ._request import (
    DEFAULT_BASE_URL,
    DEFAULT_TIMEOUT,
    PreparedRequest,
    Settings,
    build_request,
    build_settings,
)

__all__ = ["AsyncClient", "AsyncStream"]

logger = logging.getLogger(__name__)


class AsyncClient:
    """An asyncio client for an AI Engine chatbot.

    >>> async with AsyncClient(base_url="https://example.org") as client:  # doctest: +SKIP
    ...     async with client.stream([{"role": "user", "content": "Hi"}]) as chunks:
    ...         async for chunk in chunks:
    ...             print(chunk, end="", flush=True)

    Args:
        base_url: the WordPress site; the endpoint is
            ``{base_url}/wp-json/mwai-ui/v1/chats/submit``.
        proxy: ``http://[user:password@]host:port``; its credentials never
            appear in errors, reprs or logs.  Environment proxies are not used.
        timeout: seconds allowed for connecting and for every wait for bytes.
        headers: extra headers, overriding the built-in browser-like ones.
        session: an ``aiohttp.ClientSession`` to use; the client does not close it.
        **options: payload defaults (``bot_id``, ``custom_id``, ``context_id``,
            ``chat_id``, ``session_id``), ``nonce``, ``max_event_size``, and
            ``verify``: the path of a CA bundle to trust instead of the default
            store (certificates are always checked; there is no ``False``).

    One client may serve many tasks of its event loop at once; its own
    session allows aiohttp's default of 100 connections, more streams wait
    for one (pass ``session=`` with another connector to change that).

    Raises:
        TypeError, ValueError: an option is invalid.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        *,
        proxy: Optional[str] = None,
        timeout: float = DEFAULT_TIMEOUT,
        headers: Optional[Mapping[str, str]] = None,
        session: Optional[aiohttp.ClientSession] = None,
        **options: Any,
    ) -> None:
        if session is not None and not isinstance(session, aiohttp.ClientSession):
            raise TypeError("session must be an aiohttp.ClientSession")
        self._settings = build_settings(
            base_url=base_url, proxy=proxy, timeout=timeout, headers=headers, **options
        )
        self._session = session
        self._owns_session = session is None
        self._closed = False
        self._ssl: Optional[ssl.SSLContext] = None

    @property
    def settings(self) -> Settings:
        """The validated options."""
        return self._settings

    def stream(self, messages: Any, **options: Any) -> AsyncStream:
        """Send ``messages`` and iterate over the reply's chunks as they arrive.

        Nothing is sent until the first chunk is asked for.  Use it as an async
        context manager, or iterate it to the end, so the connection is
        released at once.

        Args:
            messages: ``[{"role": ..., "content": ...}, ...]``, oldest first;
                the last one is the new message.
            **options: per-call ``bot_id``, ``custom_id``, ``context_id``,
                ``chat_id``, ``session_id``, ``nonce``.

        Returns:
            An :class:`AsyncStream`: an async iterator of ``str`` chunks.

        Raises:
            TypeError, ValueError: bad ``messages`` or options (nothing is sent).
        """
        if self._closed:
            raise RuntimeError("this AsyncClient is closed")
        settings = self._settings.merge(**options)
        return AsyncStream(self, build_request(messages, settings), settings)

    async def complete(self, messages: Any, **options: Any) -> Reply:
        """Send ``messages`` and return the whole :class:`Reply`.

        Raises:
            TypeError, ValueError: bad arguments (nothing is sent).
            OpchatgptsError: the site or the connection failed.
        """
        async with self.stream(messages, **options) as chunks:
            async for _ in chunks:
                pass
        assert chunks.reply is not None
        return chunks.reply

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            # trust_env=False: the proxy is what ``proxy`` says, in both front ends.
            self._session = aiohttp.ClientSession(trust_env=False)
        return self._session

    def _ssl_context(self) -> ssl.SSLContext | bool:
        # aiohttp's ssl=True checks certificates against the default store.
        cafile = self._settings.verify
        if cafile is None:
            return True
        if self._ssl is None:
            if os.path.isdir(cafile):
                self._ssl = ssl.create_default_context(capath=cafile)
            else:
                self._ssl = ssl.create_default_context(cafile=cafile)
        return self._ssl

    async def aclose(self) -> None:
        """Close the session, if this client made it."""
        self._closed = True
        if self._owns_session and self._session is not None:
            await self._session.close()

    def _detach(self) -> None:
        # The synchronous part of aclose(), for __del__: the connection is
        # already closed, so there is nothing left to await.
        self._closed = True
        if self._owns_session and self._session is not None:
            self._session.detach()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"<AsyncClient {self._settings.base_url}{self._settings.via}>"


class AsyncStream:
    """The chunks of one reply, as they arrive (an async iterator of ``str``).

    ``reply`` holds the :class:`Reply` once the stream has ended.  Leaving early
    (``break``, :meth:`aclose`, :meth:`close`, an exception, cancellation,
    garbage collection) closes the connection at once.
    """

    def __init__(
        self,
        client: AsyncClient,
        request: PreparedRequest,
        settings: Settings,
        *,
        owns_client: bool = False,
    ) -> None:
        self._client = client
        self._request = request
        self._settings = settings
        self._owns_client = owns_client
        self._response: Optional[aiohttp.ClientResponse] = None
        self._parser: Optional[ReplyParser] = None
        self._pending: Deque[str] = deque()
        self._done = False
        #: The ``chatId`` this request sent.
        self.chat_id = request.chat_id

    @property
    def reply(self) -> Optional[Reply]:
        """The whole :class:`Reply`, once the stream has ended; else ``None``."""
        return None if self._parser is None else self._parser.reply

    @property
    def parser(self) -> Optional[ReplyParser]:
        """The core parser of this answer (statuses, new nonce), once it started."""
        return self._parser

    def __aiter__(self) -> AsyncStream:
        return self

    async def __anext__(self) -> str:
        while not self._pending:
            if self._done:
                if self._parser is not None:
                    self._parser.check()  # a failure after the last chunks
                raise StopAsyncIteration
            await self._fill()
        return self._pending.popleft()

    async def _fill(self) -> None:
        try:
            if self._parser is None:
                await self._open()
                return
            assert self._response is not None
            with self._mapped(started=True):
                data = await self._response.content.readany()
            parser = self._parser
            self._pending.extend(parser.feed(data) if data else parser.feed_eof())
            if parser.done:
                await self._finish()
        except BaseException:  # CancelledError too: never leave the socket open
            await self.aclose()
            raise

    async def _open(self) -> None:
        settings = self._settings
        request = self._request
        timeout = aiohttp.ClientTimeout(
            total=None, connect=settings.timeout, sock_read=settings.timeout
        )
        logger.debug("POST %s%s", request.url, settings.via)
        with self._mapped(started=False):
            response = await self._client._get_session().post(
                request.url,
                data=request.body,
                headers=request.headers,
                proxy=settings.proxy,
                timeout=timeout,
                ssl=self._client._ssl_context(),
                allow_redirects=False,  # a POST must not turn into a GET that drops the message
            )
        self._response = response
        logger.debug("answer %s %s", response.status, response.headers.get("Content-Type"))
        self._parser = ReplyParser(
            response.status,
            response.headers.get("Content-Type", ""),
            max_event_size=settings.max_event_size,
            location=response.headers.get("Location"),
            proxy=settings.redacted_proxy,
        )

    async def _finish(self) -> None:
        self._done = True
        response, self._response = self._response, None
        if response is not None:
            response.release()  # back to the pool when the body was read to its end
        if self._owns_client:
            await self._client.aclose()

    def close(self) -> None:
        """Stop reading and close the connection, without awaiting anything."""
        self._done = True
        self._pending.clear()
        response, self._response = self._response, None
        if response is not None:
            response.close()
        if self._owns_client:
            self._client._detach()

    async def aclose(self) -> None:
        """Stop reading and close the connection (nothing happens if already closed)."""
        self._done = True
        self._pending.clear()
        response, self._response = self._response, None
        if response is not None:
            response.close()
        if self._owns_client:
            await self._client.aclose()

    async def __aenter__(self) -> AsyncStream:
        return self

    async def __aexit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        await self.aclose()

    def __del__(self) -> None:
        if getattr(self, "_response", None) is not None or (
            getattr(self, "_owns_client", False) and not self._client._closed
        ):
            self.close()

    def __repr__(self) -> str:
        state = "done" if self._done else "open" if self._response is not None else "new"
        return f"<AsyncStream {state} {self._request.url}{self._settings.via}>"

    @contextmanager
    def _mapped(self, *, started: bool) -> Iterator[None]:
        """Turn aiohttp exceptions into the contract's (twin: _sync.py)."""
        try:
            yield
        except OpchatgptsError:
            raise
        except Exception as exc:
            settings = self._settings
            if isinstance(exc, aiohttp.ClientHttpProxyError):
                error: OpchatgptsError = proxy_status_error(exc.status, settings.redacted_proxy)
            else:
                error = transport_error(
                    _failure_kind(exc),
                    origin=settings.origin,
                    timeout=settings.timeout,
                    proxy=settings.redacted_proxy,
                    started=started,
                    partial=self._parser.partial if self._parser is not None else "",
                )
            logger.debug("%s: %s", type(exc).__name__, error)
            raise error from exc


class _AwaitableStream(AsyncStream):
    """What ``Opchatgpts.create_async_generator`` returns: iterate it, or await it first.

    ``async for c in create_async_generator(...)`` is how g4f calls it;
    ``gen = await create_async_generator(...)`` is how its docs showed it.
    """

    def __await__(self) -> Generator[Any, None, _AwaitableStream]:
        return self._self().__await__()

    async def _self(self) -> _AwaitableStream:
        return self


def _failure_kind(exc: BaseException) -> str:
    """Which :class:`Failure` an aiohttp exception is, most specific first.

    aiohttp's timeouts are both ``TimeoutError`` and ``ClientConnectionError``,
    so they come first.
    """
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return Failure.CONNECT_TIMEOUT
    if isinstance(exc, (aiohttp.ServerTimeoutError, asyncio.TimeoutError)):
        return Failure.READ_TIMEOUT
    if isinstance(exc, aiohttp.ClientProxyConnectionError):
        return Failure.PROXY
    if isinstance(exc, (aiohttp.ClientSSLError, aiohttp.ClientConnectorCertificateError)):
        return Failure.TLS
    if isinstance(exc, aiohttp.ClientConnectorError):
        return Failure.CONNECT
    if isinstance(
        exc,
        (
            aiohttp.ServerDisconnectedError,
            aiohttp.ClientPayloadError,
            aiohttp.ClientOSError,
            OSError,
        ),
    ):
        return Failure.LOST
    if isinstance(exc, aiohttp.ClientResponseError):  # a malformed answer
        return Failure.LOST
    return Failure.CONNECT
