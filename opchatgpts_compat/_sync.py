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
import threading
from types import TracebackType
from typing import Any, Callable, ContextManager, Mapping, Optional, Tuple, Type

import requests

from ._conversation import ConversationView, Transcript, Turn
from ._exchange import ClientView, Exchange, Head, PageSetup, StreamView, reusable
from ._fetch import Fetch
from ._framing import ACCEPT_ENCODING
from ._models import Reply, StatusEvent
from ._protocol import ERROR_READ_LIMIT
from ._request import PreparedRequest, build_request, header_value
from ._requests_glue import Body, close_session, head_of, mapped, new_session, read_all, send
from ._settings import (
    DEFAULT_BASE_URL,
    DEFAULT_TIMEOUT,
    Settings,
    build_settings,
    check_options,
    client_options,
)
from ._site import SiteState

__all__ = ["Client", "Conversation", "Stream"]

logger = logging.getLogger(__name__)


class Client(ClientView):
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

    _NAME = "Client"

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
        setup = PageSetup(cls.__name__, url, bot_id, options)
        client = cls(**setup.client_options)
        try:
            answer = client._fetch(setup.fetch(client._settings))
            setup.read(*answer)
            client._settings = setup.settings(client._settings, client._site)
        except BaseException:
            client.close()
            raise
        return client

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

    def _fetch(self, fetch: Fetch) -> Tuple[Fetch, int, str, bytes]:
        """Send a request that gets a nonce or a page (following a page's redirects).

        Returns:
            The fetch that got the answer (the last hop), its status, type and body.
        """
        settings = self._settings
        while True:  # a page's redirects, one hop at a time: the core decides each
            logger.debug("%s %s%s", fetch.method, fetch.redacted_url, settings.via)
            response = self._send(fetch.method, fetch.url, fetch.headers, fetch.body)
            head = head_of(response)
            body = Body(response)
            try:
                hop = fetch.follow(head.status, head.location, settings)
                if hop is None:
                    with mapped(settings, started=True):
                        data = read_all(body, fetch.read_limit)
            finally:
                body.release(reusable(body.complete))
            logger.debug("answer %s to %s", head.status, fetch.redacted_url)
            if hop is None:
                return fetch, head.status, head.content_type, data
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
        with mapped(settings, started=False):
            return send(session, settings, method=method, url=url, data=body, headers=headers)

    def _get_session(self) -> requests.Session:
        with self._lock:  # threads share a client: one session, made once
            if self._session is None:
                self._session = new_session()
            return self._session

    def close(self) -> None:
        """Close the session and its connections, if this client made it."""
        self._closed = True
        if self._owns_session and self._session is not None:
            close_session(self._session)

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()


# twin: _async.py AsyncConversation
class Conversation(ConversationView):
    """A chat with one ``chatId``, as the site's own chatbot holds one.

    Made by :meth:`Client.conversation`.  Each turn sends the history and the
    new text; a turn that ends in its ``end`` frame adds the user's message and
    the reply to :attr:`messages`; a turn that fails or is left early adds nothing.
    """

    _NAME = "Conversation"

    def __init__(self, client: Client, transcript: Transcript) -> None:
        self._client = client
        self._transcript = transcript

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


class Stream(StreamView):
    """The chunks of one reply, as they arrive (an iterator of ``str``).

    ``reply`` holds the :class:`Reply` once the stream has ended.  Leaving early
    (``break``, :meth:`close`, an exception, garbage collection) closes the
    connection at once.
    """

    _NAME = "Stream"

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
        self._owns_client = owns_client
        self._exchange = Exchange(client._site, settings, request, on_status=on_status, turn=turn)
        self._body: Optional[Body] = None
        #: The ``chatId`` this request sent.
        self.chat_id = request.chat_id

    def __iter__(self) -> Stream:
        return self

    def __next__(self) -> str:
        exchange = self._exchange
        if exchange.pending:  # the hot path: one chunk per call
            return exchange.pending.popleft()
        while True:
            chunk = exchange.next_chunk()  # the chunks, then the answer's error
            if chunk is not None:
                return chunk
            if exchange.over:
                raise StopIteration
            self._fill()

    def _fill(self) -> None:
        try:
            if self._exchange.parser is None:
                self._send()
                return
            body = self._body
            assert body is not None
            with self._mapped(started=True):
                data = body.read()
            if self._exchange.feed(data):
                self._release(reusable(body.complete))
        except BaseException:  # KeyboardInterrupt too: never leave the socket open
            self.close()
            raise

    # twin: _async.py (the nonce refresh loop)
    def _send(self) -> None:
        exchange = self._exchange
        head = self._post(exchange.request)
        # A nonce rejection comes before the site does any work: the core
        # says whether to fetch a fresh nonce and send again (at most once).
        while exchange.wants_body(head):
            body = self._body
            assert body is not None
            with self._mapped(started=True):
                data = read_all(body, ERROR_READ_LIMIT)
            self._drop(reusable(body.complete))
            step = exchange.feed_rejection(head, data)
            while isinstance(step, Fetch):
                step = exchange.feed_fetch(*self._client._fetch(step))
            head = self._post(step)
        exchange.start(head)

    def _post(self, request: PreparedRequest) -> Head:
        logger.debug("POST %s%s", request.url, self._exchange.settings.via)
        response = self._client._send("POST", request.url, request.headers, request.body)
        self._body = Body(response)
        head = head_of(response)
        self._exchange.head(head, response.headers)
        return head

    def _drop(self, reuse: bool) -> None:
        body, self._body = self._body, None
        if body is not None:
            body.release(reuse)

    def _release(self, reuse: bool) -> None:
        self._drop(reuse)
        if self._owns_client:
            self._client.close()

    def close(self) -> None:
        """Stop reading and close the connection (nothing happens if already closed)."""
        self._exchange.leave()  # left before the end: a conversation keeps nothing
        self._release(False)

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
        if getattr(self, "_body", None) is not None:
            self.close()

    def _mapped(self, *, started: bool) -> ContextManager[None]:
        return mapped(self._exchange.settings, started=started, parser=self._exchange.parser)
