"""Finding the chatbot elements of a WordPress page: one linear pass over its tags.

The page is cut into tokens as the HTML tokenizer cuts it (WHATWG HTML 13.2.5),
for the parts that decide where a tag starts and what its attributes are: text,
comments, ``<!...>``/``<?...>``/``</...>`` bogus comments, start and end tags
with quoted, unquoted and valueless attributes, and the raw text of ``script``,
``style`` and their kin, where a ``<div`` is not a tag.  Attribute names are
lowercased, the first of two equal names wins, values are unescaped with
``html.unescape`` (PHP's ``htmlspecialchars(..., ENT_QUOTES)`` is what AI
Engine writes).

Why not ``html.parser``: it is quadratic on some malformed markup (every
``<a`` of ``"<a" * 50_000`` rescans the rest of the page for its end), and a
page is read up to 8 MiB.  Here each token is matched once, where the previous
one ended, by a pattern that cannot fail at that position and so never
backtracks past it; a token that runs to the end of the page ends the scan, as
it ends the tokenizer.  The cost is O(page size), and the scan stops after the
last ``mwai-chatbot-container`` on the page.
"""

from __future__ import annotations

import re
from html import unescape
from typing import Dict, List, Optional, Tuple

from ._site import CONTAINER_CLASS

__all__ = ["find_chatbot_elements"]


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
