"""URLs and origins: masking credentials, checking URLs, what goes to which origin.

No I/O here.  Every URL shown in an error, a ``repr`` or a log passes through
:func:`redact_url`; every request besides ``chats/submit`` passes
:func:`on_origin_of` before it gets anything that belongs to the site.
"""

from __future__ import annotations

import base64
import re
from typing import Optional, Tuple
from urllib.parse import unquote, urlsplit, urlunsplit

__all__ = [
    "MASK",
    "check_http_url",
    "on_origin_of",
    "redact_url",
    "without_userinfo",
]

#: What a secret is shown as.
MASK = "****"
#: The scheme and ``//``, then the authority of a URL.
_AUTHORITY = re.compile(r"((?:[A-Za-z][A-Za-z0-9+.-]*:)?//)([^/?#]*)")
#: White space and control characters, which no URL given here may hold.
_URL_FORBIDDEN = re.compile(r"[\x00-\x20\x7f]")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def redact_url(url: str) -> str:
    """``url`` with any user name and password replaced by ``****``.

    It never fails, not even on what ``urlsplit`` refuses (a port of 99999,
    ``http://[::1/``): the authority is what follows ``//`` up to the first
    ``/``, ``?`` or ``#``, and its userinfo what comes before its last ``@``.
    """
    match = _AUTHORITY.match(url)
    if match is None or "@" not in match.group(2):
        return url
    host = match.group(2).rpartition("@")[2]
    return f"{match.group(1)}{MASK}@{host}{url[match.end() :]}"


def _origin(url: str) -> Tuple[str, str, Optional[int]]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:  # not a URL anything is sent to
        return scheme, "", None
    return scheme, (parts.hostname or ""), port or _DEFAULT_PORTS.get(scheme)


def on_origin_of(url: str, owner: str) -> bool:
    """Whether what belongs to ``owner``'s origin may be sent to ``url``.

    The rule of the client (README, "One site, one origin"): the caller's
    headers, the nonce and the cookies a client keeps belong to the origin
    (scheme, host, port) of the site, and a nonce is taken only from a page of
    that origin.  ``url`` is on ``owner``'s origin when the three are equal,
    or when it is the same host over ``https`` on port 443 while ``owner`` is
    ``http`` on port 80 (an upgrade, which requests allows its
    ``Authorization`` too).  This one check is what every request besides
    ``chats/submit`` passes through.
    """
    scheme, host, port = _origin(url)
    owner_scheme, owner_host, owner_port = _origin(owner)
    if not host or host != owner_host:
        return False
    if (scheme, port) == (owner_scheme, owner_port):
        return True
    return (owner_scheme, owner_port, scheme, port) == ("http", 80, "https", 443)


def check_http_url(name: str, value: object, *, secret: bool = False) -> None:
    """Raise unless ``value`` is an ``http(s)://`` URL with a host.

    Args:
        name: the option, for the message.
        secret: the URL may hold credentials: the message shows it redacted.

    Raises:
        TypeError: not a string.
        ValueError: not such a URL (``rest_url``: or with a fragment;
            ``base_url``: or with a query or fragment).
    """
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a URL string")
    shown = redact_url(_URL_FORBIDDEN.sub("", value)) if secret else value
    if _URL_FORBIDDEN.search(value):
        raise ValueError(f"{name} must not hold white space or control characters: {shown!r}")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ValueError(f"{name} is not a valid URL: {shown!r}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{name} must be an http:// or https:// URL with a host, not {shown!r}")
    if name == "rest_url" and parts.fragment:
        raise ValueError(f"rest_url must not have a fragment: {shown!r}")
    if name == "base_url" and (parts.query or parts.fragment):
        raise ValueError(f"base_url must not have a query or fragment: {shown!r}")


def without_userinfo(url: str) -> Tuple[str, Optional[str]]:
    """``url`` without ``user:password@``, and the Basic ``Authorization`` it stood for.

    As requests and httpx do, the credentials go to the site as Basic auth,
    never in the URL, so never in ``Origin``, ``Referer`` (RFC 9110, 10.1.3),
    reprs or errors.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return url, None  # refused, redacted, by check_http_url
    if parts.username is None and parts.password is None:
        return url, None
    pair = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
    token = base64.b64encode(pair.encode("utf-8")).decode("ascii")
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=netloc)), f"Basic {token}"
