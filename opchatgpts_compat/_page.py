"""Finding the chatbot elements of a WordPress page, with the standard library's parser.

Imported by ``_site`` only when a page is read, to keep ``html.parser`` out of
``import opchatgpts_compat``.
"""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Dict, List, Optional, Tuple

from ._site import CONTAINER_CLASS

__all__ = ["find_chatbot_elements"]


def find_chatbot_elements(html: str) -> List[Dict[str, Optional[str]]]:
    """The attributes of every ``mwai-chatbot-container`` element, in page order."""
    finder = _ChatbotFinder()
    finder.feed(html)
    finder.close()
    return finder.found


class _ChatbotFinder(HTMLParser):
    """Collects the attributes of every ``mwai-chatbot-container`` element.

    ``HTMLParser`` decodes character references in attribute values
    (``&quot;``, ``&#039;``, ``&amp;``), which is all the unescaping PHP's
    ``htmlspecialchars(..., ENT_QUOTES)`` calls for.
    """

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: List[Dict[str, Optional[str]]] = []

    def handle_starttag(self, tag: str, attrs: List[Tuple[str, Optional[str]]]) -> None:
        values = dict(attrs)
        if CONTAINER_CLASS in (values.get("class") or "").split():
            self.found.append(values)

    handle_startendtag = handle_starttag
