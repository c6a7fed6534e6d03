"""WordPress's side of an answer: REST headers and errors, PHP sessions, HTML pages.

Functions of the request alone; the site's state (its nonce, its flavour)
is passed in by the handlers (:mod:`._app`).
"""

from __future__ import annotations

import secrets
from typing import Any, Dict, List, Mapping, Optional, Tuple

from aiohttp import web

from ._constants import (
    HTML_TYPE,
    JSON_TYPE,
    SESSION_CACHE_HEADERS,
    WP_NOCACHE_HEADERS,
    wp_error_body,
)
from ._pages import php_json

__all__ = [
    "Reject",
    "html_response",
    "json_depth",
    "json_response",
    "nonce_of",
    "php_session",
    "rest_headers",
    "wp_error",
]


class Reject(Exception):
    """A refusal before any reply: send ``response``, with ``frame`` as its body if given."""

    def __init__(
        self, response: web.StreamResponse, frame: Optional[Dict[str, Any]] = None
    ) -> None:
        super().__init__()
        self.response = response
        self.frame = frame


def nonce_of(request: web.Request) -> Optional[str]:
    """The request's ``X-WP-Nonce``, if it sent a non-empty one."""
    value = request.headers.get("X-WP-Nonce")
    return value if value else None


def rest_headers(request: web.Request, *, nonce: Optional[str]) -> Dict[str, str]:
    """What WordPress sends with every REST answer, in its order.

    ``nonce`` is the fresh ``X-WP-Nonce`` WordPress answers a valid one with.
    """
    headers = {
        "X-Robots-Tag": "noindex",
        "Link": f'<{request.scheme}://{request.host}/wp-json/>; rel="https://api.w.org/"',
        "X-Content-Type-Options": "nosniff",
        "Access-Control-Expose-Headers": "X-WP-Total, X-WP-TotalPages, Link",
        "Access-Control-Allow-Headers": (
            "Authorization, X-WP-Nonce, Content-Disposition, Content-MD5, Content-Type"
        ),
    }
    if nonce is not None:
        headers["X-WP-Nonce"] = nonce
    return headers


def json_response(
    request: web.Request,
    value: Any,
    *,
    status: int = 200,
    nonce: Optional[str] = None,
    extra: Optional[Mapping[str, str]] = None,
) -> web.Response:
    """A REST answer: ``value`` as PHP encodes it, after WordPress's headers."""
    headers = rest_headers(request, nonce=nonce)
    headers.update(extra or {})
    headers["Content-Type"] = JSON_TYPE
    return web.Response(status=status, body=php_json(value).encode(), headers=headers)


def wp_error(request: web.Request, code: str, *, nonce: Optional[str] = None) -> web.Response:
    """WordPress's REST error ``code`` (``rest_forbidden``, ``rest_no_route`` ...)."""
    body = wp_error_body(code)
    extra = WP_NOCACHE_HEADERS if code == "rest_cookie_invalid_nonce" else None
    return json_response(request, body, status=body["data"]["status"], nonce=nonce, extra=extra)


def php_session(request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
    """``response`` as a route that starts a PHP session sends it.

    PHP adds its cookie (unless the request carried one) and cache headers;
    WordPress's own ``Expires`` and ``Cache-Control`` win where it sent them.
    """
    for name, value in SESSION_CACHE_HEADERS.items():
        response.headers.setdefault(name, value)
    if "PHPSESSID" not in request.cookies:
        # A PHP session id: 26 characters of [0-9a-v].
        session = "".join(secrets.choice("0123456789abcdefghijklmnopqrstuv") for _ in range(26))
        response.set_cookie("PHPSESSID", session, path="/")
    return response


def html_response(text: str, *, status: int = 200) -> web.Response:
    return web.Response(
        status=status, body=text.encode("utf-8"), headers={"Content-Type": HTML_TYPE}
    )


def json_depth(value: object) -> int:
    """How deep arrays and objects nest in decoded JSON (``[]`` is 1), without recursion."""
    deepest = 0
    todo: List[Tuple[object, int]] = [(value, 1)]
    while todo:
        item, depth = todo.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, depth)
            todo.extend((child, depth + 1) for child in item)
    return deepest
