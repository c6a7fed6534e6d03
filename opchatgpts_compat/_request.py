"""The outgoing request: headers, payload, and the POST both front ends send.

No I/O here.  Both front ends call :func:`build_request` (or
:func:`build_turn_request`) for every call, so bad input is refused with
``ValueError``/``TypeError`` before a byte is sent, and both send the same
bytes.  The options come checked from ``_settings``, URLs from ``_urls``.
"""

from __future__ import annotations

import json
import random
import re
import string
from dataclasses import dataclass, field, replace
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple
from urllib.parse import urlsplit

from ._settings import Settings
from ._urls import MASK

__all__ = [
    "BROWSER_HEADERS",
    "NONCE_HEADER",
    "SECRET_HEADERS",
    "PreparedRequest",
    "build_headers",
    "build_payload",
    "build_request",
    "build_turn_request",
    "check_messages",
    "check_text",
    "drop_header",
    "header_value",
    "put_header",
    "random_chat_id",
    "valid_nonce",
    "with_nonce",
    "without_lone_surrogates",
]

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
#: Headers whose values are secrets: masked in reprs and in exception chains.
SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-wp-nonce"}
)
#: The name of the nonce header (WordPress REST cookie authentication).
NONCE_HEADER = "X-WP-Nonce"

_CHAT_ID_ALPHABET = string.ascii_lowercase + string.digits
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
#: A WordPress nonce is 10 hex characters; accept any short printable token.
_NONCE = re.compile(r"[A-Za-z0-9_\-.]{1,128}")


def random_chat_id() -> str:
    """A fresh ``chatId``: ten random lowercase letters and digits, as the site's own."""
    return "".join(random.choices(_CHAT_ID_ALPHABET, k=10))


def valid_nonce(value: object) -> Optional[str]:
    """``value`` if a site's answer or page may hand it out as ``X-WP-Nonce``, else ``None``."""
    if isinstance(value, str) and _NONCE.fullmatch(value):
        return value
    return None


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
