"""The asyncio front end, on ``aiohttp``.  Twin of ``_sync.py``.

It only moves bytes: the request comes from ``_request``, the meaning of the
answer from ``_protocol``.  The body is read with ``content.readany()`` (what
``iter_any()`` uses): whatever bytes have arrived, with no line splitting and
no line-length cap (``async for line in content`` splits on LF only and fails
on long lines: https://github.com/aio-libs/aiohttp/issues/4453).
"""

from __future__ import annotations

import logging
import ssl
from types import TracebackType
from typing import Any, Callable, ContextManager, Mapping, Optional, Tuple, Type, Union

import aiohttp

from ._aiohttp_glue import (
    Body,
    head_of,
    mapped,
    new_session,
    off_loop,
    read_all,
    send,
    ssl_context,
)
from ._conversation import ConversationView, Transcript, Turn
from ._exchange import ClientView, Exchange, Head, PageSetup, StreamView, reusable
from ._fetch import Fetch
from ._framing import ACCEPT_ENCODING
from ._models import Reply, StatusEvent
from ._protocol import ERROR_READ_LIMIT
from ._request import PreparedRequest, build_request, header_value
from ._settings import (
    DEFAULT_BASE_URL,
    DEFAULT_TIMEOUT,
    Settings,
    build_settings,
    check_options,
    client_options,
)
from ._site import SiteState

__all__ = ["AsyncClient", "AsyncConversation", "AsyncStream"]

logger = logging.getLogger(__name__)


class AsyncClient(ClientView):
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

    _NAME = "AsyncClient"

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
        self._ssl: Optional[Union[ssl.SSLContext, bool]] = None

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
        setup = PageSetup(cls.__name__, url, bot_id, options)
        client = cls(**setup.client_options)
        try:
            answer = await client._fetch(setup.fetch(client._settings))
            await off_loop(len(answer[-1]), setup.read, *answer)
            client._settings = setup.settings(client._settings, client._site)
        except BaseException:
            await client.aclose()
            raise
        return client

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

    async def _fetch(self, fetch: Fetch) -> Tuple[Fetch, int, str, bytes]:
        """Send a request that gets a nonce or a page (following a page's redirects).

        Returns:
            The fetch that got the answer (the last hop), its status, type and body.
        """
        settings = self._settings
        while True:  # a page's redirects, one hop at a time: the core decides each
            logger.debug("%s %s%s", fetch.method, fetch.redacted_url, settings.via)
            response = await self._send(fetch.method, fetch.url, fetch.headers, fetch.body)
            head = head_of(response)
            body = Body(response, settings.timeout)
            try:
                hop = fetch.follow(head.status, head.location, settings)
                if hop is None:
                    with mapped(settings, started=True):
                        data = await read_all(body, fetch.read_limit)
            finally:
                body.release(reusable(body.complete))
            logger.debug("answer %s to %s", head.status, fetch.redacted_url)
            if hop is None:
                return fetch, head.status, head.content_type, data
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
        session = self._get_session()
        with mapped(settings, started=False):
            return await send(
                session,
                settings,
                self._ssl_context(),
                method=method,
                url=url,
                data=body,
                headers=headers,
            )

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = new_session()
        return self._session

    def _ssl_context(self) -> Union[ssl.SSLContext, bool]:
        if self._ssl is None:
            self._ssl = ssl_context(self._settings.verify)
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


# twin: _sync.py Conversation
class AsyncConversation(ConversationView):
    """A chat with one ``chatId``, as the site's own chatbot holds one.

    Made by :meth:`AsyncClient.conversation`.  Each turn sends the history and the
    new text; a turn that ends in its ``end`` frame adds the user's message and
    the reply to :attr:`messages`; a turn that fails or is left early adds nothing.
    """

    _NAME = "AsyncConversation"

    def __init__(self, client: AsyncClient, transcript: Transcript) -> None:
        self._client = client
        self._transcript = transcript

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


class AsyncStream(StreamView):
    """The chunks of one reply, as they arrive (an async iterator of ``str``).

    ``reply`` holds the :class:`Reply` once the stream has ended.  Leaving early
    (``break``, :meth:`aclose`, :meth:`close`, an exception, cancellation,
    garbage collection) closes the connection at once.
    """

    _NAME = "AsyncStream"

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
        self._owns_client = owns_client
        self._exchange = Exchange(client._site, settings, request, on_status=on_status, turn=turn)
        self._body: Optional[Body] = None
        #: The ``chatId`` this request sent.
        self.chat_id = request.chat_id

    def __aiter__(self) -> AsyncStream:
        return self

    async def __anext__(self) -> str:
        exchange = self._exchange
        if exchange.pending:  # the hot path: one chunk per call
            return exchange.pending.popleft()
        while True:
            chunk = exchange.next_chunk()  # the chunks, then the answer's error
            if chunk is not None:
                return chunk
            if exchange.over:
                raise StopAsyncIteration
            await self._fill()

    async def _fill(self) -> None:
        try:
            if self._exchange.parser is None:
                await self._send()
                return
            body = self._body
            assert body is not None
            with self._mapped(started=True):
                data = await body.read()
            if self._exchange.feed(data):
                await self._release(reusable(body.complete))
        except BaseException:  # CancelledError too: never leave the socket open
            await self.aclose()
            raise

    # twin: _sync.py (the nonce refresh loop)
    async def _send(self) -> None:
        exchange = self._exchange
        head = await self._post(exchange.request)
        # A nonce rejection comes before the site does any work: the core
        # says whether to fetch a fresh nonce and send again (at most once).
        while exchange.wants_body(head):
            body = self._body
            assert body is not None
            with self._mapped(started=True):
                data = await read_all(body, ERROR_READ_LIMIT)
            self._drop(reusable(body.complete))
            step = exchange.feed_rejection(head, data)
            while isinstance(step, Fetch):
                fetched = await self._client._fetch(step)
                step = await off_loop(len(fetched[-1]), exchange.feed_fetch, *fetched)
            head = await self._post(step)
        exchange.start(head)

    async def _post(self, request: PreparedRequest) -> Head:
        logger.debug("POST %s%s", request.url, self._exchange.settings.via)
        response = await self._client._send("POST", request.url, request.headers, request.body)
        self._body = Body(response, self._exchange.settings.timeout)
        head = head_of(response)
        self._exchange.head(head, response.headers)
        return head

    def _drop(self, reuse: bool) -> None:
        body, self._body = self._body, None
        if body is not None:
            body.release(reuse)

    async def _release(self, reuse: bool) -> None:
        self._drop(reuse)
        if self._owns_client:
            await self._client.aclose()

    def close(self) -> None:
        """Stop reading and close the connection, without awaiting anything."""
        self._exchange.leave()  # left before the end: a conversation keeps nothing
        self._drop(False)
        if self._owns_client:
            self._client._detach()

    async def aclose(self) -> None:
        """Stop reading and close the connection (nothing happens if already closed)."""
        self._exchange.leave()  # left before the end: a conversation keeps nothing
        await self._release(False)

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
        if getattr(self, "_body", None) is not None or (
            getattr(self, "_owns_client", False) and not self._client._closed
        ):
            self.close()

    def _mapped(self, *, started: bool) -> ContextManager[None]:
        return mapped(self._exchange.settings, started=started, parser=self._exchange.parser)
