"""Reading a chatbot page: its chatbots, and the settings they talk to the site with.

No I/O here.  Every AI Engine chatbot renders a ``mwai-chatbot-container``
element whose ``data-system`` and ``data-params`` attributes carry
HTML-escaped JSON (PROTOCOL.md section 1): :func:`read_page` finds them in a
fetched page, :func:`page_settings` sets a client up as the chosen one is.

The elements are found by one linear pass over the page's tags
(:func:`find_chatbot_elements`).  The page is cut into tokens as the HTML
tokenizer cuts it (WHATWG HTML 13.2.5), for the parts that decide where a tag
starts and what its attributes are: text, comments, ``<!...>``/``<?...>``/
``</...>`` bogus comments, start and end tags with quoted, unquoted and
valueless attributes, and the raw text of ``script``, ``style`` and their kin,
where a ``<div`` is not a tag.  Attribute names are lowercased, the first of
two equal names wins, values are unescaped with ``html.unescape`` (PHP's
``htmlspecialchars(..., ENT_QUOTES)`` is what AI Engine writes).

Why not ``html.parser``: it is quadratic on some malformed markup (every
``<a`` of ``"<a" * 50_000`` rescans the rest of the page for its end), and a
page is read up to 8 MiB.  Here each token is matched once, where the previous
one ended, by a pattern that cannot fail at that position and so never
backtracks past it; a token that runs to the end of the page ends the scan, as
it ends the tokenizer.  The cost is O(page size), and the scan stops after the
last ``mwai-chatbot-container`` on the page.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from html import unescape
from typing import Any, Dict, List, Mapping, Optional, Tuple
from urllib.parse import urljoin, urlsplit

from ._exceptions import HTTPStatusError, OpchatgptsError
from ._failures import ERROR_BODY_LIMIT
from ._request import valid_nonce
from ._settings import REST_PREFIX, Settings
from ._urls import check_http_url, on_origin_of, redact_url

__all__ = [
    "CONTAINER_CLASS",
    "Chatbot",
    "check_page_url",
    "find_chatbot_elements",
    "page_client_options",
    "page_settings",
    "parse_page",
    "read_page",
]

#: The class of the element every AI Engine chatbot renders.
CONTAINER_CLASS = "mwai-chatbot-container"
_CHARSET = re.compile(r"charset\s*=\s*\"?([\w.:-]+)", re.IGNORECASE)


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
        nonce=valid_nonce(system.get("restNonce")),
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
        if not on_origin_of(rest_url, settings.base_url):
            # The caller's headers and the nonce belong to the page's site:
            # sending them, or the messages, elsewhere takes the caller's word.
            raise OpchatgptsError(
                f"The chatbot on {redact_url(url)} sends to {redact_url(rest_url)}, "
                f"another origin than {redact_url(settings.base_url)}; "
                "pass base_url= to talk to it"
            )
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


# -- the chatbot elements ----------------------------------------------------------

# ASCII whitespace as the tokenizer knows it (13.2.5.32 "before attribute name").
_WS = "\t\n\f\r "
#: One token, matched where the last one ended: every alternative either
#: matches or hands over to the next, and the last two match any character
#: (the last one: any "<" the others did not take).
_TOKEN = re.compile(
    rf"""
    [^<]+
    # a tag with no quote ends at its first ">"
  | (?P<simple></?(?P<simple_name>[A-Za-z][^{_WS}/>"']*)(?:[{_WS}/][^>"']*)?>)
  | (?P<comment><!--(?:-?>|.*?--!?>|.*\Z))
  | (?P<open></?(?P<open_name>[A-Za-z][^{_WS}/>]*))  # a quote: read attribute by attribute
  | <[!?/][^>]*(?:>|\Z)  # <!doctype>, bogus comments, </>
  | <+(?![A-Za-z!?/])[^<]*  # "<" before anything else is text
    """,
    re.DOTALL | re.VERBOSE,
)
#: The separators, then at most one attribute: a name (a leading ``=`` is part
#: of it) and maybe ``=`` and a value.  Empty only before ``>`` or the end.
_ATTRIBUTE = re.compile(
    rf"""
    [{_WS}/]*
    (?:
      (?P<name>[^{_WS}/>][^{_WS}/>=]*)
      (?:[{_WS}]*=[{_WS}]*
        (?:"(?P<dq>[^"]*)(?P<dq_end>")?|'(?P<sq>[^']*)(?P<sq_end>')?|(?P<uq>[^{_WS}>]*))
      )?
    )?
    """,
    re.VERBOSE,
)
#: Elements whose content is text up to their end tag (13.2.6.2 raw text, RCDATA).
_RAW_TEXT = {
    name: re.compile(rf"</{name}[{_WS}/>]", re.IGNORECASE)
    for name in ("script", "style", "textarea", "title", "xmp", "iframe", "noembed", "noframes")
}


def find_chatbot_elements(html: str) -> List[Dict[str, Optional[str]]]:
    """The attributes of every ``mwai-chatbot-container`` element, in page order.

    A valueless attribute maps to ``None``.
    """
    found: List[Dict[str, Optional[str]]] = []
    last = html.rfind(CONTAINER_CLASS)
    pos = 0
    while pos <= last:  # a tag that starts later cannot hold the class
        token = _TOKEN.match(html, pos)
        assert token is not None  # the text alternatives match whatever is left
        pos = token.end()
        kind = token.lastgroup
        if kind == "simple":
            name = token.group("simple_name")
            if CONTAINER_CLASS in token.group() and token.group()[1] != "/":
                values, _ = _attributes(html, token.end("simple_name"))
                _keep(found, values)
        elif kind == "open":
            name = token.group("open_name")
            values, end = _attributes(html, pos)
            if end is None:
                break  # a tag cut by the end of the page is no tag ("eof-in-tag")
            pos = end
            if token.group()[1] != "/":
                _keep(found, values)
        else:
            continue
        if token.group()[1] == "/":
            continue
        name = name.lower()
        raw_text = _RAW_TEXT.get(name)
        if raw_text is not None:
            closing = raw_text.search(html, pos)
            if closing is None:
                break
            pos = closing.start()
        elif name == "plaintext":
            break
    return found


def _keep(found: List[Dict[str, Optional[str]]], values: Dict[str, Optional[str]]) -> None:
    if CONTAINER_CLASS in (values.get("class") or "").split():
        found.append(values)


def _attributes(html: str, pos: int) -> Tuple[Dict[str, Optional[str]], Optional[int]]:
    """The attributes of the tag whose name ends at ``pos``, and where the tag ends
    (``None``: at the end of the page, without its ``>``)."""
    values: Dict[str, Optional[str]] = {}
    while True:
        match = _ATTRIBUTE.match(html, pos)
        assert match is not None  # it may match nothing
        pos = match.end()
        name = match.group("name")
        if name is None:  # at ">" or the end of the page
            return values, (pos + 1 if pos < len(html) else None)
        if match.group("dq") is not None and match.group("dq_end") is None:
            return values, None  # a quote left open runs to the end of the page
        if match.group("sq") is not None and match.group("sq_end") is None:
            return values, None
        name = name.lower()
        if name in values:
            continue  # 13.2.5.33: a duplicate attribute is dropped
        raw = match.group("dq", "sq", "uq")
        value = next((v for v in raw if v is not None), None)
        values[name] = None if value is None else unescape(value)
