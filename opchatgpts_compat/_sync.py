"""The blocking front end, on ``requests``.  Twin of ``_async.py``.

It only moves bytes: the request comes from ``_request``, the meaning of the
answer from ``_protocol``.  The body is read with urllib3's ``read1``, which
returns whatever bytes have arrived instead of waiting to fill a buffer, so a
token reaches the caller while the server still holds the connection open
(``iter_content(None)`` would wait for the end of a body without chunked
framing).  No event loop is involved, so this works inside Jupyter's.
"""

from __future__ import annotations

import http.client
import logging
import re
import socket
import ssl
import threading
import zlib
from collections import deque
from contextlib import contextmanager
from types import TracebackType
from typing import (
    Any,
    Callable,
    ContextManager,
    Deque,
    Dict,
    Iterator,
    List,
    Mapping,
    Optional,
    Tuple,
    Type,
    Union,
)

import requests
import requests.adapters
import urllib3.connection
import urllib3.connectionpool
import urllib3.exceptions

from ._conversation import Transcript, Turn
from ._exceptions import OpchatgptsError
from ._failures import Failure, connect_cause, proxy_status_error, transport_error
from ._framing import ACCEPT_ENCODING, encoding_error, framing_problem
from ._models import Reply, StatusEvent
from ._protocol import ERROR_READ_LIMIT, ReplyParser
from ._request import (
    DEFAULT_BASE_URL,
    DEFAULT_TIMEOUT,
    PreparedRequest,
    Settings,
    build_request,
    build_settings,
    check_options,
    client_options,
    header_value,
    redact_url,
)
from ._secrets import scrub_chain, secrets_of
from ._site import (
    Fetch,
    NonceRefresh,
    SiteState,
    build_page_fetch,
    page_client_options,
    page_settings,
    read_page,
)

__all__ = ["Client", "Conversation", "Stream"]

logger = logging.getLogger(__name__)

#: Largest single read; ``read1`` returns less whenever less has arrived.
READ_SIZE = 64 * 1024
#: Longest chunk-size line accepted, without its extension (http.client's ``_MAXLINE``).
_MAX_CHUNK_LINE = 65536
#: A chunk-size line as llhttp takes it: 1-16 hex digits, blanks, then CRLF or ``;``.
_SIZE_LINE = re.compile(rb"([0-9A-Fa-f]{1,16})[ \t]*(?:(\r\n)|;)")
#: What may still become such a line when more bytes arrive.
_SIZE_PREFIX = re.compile(rb"[0-9A-Fa-f]{0,16}[ \t]*\r?")
#: Where a chunk extension ends (CR) or breaks (another control character).
_EXT_STOP = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")

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
            ``chat_id``, ``session_id``, ``stream``), ``nonce`` (the first one to
            send; a missing or stale nonce is fetched automatically),
            ``max_event_size`` and ``rest_url`` (a REST base other than
            ``{base_url}/wp-json``, e.g. ``https://example.org/?rest_route=``),
            and ``verify``: the path of a CA bundle to trust instead of the
            default store (certificates are always checked; there is no ``False``).

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
        check_options("Client()", options, client_options())
        self._settings = build_settings(
            base_url=base_url, proxy=proxy, timeout=timeout, headers=headers, **options
        )
        self._session = session
        self._owns_session = session is None
        self._closed = False
        self._site = SiteState(self._settings.nonce)
        self._lock = threading.Lock()

    @classmethod
    def from_page(cls, url: str, bot_id: Optional[str] = None, **options: Any) -> Client:
        """A client set up as the chatbot on a WordPress page is.

        Reads the page's ``mwai-chatbot-container`` element and takes its REST
        base (``restUrl``), bot id or custom id, context id, session id, nonce,
        streaming flag and start sentence.  The options given here win.

        Args:
            url: the page showing the chatbot.
            bot_id: which chatbot, when the page has several (bot id or custom id);
                the first one when ``None``.
            **options: as for :class:`Client`.

        Raises:
            TypeError, ValueError: bad options or URL.
            HTTPStatusError: the page's status is not 2xx.
            OpchatgptsError: no chatbot (with that id) on the page, which is named.
        """
        check_options(f"{cls.__name__}.from_page()", options, client_options())
        client = cls(**page_client_options(url, options))
        try:
            fetch, status, content_type, body = client._fetch(
                build_page_fetch(url, client._settings)
            )
            chatbot = read_page(url, status, content_type, body, bot_id)
            client._settings = page_settings(client._settings, chatbot, fetch.url, options)
            client._site.adopt(fetch.url, chatbot, client._settings, keep_nonce="nonce" in options)
        except BaseException:
            client.close()
            raise
        return client

    @property
    def settings(self) -> Settings:
        """The validated options."""
        return self._settings

    def conversation(self, chat_id: Optional[str] = None) -> Conversation:
        """A new conversation: one ``chatId``, a history that grows turn by turn.

        It starts from the bot's start sentence when ``from_page`` found one.
        """
        return Conversation(self, self._site.transcript(chat_id))

    def conversation_from_json(self, text: str) -> Conversation:
        """A conversation saved with :meth:`Conversation.to_json`, to carry on.

        Raises:
            ValueError: ``text`` is not a saved conversation.
        """
        return Conversation(self, Transcript.from_json(text))

    def stream(
        self,
        messages: Any,
        *,
        on_status: Optional[Callable[[StatusEvent], None]] = None,
        **options: Any,
    ) -> Stream:
        """Send ``messages`` and iterate over the reply's chunks as they arrive.

        Nothing is sent until the first chunk is asked for.  Use it as a
        context manager, or iterate it to the end, so the connection is
        released at once.

        Args:
            messages: ``[{"role": ..., "content": ...}, ...]``, oldest first;
                the last one is the new message.
            on_status: called with each :class:`StatusEvent` (a ``live`` frame
                that is not reply text, e.g. "Generating response...") as it
                arrives; they are also kept in :attr:`Stream.statuses`.
            **options: per-call ``bot_id``, ``custom_id``, ``context_id``,
                ``chat_id``, ``session_id``, ``nonce``, ``stream``.

        Returns:
            A :class:`Stream`: an iterator of ``str`` chunks.

        Raises:
            TypeError, ValueError: bad ``messages`` or options (nothing is sent).
        """
        settings = self._settings_for(options)
        return Stream(self, build_request(messages, settings), settings, on_status=on_status)

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

    def _settings_for(self, options: Mapping[str, Any]) -> Settings:
        if self._closed:
            raise RuntimeError("this Client is closed")
        return self._site.settings_for(self._settings, options)

    def _fetch(self, fetch: Fetch) -> Tuple[Fetch, int, str, bytes]:
        """Send a request that gets a nonce or a page (following a page's redirects).

        Returns:
            The fetch that got the answer (the last hop), its status, type and body.
        """
        settings = self._settings
        while True:  # a page's redirects, one hop at a time: the core decides each
            logger.debug("%s %s%s", fetch.method, fetch.redacted_url, settings.via)
            response = self._send(fetch.method, fetch.url, fetch.headers, fetch.body)
            try:
                location = getattr(response, _LOCATION, None)
                hop = fetch.follow(response.status_code, location, settings)
                if hop is None:
                    with _mapped(settings, started=True):
                        body = _read_all(response, fetch.read_limit)
            finally:
                response.close()
            logger.debug("answer %s to %s", response.status_code, fetch.redacted_url)
            if hop is None:
                return fetch, response.status_code, response.headers.get("Content-Type", ""), body
            fetch = hop

    def _send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: Optional[bytes],
    ) -> requests.Response:
        settings = self._settings
        if header_value(headers, "Accept-Encoding") is None:
            headers = {**headers, "Accept-Encoding": ACCEPT_ENCODING}  # what both front ends read
        session = self._get_session()
        # Per-request hooks replace the session's: keep a caller's own.
        theirs = session.hooks.get("response") or []
        hooks = {"response": [*([theirs] if callable(theirs) else theirs), _hold_location]}
        with _mapped(settings, started=False):
            response = session.request(
                method,
                url,
                data=body,
                headers=headers,
                proxies=_proxies(settings),
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

    def _get_session(self) -> requests.Session:
        with self._lock:  # threads share a client: one session, made once
            if self._session is None:
                session = requests.Session()
                session.trust_env = False  # the proxy is what ``proxy`` says, in both front ends
                for prefix in ("http://", "https://"):
                    session.mount(prefix, _Adapter())  # skips 1xx answers, as aiohttp does
                self._session = session
            return self._session

    def close(self) -> None:
        """Close the session and its connections, if this client made it."""
        self._closed = True
        if self._owns_session and self._session is not None:
            _close_session(self._session)

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


# twin: _async.py AsyncConversation
class Conversation:
    """A chat with one ``chatId``, as the site's own chatbot holds one.

    Made by :meth:`Client.conversation`.  Each turn sends the history and the
    new text; a turn that ends in its ``end`` frame adds the user's message and
    the reply to :attr:`messages`; a turn that fails or is left early adds nothing.
    """

    def __init__(self, client: Client, transcript: Transcript) -> None:
        self._client = client
        self._transcript = transcript

    @property
    def chat_id(self) -> str:
        """The ``chatId`` of every turn."""
        return self._transcript.chat_id

    @property
    def messages(self) -> List[Dict[str, Any]]:
        """The history sent so far, replies included (copies: edit the JSON to change it)."""
        return [dict(message) for message in self._transcript.messages]

    def stream(
        self,
        text: str,
        *,
        on_status: Optional[Callable[[StatusEvent], None]] = None,
        **options: Any,
    ) -> Stream:
        """Send ``text`` as the next turn; iterate over the reply's chunks.

        As :meth:`Client.stream`, taking the new message's text.

        Raises:
            TypeError, ValueError: ``text`` is blank, or bad options (nothing is sent).
        """
        settings = self._client._settings_for(options)
        turn = self._transcript.begin(text, settings)
        return Stream(self._client, turn.request, settings, on_status=on_status, turn=turn)

    def complete(self, text: str, **options: Any) -> Reply:
        """Send ``text`` as the next turn and return the whole :class:`Reply`."""
        with self.stream(text, **options) as chunks:
            for _ in chunks:
                pass
        assert chunks.reply is not None
        return chunks.reply

    def to_json(self) -> str:
        """The conversation as JSON, for :meth:`Client.conversation_from_json`."""
        return self._transcript.to_json()

    def __repr__(self) -> str:
        return f"<Conversation {self.chat_id} messages={len(self._transcript.messages)}>"


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
        on_status: Optional[Callable[[StatusEvent], None]] = None,
        turn: Optional[Turn] = None,
    ) -> None:
        self._client = client
        self._request = request
        self._settings = settings
        self._owns_client = owns_client
        self._on_status = on_status
        self._turn = turn
        self._refresh = NonceRefresh(client._site, settings, request)
        self._response: Optional[requests.Response] = None
        self._parser: Optional[ReplyParser] = None
        self._chunked: Optional[_ChunkedBody] = None
        self._pending: Deque[str] = deque()
        self._done = False
        self._error: Optional[OpchatgptsError] = None
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

    @property
    def statuses(self) -> List[StatusEvent]:
        """The status frames so far: ``live`` frames that are not reply text."""
        return [] if self._parser is None else list(self._parser.statuses)

    def __iter__(self) -> Stream:
        return self

    def __next__(self) -> str:
        while not self._pending:
            if self._done:
                error, self._error = self._error, None
                if error is not None:
                    raise error  # after the chunks that came before it
                self._conclude()
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
            try:
                self._pending.extend(parser.feed(data) if data else parser.feed_eof())
            finally:
                self._report(parser.take_statuses())
            if parser.done:
                self._error = parser.error
                self._finish()
        except BaseException:  # KeyboardInterrupt too: never leave the socket open
            self.close()
            raise

    # twin: _async.py (the nonce refresh loop)
    def _open(self) -> None:
        settings = self._settings
        refresh = self._refresh
        response = self._post(refresh.request)
        # A nonce rejection comes before the site does any work: ask the core
        # whether to fetch a fresh nonce and send again (at most once).
        while refresh.wants_body(response.status_code):
            with self._mapped(started=True):
                body = _read_all(response, ERROR_READ_LIMIT)
            self._drop_response()
            step: Union[Fetch, PreparedRequest] = refresh.feed_rejection(
                response.status_code, response.headers.get("Content-Type", ""), body
            )
            while isinstance(step, Fetch):
                step = refresh.feed_fetch(*self._client._fetch(step))
            response = self._post(step)
        error = encoding_error(response.raw.headers.getlist("Content-Encoding"))
        if error is not None:
            raise error
        self._chunked = _ChunkedBody.of(response)
        self._parser = ReplyParser(
            response.status_code,
            response.headers.get("Content-Type", ""),
            max_event_size=settings.max_event_size,
            location=getattr(response, _LOCATION, None),
            proxy=settings.redacted_proxy,
            url=redact_url(settings.url),
            bot_id=settings.custom_id or settings.bot_id,
        )

    def _post(self, request: PreparedRequest) -> requests.Response:
        settings = self._settings
        logger.debug("POST %s%s", request.url, settings.via)
        response = self._client._send("POST", request.url, request.headers, request.body)
        self._response = response
        logger.debug("answer %s %s", response.status_code, response.headers.get("Content-Type"))
        self._client._site.observe_headers(response.headers)
        return response

    def _conclude(self) -> None:
        # The caller has seen the whole reply: a conversation keeps the turn.
        turn, self._turn = self._turn, None
        if turn is not None and self.reply is not None:
            turn.commit(self.reply)

    def _report(self, statuses: List[StatusEvent]) -> None:
        if self._on_status is not None:
            for status in statuses:
                self._on_status(status)

    def _finish(self) -> None:
        self._done = True
        parser = self._parser
        assert parser is not None
        self._client._site.observe_parser(parser)
        self._release()

    def _drop_response(self) -> None:
        response, self._response = self._response, None
        if response is not None:
            response.close()

    def _release(self) -> None:
        self._drop_response()
        if self._owns_client:
            self._client.close()

    def close(self) -> None:
        """Stop reading and close the connection (nothing happens if already closed)."""
        self._done = True
        self._turn = None  # left before the end: a conversation keeps nothing
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

    def _mapped(self, *, started: bool) -> ContextManager[None]:
        return _mapped(self._settings, started=started, parser=self._parser)


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


def _close_session(session: requests.Session) -> None:
    # Session.close() empties urllib3's pool managers, but urllib3 2.x no
    # longer closes the idle connections of the pools it drops: they wait for
    # the garbage collector.  Close them, so closing the client closes its sockets.
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


#: Where :func:`_hold_location` keeps a redirect's target.
_LOCATION = "_opchatgpts_location"


def _hold_location(response: requests.Response, **_: Any) -> None:
    """Take ``Location`` out of every answer: requests follows none here.

    Even with ``allow_redirects=False`` requests parses it (and reads the
    body) to prepare the next request, and a target ``urlsplit`` refuses
    (port 99999, ``http://[::1/``) escapes as a bare ValueError.  Without it
    the answer is the site's, and the core judges the target: it names it
    for a chat request, and follows a page's one hop at a time (``Fetch.follow``).
    """
    setattr(response, _LOCATION, response.headers.pop("Location", None))


def _proxies(settings: Settings) -> Optional[Dict[str, str]]:
    return {"http": settings.proxy, "https": settings.proxy} if settings.proxy else None


def _read_all(response: requests.Response, limit: int) -> bytes:
    """The body, up to about ``limit`` bytes (a nonce rejection, a session, a page)."""
    pieces: List[bytes] = []
    size = 0
    while size < limit:
        data = response.raw.read1(READ_SIZE, decode_content=True)
        if not data:
            break
        pieces.append(data)
        size += len(data)
    return b"".join(pieces)


@contextmanager
def _mapped(
    settings: Settings, *, started: bool, parser: Optional[ReplyParser] = None
) -> Iterator[None]:
    """Turn requests/urllib3 exceptions into the contract's (twin: _async.py)."""
    try:
        yield
    except OpchatgptsError:
        raise
    except Exception as exc:
        kind = _failure_kind(exc)
        if kind == Failure.CONNECT and settings.proxy:
            kind = Failure.PROXY  # through a proxy, the client connects only to it
        partial = parser.partial if parser is not None else ""
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
                cause=connect_cause(exc),
            )
        scrub_chain(exc, secrets_of(settings))  # no proxy password in the chain (issue 11)
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

    The framing is read as aiohttp's parser (llhttp) reads it, so both front
    ends take and refuse the same bytes (README, "Framing"): a size is 1 to 16
    hex digits (no ``0x``, sign, ``_`` or leading space), then optional spaces
    or tabs, an optional extension (``;`` and no control characters) and CRLF;
    the data ends with CRLF or LF.  An extension of any length is skipped, as
    it arrives, without being kept.
    """

    __slots__ = ("_buffer", "_crlf", "_decoder", "_end", "_ext", "_file", "_left", "_size")

    def __init__(self, file: Any, decoder: Optional[_Inflater] = None) -> None:
        self._file = file
        self._decoder = decoder  # for a gzip or deflate body
        self._buffer = b""
        self._left = 0  # data bytes left in the current chunk
        self._crlf = 0  # after a chunk's data: 2 = CRLF or LF to come, 1 = LF to come
        self._ext = 0  # in a chunk extension: 1 = its first byte to come, 2 = in it
        self._size = 0  # the size of the chunk whose extension is being skipped
        self._end = False

    @classmethod
    def of(cls, response: requests.Response) -> Optional[_ChunkedBody]:
        """A reader for ``response``'s body, or ``None`` to use ``raw.read1``.

        Only for a chunked body that nobody has started to read, in no
        Content-Encoding or in gzip or deflate: then every chunked answer to
        a chat is framed by the same rules, whatever its coding.
        """
        raw = response.raw
        inner = getattr(raw, "_fp", None)
        file = getattr(inner, "fp", None)
        coding = response.headers.get("Content-Encoding", "identity").strip().lower()
        if (
            not getattr(raw, "chunked", False)
            or coding not in ("identity", "gzip", "deflate")
            or getattr(inner, "chunk_left", 0) is not None
            or getattr(raw, "_fp_bytes_read", 1) != 0
            or not hasattr(file, "read1")
        ):
            return None
        return cls(file, None if coding == "identity" else _Inflater(coding))

    def read(self) -> bytes:
        """The data of the chunks that have arrived; waits only when there is none.

        Returns:
            ``b""`` at the last (empty) chunk.

        Raises:
            urllib3.exceptions.HTTPError: what ``raw.read1`` would raise.
        """
        try:
            while True:
                decoder = self._decoder
                if decoder is None:
                    data = self._take()
                    if data or self._end:
                        return data
                else:
                    data = decoder.inflate(b"" if decoder.tail else self._take())
                    if data:
                        return data
                    if self._end and not decoder.tail:
                        return decoder.finish()
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
        # A framing error is raised once the data before it has been handed over.
        buffer = self._buffer
        size = len(buffer)
        at = 0
        left = self._left
        crlf = self._crlf
        ext = self._ext
        pieces: List[bytes] = []
        error = ""
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
                crlf = 2
            if crlf:
                if at >= size:
                    break
                byte = buffer[at]
                if byte == 10:  # LF
                    crlf = 0
                elif byte == 13 and crlf == 2:  # CR
                    crlf = 1
                    at += 1
                    continue
                else:
                    error = "no CRLF after the chunk data"
                    break
                at += 1
            if ext:
                if ext == 1:
                    if at >= size:
                        break
                    if buffer[at] in b" \t":
                        error = "white space after ';' in a chunk extension"
                        break
                    ext = 2
                stop_at = _EXT_STOP.search(buffer, at)
                if stop_at is None:
                    at = size  # skipped, not kept
                    break
                at = stop_at.start()
                if buffer[at] != 13 or buffer[at + 1 : at + 2] not in (b"", b"\n"):
                    error = "a control character in a chunk extension"
                    break
                if at + 1 >= size:
                    break  # the LF is still to come
                at += 2
                ext = 0
                left = self._size
                if not left:
                    self._end = True
                continue
            match = _SIZE_LINE.match(buffer, at)
            if match is None:
                rest = buffer[at : at + _MAX_CHUNK_LINE + 1]
                if len(rest) <= _MAX_CHUNK_LINE and _SIZE_PREFIX.fullmatch(rest):
                    break  # the rest of the line is still to come
                error = f"invalid chunk size line {rest[:20]!r}"
                break
            at = match.end()
            length = int(match.group(1), 16)
            if match.group(2) is None:  # an extension follows
                ext = 1
                self._size = length
                continue
            if not length:
                self._end = True
            left = length
        self._left = left
        self._crlf = crlf
        self._ext = ext
        self._buffer = buffer[at:] if at < size else b""
        if error and not pieces:
            raise ValueError(error)
        return b"".join(pieces) if len(pieces) != 1 else pieces[0]


class _Inflater:
    """A gzip or deflate body, at most ``READ_SIZE`` bytes out per call.

    As urllib3's ``read1`` does: a small read of a bomb never becomes a huge
    string at once; the compressed rest waits in ``unconsumed_tail``.  gzip
    members that follow each other are read in turn; deflate is zlib-wrapped
    or raw, as its first bytes say (as urllib3 reads them).
    """

    __slots__ = ("_gzip", "_obj", "_raw_tried")

    def __init__(self, coding: str) -> None:
        self._gzip = coding == "gzip"
        self._obj = zlib.decompressobj(31 if self._gzip else 15)
        self._raw_tried = self._gzip

    @property
    def tail(self) -> bool:
        """Compressed bytes are waiting: the last call stopped at ``READ_SIZE``,
        or another gzip member follows."""
        obj = self._obj
        return bool(obj.unconsumed_tail) or (self._gzip and obj.eof and bool(obj.unused_data))

    def inflate(self, data: bytes) -> bytes:
        """Up to ``READ_SIZE`` decompressed bytes of what came so far.

        Raises:
            urllib3.exceptions.DecodeError: the body is not in its coding.
        """
        try:
            obj = self._obj
            if not self._raw_tried and data:
                self._raw_tried = True
                try:
                    return obj.decompress(data, READ_SIZE)
                except zlib.error:  # deflate without the zlib wrapper
                    self._obj = obj = zlib.decompressobj(-15)
            out = obj.decompress(obj.unconsumed_tail + data, READ_SIZE)
            while self._gzip and obj.eof and obj.unused_data and not out:
                rest = obj.unused_data  # the next gzip member
                self._obj = obj = zlib.decompressobj(31)
                out = obj.decompress(rest, READ_SIZE)
            return out
        except zlib.error as exc:
            raise urllib3.exceptions.DecodeError(
                "Received response with a Content-Encoding that failed to decode", exc
            ) from exc

    def finish(self) -> bytes:
        """What is left at the end of the body (once; then nothing)."""
        obj, self._obj = self._obj, zlib.decompressobj()
        return b"" if obj.eof else obj.flush()


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
