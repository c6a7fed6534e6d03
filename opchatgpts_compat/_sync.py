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
import threading
from collections import deque
from contextlib import contextmanager
from types import TracebackType
from typing import Any, Deque, Iterator, Mapping, Optional, Type

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
            ``chat_id``, ``session_id``), ``nonce``, ``max_event_size``, and
            ``verify``: the path of a CA bundle to trust instead of the default
            store (certificates are always checked; there is no ``False``).

    One client may be shared by threads: each :meth:`stream` is independent.
    A :class:`Stream` itself is read by one thread at a time.

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
        self._lock = threading.Lock()  # threads share a client: one session, made once

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
        with self._lock:
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
                if self._parser is not None:
                    self._parser.check()  # a failure after the last chunks
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
                verify=settings.verify,  # None: the session's (by default, checked)
                stream=True,
                allow_redirects=False,  # a POST must not turn into a GET that drops the message
            )
        self._response = response
        logger.debug("answer %s %s", response.status_code, response.headers.get("Content-Type"))
        self._parser = ReplyParser(
            response.status_code,
            response.headers.get("Content-Type", ""),
            max_event_size=settings.max_event_size,
            location=response.headers.get("Location"),
            proxy=settings.redacted_proxy,
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
