"""The exceptions of ``opchatgpts_compat``.

Every failure is an :class:`OpchatgptsError`, a :class:`RuntimeError` as the
original g4f provider raised::

    OpchatgptsError (RuntimeError)
    ├── BrokenLineError          an event's data is not a JSON object with "type"
    ├── ServerError              an ``error`` frame, or JSON with "success": false
    │   └── RejectedError        ... sent with a non-2xx status (also an HTTPStatusError)
    ├── HTTPStatusError          the status is not 2xx
    ├── IncompleteStreamError    the answer ended before its ``end`` frame
    │   └── EventTooLargeError   one event outgrew ``max_event_size``
    └── TransportError           connecting, the proxy, TLS or the connection failed
        └── StreamTimeoutError   ``timeout`` passed with no new bytes

Every error carries ``.partial``: the reply text received before it happened.
Messages are written by the core, never copied from ``str()`` of a library
exception, so both front ends raise the same text and no secret leaks into it.
"""

from __future__ import annotations

from typing import Any, Optional, Tuple

__all__ = [
    "OpchatgptsError",
    "BrokenLineError",
    "ServerError",
    "RejectedError",
    "HTTPStatusError",
    "IncompleteStreamError",
    "EventTooLargeError",
    "TransportError",
    "StreamTimeoutError",
]

#: How much of an event's data a BrokenLineError message quotes.
_QUOTE_LIMIT = 200


class OpchatgptsError(RuntimeError):
    """Base class of every failure raised by this library."""

    def __init__(self, message: str, *, partial: str = "") -> None:
        super().__init__(message)
        #: The reply text received before the failure.
        self.partial = partial

    def __reduce__(self):  # type: ignore[no-untyped-def]
        # Keyword-only fields survive pickling (multiprocessing, pytest-xdist).
        return _rebuild, (type(self), self.args, self.__dict__)


def _rebuild(cls: type, args: tuple, state: dict) -> OpchatgptsError:  # type: ignore[type-arg]
    error: OpchatgptsError = Exception.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class BrokenLineError(OpchatgptsError):
    """An event's data is not a JSON object with a ``"type"`` key."""

    def __init__(self, line: str, *, partial: str = "") -> None:
        quoted = line if len(line) <= _QUOTE_LIMIT else line[:_QUOTE_LIMIT] + "..."
        super().__init__(f"Broken line: {quoted}", partial=partial)
        #: The whole data of the offending event.
        self.line = line


class ServerError(OpchatgptsError):
    """The site reported an error: an ``error`` frame or ``"success": false``."""

    def __init__(self, message: str, *, partial: str = "") -> None:
        super().__init__(message, partial=partial)
        #: The site's own message.
        self.message = message


class HTTPStatusError(OpchatgptsError):
    """The answer's status code is not 2xx."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        body: str = "",
        code: Optional[str] = None,
        partial: str = "",
    ) -> None:
        super().__init__(message, partial=partial)
        #: The HTTP status code.
        self.status_code = status_code
        #: At most the first 1 KiB of the body, decoded.
        self.body = body
        #: WordPress's error ``code`` (``rest_forbidden``, ...) when the body has one.
        self.code = code


class RejectedError(HTTPStatusError, ServerError):
    """A non-2xx answer whose JSON body says ``"success": false``.

    AI Engine rejects an empty or over-long message with 403 and
    ``{"success": false, "message": ...}``: the site reported an error *and*
    the status is not 2xx, so this is both a :class:`ServerError` (``.message``)
    and an :class:`HTTPStatusError` (``.status_code``, ``.body``).
    """

    def __init__(
        self,
        message: str,
        *,
        site_message: str,
        status_code: int,
        body: str = "",
        partial: str = "",
    ) -> None:
        HTTPStatusError.__init__(self, message, status_code=status_code, body=body, partial=partial)
        self.message = site_message


class IncompleteStreamError(OpchatgptsError):
    """The answer ended before its ``end`` frame; ``.partial`` has what came."""


class EventTooLargeError(IncompleteStreamError):
    """One event (or JSON answer) grew past ``max_event_size`` bytes."""

    #: Raised by :class:`~opchatgpts_compat.core.SSEDecoder`: the events it
    #: completed in the same ``feed()`` before the overflow, to handle first.
    events: Tuple[Any, ...] = ()


class TransportError(OpchatgptsError):
    """Connecting, the proxy, TLS, or the connection failed."""


class StreamTimeoutError(TransportError):
    """``timeout`` seconds passed with no new bytes."""
