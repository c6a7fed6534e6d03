"""What a client knows about its site: the chatbot page, the nonce, the refresh plan.

No I/O here.  A front end asks :class:`NonceRefresh` what to send next and
feeds it what came back, the way it feeds answer bytes to ``ReplyParser``
(PROTOCOL.md section 2):

* a kept nonce is sent up front; a fresh one in an ``X-WP-Nonce`` response
  header or an ``end`` frame's ``new_token`` replaces it (:class:`SiteState`);
* when ``chats/submit`` answers 401 ``rest_forbidden`` (no nonce) or 403
  ``rest_cookie_invalid_nonce`` (a stale one), the site refused the request
  before doing any work, so it is safe to send it again: the nonce is dropped,
  a fresh one fetched as the site's own chatbot does, and the request retried
  once.  The plan, at most seven requests before the retry:

  1. ``POST {rest}/mwai/v1/start_session`` without a nonce (AI Engine 2.4.4+);
  2. the ``restNonce`` of a chatbot page (2.0.1-2.4.3 embed it only in pages
     that show a chatbot): the page ``from_page`` read, else the Referer page,
     else ``{base_url}/``;
  3. when none of those shows a chatbot (it sits on an inner page), WordPress's
     own search, open to guests: ``GET {rest}/wp/v2/search?search=mwai_chatbot``
     lists the posts and pages whose content holds the chatbot shortcode
     (``[mwai_chatbot]``, 1.x ``[mwai_chatbot_v2]``); the first two on the
     site's own origin are read as in 2.

  A page that hands out the nonce just refused (as cached pages do) is passed
  over.  When a nonce was refused and no source gives one, the site hands none
  to guests (AI Engine 1.x checks no nonce, but WordPress refuses any invalid
  one): the request is sent once more without a nonce;
* a rejection once the retry is spent, or with another code, is raised.

The chatbot page is read with the standard library's HTML parser: every
``mwai-chatbot-container`` element carries HTML-escaped JSON in its
``data-system`` and ``data-params`` attributes.
"""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass, field, replace
from typing import Any, Dict, List, Mapping, Optional, Union
from urllib.parse import urlencode, urljoin, urlsplit

from ._conversation import Transcript
from ._exceptions import HTTPStatusError, OpchatgptsError
from ._protocol import ERROR_BODY_LIMIT, ERROR_READ_LIMIT, ReplyParser
from ._request import (
    BROWSER_HEADERS,
    NONCE_HEADER,
    REST_PREFIX,
    PreparedRequest,
    Settings,
    build_headers,
    check_http_url,
    drop_header,
    header_value,
    put_header,
    redact_url,
    with_nonce,
)

__all__ = [
    "Chatbot",
    "Fetch",
    "NonceRefresh",
    "SiteState",
    "NONCE_CODES",
    "PAGE_READ_LIMIT",
    "build_page_fetch",
    "check_page_url",
    "page_settings",
    "parse_page",
    "read_page",
]

#: WordPress error codes that mean "the nonce is missing or stale": the request
#: was refused before the plugin ran, so sending it again is safe.
NONCE_CODES = frozenset({"rest_forbidden", "rest_cookie_invalid_nonce"})
#: The statuses those codes come with (401 for guests, 403 otherwise).
NONCE_STATUSES = frozenset({401, 403})
#: A chatbot page is read up to this size; the element sits in the body.
PAGE_READ_LIMIT = 8 * 1024 * 1024
#: A ``start_session`` answer is a small JSON object.
SESSION_READ_LIMIT = ERROR_READ_LIMIT
#: A search answer lists a few URLs.
SEARCH_READ_LIMIT = ERROR_READ_LIMIT
#: What the search looks for in post content: AI Engine's chatbot shortcode
#: (``[mwai_chatbot ...]``, 1.x ``[mwai_chatbot_v2 ...]``).
SEARCH_TERM = "mwai_chatbot"
#: How many pages the search may add to the plan.
SEARCH_PAGES = 2

#: A WordPress nonce is 10 hex characters; accept any short printable token.
_NONCE = re.compile(r"[A-Za-z0-9_\-.]{1,128}")
#: The class of the element every AI Engine chatbot renders.
CONTAINER_CLASS = "mwai-chatbot-container"
_PAGE_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
_CHARSET = re.compile(r"charset\s*=\s*\"?([\w.:-]+)", re.IGNORECASE)


def _nonce(value: object) -> Optional[str]:
    """``value`` if it can be sent as ``X-WP-Nonce``, else ``None``."""
    if isinstance(value, str) and _NONCE.fullmatch(value):
        return value
    return None


# -- the chatbot page ---------------------------------------------------------------


@dataclass(frozen=True)
class Chatbot:
    """One chatbot element of a page: what the site's own chatbot script reads."""

    bot_id: Optional[str]
    custom_id: Optional[str]
    context_id: Optional[int]
    session_id: Optional[str]
    rest_url: Optional[str]
    stream: Optional[bool]
    start_sentence: Optional[str]
    ai_name: str = "AI: "
    user_name: str = "User: "
    #: The guest nonce the page embeds (AI Engine 2.0.1-2.4.3), else ``None``.
    nonce: Optional[str] = field(default=None, repr=False)
    #: The page names the custom bot ``id`` (AI Engine before 1.9.8), not ``customId``.
    legacy_id: bool = False
    #: The decoded ``data-system`` and ``data-params`` objects.
    system: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    params: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


def check_page_url(url: object) -> str:
    """Return ``url`` if it is an ``http(s)://`` URL with a host.

    Raises:
        TypeError, ValueError: it is not.
    """
    check_http_url("page", url, secret=True)
    assert isinstance(url, str)
    return url


def parse_page(html: str, url: str) -> List[Chatbot]:
    """Every chatbot on a page, in page order.

    Args:
        html: the page, decoded.
        url: where it came from (for messages).

    Raises:
        OpchatgptsError: an element's ``data-system`` is not a JSON object.
    """
    # html.parser is imported only when a page is read: it is most of what
    # this module would add to ``import opchatgpts_compat``.
    from ._page import find_chatbot_elements

    return [_chatbot(attrs, url) for attrs in find_chatbot_elements(html)]


def _json_attribute(attrs: Mapping[str, Optional[str]], name: str, url: str) -> Dict[str, Any]:
    raw = attrs.get(name)
    if raw is None:
        return {}
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        value = None
    if not isinstance(value, dict):
        raise OpchatgptsError(
            f"The chatbot on {redact_url(url)} has an unreadable {name} attribute"
        )
    return value


def _optional_str(value: object) -> Optional[str]:
    return value if isinstance(value, str) and value else None


def _context_id(value: object) -> Optional[int]:
    # PHP may render the post id as a float (28.0).
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _chatbot(attrs: Mapping[str, Optional[str]], url: str) -> Chatbot:
    system = _json_attribute(attrs, "data-system", url)
    params = _json_attribute(attrs, "data-params", url)
    stream = system.get("stream")
    custom_id = _optional_str(system.get("customId"))
    legacy_id = False
    if custom_id is None and "customId" not in system:
        # Before 1.9.8 a shortcode-customised bot is {"id": md5, "botId": null}.
        custom_id = _optional_str(system.get("id"))
        legacy_id = custom_id is not None
    ai_name = params.get("aiName")
    user_name = params.get("userName")
    return Chatbot(
        bot_id=_optional_str(system.get("botId")),
        custom_id=custom_id,
        context_id=_context_id(system.get("contextId")),
        session_id=_optional_str(system.get("sessionId")),
        rest_url=_optional_str(system.get("restUrl")),
        stream=stream if isinstance(stream, bool) else None,
        start_sentence=_optional_str(params.get("startSentence")),
        ai_name=ai_name if isinstance(ai_name, str) else "AI: ",
        user_name=user_name if isinstance(user_name, str) else "User: ",
        nonce=_nonce(system.get("restNonce")),
        legacy_id=legacy_id,
        system=system,
        params=params,
    )


def _decode(body: bytes, content_type: str) -> str:
    match = _CHARSET.search(content_type)
    charset = match.group(1) if match else "utf-8"
    try:
        return body.decode(charset, "replace")
    except LookupError:
        return body.decode("utf-8", "replace")


def _check_page_status(url: str, status: int, body: bytes) -> None:
    if not 200 <= status < 300:
        shown = body[:ERROR_BODY_LIMIT].decode("utf-8", "replace")
        raise HTTPStatusError(
            f"HTTP {status} for the page {redact_url(url)}", status_code=status, body=shown
        )


def read_page(
    url: str, status: int, content_type: str, body: bytes, bot_id: Optional[str] = None
) -> Chatbot:
    """The chatbot of a fetched page; ``bot_id`` picks one (bot id or custom id).

    With no ``bot_id`` the page's first chatbot is taken.

    Raises:
        HTTPStatusError: the page's status is not 2xx.
        OpchatgptsError: no chatbot on the page, or none with that id.
    """
    _check_page_status(url, status, body)
    chatbots = parse_page(_decode(body, content_type), url)
    shown = redact_url(url)
    if not chatbots:
        raise OpchatgptsError(f"No AI Engine chatbot ({CONTAINER_CLASS}) on {shown}")
    if bot_id is None:
        return chatbots[0]
    for chatbot in chatbots:
        if bot_id in (chatbot.bot_id, chatbot.custom_id):
            return chatbot
    ids = ", ".join(repr(c.custom_id or c.bot_id) for c in chatbots)
    raise OpchatgptsError(f"No chatbot {bot_id!r} on {shown}; it has {ids}")


def page_settings(
    settings: Settings, chatbot: Chatbot, url: str, explicit: Mapping[str, Any]
) -> Settings:
    """``settings`` set up as the page's chatbot is; ``explicit`` options win.

    ``restUrl`` is ``{site}/wp-json`` with pretty permalinks, else something like
    ``{site}/?rest_route=`` (PROTOCOL.md section 1): the first gives ``base_url``,
    the second is kept whole as ``rest_url``.
    """
    options: Dict[str, Any] = {}
    rest_url = urljoin(url, chatbot.rest_url) if chatbot.rest_url else None
    if rest_url is not None and "base_url" not in explicit:
        rest = rest_url.rstrip("/")
        parts = urlsplit(rest)
        if rest.endswith(REST_PREFIX) and not parts.query:
            options["base_url"] = rest[: -len(REST_PREFIX)]
            options["rest_url"] = None
        else:
            options["base_url"] = f"{parts.scheme}://{parts.netloc}{parts.path}".rstrip("/")
            options["rest_url"] = rest
    if chatbot.custom_id is not None:
        options["custom_id"] = chatbot.custom_id
        options["legacy_id"] = chatbot.legacy_id
    if chatbot.bot_id is not None:
        options["bot_id"] = chatbot.bot_id
    elif chatbot.custom_id is not None:
        options["bot_id"] = ""  # the site looks the custom id up first
    if "contextId" in chatbot.system:
        options["context_id"] = chatbot.context_id
    if chatbot.session_id is not None:
        options["session_id"] = chatbot.session_id
    if chatbot.stream is not None:
        options["stream"] = chatbot.stream
    options = {k: v for k, v in options.items() if k not in explicit}
    if "custom_id" not in options:
        options.pop("legacy_id", None)  # the caller's custom id is sent as customId
    return settings.evolve(**options) if options else settings


def page_client_options(url: str, options: Mapping[str, Any]) -> Dict[str, Any]:
    """The constructor options of a ``from_page`` client before the page is read.

    The page's own origin serves as ``base_url`` until ``restUrl`` is known.

    Raises:
        TypeError, ValueError: ``url`` is not an http(s) URL.
    """
    parts = urlsplit(check_page_url(url))
    return {"base_url": f"{parts.scheme}://{parts.netloc}", **options}


def build_page_fetch(url: str, settings: Settings) -> Fetch:
    """The GET of a chatbot page, with browser-like headers and no nonce."""
    headers = dict(BROWSER_HEADERS)
    headers["Accept"] = _PAGE_ACCEPT
    for name, value in settings.headers:
        put_header(headers, name, value)
    drop_header(headers, NONCE_HEADER)
    return Fetch("GET", url, headers, None, Fetch.PAGE)


# -- the requests besides chats/submit ------------------------------------------------


@dataclass(frozen=True)
class Fetch:
    """A request made to get a nonce (or to read a page): what to send."""

    SESSION = "session"
    PAGE = "page"
    SEARCH = "search"

    method: str
    url: str
    headers: Dict[str, str] = field(repr=False)
    body: Optional[bytes] = field(repr=False)
    #: :attr:`SESSION`, :attr:`PAGE` or :attr:`SEARCH`.
    purpose: str = SESSION

    @property
    def redacted_url(self) -> str:
        """The URL with any credentials masked, for logs."""
        return redact_url(self.url)

    @property
    def read_limit(self) -> int:
        """How much of the answer to read."""
        if self.purpose == Fetch.PAGE:
            return PAGE_READ_LIMIT
        return SEARCH_READ_LIMIT if self.purpose == Fetch.SEARCH else SESSION_READ_LIMIT


# -- the nonce a client keeps -------------------------------------------------------


class SiteState:
    """What a client keeps between calls: the nonce and the page it came from.

    The nonce is a secret: it never appears in a ``repr``.
    """

    def __init__(self, nonce: Optional[str] = None) -> None:
        #: The nonce sent up front as ``X-WP-Nonce``, if any.
        self.nonce = nonce
        #: The chatbot page ``from_page`` read (the first place to look for a nonce).
        self.page_url: Optional[str] = None
        #: The chatbot ``from_page`` chose (start sentence, names).
        self.chatbot: Optional[Chatbot] = None

    def adopt(self, url: str, chatbot: Chatbot, *, keep_nonce: bool = False) -> None:
        """Remember the page ``from_page`` read, and its nonce unless one was given."""
        self.page_url = url
        self.chatbot = chatbot
        if chatbot.nonce is not None and not keep_nonce:
            self.nonce = chatbot.nonce

    def transcript(self, chat_id: Optional[str] = None) -> Transcript:
        """A new conversation, starting from the page's start sentence when known."""
        chatbot = self.chatbot
        if chatbot is None:
            return Transcript(chat_id=chat_id)
        return Transcript(
            chat_id=chat_id,
            start_sentence=chatbot.start_sentence,
            ai_name=chatbot.ai_name,
            user_name=chatbot.user_name,
        )

    def settings_for(self, settings: Settings, options: Mapping[str, Any]) -> Settings:
        """The settings of one call: ``options`` applied, the kept nonce unless one is given.

        Raises:
            TypeError, ValueError: bad options.
        """
        merged = settings.merge(**options)
        if "nonce" in options or merged.nonce == self.nonce:
            return merged
        return replace(merged, nonce=self.nonce)

    def observe_headers(self, headers: Mapping[str, str]) -> None:
        """Keep the fresh nonce WordPress sends back in ``X-WP-Nonce``, if any."""
        fresh = _nonce(headers.get(NONCE_HEADER))
        if fresh is not None:
            self.nonce = fresh

    def observe_parser(self, parser: ReplyParser) -> None:
        """Keep a ``new_token`` (AI Engine 2.8.5+) from the end frame or JSON answer."""
        fresh = _nonce(parser.new_nonce)
        if fresh is not None:
            self.nonce = fresh

    def __repr__(self) -> str:
        return f"<SiteState nonce={'set' if self.nonce else None} page={self.page_url!r}>"


class NonceRefresh:
    """The plan of one call: send, and on a nonce rejection refresh once and resend.

    A front end sends :attr:`request`; when :meth:`wants_body` says so for the
    answer's status, it reads the body (up to ``ERROR_READ_LIMIT`` bytes) and
    calls :meth:`feed_rejection`, which raises the rejection or returns the
    first :class:`Fetch`; each fetch's answer goes to :meth:`feed_fetch`, which
    returns the next fetch or the submit request to resend.
    """

    def __init__(self, state: SiteState, settings: Settings, request: PreparedRequest) -> None:
        self.state = state
        self.settings = settings
        #: The submit request to send now.
        self.request = request
        self._refreshed = False
        self._bare = False
        self._searched = False
        self._nonceless_chatbot = False
        self._refused: Optional[str] = None
        self._rejection: Optional[HTTPStatusError] = None
        self._pages: List[str] = []
        self._tried: List[str] = []

    def wants_body(self, status_code: int) -> bool:
        """Whether the answer may be a nonce rejection (read it and call :meth:`feed_rejection`)."""
        return status_code in NONCE_STATUSES

    def feed_rejection(self, status_code: int, content_type: str, body: bytes) -> Fetch:
        """A 401/403 answer to the submit request, read whole.

        Returns:
            The first request that gets a fresh nonce.

        Raises:
            HTTPStatusError: the rejection, when it is not about the nonce or
                the one refresh is spent.
        """
        parser = ReplyParser(status_code, content_type)
        parser.feed(body)
        parser.feed_eof()
        error = parser.error
        assert isinstance(error, HTTPStatusError)  # what a 4xx answer always gives
        if error.code not in NONCE_CODES:
            raise error
        if self._bare:
            raise self._no_nonce(error)  # the site wants a nonce after all
        if self._refreshed:
            self.state.nonce = None  # the fresh one was refused too: do not send it again
            raise error
        self._refreshed = True
        self._rejection = error
        self._refused = header_value(self.request.headers, NONCE_HEADER)
        self.state.nonce = None
        self._pages = self._page_candidates()
        return Fetch(
            "POST",
            self.settings.start_session_url,
            self._session_headers(),
            b"",
            Fetch.SESSION,
        )

    def feed_fetch(
        self, fetch: Fetch, status_code: int, content_type: str, body: bytes
    ) -> Union[Fetch, PreparedRequest]:
        """The answer to a :class:`Fetch`, read up to ``fetch.read_limit`` bytes.

        Returns:
            The next request of the plan, or the submit request to send again.

        Raises:
            HTTPStatusError: no nonce anywhere: the original rejection.
        """
        nonce: Optional[str] = None
        if fetch.purpose == Fetch.SESSION:
            nonce = self._session_nonce(status_code, body)
        elif fetch.purpose == Fetch.SEARCH:
            self._add_found_pages(status_code, body)
        else:
            self._tried.append(fetch.url)
            try:
                chatbot = read_page(fetch.url, status_code, content_type, body)
            except OpchatgptsError:
                chatbot = None
            if chatbot is not None:
                nonce = chatbot.nonce
                self._nonceless_chatbot = self._nonceless_chatbot or nonce is None
        if nonce is not None and nonce != self._refused:
            # (a cached page hands out the nonce just refused: look further)
            self.state.nonce = nonce
            self.request = with_nonce(self.request, nonce)
            return self.request
        if self._nonceless_chatbot and self._refused is not None:
            # A chatbot without a nonce, and no start_session: the site hands
            # guests none (AI Engine 1.x), so the refused one was never needed.
            return self._without_nonce()
        if self._pages:
            return build_page_fetch(self._pages.pop(0), self.settings)
        if not self._searched:
            self._searched = True
            return self._search()
        if self._refused is not None:
            return self._without_nonce()
        assert self._rejection is not None
        raise self._no_nonce(self._rejection)

    def _without_nonce(self) -> PreparedRequest:
        self._bare = True
        self.request = with_nonce(self.request, None)
        return self.request

    def _no_nonce(self, error: HTTPStatusError) -> HTTPStatusError:
        where = " or ".join(redact_url(url) for url in self._tried) or "the page"
        return HTTPStatusError(
            f"{error}; no nonce from start_session or {where}",
            status_code=error.status_code,
            body=error.body,
            code=error.code,
        )

    def _search(self) -> Fetch:
        rest = self.settings.rest_base
        query = urlencode({"search": SEARCH_TERM, "per_page": 5, "_fields": "url"})
        url = f"{rest}/wp/v2/search{'&' if '?' in rest else '?'}{query}"
        headers = build_page_fetch(url, self.settings).headers
        put_header(headers, "Accept", "application/json")
        return Fetch("GET", url, headers, None, Fetch.SEARCH)

    def _add_found_pages(self, status_code: int, body: bytes) -> None:
        # Only pages of the site's own origin: a page fetch carries the caller's headers.
        if not 200 <= status_code < 300:
            return  # the REST API closed to guests, or no search route
        try:
            found = json.loads(body)
        except (ValueError, RecursionError):
            return
        if not isinstance(found, list):
            return
        origin = self.settings.origin
        pages: List[str] = []
        for item in found:
            url = item.get("url") if isinstance(item, dict) else None
            if not isinstance(url, str) or url in self._tried or url in pages:
                continue
            with contextlib.suppress(ValueError):
                check_page_url(url)
                parts = urlsplit(url)
                if f"{parts.scheme}://{parts.netloc}" == origin:
                    pages.append(url)
        self._pages.extend(pages[:SEARCH_PAGES])

    def _session_nonce(self, status_code: int, body: bytes) -> Optional[str]:
        if not 200 <= status_code < 300:
            return None  # 404 rest_no_route before 2.4.4; a refusal: try the page
        try:
            answer = json.loads(body)
        except (ValueError, RecursionError):
            return None
        if not isinstance(answer, dict) or answer.get("success") is False:
            return None
        return _nonce(answer.get("restNonce"))

    def _session_headers(self) -> Dict[str, str]:
        # Without X-WP-Nonce: WordPress refuses a stale one before the endpoint runs.
        headers = build_headers(self.settings)
        drop_header(headers, NONCE_HEADER)
        return headers

    def _page_candidates(self) -> List[str]:
        pages: List[str] = []
        if self.state.page_url:
            pages.append(self.state.page_url)
        referer = header_value(self.request.headers, "Referer")
        if referer:
            with contextlib.suppress(ValueError):  # a caller's Referer that is no URL
                pages.append(check_page_url(referer))
        pages.append(self.settings.base_url + "/")
        return list(dict.fromkeys(pages))

    def __repr__(self) -> str:
        return f"<NonceRefresh {self.request.url} refreshed={self._refreshed}>"
