"""Everything about the outgoing request: options, validation, URL, headers, payload.

No I/O here.  Both front ends call :func:`build_settings` when a client is made
and :func:`build_request` for every call, so bad input is refused with
``ValueError``/``TypeError`` before a byte is sent, and both send the same bytes.
"""

from __future__ import annotations

import base64
import json
import math
import os
import random
import re
import string
from dataclasses import dataclass, field, fields, replace
from typing import Any, Dict, Iterable, Mapping, Optional, Sequence, Tuple, Union
from urllib.parse import unquote, urlsplit, urlunsplit

from ._sse import DEFAULT_MAX_EVENT_SIZE

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_TIMEOUT",
    "SUBMIT_PATH",
    "START_SESSION_PATH",
    "Settings",
    "PreparedRequest",
    "build_settings",
    "build_request",
    "build_headers",
    "build_payload",
    "build_turn_request",
    "check_http_url",
    "check_options",
    "check_messages",
    "check_text",
    "on_origin_of",
    "redact_url",
    "random_chat_id",
]

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

#: The payload defaults of the original g4f provider.
DEFAULT_BOT_ID = "default"
DEFAULT_CONTEXT_ID = 28
DEFAULT_SESSION_ID = "N/A"

#: The browser-like headers of the original provider; Origin, Alt-Used and
#: Referer are derived from ``base_url``.
BROWSER_HEADERS: Tuple[Tuple[str, str], ...] = (
    (
        "User-Agent",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/116.0.0.0 Safari/537.36",
    ),
    ("Accept", "*/*"),
    ("Accept-Language", "de,en-US;q=0.7,en;q=0.3"),
    ("Sec-Fetch-Dest", "empty"),
    ("Sec-Fetch-Mode", "cors"),
    ("Sec-Fetch-Site", "same-origin"),
)

_CHAT_ID_ALPHABET = string.ascii_lowercase + string.digits
#: Headers whose values are secrets: masked in reprs and in exception chains.
SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-wp-nonce"}
)
#: What a secret is shown as.
MASK = "****"
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
#: The scheme and ``//``, then the authority of a URL.
_AUTHORITY = re.compile(r"((?:[A-Za-z][A-Za-z0-9+.-]*:)?//)([^/?#]*)")
#: A header name (RFC 9110, 5.1: a token).
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
#: A header value both front ends send as the same bytes: visible ASCII, with
#: spaces and tabs only inside (requests sends Latin-1, aiohttp UTF-8).
_FIELD_VALUE = re.compile(r"(?:[\x21-\x7e](?:[\x20\x09\x21-\x7e]*[\x21-\x7e])?)?")
#: Printable ASCII, without spaces (a nonce).
_VISIBLE = re.compile(r"[\x21-\x7e]+")
#: White space and control characters, which no URL given here may hold.
_URL_FORBIDDEN = re.compile(r"[\x00-\x20\x7f]")

#: The options a call may override (the payload fields and the nonce).
CALL_OPTIONS = frozenset(
    {"bot_id", "custom_id", "context_id", "chat_id", "session_id", "nonce", "stream"}
)
#: The name of the nonce header (WordPress REST cookie authentication).
NONCE_HEADER = "X-WP-Nonce"


def random_chat_id() -> str:
    """A fresh ``chatId``: ten random lowercase letters and digits, as the site's own."""
    return "".join(random.choices(_CHAT_ID_ALPHABET, k=10))


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


_DEFAULT_PORTS = {"http": 80, "https": 443}


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


@dataclass(frozen=True)
class PreparedRequest:
    """One POST to send: what both front ends put on the wire."""

    url: str
    headers: Dict[str, str] = field(repr=False)
    body: bytes = field(repr=False)
    #: The ``chatId`` sent.
    chat_id: str = ""

    def __repr__(self) -> str:
        shown = {
            name: (MASK if name.lower() in SECRET_HEADERS else value)
            for name, value in self.headers.items()
        }
        return f"PreparedRequest(url={self.url!r}, headers={shown!r}, chat_id={self.chat_id!r})"


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
        base_url, authorization = _without_userinfo(base_url.rstrip("/"))
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


def _without_userinfo(url: str) -> Tuple[str, Optional[str]]:
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


def check_http_url(name: str, value: object, *, secret: bool = False) -> None:
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


def _check_str(name: str, value: object) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string")


def _check_optional_str(name: str, value: object, *, empty_ok: bool = True) -> None:
    if value is None:
        return
    _check_str(name, value)
    if not empty_ok and not value:
        raise ValueError(f"{name} must not be empty")


def check_messages(messages: object) -> None:
    """Raise unless ``messages`` is a non-empty list of role/content dicts whose
    last content is a string with something besides white space.

    Raises:
        TypeError: not a list of dicts, or a role or content is not a string.
        ValueError: the list is empty, a dict lacks a key, or the last content is blank.
    """
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence):
        raise TypeError("messages must be a list of {'role': ..., 'content': ...} dicts")
    if not messages:
        raise ValueError("messages must not be empty")
    for index, message in enumerate(messages):
        if not isinstance(message, Mapping):
            raise TypeError(f"messages[{index}] must be a dict with 'role' and 'content'")
        for key in ("role", "content"):
            if key not in message:
                raise ValueError(f"messages[{index}] has no {key!r}")
            if not isinstance(message[key], str):
                raise TypeError(f"messages[{index}][{key!r}] must be a string")
    if not messages[-1]["content"].strip():
        raise ValueError("the last message's content must not be empty or white space")


def check_text(text: object) -> None:
    """Raise unless ``text`` is a string with something besides white space.

    Raises:
        TypeError: not a string.
        ValueError: empty or white space only (the site trims it and refuses it).
    """
    if not isinstance(text, str):
        raise TypeError("the message must be a string")
    if not text.strip():
        raise ValueError("the message must not be empty or white space")


def build_headers(settings: Settings) -> Dict[str, str]:
    """The request headers: browser-like defaults, then the caller's, then the nonce."""
    parts = urlsplit(settings.base_url)
    headers = dict(BROWSER_HEADERS)
    put_header(headers, "Origin", settings.origin)
    put_header(headers, "Alt-Used", parts.netloc.rpartition("@")[2])
    put_header(headers, "Referer", f"{settings.base_url}/chatgpt-free-use/")
    put_header(headers, "Content-Type", "application/json")
    for name, value in settings.headers:
        put_header(headers, name, value)
    if settings.nonce:
        put_header(headers, NONCE_HEADER, settings.nonce)
    return headers


def put_header(headers: Dict[str, str], name: str, value: str) -> None:
    """Set header ``name`` in a plain dict, replacing it whatever its case."""
    drop_header(headers, name)
    headers[name] = value


def drop_header(headers: Dict[str, str], name: str) -> None:
    """Remove header ``name`` from a plain dict, whatever its case."""
    for key in [key for key in headers if key.lower() == name.lower()]:
        del headers[key]


def build_payload(messages: Sequence[Mapping[str, Any]], settings: Settings) -> Dict[str, Any]:
    """The JSON body AI Engine's own chatbot sends, as the original provider filled it.

    The last message is the new one: its content goes in ``newMessage`` and
    the ones before it in ``messages``, as the site's own chatbot sends them.
    AI Engine 2.0+ appends ``newMessage`` after ``messages`` (1.x replaces a
    trailing user item, else appends it), so the whole list there would make
    the model read the new message twice (PROTOCOL.md section 1).
    """
    bot: Dict[str, Any] = {"botId": settings.bot_id, "customId": settings.custom_id}
    if settings.legacy_id and settings.custom_id is not None:
        bot = {"id": settings.custom_id, "botId": settings.bot_id or None}  # before 1.9.8
    return {
        **bot,
        "session": settings.session_id,
        "chatId": settings.chat_id or random_chat_id(),
        "contextId": settings.context_id,
        "messages": [dict(message) for message in messages[:-1]],
        "newMessage": messages[-1]["content"],
        "newFileId": None,
        "stream": settings.stream,
    }


def build_request(messages: object, settings: Settings) -> PreparedRequest:
    """Check ``messages`` and describe the POST that sends them.

    Raises:
        TypeError, ValueError: ``messages`` is not what API.md section 3 asks for.
    """
    check_messages(messages)
    return _prepare(build_payload(messages, settings), settings)  # type: ignore[arg-type]


def build_turn_request(
    history: Sequence[Mapping[str, Any]], text: object, settings: Settings
) -> PreparedRequest:
    """The POST of one conversation turn, as the site's own chatbot sends it.

    The browser sends the history *without* the new message, which goes in
    ``newMessage`` alone (PROTOCOL.md section 1); its first item is usually the
    bot's start sentence.

    Raises:
        TypeError, ValueError: ``text`` is not a non-blank string.
    """
    check_text(text)
    assert isinstance(text, str)
    payload = build_payload([*history, {"role": "user", "content": text}], settings)
    return _prepare(payload, settings)


def _prepare(payload: Dict[str, Any], settings: Settings) -> PreparedRequest:
    try:
        text = json.dumps(payload, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except ValueError as exc:  # a circular reference, NaN
        raise ValueError(f"messages cannot be sent as JSON: {exc}") from None
    except TypeError as exc:
        raise TypeError(f"messages cannot be sent as JSON: {exc}") from None
    try:
        body = text.encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate (a string from os.fsdecode, or "\ud800" read as JSON)
        # has no UTF-8: U+FFFD, as a browser's fetch sends it.
        body = without_lone_surrogates(text).encode("utf-8")
    return PreparedRequest(settings.url, build_headers(settings), body, payload["chatId"])


def without_lone_surrogates(text: str) -> str:
    """``text`` with every lone surrogate replaced by U+FFFD, as a browser sends it."""
    return _LONE_SURROGATE.sub("\ufffd", text)


def with_nonce(request: PreparedRequest, nonce: Optional[str]) -> PreparedRequest:
    """``request`` with its ``X-WP-Nonce`` header replaced by ``nonce`` (dropped if ``None``)."""
    headers = dict(request.headers)
    drop_header(headers, NONCE_HEADER)
    if nonce:
        headers[NONCE_HEADER] = nonce
    return replace(request, headers=headers)


def header_value(headers: Mapping[str, str], name: str) -> Optional[str]:
    """The value of header ``name`` in a plain dict, matched case-insensitively."""
    name = name.lower()
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None
