"""One request and its answer, everything about them but moving bytes: no I/O.

The two front ends (``_sync.py``, ``_async.py``) only send, feed the bytes
that arrive and release the connection; what those bytes mean and what
follows from them is decided here, once:

- :class:`Exchange`: one ``stream()``: the nonce refresh (a rejected nonce
  is refreshed once and the request sent again), the parser built from the
  answer's head, the chunks handed over before the error that follows them,
  the status frames, the nonce the site sends back, the conversation turn
  kept or dropped;
- :class:`PageSetup`: the ``from_page`` sequence;
- :func:`reusable`: the connection policy, the same for both front ends.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Any, Callable, Deque, Dict, List, Mapping, NamedTuple, Optional, Union

from ._conversation import Turn
from ._exceptions import OpchatgptsError
from ._failures import Failure, connect_cause, proxy_status_error, transport_error
from ._fetch import Fetch, build_page_fetch
from ._framing import encoding_error
from ._models import Reply, StatusEvent
from ._page import Chatbot, page_client_options, page_settings, read_page
from ._protocol import ReplyParser
from ._request import PreparedRequest
from ._secrets import scrub_chain, secrets_of
from ._settings import Settings, check_options, client_options
from ._site import NonceRefresh, SiteState
from ._urls import redact_url

__all__ = [
    "ClientView",
    "Exchange",
    "Head",
    "PageSetup",
    "StreamView",
    "check_open",
    "map_error",
    "proxied_kind",
    "reusable",
]

logger = logging.getLogger(__name__)


class Head(NamedTuple):
    """What the core needs of an answer's head, as a front end reads it."""

    status: int
    content_type: str
    #: The ``Location`` header, if any.
    location: Optional[str]
    #: The Content-Encoding values, one per header line.
    content_encodings: List[str]


def reusable(complete: bool) -> bool:
    """The connection policy of both front ends: may this answer's connection
    carry another request?

    Only when its body was read to its framed end (the last chunk and the
    trailer section, or all of ``Content-Length``), as a careful HTTP client
    does: a connection left in the middle of a body (the caller stopped
    early, the reply ended at its ``end`` frame before the body did, an error)
    still carries the rest of that body, so it is closed.  An answer whose
    body ends when the connection closes is never complete in this sense.
    """
    return complete


def check_open(closed: bool, name: str) -> None:
    """The closed-client check of ``stream()``, ``conversation().stream()``, g4f's calls.

    Raises:
        RuntimeError: the client named ``name`` is closed.
    """
    if closed:
        raise RuntimeError(f"this {name} is closed")


def map_error(
    exc: BaseException,
    settings: Settings,
    kind: str,
    *,
    started: bool,
    parser: Optional[ReplyParser] = None,
    proxy_status: Optional[int] = None,
) -> OpchatgptsError:
    """The contract's error for a library's exception of ``kind`` (:class:`Failure`).

    ``proxy_status`` is the status a proxy refused a tunnel with, when the
    library tells it.  The exception's chain is scrubbed of the settings'
    secrets (no proxy password in a chained cause).
    """
    kind = proxied_kind(kind, settings)
    if proxy_status is not None:
        error: OpchatgptsError = proxy_status_error(proxy_status, settings.redacted_proxy)
    else:
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
    return error


def proxied_kind(kind: str, settings: Settings) -> str:
    """``kind`` as the caller sees it: through a proxy, the client connects only to it."""
    return Failure.PROXY if kind == Failure.CONNECT and settings.proxy else kind


class Exchange:
    """One ``stream()``: a request, perhaps sent twice, and the answer read.

    A front end sends :attr:`request`, passes the answer's head to
    :meth:`head`; while :meth:`wants_body` says so, it reads the rejection
    (up to ``ERROR_READ_LIMIT`` bytes), gives it to :meth:`feed_rejection`
    and answers each :class:`Fetch` it returns through :meth:`feed_fetch`,
    until a request to send again comes back.  Then :meth:`start` builds the
    parser, and the front end feeds the body (:meth:`feed`) whenever
    :meth:`next_chunk` has nothing to hand over, until :attr:`over`.
    """

    def __init__(
        self,
        site: SiteState,
        settings: Settings,
        request: PreparedRequest,
        *,
        on_status: Optional[Callable[[StatusEvent], None]] = None,
        turn: Optional[Turn] = None,
    ) -> None:
        self.site = site
        self.settings = settings
        self.parser: Optional[ReplyParser] = None
        self._refresh = NonceRefresh(site, settings, request)
        self._on_status = on_status
        self._turn = turn
        #: The chunks ready to hand over, in order.  A front end pops from it
        #: directly while it holds any (the hot path), and calls
        #: :meth:`next_chunk` when it is empty.
        self.pending: Deque[str] = deque()
        self._error: Optional[OpchatgptsError] = None
        #: No more bytes are wanted: the answer ended, failed, or was left.
        self.done = False
        #: Everything was handed over: the iteration is over.
        self.over = False

    # -- sending ----------------------------------------------------------------

    @property
    def request(self) -> PreparedRequest:
        """The submit request to send now."""
        return self._refresh.request

    def head(self, head: Head, headers: Mapping[str, str]) -> None:
        """An answer's head arrived: keep the fresh nonce its ``headers`` may carry."""
        logger.debug("answer %s %s", head.status, head.content_type)
        self.site.observe_headers(headers)

    def wants_body(self, head: Head) -> bool:
        """Read this answer's body for :meth:`feed_rejection` (a nonce rejection)?"""
        return self._refresh.wants_body(head.status)

    def feed_rejection(self, head: Head, body: bytes) -> Union[Fetch, PreparedRequest]:
        """The rejection's body: the first fetch of a fresh nonce, or raises it."""
        return self._refresh.feed_rejection(head.status, head.content_type, body)

    def feed_fetch(
        self, fetch: Fetch, status_code: int, content_type: str, body: bytes
    ) -> Union[Fetch, PreparedRequest]:
        """A fetch's answer: the next fetch, or the request to send again."""
        return self._refresh.feed_fetch(fetch, status_code, content_type, body)

    def start(self, head: Head) -> ReplyParser:
        """The answer to read: its parser, from its head and the settings.

        Raises:
            IncompleteStreamError: a Content-Encoding neither front end reads.
        """
        error = encoding_error(head.content_encodings)
        if error is not None:
            raise error
        settings = self.settings
        self.parser = ReplyParser(
            head.status,
            head.content_type,
            max_event_size=settings.max_event_size,
            location=head.location,
            proxy=settings.redacted_proxy,
            url=redact_url(settings.url),
            bot_id=settings.custom_id or settings.bot_id,
        )
        return self.parser

    # -- reading ------------------------------------------------------------------

    def feed(self, data: bytes) -> bool:
        """The next bytes of the (decoded) body; ``b""``: it ended.

        Returns:
            ``True`` once the answer is over (read no more of it).
        """
        parser = self.parser
        assert parser is not None
        try:
            self.pending.extend(parser.feed(data) if data else parser.feed_eof())
        finally:
            statuses = parser.take_statuses()
            if self._on_status is not None:
                for status in statuses:
                    self._on_status(status)
        if parser.done:
            self.done = True
            self._error = parser.error
            self.site.observe_parser(parser)
        return parser.done

    def next_chunk(self) -> Optional[str]:
        """The next chunk to hand over; ``None``: feed more bytes, or :attr:`over`.

        Raises:
            OpchatgptsError: the answer's failure, once the chunks before it are out.
        """
        if self.pending:
            return self.pending.popleft()
        if not self.done:
            return None
        error, self._error = self._error, None
        if error is not None:
            raise error  # after the chunks that came before it
        self.over = True
        turn, self._turn = self._turn, None
        reply = self.reply
        if turn is not None and reply is not None:
            turn.commit(reply)  # the caller has seen the whole reply: the turn is kept
        return None

    def leave(self) -> None:
        """The caller stopped reading (or an error did): a conversation keeps nothing."""
        self.done = True
        self._turn = None
        self.pending.clear()

    @property
    def reply(self) -> Optional[Reply]:
        return None if self.parser is None else self.parser.reply


class ClientView:
    """What both front ends' clients share: the settings, the site state, closed or not."""

    _NAME = "Client"
    _settings: Settings
    _site: SiteState
    _closed: bool

    @property
    def settings(self) -> Settings:
        """The validated options."""
        return self._settings

    def _settings_for(self, options: Mapping[str, Any]) -> Settings:
        """The settings of one call (``stream()``, a turn, g4f's calls).

        Raises:
            RuntimeError: the client is closed.
            TypeError, ValueError: bad options.
        """
        check_open(self._closed, self._NAME)
        return self._site.settings_for(self._settings, options)

    def __repr__(self) -> str:
        return f"<{self._NAME} {self._settings.base_url}{self._settings.via}>"


class StreamView:
    """What both front ends' streams show of their :class:`Exchange`."""

    _NAME = "Stream"
    _exchange: Exchange
    _body: Optional[object]  # the answer being read, if any
    #: The ``chatId`` this request sent.
    chat_id: str

    @property
    def reply(self) -> Optional[Reply]:
        """The whole :class:`Reply`, once the stream has ended; else ``None``."""
        return self._exchange.reply

    @property
    def parser(self) -> Optional[ReplyParser]:
        """The core parser of this answer (statuses, new nonce), once it started."""
        return self._exchange.parser

    @property
    def statuses(self) -> List[StatusEvent]:
        """The status frames so far: ``live`` frames that are not reply text."""
        parser = self._exchange.parser
        return [] if parser is None else list(parser.statuses)

    def __repr__(self) -> str:
        exchange = self._exchange
        state = "done" if exchange.done else "open" if self._body is not None else "new"
        return f"<{self._NAME} {state} {exchange.request.url}{exchange.settings.via}>"


class PageSetup:
    """The ``from_page`` sequence of both front ends.

    :attr:`client_options` make the client; it fetches :meth:`fetch` (whose
    redirects :meth:`Fetch.follow` decides hop by hop), hands the last hop's
    answer to :meth:`read`, and takes :meth:`settings`.

    Raises:
        TypeError, ValueError: bad options or URL (before anything is sent).
    """

    def __init__(
        self, name: str, url: str, bot_id: Optional[str], options: Mapping[str, Any]
    ) -> None:
        check_options(f"{name}.from_page()", options, client_options())
        self.url = url
        self.bot_id = bot_id
        self.options = options
        #: The options of the client that reads the page.
        self.client_options: Dict[str, Any] = page_client_options(url, options)
        self._chatbot: Optional[Chatbot] = None
        self._fetched: Optional[str] = None

    def fetch(self, settings: Settings) -> Fetch:
        """The page's GET."""
        return build_page_fetch(self.url, settings)

    def read(self, fetch: Fetch, status_code: int, content_type: str, body: bytes) -> None:
        """The page's answer (after redirects): its chatbot.

        Raises:
            HTTPStatusError: the page's status is not 2xx.
            OpchatgptsError: no chatbot (with that id) on the page, which is named.
        """
        # Named as the caller gave it, whatever redirects led elsewhere.
        self._chatbot = read_page(self.url, status_code, content_type, body, self.bot_id)
        self._fetched = fetch.url

    def settings(self, settings: Settings, site: SiteState) -> Settings:
        """The client's settings, as the page's chatbot is set up; the site keeps the page."""
        chatbot, url = self._chatbot, self._fetched
        assert chatbot is not None and url is not None
        settings = page_settings(settings, chatbot, url, self.options)
        site.adopt(url, chatbot, settings, keep_nonce="nonce" in self.options)
        return settings
