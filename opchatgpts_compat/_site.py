"""What a client knows about its site, and the plan that refreshes its nonce.

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

What belongs to the site goes only to its origin (:func:`on_origin_of`): a page
fetch follows its redirects one hop at a time and sends the caller's headers
only to pages of the site's origin (``_fetch``); a nonce is taken only from a
page of that origin; a page's ``restUrl`` on another origin is refused
(``_page``).
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import replace
from typing import Any, Dict, List, Mapping, Optional, Union
from urllib.parse import urlencode, urlsplit

from ._conversation import Transcript
from ._exceptions import HTTPStatusError, OpchatgptsError
from ._fetch import Fetch, build_page_fetch
from ._page import Chatbot, check_page_url, read_page
from ._protocol import ReplyParser
from ._request import (
    NONCE_HEADER,
    PreparedRequest,
    build_headers,
    drop_header,
    header_value,
    put_header,
    valid_nonce,
    with_nonce,
)
from ._settings import Settings
from ._urls import on_origin_of, redact_url

__all__ = ["NONCE_CODES", "NonceRefresh", "SiteState"]

#: WordPress error codes that mean "the nonce is missing or stale": the request
#: was refused before the plugin ran, so sending it again is safe.
NONCE_CODES = frozenset({"rest_forbidden", "rest_cookie_invalid_nonce"})
#: The statuses those codes come with (401 for guests, 403 otherwise).
NONCE_STATUSES = frozenset({401, 403})
#: What the search looks for in post content: AI Engine's chatbot shortcode
#: (``[mwai_chatbot ...]``, 1.x ``[mwai_chatbot_v2 ...]``).
SEARCH_TERM = "mwai_chatbot"
#: How many pages the search may add to the plan.
SEARCH_PAGES = 2


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

    def adopt(
        self, url: str, chatbot: Chatbot, settings: Settings, *, keep_nonce: bool = False
    ) -> None:
        """Remember the page ``from_page`` read (``url``: where it came from, after
        redirects), and its nonce unless one was given or the page is not on the
        origin of ``settings.base_url``, where the nonce would be sent."""
        self.page_url = url
        self.chatbot = chatbot
        if keep_nonce or chatbot.nonce is None or not on_origin_of(settings.base_url, url):
            return
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
        """Keep the fresh nonce WordPress sends back in ``X-WP-Nonce``, if any.

        Two of them are ambiguous and both ignored: requests joins them with
        ``", "`` (no nonce), aiohttp's ``get`` gives the first (issue 11).
        """
        getall = getattr(headers, "getall", None)
        if getall is not None and len(getall(NONCE_HEADER, ())) > 1:
            return
        fresh = valid_nonce(headers.get(NONCE_HEADER))
        if fresh is not None:
            self.nonce = fresh

    def observe_parser(self, parser: ReplyParser) -> None:
        """Keep a ``new_token`` (AI Engine 2.8.5+) from the end frame or JSON answer."""
        fresh = valid_nonce(parser.new_nonce)
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
            if chatbot is not None and on_origin_of(self.settings.base_url, fetch.url):
                nonce = chatbot.nonce  # (a nonce from another origin is never sent here)
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
        return valid_nonce(answer.get("restNonce"))

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
        # A page of another origin would get the caller's cookies or give a
        # nonce that is not the site's: only the site's own pages are read.
        pages = [page for page in pages if on_origin_of(page, self.settings.base_url)]
        return list(dict.fromkeys(pages))

    def __repr__(self) -> str:
        return f"<NonceRefresh {self.request.url} refreshed={self._refreshed}>"
