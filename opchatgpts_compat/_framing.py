"""Rules about an answer's head that both front ends apply the same way: no I/O.

aiohttp's parser refuses a head whose body length is ambiguous (RFC 9112,
section 6.3); http.client guesses.  The blocking front end asks
:func:`framing_problem` before it reads a body, so both refuse the same
heads.  Neither decodes every Content-Encoding the other does (urllib3 takes
``x-gzip`` and ``gzip, gzip``, aiohttp neither), so the answer to a chat is
read only in the codings both decode (:func:`encoding_error`).
"""

from __future__ import annotations

import re
from typing import Callable, List, Optional

from ._exceptions import IncompleteStreamError

__all__ = ["ACCEPT_ENCODING", "encoding_error", "framing_problem"]

#: The codings both front ends decode, and so the only ones they ask for.
DECODED = ("gzip", "deflate")
ACCEPT_ENCODING = ", ".join(DECODED)
#: The largest Content-Length llhttp takes (it refuses 2**64).
MAX_CONTENT_LENGTH = 2**64 - 1
_DIGITS = re.compile(r"[0-9]+")
#: How much of an odd Content-Encoding an error shows.
_SHOWN = 40


def framing_problem(get_all: Callable[[str], List[str]]) -> Optional[str]:
    """Why the head's body length is ambiguous, or ``None`` when it is clear.

    Args:
        get_all: the values of a header, one per header line.
    """
    lengths = get_all("Content-Length")
    if lengths and get_all("Transfer-Encoding"):
        return "Content-Length together with Transfer-Encoding"
    if len(lengths) > 1:
        return "more than one Content-Length"
    if lengths:
        value = lengths[0].strip(" \t")
        if not _DIGITS.fullmatch(value) or int(value) > MAX_CONTENT_LENGTH:
            return "an invalid Content-Length"
    return None


def encoding_error(values: List[str]) -> Optional[IncompleteStreamError]:
    """The error for a chat answer in a Content-Encoding not read here, or ``None``.

    Args:
        values: the answer's Content-Encoding values, one per header line.
    """
    codings = [c.strip().lower() for value in values for c in value.split(",")]
    codings = [c for c in codings if c and c != "identity"]
    if not codings or (len(codings) == 1 and codings[0] in DECODED):
        return None
    shown = ", ".join(codings)
    if len(shown) > _SHOWN:
        shown = shown[:_SHOWN] + "..."
    return IncompleteStreamError(f"The answer is in a Content-Encoding not read here ({shown!r})")
