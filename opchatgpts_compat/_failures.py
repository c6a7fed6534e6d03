"""Errors described the same way for both front ends: no I/O.

A front end reports a transport failure as a :class:`Failure` kind (and a
:class:`Cause`, when it can tell one), and :func:`transport_error` makes the
contract's exception of it; :func:`status_error` does the same for an answer
that is not 2xx, from its status and body.  Both front ends then give the
same class and the same message, with the hint that says what to do.
"""

from __future__ import annotations

import socket
from http import HTTPStatus
from typing import List, Optional
from urllib.parse import urlsplit

from ._exceptions import (
    HTTPStatusError,
    IncompleteStreamError,
    OpchatgptsError,
    RejectedError,
    ServerError,
    StreamTimeoutError,
    TransportError,
)
from ._json import loads
from ._settings import DEFAULT_BASE_URL, DEFAULT_BOT_ID
from ._urls import redact_url

__all__ = [
    "ERROR_BODY_LIMIT",
    "Cause",
    "Failure",
    "connect_cause",
    "proxy_status_error",
    "server_error",
    "status_error",
    "transport_error",
]

#: ``HTTPStatusError.body`` keeps at most this many bytes of the body.
ERROR_BODY_LIMIT = 1024
#: How much of a redirect's ``Location`` an error message quotes.
_LOCATION_LIMIT = 200


class Failure:
    """Kinds of transport failure a front end can report."""

    CONNECT = "connect"
    PROXY = "proxy"
    TLS = "tls"
    CONNECT_TIMEOUT = "connect_timeout"
    READ_TIMEOUT = "read_timeout"
    LOST = "lost"


class Cause:
    """Why connecting failed, when the front end can tell (to the site or the proxy)."""

    REFUSED = "refused"
    UNRESOLVED = "unresolved"


def connect_cause(exc: BaseException) -> Optional[str]:
    """The :class:`Cause` of a failure to connect, found in ``exc``'s chain, if any.

    Both front ends' errors wrap the socket's (``ConnectionRefusedError``,
    ``socket.gaierror``) in their causes, arguments, ``reason`` or ``os_error``.
    """
    stack: List[object] = [exc]
    seen = set()
    while stack:
        current = stack.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ConnectionRefusedError):
            return Cause.REFUSED
        if isinstance(current, socket.gaierror):
            return Cause.UNRESOLVED
        stack.extend(current.args)
        for name in ("reason", "os_error", "__cause__", "__context__"):
            stack.append(getattr(current, name, None))
    return None


#: What the connect errors to the default site (opchatgpts.net, gone) add.
DEFAULT_SITE_HINT = (
    "; {origin}, the default site, is no longer online: pass base_url= (a WordPress "
    "site running AI Engine) or use Client.from_page(url) with a page showing its chatbot"
)
#: What a 404 from the endpoint adds.
NOT_FOUND_HINT = (
    "; is base_url the WordPress site's root, with the path it lives under (e.g. "
    "https://example.org/blog), and not a page?  For a page showing the chatbot, "
    "use Client.from_page(url)"
)
#: AI Engine's answer to an unknown bot id (2.x), and to a message it refuses.
REJECTED_MESSAGE = "Sorry, your query has been rejected."
#: What that answer adds when a bot id other than the default was sent.
REJECTED_HINT = (
    " (AI Engine answers this to an unknown bot id, or a message it refuses: "
    "is the bot id {bot_id!r} right?  Client.from_page(url) takes it from the page)"
)


def transport_error(
    kind: str,
    *,
    origin: str,
    timeout: float,
    proxy: Optional[str] = None,
    started: bool = False,
    partial: str = "",
    cause: Optional[str] = None,
) -> OpchatgptsError:
    """The contract's exception for a transport failure.

    Args:
        kind: one of the :class:`Failure` constants.
        origin: ``scheme://host:port`` of the site.
        timeout: the timeout in force, in seconds.
        proxy: the proxy URL, already redacted.
        started: the answer's headers had arrived (a cut is then an
            :class:`IncompleteStreamError`).
        partial: the reply text received so far.
        cause: a :class:`Cause` of a ``CONNECT`` or ``PROXY`` failure, if known.
    """
    via = f" through the proxy {proxy}" if proxy else ""
    hint = ""
    if kind in _CONNECT_KINDS and not proxy and origin == _default_origin():
        hint = DEFAULT_SITE_HINT.format(origin=origin)
    error: OpchatgptsError
    if kind == Failure.READ_TIMEOUT:
        error = StreamTimeoutError(f"No new bytes from {origin} for {timeout:g} s")
    elif kind == Failure.CONNECT_TIMEOUT:
        error = StreamTimeoutError(
            f"Connecting to {origin}{via} took more than {timeout:g} s{hint}"
        )
    elif kind == Failure.LOST and started:
        error = IncompleteStreamError(f"The connection to {origin} was lost before the end frame")
    elif kind == Failure.LOST:
        error = TransportError(f"The connection to {origin}{via} was closed before an answer")
    elif kind == Failure.PROXY:
        # The proxy itself cannot be reached; a proxy that cannot reach the
        # site answers the tunnel with a status (see proxy_status_error).
        error = TransportError(f"Cannot connect to the proxy {proxy}{_cause(cause, proxy)}")
    elif kind == Failure.TLS:
        error = TransportError(f"TLS with {origin}{via} failed{hint}")
    else:
        error = TransportError(f"Cannot connect to {origin}{via}{_cause(cause, origin)}{hint}")
    error.partial = partial
    return error


_CONNECT_KINDS = (Failure.CONNECT, Failure.CONNECT_TIMEOUT, Failure.TLS)


def _default_origin() -> str:
    parts = urlsplit(DEFAULT_BASE_URL)
    return f"{parts.scheme}://{parts.netloc}"


def _cause(cause: Optional[str], url: Optional[str]) -> str:
    if cause == Cause.REFUSED:
        return ": connection refused (nothing listens on that port)"
    if cause == Cause.UNRESOLVED:
        host = urlsplit(url or "").hostname or url
        return f": the name {host} does not resolve (DNS)"
    return ""


def _shown_location(location: str) -> str:
    location = redact_url(location.strip())
    return location if len(location) <= _LOCATION_LIMIT else location[:_LOCATION_LIMIT] + "..."


def _status_line(status: int) -> str:
    # The standard phrase, not the server's: both front ends must agree.
    try:
        return f"HTTP {status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"HTTP {status}"


def proxy_status_error(status: int, proxy: Optional[str]) -> HTTPStatusError:
    """The error for a proxy that refused the tunnel (e.g. 407, a wrong password).

    Args:
        status: the proxy's status code.
        proxy: the proxy URL, already redacted.
    """
    return HTTPStatusError(f"{_status_line(status)} from the proxy {proxy}", status_code=status)


def server_error(message: str, bot_id: Optional[str]) -> ServerError:
    """The error for a site's error message, with the hint it calls for.

    Args:
        message: the site's words, kept as ``.message``.
        bot_id: the bot id (or custom id) sent, ``None`` for the default.
    """
    error = ServerError(message + _hint(message, bot_id))
    error.message = message
    return error


def status_error(
    status: int,
    body: bytes,
    *,
    url: Optional[str] = None,
    proxy: Optional[str] = None,
    location: Optional[str] = None,
    bot_id: Optional[str] = None,
) -> OpchatgptsError:
    """The error for an answer that is not 2xx, with the site's message from its body.

    Args:
        status: the status code.
        body: the body, or its first bytes.
        url: the URL the request went to, already redacted: named for a 404.
        proxy: the proxy URL, already redacted: a 407 is then the proxy's refusal.
        location: the ``Location`` header, named for a redirect.
        bot_id: the bot id (or custom id) sent, ``None`` for the default.
    """
    message = _status_line(status)
    if status == 404 and url:
        message = f"{message} from {url}"
    shown = body[:ERROR_BODY_LIMIT].decode("utf-8", "replace")
    if status == 407 and proxy:
        # Plain http:// through a proxy: the 407 is the proxy's, as a refused
        # CONNECT tunnel is for https://; both give the same error.
        error = proxy_status_error(status, proxy)
        error.body = shown
        return error
    if 300 <= status < 400 and location:
        # Redirects are never followed: requests and aiohttp would turn a
        # 301/302/303 POST into a GET without the message.  Name the target
        # so the user can fix base_url.
        message = f"{message}: redirected to {_shown_location(location)}, not followed"
    try:
        answer = loads(body)
    except (ValueError, RecursionError):
        answer = None
    site_message: Optional[str] = None
    code: Optional[str] = None
    if isinstance(answer, dict):
        if isinstance(answer.get("message"), str) and answer["message"]:
            site_message = answer["message"]
        if isinstance(answer.get("code"), str):
            code = answer["code"]
        if answer.get("success") is False and site_message:
            return RejectedError(
                f"{message}: {site_message}{_hint(site_message, bot_id)}",
                site_message=site_message,
                status_code=status,
                body=shown,
            )
    if site_message:
        message = f"{message}: {site_message}"
    if code:
        message = f"{message} ({code})"
    if status == 404 and url:
        message += NOT_FOUND_HINT
    return HTTPStatusError(message, status_code=status, body=shown, code=code)


def _hint(site_message: str, bot_id: Optional[str]) -> str:
    if site_message == REJECTED_MESSAGE and bot_id not in (None, DEFAULT_BOT_ID):
        return REJECTED_HINT.format(bot_id=bot_id)
    return ""
