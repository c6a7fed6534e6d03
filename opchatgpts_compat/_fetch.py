"""The requests besides ``chats/submit``: a page, ``start_session``, the search.

No I/O here.  A :class:`Fetch` says what to send and how much of the answer
to read; a page fetch follows its redirects here, one hop at a time
(:meth:`Fetch.follow`), and sends the caller's headers only to pages of the
site's origin (:func:`build_page_fetch`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Optional
from urllib.parse import urljoin

from ._exceptions import HTTPStatusError
from ._page import check_page_url
from ._protocol import ERROR_READ_LIMIT
from ._request import BROWSER_HEADERS, NONCE_HEADER, drop_header, put_header
from ._settings import Settings
from ._urls import on_origin_of, redact_url

__all__ = ["Fetch", "PAGE_READ_LIMIT", "build_page_fetch"]

#: A chatbot page is read up to this size; the element sits in the body.
PAGE_READ_LIMIT = 8 * 1024 * 1024
#: A ``start_session`` answer is a small JSON object.
SESSION_READ_LIMIT = ERROR_READ_LIMIT
#: A search answer lists a few URLs.
SEARCH_READ_LIMIT = ERROR_READ_LIMIT
#: The statuses a page fetch follows, and how many hops (aiohttp's default).
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 10

_PAGE_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


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
    #: How many redirects led here.
    redirects: int = 0

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

    def follow(
        self, status_code: int, location: Optional[str], settings: Settings
    ) -> Optional[Fetch]:
        """The fetch a redirect of a page leads to; ``None``: read this answer.

        The front ends send every request with redirects off: requests and
        aiohttp would carry a caller's custom headers to any host (they strip
        only ``Authorization`` and ``Cookie``).  Here each hop gets the headers
        its own origin may have (:func:`build_page_fetch`).

        Raises:
            HTTPStatusError: a ``Location`` that is no http(s) URL, or too many hops.
        """
        if self.purpose != Fetch.PAGE or status_code not in REDIRECT_STATUSES or not location:
            return None
        shown = redact_url(self.url)
        target = _join(self.url, location)
        if target is None:
            raise HTTPStatusError(
                f"HTTP {status_code} for the page {shown}: redirected to an invalid URL",
                status_code=status_code,
                body="",
            )
        if self.redirects >= MAX_REDIRECTS:
            raise HTTPStatusError(
                f"HTTP {status_code} for the page {shown}: more than {MAX_REDIRECTS} redirects",
                status_code=status_code,
                body="",
            )
        return build_page_fetch(target, settings, self.redirects + 1)


def _join(url: str, location: str) -> Optional[str]:
    """``location`` resolved against ``url`` if it is an http(s) URL, else ``None``."""
    try:
        target = urljoin(url, location.strip())
        check_page_url(target)
    except ValueError:
        return None
    return target


def build_page_fetch(url: str, settings: Settings, redirects: int = 0) -> Fetch:
    """The GET of a chatbot page, with browser-like headers and no nonce.

    The caller's headers go only to a page on the site's origin.
    """
    headers = dict(BROWSER_HEADERS)
    headers["Accept"] = _PAGE_ACCEPT
    if on_origin_of(url, settings.base_url):
        for name, value in settings.headers:
            put_header(headers, name, value)
    drop_header(headers, NONCE_HEADER)
    return Fetch("GET", url, headers, None, Fetch.PAGE, redirects)
