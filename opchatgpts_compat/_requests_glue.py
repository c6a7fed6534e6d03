"""What the blocking front end needs from requests, urllib3 and http.client.

- :class:`Body`: an answer's body as it arrives, many HTTP chunks per read
  (the framing is stripped by the core :class:`~._chunked.ChunkedReader`);
- a session whose connections read a head as aiohttp does (1xx answers
  skipped, an ambiguous body length refused), closed with its sockets;
- :func:`mapped`: requests/urllib3 exceptions as the contract's.
"""

from __future__ import annotations

import http.client
import logging
import re
import socket
import ssl
import zlib
from contextlib import contextmanager
from typing import Any, Iterator, List, Optional, Tuple

import requests
import requests.adapters
import urllib3.connection
import urllib3.connectionpool
import urllib3.exceptions

from ._chunked import READ_SIZE, ChunkedReader, Inflater
from ._exceptions import OpchatgptsError
from ._exchange import Head, map_error, proxied_kind
from ._failures import Failure
from ._framing import framing_problem
from ._protocol import ReplyParser
from ._settings import Settings

__all__ = [
    "LOCATION",
    "Body",
    "close_session",
    "failure_kind",
    "head_of",
    "mapped",
    "new_session",
    "read_all",
    "send",
    "tunnel_status",
]

logger = logging.getLogger(__name__)

#: Where :func:`hold_location` keeps a redirect's target.
LOCATION = "_opchatgpts_location"
_TUNNEL_STATUS = re.compile(r"Tunnel connection failed: (\d{3})")


class Body:
    """The body of an answer, whatever bytes have arrived per read.

    A chunked body is read from the socket's buffered file and its framing
    stripped by :class:`ChunkedReader`, every chunk that has arrived at once:
    ``raw.read1`` returns at most one HTTP chunk (http.client's
    ``_read1_chunked``), and a PHP site flushes every frame as its own chunk.
    Any other body is read with urllib3's ``read1``.  Errors are urllib3's,
    as ``raw.read1`` raises them.
    """

    __slots__ = ("_decoder", "_file", "_reader", "_response")

    def __init__(self, response: requests.Response) -> None:
        self._response = response
        raw = response.raw
        inner = getattr(raw, "_fp", None)
        file = getattr(inner, "fp", None)
        coding = response.headers.get("Content-Encoding", "identity").strip().lower()
        self._reader: Optional[ChunkedReader] = None
        self._decoder: Optional[Inflater] = None
        self._file: Any = file
        if (  # a chunked body nobody has started to read, in a coding read here
            getattr(raw, "chunked", False)
            and coding in ("identity", "gzip", "deflate")
            and getattr(inner, "chunk_left", 0) is None
            and getattr(raw, "_fp_bytes_read", 1) == 0
            and hasattr(file, "read1")
        ):
            self._reader = ChunkedReader()
            self._decoder = None if coding == "identity" else Inflater(coding)

    @property
    def complete(self) -> bool:
        """The body was read to its framed end."""
        reader = self._reader
        if reader is None:  # urllib3 has put a connection read to its end back in the pool
            return self._response.raw.closed
        return reader.complete and not reader.leftover

    def release(self, reuse: bool) -> None:
        """Put the connection back in the pool when ``reuse``, else close it."""
        response = self._response
        if reuse and self._reader is not None:
            inner: Any = response.raw._fp
            inner.close()  # http.client's part of the socket, as at the end of its own read
            response.raw.release_conn()
        response.close()  # closes the connection unless it went back to the pool

    def read(self) -> bytes:
        """The bytes that have arrived, waiting (at most ``timeout``) for some; ``b""``: the end.

        Raises:
            urllib3.exceptions.HTTPError: what ``raw.read1`` would raise.
        """
        reader = self._reader
        if reader is None:
            return self._response.raw.read1(READ_SIZE, decode_content=True)
        try:
            while True:
                decoder = self._decoder
                if decoder is None:
                    data = reader.read()
                    if data or reader.ended:
                        return data
                else:
                    data = decoder.inflate(b"" if decoder.tail else reader.read())
                    if data:
                        return data
                    if reader.ended and not decoder.tail:
                        return decoder.finish()
                more = self._file.read1(READ_SIZE)
                if not more:
                    raise urllib3.exceptions.ProtocolError(
                        "Connection broken: the chunked body ended early"
                    )
                reader.feed(more)
        except socket.timeout as exc:
            raise urllib3.exceptions.ReadTimeoutError(None, None, "Read timed out.") from exc  # type: ignore[arg-type]
        except ssl.SSLError as exc:
            if "read operation timed out" in str(exc):
                raise urllib3.exceptions.ReadTimeoutError(None, None, "Read timed out.") from exc  # type: ignore[arg-type]
            raise urllib3.exceptions.SSLError(exc) from exc
        except zlib.error as exc:
            raise urllib3.exceptions.DecodeError(
                "Received response with a Content-Encoding that failed to decode", exc
            ) from exc
        except (ValueError, OSError) as exc:
            raise urllib3.exceptions.ProtocolError(f"Connection broken: {exc!r}", exc) from exc


def head_of(response: requests.Response) -> Head:
    """What the core needs of the answer's head."""
    return Head(
        response.status_code,
        response.headers.get("Content-Type", ""),
        getattr(response, LOCATION, None),
        response.raw.headers.getlist("Content-Encoding"),
    )


def send(session: requests.Session, settings: Settings, **kwargs: Any) -> requests.Response:
    """``session.request(**kwargs)`` with the settings' proxy, timeout and CA bundle,
    no redirect followed and a head whose body length is clear."""
    # Per-request hooks replace the session's: keep a caller's own.
    theirs = session.hooks.get("response") or []
    hooks = {"response": [*([theirs] if callable(theirs) else theirs), hold_location]}
    proxies = {"http": settings.proxy, "https": settings.proxy} if settings.proxy else None
    response = session.request(
        **kwargs,
        proxies=proxies,
        timeout=(settings.timeout, settings.timeout),
        verify=settings.verify,  # None: the session's (by default, checked)
        stream=True,
        allow_redirects=False,  # a page's are followed by _fetch; a POST's never
        hooks=hooks,
    )
    # aiohttp refuses a head whose body length is ambiguous; so does this
    # twin (already in _Response, unless the caller's session is used).
    problem = framing_problem(response.raw.headers.getlist)
    if problem is not None:
        response.close()
        raise urllib3.exceptions.ProtocolError(f"Invalid answer head: {problem}")
    return response


def hold_location(response: requests.Response, **_: Any) -> None:
    """Take ``Location`` out of every answer: requests follows none here.

    Even with ``allow_redirects=False`` requests parses it (and reads the
    body) to prepare the next request, and a target ``urlsplit`` refuses
    (port 99999, ``http://[::1/``) escapes as a bare ValueError.  Without it
    the answer is the site's, and the core judges the target: it names it
    for a chat request, and follows a page's one hop at a time (``Fetch.follow``).
    """
    setattr(response, LOCATION, response.headers.pop("Location", None))


class _Response(http.client.HTTPResponse):
    """http.client's response, reading a head as aiohttp does.

    It skips every 1xx answer but 101 (http.client skips only ``100
    Continue`` and takes ``103 Early Hints`` or ``102 Processing`` for the
    final answer; RFC 9110, section 15.2), and refuses a head whose body
    length is ambiguous before urllib3 looks at it, closing the socket.
    """

    def begin(self) -> None:
        super().begin()
        problem = framing_problem(lambda name: self.msg.get_all(name) or [])
        if problem is not None:
            self.close()
            raise http.client.HTTPException(f"Invalid answer head: {problem}")

    def _read_status(self) -> Tuple[str, int, str]:
        while True:
            version, status, reason = super()._read_status()  # type: ignore[misc]
            if not 102 <= status < 200:  # 100: http.client skips it itself
                return version, status, reason
            logger.debug("skipped a %d answer", status)
            for _ in range(http.client._MAXHEADERS + 1):  # type: ignore[attr-defined]
                line = self.fp.readline(http.client._MAXLINE + 1)  # type: ignore[attr-defined]
                if len(line) > http.client._MAXLINE:  # type: ignore[attr-defined]
                    raise http.client.LineTooLong("header line")
                if line in (b"\r\n", b"\n", b""):
                    break
            else:
                raise http.client.HTTPException("got more than 100 headers")


class _HTTPConnection(urllib3.connection.HTTPConnection):
    response_class = _Response


class _HTTPSConnection(urllib3.connection.HTTPSConnection):
    response_class = _Response


class _HTTPPool(urllib3.connectionpool.HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(urllib3.connectionpool.HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


_POOLS = {"http": _HTTPPool, "https": _HTTPSPool}


class _Adapter(requests.adapters.HTTPAdapter):
    """requests' adapter, with connections whose responses skip 1xx answers."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOLS

    def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **kwargs)
        manager.pool_classes_by_scheme = _POOLS
        return manager


def new_session() -> requests.Session:
    """A session that uses no environment proxy and skips 1xx answers, as aiohttp's."""
    session = requests.Session()
    session.trust_env = False  # the proxy is what ``proxy`` says, in both front ends
    for prefix in ("http://", "https://"):
        session.mount(prefix, _Adapter())
    return session


def close_session(session: requests.Session) -> None:
    """Close ``session`` and the idle connections of its pools.

    ``Session.close()`` empties urllib3's pool managers, but urllib3 2.x no
    longer closes the idle connections of the pools it drops: they wait for
    the garbage collector.  Closing them here closes the client's sockets.
    """
    for adapter in session.adapters.values():
        managers = [getattr(adapter, "poolmanager", None)]
        managers += list(getattr(adapter, "proxy_manager", {}).values())
        for manager in managers:
            pools: Any = getattr(manager, "pools", None)
            if pools is None:
                continue
            for key in list(pools.keys()):
                pool = pools.get(key)
                if pool is not None:
                    pool.close()
    session.close()


def failure_kind(exc: BaseException) -> str:
    """Which :class:`Failure` a requests/urllib3 exception is, most specific first.

    A read timeout while streaming is a ``ConnectionError`` wrapping urllib3's
    ``ReadTimeoutError`` (https://github.com/psf/requests/issues/4882), and
    ``raw.read1`` raises urllib3's own exceptions, so both layers are listed.
    """
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return Failure.CONNECT_TIMEOUT
    if isinstance(exc, (requests.exceptions.ReadTimeout, urllib3.exceptions.ReadTimeoutError)):
        return Failure.READ_TIMEOUT
    if isinstance(exc, (requests.exceptions.ProxyError, urllib3.exceptions.ProxyError)):
        return Failure.PROXY
    if isinstance(exc, (requests.exceptions.SSLError, urllib3.exceptions.SSLError)):
        return Failure.TLS
    if isinstance(exc, requests.exceptions.ConnectionError):
        reason = exc.args[0] if exc.args else None
        reason = getattr(reason, "reason", reason)  # MaxRetryError -> its cause
        if isinstance(reason, urllib3.exceptions.ReadTimeoutError):
            return Failure.READ_TIMEOUT
        if isinstance(reason, urllib3.exceptions.NewConnectionError):
            return Failure.CONNECT  # checked first: it subclasses ConnectTimeoutError
        if isinstance(reason, urllib3.exceptions.ConnectTimeoutError):
            return Failure.CONNECT_TIMEOUT
        return Failure.LOST
    if isinstance(exc, TimeoutError):
        return Failure.READ_TIMEOUT
    if isinstance(
        exc,
        (
            urllib3.exceptions.ProtocolError,
            urllib3.exceptions.DecodeError,
            requests.exceptions.ChunkedEncodingError,
            requests.exceptions.ContentDecodingError,
            OSError,
        ),
    ):
        return Failure.LOST
    return Failure.CONNECT


def tunnel_status(exc: BaseException) -> Optional[int]:
    """The status a proxy refused a CONNECT tunnel with (e.g. 407), if any.

    urllib3 reports it only as text, ``Tunnel connection failed: 407 ...``,
    somewhere in the chain of causes; only the three digits are taken from it.
    """
    stack = [exc]
    seen = set()
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        for arg in current.args:
            if isinstance(arg, str):
                match = _TUNNEL_STATUS.search(arg)
                if match:
                    return int(match.group(1))
            elif isinstance(arg, BaseException):
                stack.append(arg)
        for linked in (getattr(current, "reason", None), current.__cause__, current.__context__):
            if isinstance(linked, BaseException):
                stack.append(linked)
    return None


def read_all(body: Body, limit: int) -> bytes:
    """The body, up to about ``limit`` bytes (a nonce rejection, a session, a page)."""
    pieces: List[bytes] = []
    size = 0
    while size < limit:
        data = body.read()
        if not data:
            break
        pieces.append(data)
        size += len(data)
    return b"".join(pieces)


@contextmanager
def mapped(
    settings: Settings, *, started: bool, parser: Optional[ReplyParser] = None
) -> Iterator[None]:
    """Turn requests/urllib3 exceptions into the contract's (twin: _aiohttp_glue.py)."""
    try:
        yield
    except OpchatgptsError:
        raise
    except Exception as exc:
        kind = failure_kind(exc)
        proxied = proxied_kind(kind, settings) == Failure.PROXY
        status = tunnel_status(exc) if proxied else None
        raise map_error(
            exc, settings, kind, started=started, parser=parser, proxy_status=status
        ) from exc
