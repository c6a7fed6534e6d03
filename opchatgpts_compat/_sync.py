"""The blocking front end, on ``requests``.  Twin of ``_async.py``.

It only moves bytes: the request comes from ``_request``, the meaning of the
answer from ``_protocol``.  The body is read with urllib3's ``read1``, which
returns whatever bytes have arrived instead of waiting to fill a buffer, so a
token reaches the caller while the server still holds the connection open
(``iter_content(None)`` would wait for the end of a body without chunked
framing).  No event loop is involved, so this works inside Jupyter's.
"""

from __future__ import annotations

import logging
import re
import socket
import ssl
from collections import deque
from contextlib import contextmanager
from types import TracebackType
from typing import Any, Deque, Iterator, List, Mapping, Optional, Type

import requests
import urllib3.exceptions

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

__all__ = ["Client", "Stream"]

logger = logging.getLogger(__name__)

#: Largest single read; ``read1`` returns less whenever less has arrived.
READ_SIZE = 64 * 1024
#: Longest chunk-size line accepted (http.client's ``_MAXLINE``).
_MAX_CHUNK_LINE = 65536

_TUNNEL_STATUS = re.compile(r"Tunnel connection failed: (\d{3})")


class Client:
    """A blocking client for an AI Engine chatbot.

    >>> with Client(base_url="https://example.org") as client:  # doctest: +SKIP
    ...     for chunk in client.stream([{"role": "user", "content": "Hi"}]):
    ...         print(chunk, end="", flush=True)

    Args:
        base_url: the WordPress site; the endpoint is
            ``{base_url}/wp-json/mwai-ui/v1/chats/submit``.
        proxy: ``http://[user:password@]host:port``; its credentials never
            appear in errors, reprs or logs.  Environment proxies are not used.
        timeout: seconds allowed for connecting and for every wait for bytes.
        headers: extra headers, overriding the built-in browser-like ones.
        session: a ``requests.Session`` to use; the client does not close it.
        **options: payload defaults (``bot_id``, ``custom_id``, ``context_id``,
            ``chat_id``, ``session_id``), ``nonce`` and ``max_event_size``.

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
        session: Optional[requests.Session] = None,
        **options: Any,
    ) -> None:
        if session is not None and not isinstance(session, requests.Session):
            raise TypeError("session must be a requests.Session")
        self._settings = build_settings(
            base_url=base_url, proxy=proxy, timeout=timeout, headers=headers, **options
        )
        self._session = session
        self._owns_session = session is None
        self._closed = False

    @property
    def settings(self) -> Settings:
        """The validated options."""
        return self._settings

    def stream(self, messages: Any, **options: Any) -> Stream:
        """Send ``messages`` and iterate over the reply's chunks as they arrive.

        Nothing is sent until the first chunk is asked for.  Use it as a
        context manager, or iterate it to the end, so the connection is
        released at once.

        Args:
            messages: ``[{"role": ..., "content": ...}, ...]``, oldest first;
                the last one is the new message.
            **options: per-call ``bot_id``, ``custom_id``, ``context_id``,
                ``chat_id``, ``session_id``, ``nonce``.

        Returns:
            A :class:`Stream`: an iterator of ``str`` chunks.

        Raises:
            TypeError, ValueError: bad ``messages`` or options (nothing is sent).
        """
        if self._closed:
            raise RuntimeError("this Client is closed")
        settings = self._settings.merge(**options)
        return Stream(self, build_request(messages, settings), settings)

    def complete(self, messages: Any, **options: Any) -> Reply:
        """Send ``messages`` and return the whole :class:`Reply`.

        Raises:
            TypeError, ValueError: bad arguments (nothing is sent).
            OpchatgptsError: the site or the connection failed.
        """
        with self.stream(messages, **options) as chunks:
            for _ in chunks:
                pass
        assert chunks.reply is not None
        return chunks.reply

    def _get_session(self) -> requests.Session:
        if self._session is None:
            session = requests.Session()
            session.trust_env = False  # the proxy is what ``proxy`` says, in both front ends
            self._session = session
        return self._session

    def close(self) -> None:
        """Close the session, if this client made it."""
        self._closed = True
        if self._owns_session and self._session is not None:
            self._session.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Client {self._settings.base_url}{self._settings.via}>"


class Stream:
    """The chunks of one reply, as they arrive (an iterator of ``str``).

    ``reply`` holds the :class:`Reply` once the stream has ended.  Leaving early
    (``break``, :meth:`close`, an exception, garbage collection) closes the
    connection at once.
    """

    def __init__(
        self,
        client: Client,
        request: PreparedRequest,
        settings: Settings,
        *,
        owns_client: bool = False,
    ) -> None:
        self._client = client
        self._request = request
        self._settings = settings
        self._owns_client = owns_client
        self._response: Optional[requests.Response] = None
        self._parser: Optional[ReplyParser] = None
        self._chunked: Optional[_ChunkedBody] = None
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

    def __iter__(self) -> Stream:
        return self

    def __next__(self) -> str:
        while not self._pending:
            if self._done:
                raise StopIteration
            self._fill()
        return self._pending.popleft()

    def _fill(self) -> None:
        try:
            if self._parser is None:
                self._open()
                return
            assert self._response is not None
            with self._mapped(started=True):
                if self._chunked is not None:
                    data = self._chunked.read()
                else:
                    data = self._response.raw.read1(READ_SIZE, decode_content=True)
            parser = self._parser
            self._pending.extend(parser.feed(data) if data else parser.feed_eof())
            if parser.done:
                self._finish()
        except BaseException:  # KeyboardInterrupt too: never leave the socket open
            self.close()
            raise

    def _open(self) -> None:
        settings = self._settings
        request = self._request
        proxies = {"http": settings.proxy, "https": settings.proxy} if settings.proxy else None
        logger.debug("POST %s%s", request.url, settings.via)
        with self._mapped(started=False):
            response = self._client._get_session().post(
                request.url,
                data=request.body,
                headers=request.headers,
                proxies=proxies,
                timeout=(settings.timeout, settings.timeout),
                stream=True,
                allow_redirects=False,  # a POST must not turn into a GET that drops the message
            )
        self._response = response
        self._chunked = _ChunkedBody.of(response)
        logger.debug("answer %s %s", response.status_code, response.headers.get("Content-Type"))
        self._parser = ReplyParser(
            response.status_code,
            response.headers.get("Content-Type", ""),
            max_event_size=settings.max_event_size,
        )

    def _finish(self) -> None:
        self._done = True
        self._release()

    def _release(self) -> None:
        response, self._response = self._response, None
        if response is not None:
            response.close()
        if self._owns_client:
            self._client.close()

    def close(self) -> None:
        """Stop reading and close the connection (nothing happens if already closed)."""
        self._done = True
        self._pending.clear()
        self._release()

    def __enter__(self) -> Stream:
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_response", None) is not None:
            self.close()

    def __repr__(self) -> str:
        state = "done" if self._done else "open" if self._response is not None else "new"
        return f"<Stream {state} {self._request.url}{self._settings.via}>"

    @contextmanager
    def _mapped(self, *, started: bool) -> Iterator[None]:
        """Turn requests/urllib3 exceptions into the contract's (twin: _async.py)."""
        try:
            yield
        except OpchatgptsError:
            raise
        except Exception as exc:
            kind = _failure_kind(exc)
            settings = self._settings
            partial = self._parser.partial if self._parser is not None else ""
            status = _tunnel_status(exc) if kind == Failure.PROXY else None
            if status is not None:
                error: OpchatgptsError = proxy_status_error(status, settings.redacted_proxy)
            else:
                error = transport_error(
                    kind,
                    origin=settings.origin,
                    timeout=settings.timeout,
                    proxy=settings.redacted_proxy,
                    started=started,
                    partial=partial,
                )
            logger.debug("%s: %s", type(exc).__name__, error)
            raise error from exc


class _ChunkedBody:
    """The body of a chunked answer, many chunks per read.

    ``raw.read1`` returns at most one HTTP chunk (http.client's
    ``_read1_chunked``), and a PHP site flushes every frame as its own chunk:
    a stack of Python calls per token.  This reads the socket's buffered file
    directly, as http.client would, and strips the framing of every chunk that
    has arrived.  Errors become urllib3's, as ``raw.read1`` raises them.  The
    connection is closed when the stream ends (as it already was), so
    http.client never reads from it again.
    """

    __slots__ = ("_buffer", "_end", "_file", "_left", "_skip")

    def __init__(self, file: Any) -> None:
        self._file = file
        self._buffer = b""
        self._left = 0  # data bytes left in the current chunk
        self._skip = 0  # bytes of the CRLF after a chunk's data still to drop
        self._end = False

    @classmethod
    def of(cls, response: requests.Response) -> Optional[_ChunkedBody]:
        """A reader for ``response``'s body, or ``None`` to use ``raw.read1``.

        Only for a chunked body without Content-Encoding (urllib3 decodes
        those) that nobody has started to read.
        """
        raw = response.raw
        inner = getattr(raw, "_fp", None)
        file = getattr(inner, "fp", None)
        if (
            not getattr(raw, "chunked", False)
            or "Content-Encoding" in response.headers
            or getattr(inner, "chunk_left", 0) is not None
            or getattr(raw, "_fp_bytes_read", 1) != 0
            or not hasattr(file, "read1")
        ):
            return None
        return cls(file)

    def read(self) -> bytes:
        """The data of the chunks that have arrived; waits only when there is none.

        Returns:
            ``b""`` at the last (empty) chunk.

        Raises:
            urllib3.exceptions.HTTPError: what ``raw.read1`` would raise.
        """
        try:
            while True:
                data = self._take()
                if data or self._end:
                    return data
                more = self._file.read1(READ_SIZE)
                if not more:
                    raise urllib3.exceptions.ProtocolError(
                        "Connection broken: the chunked body ended early"
                    )
                self._buffer += more
        except socket.timeout as exc:
            raise urllib3.exceptions.ReadTimeoutError(None, None, "Read timed out.") from exc  # type: ignore[arg-type]
        except ssl.SSLError as exc:
            if "read operation timed out" in str(exc):
                raise urllib3.exceptions.ReadTimeoutError(None, None, "Read timed out.") from exc  # type: ignore[arg-type]
            raise urllib3.exceptions.SSLError(exc) from exc
        except (ValueError, OSError) as exc:
            raise urllib3.exceptions.ProtocolError(f"Connection broken: {exc!r}", exc) from exc

    def _take(self) -> bytes:
        # Parse the buffer: data of whole and partial chunks out, framing dropped.
        buffer = self._buffer
        size = len(buffer)
        at = 0
        left = self._left
        skip = self._skip
        pieces: List[bytes] = []
        while not self._end:
            if left:
                stop = at + left
                if stop > size:
                    if at < size:
                        pieces.append(buffer[at:])
                    left = stop - size
                    at = size
                    break
                pieces.append(buffer[at:stop])
                at = stop
                left = 0
                skip = 2
            if skip:
                # http.client reads these two bytes (the CRLF) without looking.
                if at + skip > size:
                    skip -= size - at
                    at = size
                    break
                at += skip
                skip = 0
            eol = buffer.find(b"\n", at)
            if eol < 0:
                if size - at > _MAX_CHUNK_LINE and not pieces:
                    raise ValueError("chunk size line too long")
                break
            line = buffer[at:eol].split(b";", 1)[0]
            try:
                length = int(line, 16)  # as http.client: ValueError for garbage
                if length < 0:
                    raise ValueError(f"negative chunk size {line!r}")
            except ValueError:
                if pieces:
                    break  # hand over the data before it first, as read1 would
                raise
            at = eol + 1
            if not length:
                self._end = True
            left = length
        self._left = left
        self._skip = skip
        self._buffer = buffer[at:] if at < size else b""
        return b"".join(pieces) if len(pieces) != 1 else pieces[0]


def _failure_kind(exc: BaseException) -> str:
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


def _tunnel_status(exc: BaseException) -> Optional[int]:
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
