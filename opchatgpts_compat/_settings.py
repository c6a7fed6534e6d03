"""The options of a client: their defaults, their checks, and :class:`Settings`.

No I/O here.  Both front ends call :func:`build_settings` when a client is
made and :meth:`Settings.merge` for every call's options, so bad input is
refused with ``ValueError``/``TypeError`` before a byte is sent.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field, fields, replace
from typing import Any, Iterable, Mapping, Optional, Tuple, Union
from urllib.parse import urlsplit

from ._sse import DEFAULT_MAX_EVENT_SIZE
from ._urls import check_http_url, redact_url, without_userinfo

__all__ = [
    "CALL_OPTIONS",
    "DEFAULT_BASE_URL",
    "DEFAULT_BOT_ID",
    "DEFAULT_CONTEXT_ID",
    "DEFAULT_SESSION_ID",
    "DEFAULT_TIMEOUT",
    "REST_PREFIX",
    "START_SESSION_PATH",
    "SUBMIT_PATH",
    "Settings",
    "build_settings",
    "check_options",
    "client_options",
]

#: The site of the original provider.
DEFAULT_BASE_URL = "https://opchatgpts.net"
#: Seconds allowed for connecting, and for every wait for the next bytes.
DEFAULT_TIMEOUT = 120.0
#: The REST API prefix under a site with pretty permalinks.
REST_PREFIX = "/wp-json"
#: The endpoints, relative to the REST base (``restUrl`` in the chatbot page).
SUBMIT_ROUTE = "/mwai-ui/v1/chats/submit"
START_SESSION_ROUTE = "/mwai/v1/start_session"
SUBMIT_PATH = REST_PREFIX + SUBMIT_ROUTE
START_SESSION_PATH = REST_PREFIX + START_SESSION_ROUTE

#: The payload defaults of the original g4f provider.  ``contextId`` is the id
#: of the WordPress post the chatbot sits on; 28 is what the provider sent to
#: opchatgpts.net (a page read by ``from_page`` gives its own).
DEFAULT_BOT_ID = "default"
DEFAULT_CONTEXT_ID = 28
DEFAULT_SESSION_ID = "N/A"

#: A header name (RFC 9110, 5.1: a token).
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
#: A header value both front ends send as the same bytes: visible ASCII, with
#: spaces and tabs only inside (requests sends Latin-1, aiohttp UTF-8).
_FIELD_VALUE = re.compile(r"(?:[\x21-\x7e](?:[\x20\x09\x21-\x7e]*[\x21-\x7e])?)?")
#: Printable ASCII, without spaces (a nonce).
_VISIBLE = re.compile(r"[\x21-\x7e]+")

#: The options a call may override (the payload fields and the nonce).
CALL_OPTIONS = frozenset(
    {"bot_id", "custom_id", "context_id", "chat_id", "session_id", "nonce", "stream"}
)


@dataclass(frozen=True)
class Settings:
    """The validated options of a client (see API.md, "Keyword options")."""

    base_url: str = DEFAULT_BASE_URL
    timeout: float = DEFAULT_TIMEOUT
    headers: Tuple[Tuple[str, str], ...] = ()
    proxy: Optional[str] = field(default=None, repr=False)
    nonce: Optional[str] = field(default=None, repr=False)
    bot_id: str = DEFAULT_BOT_ID
    custom_id: Optional[str] = None
    context_id: Optional[int] = DEFAULT_CONTEXT_ID
    chat_id: Optional[str] = None
    session_id: str = DEFAULT_SESSION_ID
    stream: bool = True
    max_event_size: Optional[int] = DEFAULT_MAX_EVENT_SIZE
    #: The REST base when it is not ``{base_url}/wp-json``: a page's ``restUrl``
    #: such as ``https://example.org/?rest_route=`` (sites without pretty permalinks).
    rest_url: Optional[str] = None
    #: A CA bundle (file, or directory of hashed certificates) that replaces the
    #: default trust store; ``None``: the default.  Certificates are always checked.
    verify: Optional[str] = None
    #: Send ``custom_id`` as ``id``, as AI Engine before 1.9.8 names a custom bot
    #: (set by ``from_page`` when the page does).
    legacy_id: bool = False

    @property
    def rest_base(self) -> str:
        """The REST API base the endpoints hang from (``restUrl`` of the site's pages)."""
        return self.base_url + REST_PREFIX if self.rest_url is None else self.rest_url

    @property
    def url(self) -> str:
        """The submit endpoint."""
        return self.rest_base + SUBMIT_ROUTE

    @property
    def start_session_url(self) -> str:
        """AI Engine 2.4.4+'s session endpoint, which hands out a nonce."""
        return self.rest_base + START_SESSION_ROUTE

    @property
    def origin(self) -> str:
        parts = urlsplit(self.base_url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def redacted_proxy(self) -> Optional[str]:
        return None if self.proxy is None else redact_url(self.proxy)

    @property
    def via(self) -> str:
        """`` via <proxy>`` with its credentials masked, or ``""``: for reprs and logs."""
        return "" if self.proxy is None else f" via {redact_url(self.proxy)}"

    def __repr__(self) -> str:
        proxy = self.redacted_proxy
        return (
            f"Settings(base_url={self.base_url!r}, timeout={self.timeout!r}, "
            f"bot_id={self.bot_id!r}, proxy={proxy!r}, "
            f"nonce={'set' if self.nonce else None!r})"
        )

    def merge(self, **options: Any) -> Settings:
        """These settings with per-call ``options`` validated and applied."""
        if not options:
            return self
        check_options("stream()/complete()", options, CALL_OPTIONS)
        return _validated(replace(self, **options))

    def evolve(self, **changes: Any) -> Settings:
        """These settings with any fields changed and validated (``from_page`` uses it)."""
        return _validated(replace(self, **changes))


def client_options() -> Tuple[str, ...]:
    """The keyword options of ``Client()`` and ``AsyncClient()``."""
    return ("session", *(option.name for option in fields(Settings)))


def check_options(owner: str, options: Iterable[str], accepted: Iterable[str]) -> None:
    """A TypeError naming ``owner`` and its options if ``options`` has a name it does not take.

    Args:
        owner: the public callable, as the user wrote it (``"Client()"``).
        options: the keyword arguments given.
        accepted: the keyword arguments ``owner`` takes.
    """
    known = set(accepted)
    unknown = sorted(name for name in options if name not in known)
    if unknown:
        given = ", ".join(repr(name) for name in unknown)
        raise TypeError(
            f"{owner} got unexpected keyword argument(s) {given}; "
            f"its options are: {', '.join(sorted(known))}"
        )


def build_settings(
    *,
    base_url: str = DEFAULT_BASE_URL,
    timeout: float = DEFAULT_TIMEOUT,
    headers: Optional[Mapping[str, str]] = None,
    proxy: Optional[str] = None,
    nonce: Optional[str] = None,
    bot_id: str = DEFAULT_BOT_ID,
    custom_id: Optional[str] = None,
    context_id: Optional[int] = DEFAULT_CONTEXT_ID,
    chat_id: Optional[str] = None,
    session_id: str = DEFAULT_SESSION_ID,
    stream: bool = True,
    max_event_size: Optional[int] = DEFAULT_MAX_EVENT_SIZE,
    rest_url: Optional[str] = None,
    verify: Optional[Union[str, os.PathLike[str]]] = None,
) -> Settings:
    """Validate client options.

    Raises:
        TypeError: an option has the wrong type.
        ValueError: an option has an impossible value.
    """
    if headers is None:
        header_items: Tuple[Tuple[str, str], ...] = ()
    elif isinstance(headers, Mapping):
        header_items = tuple(headers.items())
    else:
        raise TypeError("headers must be a mapping of header names to values")
    if isinstance(base_url, str):
        base_url, authorization = without_userinfo(base_url.rstrip("/"))
        if authorization is not None and not any(
            isinstance(name, str) and name.lower() == "authorization" for name, _ in header_items
        ):
            header_items = (("Authorization", authorization), *header_items)
    if isinstance(verify, os.PathLike):
        verify = os.fspath(verify)
    return _validated(
        Settings(
            base_url=base_url,
            timeout=timeout,
            headers=header_items,
            proxy=proxy,
            nonce=nonce,
            bot_id=bot_id,
            custom_id=custom_id,
            context_id=context_id,
            chat_id=chat_id,
            session_id=session_id,
            stream=stream,
            max_event_size=max_event_size,
            rest_url=rest_url,
            verify=verify,
        )
    )


def _validated(settings: Settings) -> Settings:
    check_http_url("base_url", settings.base_url, secret=True)
    if "@" in urlsplit(settings.base_url).netloc:
        raise ValueError("base_url must not hold credentials here; pass them to the client")
    timeout = settings.timeout
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError("timeout must be a number of seconds")
    if not (timeout > 0 and math.isfinite(timeout)):
        raise ValueError("timeout must be a positive, finite number of seconds")
    for name, value in settings.headers:
        if not isinstance(name, str) or not isinstance(value, str):
            raise TypeError("header names and values must be strings")
        if not _TOKEN.fullmatch(name):
            raise ValueError(f"invalid header name: {name[:64]!r}")
        if not _FIELD_VALUE.fullmatch(value):  # the value is not shown: it may be a secret
            raise ValueError(
                f"the value of header {name!r} cannot be sent: it must be printable "
                "ASCII, without line breaks or white space at either end"
            )
    if settings.proxy is not None:
        if not isinstance(settings.proxy, str):
            raise TypeError("proxy must be a URL string or None")
        check_http_url("proxy", settings.proxy, secret=True)
    _check_optional_str("nonce", settings.nonce, empty_ok=False)
    if settings.nonce is not None and not _VISIBLE.fullmatch(settings.nonce):
        raise ValueError("nonce cannot be sent as a header: it must be printable ASCII")
    _check_str("bot_id", settings.bot_id)
    _check_optional_str("custom_id", settings.custom_id)
    context_id = settings.context_id
    if context_id is not None and (isinstance(context_id, bool) or not isinstance(context_id, int)):
        raise TypeError("context_id must be an int or None")
    _check_optional_str("chat_id", settings.chat_id, empty_ok=False)
    _check_str("session_id", settings.session_id)
    if not isinstance(settings.stream, bool):
        raise TypeError("stream must be True or False")
    if not isinstance(settings.legacy_id, bool):
        raise TypeError("legacy_id must be True or False")
    size = settings.max_event_size
    if size is not None:
        if isinstance(size, bool) or not isinstance(size, int):
            raise TypeError("max_event_size must be an int or None")
        if size <= 0:
            raise ValueError("max_event_size must be a positive number of bytes or None")
    if not settings.bot_id and not settings.custom_id:
        raise ValueError("bot_id or custom_id must be given")
    if settings.rest_url is not None:
        check_http_url("rest_url", settings.rest_url)
    _check_verify(settings.verify)
    return settings


def _check_verify(verify: object) -> None:
    # requests takes verify=False and aiohttp ssl=False to switch certificate
    # checks off; here there is no such value, so it cannot happen by accident.
    if verify is None:
        return
    if not isinstance(verify, str):  # False, 0, True, an SSLContext...
        raise TypeError(
            "verify takes the path of a CA bundle file or directory (or None for the "
            "default trust store); certificate checks cannot be switched off"
        )
    if not os.path.exists(verify):
        raise ValueError(f"verify: no CA bundle at {verify!r}")


def _check_str(name: str, value: object) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string")


def _check_optional_str(name: str, value: object, *, empty_ok: bool = True) -> None:
    if value is None:
        return
    _check_str(name, value)
    if not empty_ok and not value:
        raise ValueError(f"{name} must not be empty")
