"""What the asyncio front end needs from aiohttp.

- :class:`Body`: an answer's body as it arrives, every wait bounded;
- :func:`new_session`, :func:`send`, :func:`ssl_context`;
- :func:`mapped`: aiohttp's exceptions as the contract's.
"""

from __future__ import annotations

import asyncio
import os
import ssl
from contextlib import contextmanager
from typing import Any, AsyncContextManager, Callable, Iterator, List, Optional, TypeVar, Union

import aiohttp
import aiohttp.http_exceptions

from ._exceptions import OpchatgptsError
from ._exchange import Head, map_error
from ._failures import Failure
from ._protocol import ReplyParser
from ._settings import Settings

__all__ = [
    "PAGE_THREAD_SIZE",
    "Body",
    "failure_kind",
    "head_of",
    "mapped",
    "new_session",
    "off_loop",
    "read_all",
    "send",
    "ssl_context",
]


_T = TypeVar("_T")

#: What bounds each wait for bytes: ``asyncio.timeout`` (Python 3.11+), else
#: ``asyncio.wait_for``, which before 3.12 wraps every read in a task of its
#: own.  That task, its future and its extra turns of the event loop were a
#: quarter of the calls an idle stream makes per token (docs/benchmarks.rst).
_timeout: Optional[Callable[[float], AsyncContextManager[None]]] = getattr(asyncio, "timeout", None)

#: A page larger than this is read in a worker thread: ``_page`` needs up to
#: about a second of CPU per MiB of the worst markup (README, "Hostile pages").
PAGE_THREAD_SIZE = 128 * 1024


class Body:
    """The body of an answer, read so that no wait outlasts ``timeout``.

    aiohttp bounds a read with its ``sock_read`` timer, but when its parser
    fails on the framing of a body (a bad chunk size, LF-only lines) it drops
    that timer and closes the connection without waking the reader, which
    then waits forever (issue 11).  Here the connection's closing ends the
    body (the bytes already parsed are still read first), and every wait for
    bytes has its own bound, whatever the library underneath does.
    """

    __slots__ = (
        "_broken",
        "_closed",
        "_content",
        "_protocol",
        "_response",
        "_timeout",
        "_transport",
    )

    def __init__(self, response: aiohttp.ClientResponse, timeout: float) -> None:
        self._response = response
        self._content = response.content
        self._timeout = timeout
        self._broken = False
        self._closed: Optional[asyncio.Future[None]] = None
        connection = response.connection
        # Taken now: aiohttp lets go of the connection at the body's end.
        self._transport = None if connection is None else connection.transport
        self._protocol = protocol = None if connection is None else connection.protocol
        if protocol is None or not hasattr(protocol, "closed"):  # aiohttp < 3.11: timeout only
            return
        closed = protocol.closed
        if closed is None:  # already lost, before anyone listened
            self._on_close(None)
        else:
            self._closed = closed
            closed.add_done_callback(self._on_close)

    def _on_close(self, _: object) -> None:
        # aiohttp ends the body (EOF or an exception) before this callback
        # runs; if it did not, its parser gave up on the framing.
        self._closed = None
        content = self._content
        if content.is_eof() or content.exception() is not None:
            return
        self._broken = True
        content.feed_eof()  # wakes the reader; what was parsed is still read

    def _detach(self) -> None:
        # A kept-alive connection must not collect a callback per answer.
        closed, self._closed = self._closed, None
        if closed is not None:
            closed.remove_done_callback(self._on_close)

    @property
    def complete(self) -> bool:
        """The body was read to its framed end."""
        content = self._content
        return not self._broken and content.at_eof() and content.exception() is None

    def release(self, reuse: bool) -> None:
        """Put the connection back in the pool when ``reuse``, else close it.

        aiohttp closes a TLS connection it does not keep politely: close_notify,
        then the socket once the server answers.  A connection that is not
        kept (by us, or by aiohttp) is closed at once instead, so that no
        socket outlives the event loop (a ResourceWarning after
        ``asyncio.run()`` when the server is slow to answer).
        """
        self._detach()
        if reuse:
            self._response.release()  # aiohttp too keeps only a body read to its end
        else:
            self._response.close()
        transport, self._transport = self._transport, None
        if transport is not None and transport.is_closing():
            transport.abort()

    async def read(self) -> bytes:
        """The bytes that have arrived, waiting (at most ``timeout``) for some; ``b""``: the end.

        Raises:
            aiohttp.ClientError: what aiohttp raises; ``ClientPayloadError``
            when the framing broke, ``ServerTimeoutError`` after ``timeout``.
        """
        content = self._content
        try:
            data = content.read_nowait()
            if not data and not content.at_eof():
                if _timeout is None:
                    data = await asyncio.wait_for(content.readany(), self._timeout)
                else:
                    async with _timeout(self._timeout):
                        data = await content.readany()
        except asyncio.TimeoutError:
            raise aiohttp.ServerTimeoutError("Timeout on reading data from socket") from None
        except aiohttp.http_exceptions.HttpProcessingError as exc:
            # aiohttp's pure-Python parser puts its framing error on the body as it is.
            raise aiohttp.ClientPayloadError("The body broke HTTP/1.1 framing") from exc
        if not data:
            self._detach()
            if self._broken:
                cause = None if self._protocol is None else self._protocol.exception()
                raise aiohttp.ClientPayloadError("The body broke HTTP/1.1 framing") from cause
        return data


async def off_loop(size: int, function: Callable[..., _T], *args: Any) -> _T:
    """``function(*args)``, in a worker thread when it reads a page of more than
    ``PAGE_THREAD_SIZE`` bytes, so the event loop keeps running meanwhile."""
    if size <= PAGE_THREAD_SIZE:
        return function(*args)
    return await asyncio.to_thread(function, *args)


def head_of(response: aiohttp.ClientResponse) -> Head:
    """What the core needs of the answer's head."""
    return Head(
        response.status,
        response.headers.get("Content-Type", ""),
        response.headers.get("Location"),
        response.headers.getall("Content-Encoding", []),
    )


def new_session() -> aiohttp.ClientSession:
    """A session that uses no environment proxy and keeps cookies as requests does."""
    # trust_env=False: the proxy is what ``proxy`` says, in both front ends.
    # unsafe=True: keep cookies of sites addressed by IP, as requests does.
    return aiohttp.ClientSession(trust_env=False, cookie_jar=aiohttp.CookieJar(unsafe=True))


async def send(
    session: aiohttp.ClientSession,
    settings: Settings,
    tls: Union[ssl.SSLContext, bool],
    **kwargs: Any,
) -> aiohttp.ClientResponse:
    """``session.request(**kwargs)`` with the settings' proxy and timeouts, the TLS
    context ``tls`` and no redirect followed."""
    return await session.request(
        **kwargs,
        proxy=settings.proxy,
        timeout=aiohttp.ClientTimeout(
            total=None, connect=settings.timeout, sock_read=settings.timeout
        ),
        ssl=tls,
        allow_redirects=False,  # a page's are followed by _fetch; a POST's never
    )


def ssl_context(cafile: Optional[str]) -> Union[ssl.SSLContext, bool]:
    """aiohttp's ``ssl=``: ``True`` checks certificates against the default store."""
    if cafile is None:
        return True
    if os.path.isdir(cafile):
        return ssl.create_default_context(capath=cafile)
    return ssl.create_default_context(cafile=cafile)


def failure_kind(exc: BaseException) -> str:
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


async def read_all(body: Body, limit: int) -> bytes:
    """The body, up to about ``limit`` bytes (a nonce rejection, a session, a page)."""
    pieces: List[bytes] = []
    size = 0
    while size < limit:
        data = await body.read()
        if not data:
            break
        pieces.append(data)
        size += len(data)
    return b"".join(pieces)


@contextmanager
def mapped(
    settings: Settings, *, started: bool, parser: Optional[ReplyParser] = None
) -> Iterator[None]:
    """Turn aiohttp exceptions into the contract's (twin: _requests_glue.py)."""
    try:
        yield
    except OpchatgptsError:
        raise
    except Exception as exc:
        status = exc.status if isinstance(exc, aiohttp.ClientHttpProxyError) else None
        raise map_error(
            exc, settings, failure_kind(exc), started=started, parser=parser, proxy_status=status
        ) from exc
