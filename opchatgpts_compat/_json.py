"""JSON as a browser reads it: no I/O.

``"\\ud800"`` is valid JSON but no text: a browser's ``JSON.parse`` keeps it,
and its UTF-8 encoder makes it U+FFFD when the text is shown or sent back.
:func:`loads` does the same at once, so a reply never holds a lone surrogate,
which could not be printed or sent again (the next turn of a conversation).
"""

from __future__ import annotations

import json
import re
from typing import Any, List, Union

__all__ = ["loads", "SURROGATE_ESCAPE"]

#: A JSON escape that may stand for half a surrogate pair (``"\\ud800"``).
SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def loads(text: Union[str, bytes]) -> Any:
    """``json.loads``, with every lone surrogate replaced by U+FFFD.

    Raises:
        ValueError, RecursionError: as ``json.loads``.
    """
    value = json.loads(text)
    if isinstance(text, str) and SURROGATE_ESCAPE.search(text) is None:
        return value  # the common case, a frame: nothing to scrub
    return _scrubbed(value)  # bytes may also hold surrogates (UTF-16, or UTF-8 'surrogatepass')


def _scrubbed(value: Any) -> Any:
    # Without recursion: a frame may nest as deep as json.loads allows.
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if not isinstance(value, (dict, list)):
        return value
    root: List[Any] = [value]
    stack: List[Any] = [(root, 0)]
    while stack:
        container, key = stack.pop()
        item = container[key]
        if isinstance(item, str):
            container[key] = _LONE_SURROGATE.sub("\ufffd", item)
        elif isinstance(item, list):
            stack.extend((item, index) for index in range(len(item)))
        elif isinstance(item, dict):
            for name in list(item):
                fixed = _LONE_SURROGATE.sub("\ufffd", name)
                if fixed != name:
                    item[fixed] = item.pop(name)
                stack.append((item, fixed))
    return root[0]
