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
from typing import (
    Any,
    Callable,
    ContextManager,
    Deque,
    Dict,
    Generator,
    Iterator,
    List,
    Mapping,
    Optional,
    Tuple,
    Type,
    TypeVar,
    Union,
)

import aiohttp
import aiohttp.http_exceptions

from ._conversation import Transcript, Turn
from ._exceptions import OpchatgptsError
from ._framing import ACCEPT_ENCODING, encoding_error
from ._models import Reply, StatusEvent
from ._protocol import (
    ERROR_READ_LIMIT,
    Failure,
    ReplyParser,
    connect_cause,
    proxy_status_error,
    transport_error,
)
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

__all__ = ["AsyncClient", "AsyncConversation", "AsyncStream"]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")
#: A page larger than this is read in a worker thread: ``_page`` needs up to
#: about a second of CPU per MiB of the worst markup (README, "Hostile pages").
PAGE_THREAD_SIZE = 128 * 1024


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
            ``chat_id``, ``session_id``, ``stream``), ``nonce`` (the first one to
            send; a missing or stale nonce is fetched automatically),
            ``max_event_size`` and ``rest_url`` (a REST base other than
            ``{base_url}/wp-json``, e.g. ``https://example.org/?rest_route=``),
            and ``verify``: the path of a CA bundle to trust instead of the
            default store (certificates are always checked; there is no ``False``).

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
        check_options("AsyncClient()", options, client_options())
        self._settings = build_settings(
            base_url=base_url, proxy=proxy, timeout=timeout, headers=headers, **options
        )
        self._session = session
        self._owns_session = session is None
        self._closed = False
        self._site = SiteState(self._settings.nonce)
        self._ssl: Optional[ssl.SSLContext] = None

    @classmethod
    async def from_page(cls, url: str, bot_id: Optional[str] = None, **options: Any) -> AsyncClient:
        """A client set up as the chatbot on a WordPress page is.

        Reads the page's ``mwai-chatbot-container`` element and takes its REST
        base (``restUrl``), bot id or custom id, context id, session id, nonce,
        streaming flag and start sentence.  The options given here win.

        Args:
            url: the page showing the chatbot.
            bot_id: which chatbot, when the page has several (bot id or custom id);
                the first one when ``None``.
            **options: as for :class:`AsyncClient`.

        Raises:
            TypeError, ValueError: bad options or URL.
            HTTPStatusError: the page's status is not 2xx.
            OpchatgptsError: no chatbot (with that id) on the page, which is named.
        """
        check_options(f"{cls.__name__}.from_page()", options, client_options())
        client = cls(**page_client_options(url, options))
        try:
            fetch, status, content_type, body = await client._fetch(
                build_page_fetch(url, client._settings)
            )
            chatbot = await _off_loop(len(body), read_page, url, status, content_type, body, bot_id)
            client._settings = page_settings(client._settings, chatbot, fetch.url, options)
            client._site.adopt(fetch.url, chatbot, client._settings, keep_nonce="nonce" in options)
        except BaseException:
            await client.aclose()
            raise
        return client

    @property
    def settings(self) -> Settings:
        """The validated options."""
        return self._settings

    def conversation(self, chat_id: Optional[str] = None) -> AsyncConversation:
        """A new conversation: one ``chatId``, a history that grows turn by turn.

        It starts from the bot's start sentence when ``from_page`` found one.
        """
        return AsyncConversation(self, self._site.transcript(chat_id))

    def conversation_from_json(self, text: str) -> AsyncConversation:
        """A conversation saved with :meth:`AsyncConversation.to_json`, to carry on.

        Raises:
            ValueError: ``text`` is not a saved conversation.
        """
        return AsyncConversation(self, Transcript.from_json(text))

    def stream(
        self,
        messages: Any,
        *,
        on_status: Optional[Callable[[StatusEvent], None]] = None,
        **options: Any,
    ) -> AsyncStream:
        """Send ``messages`` and iterate over the reply's chunks as they arrive.

        Nothing is sent until the first chunk is asked for.  Use it as an async
        context manager, or iterate it to the end, so the connection is
        released at once.

        Args:
            messages: ``[{"role": ..., "content": ...}, ...]``, oldest first;
                the last one is the new message.
            on_status: called with each :class:`StatusEvent` (a ``live`` frame
                that is not reply text, e.g. "Generating response...") as it
                arrives; they are also kept in :attr:`AsyncStream.statuses`.
            **options: per-call ``bot_id``, ``custom_id``, ``context_id``,
                ``chat_id``, ``session_id``, ``nonce``, ``stream``.

        Returns:
            An :class:`AsyncStream`: an async iterator of ``str`` chunks.

        Raises:
            TypeError, ValueError: bad ``messages`` or options (nothing is sent).
        """
        settings = self._settings_for(options)
        return AsyncStream(self, build_request(messages, settings), settings, on_status=on_status)

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

    def _settings_for(self, options: Mapping[str, Any]) -> Settings:
        if self._closed:
            raise RuntimeError("this AsyncClient is closed")
        return self._site.settings_for(self._settings, options)

    async def _fetch(self, fetch: Fetch) -> Tuple[Fetch, int, str, bytes]:
        """Send a request that gets a nonce or a page (following a page's redirects).

        Returns:
            The fetch that got the answer (the last hop), its status, type and body.
        """
        settings = self._settings
        while True:  # a page's redirects, one hop at a time: the core decides each
            logger.debug("%s %s%s", fetch.method, fetch.redacted_url, settings.via)
            response = await self._send(fetch.method, fetch.url, fetch.headers, fetch.body)
            transport = _transport(response)
            reader = _Body(response, settings.timeout)
            try:
                location = response.headers.get("Location")
                hop = fetch.follow(response.status, location, settings)
                if hop is None:
                    with _mapped(settings, started=True):
                        body = await _read_all(reader, fetch.read_limit)
            finally:
                reader.detach()
                _let_go(response, transport, keep=False)
            logger.debug("answer %s to %s", response.status, fetch.redacted_url)
            if hop is None:
                return fetch, response.status, response.headers.get("Content-Type", ""), body
            fetch = hop

    async def _send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: Optional[bytes],
    ) -> aiohttp.ClientResponse:
        settings = self._settings
        if header_value(headers, "Accept-Encoding") is None:
            headers = {**headers, "Accept-Encoding": ACCEPT_ENCODING}  # what both front ends read
        with _mapped(settings, started=False):
            return await self._get_session().request(
                method,
                url,
                data=body,
                headers=headers,
                proxy=settings.proxy,
                timeout=_timeout(settings),
                ssl=self._ssl_context(),
                allow_redirects=False,  # a page's are followed by _fetch; a POST's never
            )

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            # trust_env=False: the proxy is what ``proxy`` says, in both front ends.
            # unsafe=True: keep cookies of sites addressed by IP, as requests does.
            self._session = aiohttp.ClientSession(
                trust_env=False, cookie_jar=aiohttp.CookieJar(unsafe=True)
            )
        return self._session

    def _ssl_context(self) -> Union[ssl.SSLContext, bool]:
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


# twin: _sync.py Conversation
class AsyncConversation:
    """A chat with one ``chatId``, as the site's own chatbot holds one.

    Made by :meth:`AsyncClient.conversation`.  Each turn sends the history and the
    new text; a turn that ends in its ``end`` frame adds the user's message and
    the reply to :attr:`messages`; a turn that fails or is left early adds nothing.
    """

    def __init__(self, client: AsyncClient, transcript: Transcript) -> None:
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
    ) -> AsyncStream:
        """Send ``text`` as the next turn; iterate over the reply's chunks.

        As :meth:`AsyncClient.stream`, taking the new message's text.

        Raises:
            TypeError, ValueError: ``text`` is blank, or bad options (nothing is sent).
        """
        settings = self._client._settings_for(options)
        turn = self._transcript.begin(text, settings)
        return AsyncStream(self._client, turn.request, settings, on_status=on_status, turn=turn)

    async def complete(self, text: str, **options: Any) -> Reply:
        """Send ``text`` as the next turn and return the whole :class:`Reply`."""
        async with self.stream(text, **options) as chunks:
            async for _ in chunks:
                pass
        assert chunks.reply is not None
        return chunks.reply

    def to_json(self) -> str:
        """The conversation as JSON, for :meth:`AsyncClient.conversation_from_json`."""
        return self._transcript.to_json()

    def __repr__(self) -> str:
        return f"<AsyncConversation {self.chat_id} messages={len(self._transcript.messages)}>"


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
        self._response: Optional[aiohttp.ClientResponse] = None
        self._transport: Optional[asyncio.Transport] = None
        self._body: Optional[_Body] = None
        self._parser: Optional[ReplyParser] = None
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

    def __aiter__(self) -> AsyncStream:
        return self

    async def __anext__(self) -> str:
        while not self._pending:
            if self._done:
                error, self._error = self._error, None
                if error is not None:
                    raise error  # after the chunks that came before it
                self._conclude()
                raise StopAsyncIteration
            await self._fill()
        return self._pending.popleft()

    async def _fill(self) -> None:
        try:
            if self._parser is None:
                await self._open()
                return
            assert self._body is not None
            with self._mapped(started=True):
                data = await self._body.read()
            parser = self._parser
            try:
                self._pending.extend(parser.feed(data) if data else parser.feed_eof())
            finally:
                self._report(parser.take_statuses())
            if parser.done:
                self._error = parser.error
                await self._finish()
        except BaseException:  # CancelledError too: never leave the socket open
            await self.aclose()
            raise

    # twin: _sync.py (the nonce refresh loop)
    async def _open(self) -> None:
        settings = self._settings
        refresh = self._refresh
        response = await self._post(refresh.request)
        # A nonce rejection comes before the site does any work: ask the core
        # whether to fetch a fresh nonce and send again (at most once).
        while refresh.wants_body(response.status):
            reader = _Body(response, settings.timeout)
            with self._mapped(started=True):
                body = await _read_all(reader, ERROR_READ_LIMIT)
            reader.detach()
            self._drop_response()
            step: Union[Fetch, PreparedRequest] = refresh.feed_rejection(
                response.status, response.headers.get("Content-Type", ""), body
            )
            while isinstance(step, Fetch):
                fetched = await self._client._fetch(step)
                step = await _off_loop(len(fetched[-1]), refresh.feed_fetch, *fetched)
            response = await self._post(step)
        error = encoding_error(response.headers.getall("Content-Encoding", []))
        if error is not None:
            raise error
        self._body = _Body(response, settings.timeout)
        self._parser = ReplyParser(
            response.status,
            response.headers.get("Content-Type", ""),
            max_event_size=settings.max_event_size,
            location=response.headers.get("Location"),
            proxy=settings.redacted_proxy,
            url=redact_url(settings.url),
            bot_id=settings.custom_id or settings.bot_id,
        )

    async def _post(self, request: PreparedRequest) -> aiohttp.ClientResponse:
        settings = self._settings
        logger.debug("POST %s%s", request.url, settings.via)
        response = await self._client._send("POST", request.url, request.headers, request.body)
        self._response = response
        self._transport = _transport(response)
        logger.debug("answer %s %s", response.status, response.headers.get("Content-Type"))
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

    async def _finish(self) -> None:
        self._done = True
        parser = self._parser
        assert parser is not None
        self._client._site.observe_parser(parser)
        self._detach_body()
        response, self._response = self._response, None
        if response is not None:
            _let_go(response, self._transport, keep=True)  # to the pool if read to its end
        if self._owns_client:
            await self._client.aclose()

    def _drop_response(self) -> None:
        self._detach_body()
        response, self._response = self._response, None
        if response is not None:
            _let_go(response, self._transport, keep=False)

    def _detach_body(self) -> None:
        body, self._body = self._body, None
        if body is not None:
            body.detach()

    def close(self) -> None:
        """Stop reading and close the connection, without awaiting anything."""
        self._done = True
        self._turn = None  # left before the end: a conversation keeps nothing
        self._pending.clear()
        self._drop_response()
        if self._owns_client:
            self._client._detach()

    async def aclose(self) -> None:
        """Stop reading and close the connection (nothing happens if already closed)."""
        self._done = True
        self._turn = None  # left before the end: a conversation keeps nothing
        self._pending.clear()
        self._drop_response()
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

    def _mapped(self, *, started: bool) -> ContextManager[None]:
        return _mapped(self._settings, started=started, parser=self._parser)


async def _off_loop(size: int, function: Callable[..., _T], *args: Any) -> _T:
    """``function(*args)``, in a worker thread when it reads a page of more than
    ``PAGE_THREAD_SIZE`` bytes, so the event loop keeps running meanwhile."""
    if size <= PAGE_THREAD_SIZE:
        return function(*args)
    return await asyncio.to_thread(function, *args)


def _transport(response: aiohttp.ClientResponse) -> Optional[asyncio.Transport]:
    """The answer's connection, taken when it arrives (aiohttp lets go of it at its end)."""
    connection = response.connection
    return None if connection is None else connection.transport


def _let_go(
    response: aiohttp.ClientResponse, transport: Optional[asyncio.Transport], *, keep: bool
) -> None:
    """Release the answer's connection to the pool (``keep``, if it is fit) or close it.

    aiohttp closes a TLS connection politely: close_notify, then the socket
    once the server answers.  A connection that is not kept (by us, or by
    aiohttp: ``Connection: close``) is closed at once instead, so that no
    socket outlives the event loop (a ResourceWarning after ``asyncio.run()``
    when the server is slow to answer).
    """
    if keep:
        response.release()
    else:
        response.close()
    if transport is not None and transport.is_closing():
        transport.abort()


def _timeout(settings: Settings) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(total=None, connect=settings.timeout, sock_read=settings.timeout)


class _Body:
    """The body of an answer, read so that no wait outlasts ``timeout``.

    aiohttp bounds a read with its ``sock_read`` timer, but when its parser
    fails on the framing of a body (a bad chunk size, LF-only lines) it drops
    that timer and closes the connection without waking the reader, which
    then waits forever (issue 11).  Here the connection's closing ends the
    body (the bytes already parsed are still read first), and every wait for
    bytes has its own bound, whatever the library underneath does.
    """

    __slots__ = ("_broken", "_closed", "_content", "_protocol", "_timeout")

    def __init__(self, response: aiohttp.ClientResponse, timeout: float) -> None:
        self._content = response.content
        self._timeout = timeout
        self._broken = False
        self._closed: Optional[asyncio.Future[None]] = None
        connection = response.connection
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

    def detach(self) -> None:
        """Stop watching the connection (the body ended, or is no longer read)."""
        # A kept-alive connection must not collect a callback per answer.
        closed, self._closed = self._closed, None
        if closed is not None:
            closed.remove_done_callback(self._on_close)

    async def read(self) -> bytes:
        """The bytes that have arrived, waiting (at most ``timeout``) for some.

        Raises:
            aiohttp.ClientError: what aiohttp raises; ``ClientPayloadError``
            when the framing broke, ``ServerTimeoutError`` after ``timeout``.
        """
        content = self._content
        try:
            data = content.read_nowait()
            if not data and not content.at_eof():
                data = await asyncio.wait_for(content.readany(), self._timeout)
        except asyncio.TimeoutError:
            raise aiohttp.ServerTimeoutError("Timeout on reading data from socket") from None
        except aiohttp.http_exceptions.HttpProcessingError as exc:
            # aiohttp's pure-Python parser puts its framing error on the body as it is.
            raise aiohttp.ClientPayloadError("The body broke HTTP/1.1 framing") from exc
        if not data:
            self.detach()
            if self._broken:
                cause = None if self._protocol is None else self._protocol.exception()
                raise aiohttp.ClientPayloadError("The body broke HTTP/1.1 framing") from cause
        return data


async def _read_all(body: _Body, limit: int) -> bytes:
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
def _mapped(
    settings: Settings, *, started: bool, parser: Optional[ReplyParser] = None
) -> Iterator[None]:
    """Turn aiohttp exceptions into the contract's (twin: _sync.py)."""
    try:
        yield
    except OpchatgptsError:
        raise
    except Exception as exc:
        if isinstance(exc, aiohttp.ClientHttpProxyError):
            error: OpchatgptsError = proxy_status_error(exc.status, settings.redacted_proxy)
        else:
            kind = _failure_kind(exc)
            if kind == Failure.CONNECT and settings.proxy:
                kind = Failure.PROXY  # through a proxy, the client connects only to it
            error = transport_error(
                kind,
                origin=settings.origin,
                timeout=settings.timeout,
                proxy=settings.redacted_proxy,
                started=started,
                partial=parser.partial if parser is not None else "",
                cause=connect_cause(exc),
            )
        scrub_chain(exc, secrets_of(settings))  # no proxy password in the chain (issue 11)
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
