"""An incremental decoder for ``text/event-stream``, exact to the WHATWG rules.

The reference is the HTML Living Standard, section 9.2.6 "Interpreting an event
stream" (https://html.spec.whatwg.org/multipage/server-sent-events.html):

* the stream is UTF-8; one leading U+FEFF BOM is dropped; invalid bytes become
  U+FFFD (each line is decoded whole, which gives the same result, because CR
  and LF never occur inside a multi-byte sequence);
* lines end with CRLF, LF or CR, and a CR ending one chunk may be followed by
  the LF of the same line end at the start of the next;
* an empty line dispatches the event; a line starting with ``:`` is a comment;
  ``field:value`` loses one space after the colon; a line without a colon is a
  field with an empty value; unknown fields are ignored;
* ``data`` lines are joined with LF; an event whose data buffer is empty is
  not dispatched; ``event`` names the type (``message`` by default); ``id``
  is ignored when it contains NUL and otherwise persists across events; it
  becomes the last event ID string when the event is dispatched (even one
  without data), not before; ``retry`` is taken only when it is all ASCII
  digits;
* at the end of the input an unfinished event is discarded, with its ``id``.

Cost is linear in the bytes fed, however they are split: every byte is scanned
a constant number of times, and a line that arrives in pieces is joined once,
when its end arrives. At most one unfinished event is held, and its size
never passes ``max_event_size``: an event's size is the bytes of its ``data``
lines, each counted whole with one byte for its line end, plus the line being
read (of any kind, since it is held until its end). Whether an input is too
large does not depend on how it is split.
"""

from __future__ import annotations

from typing import List, Optional

from ._exceptions import EventTooLargeError
from ._models import Event

__all__ = ["SSEDecoder", "DEFAULT_MAX_EVENT_SIZE"]

#: Largest event (or unfinished line) the decoder holds: far above any real
#: reply, small enough that a runaway stream fails instead of eating memory.
DEFAULT_MAX_EVENT_SIZE = 16 * 1024 * 1024

_BOM = b"\xef\xbb\xbf"
_LF = 10
_CR = 13
_COLON = 58


class SSEDecoder:
    """Turn bytes, split anywhere, into complete :class:`Event` objects.

    >>> decoder = SSEDecoder()
    >>> decoder.feed(b'data: {"type":')
    []
    >>> [e.data for e in decoder.feed(b' "live"}\\n\\n')]
    ['{"type": "live"}']
    """

    __slots__ = (
        "_data",
        "_data_len",
        "_discard",
        "_event",
        "_event_retry",
        "_head",
        "_id",
        "_overflow",
        "_skip_lf",
        "_started",
        "_tail",
        "_tail_len",
        "last_event_id",
        "max_event_size",
        "retry",
    )

    def __init__(self, max_event_size: Optional[int] = DEFAULT_MAX_EVENT_SIZE) -> None:
        """Args:
        max_event_size: largest event, in bytes, before
            :class:`EventTooLargeError`; ``None`` for no limit.
        """
        if max_event_size is not None and max_event_size <= 0:
            raise ValueError("max_event_size must be a positive number of bytes or None")
        self.max_event_size = max_event_size
        #: The last event ID string, set when an event is dispatched; it
        #: persists from event to event (and across :meth:`close`).
        self.last_event_id = ""
        self._id = ""  # the last event ID buffer
        #: The reconnection time last announced by ``retry``, in milliseconds.
        self.retry: Optional[int] = None
        self._head = b""  # the first bytes, until we know whether they are a BOM
        self._started = False
        self._skip_lf = False  # the previous chunk ended with CR
        self._tail: List[bytes] = []  # pieces of an unfinished line
        self._tail_len = 0
        self._data: List[str] = []
        self._data_len = 0
        self._event = ""
        self._event_retry: Optional[int] = None
        self._overflow = False  # an EventTooLargeError is owed
        self._discard = False  # drop bytes up to the next line end

    def feed(self, chunk: bytes) -> List[Event]:
        """Feed the next bytes of the stream.

        Args:
            chunk: any number of bytes, split anywhere.

        Returns:
            The events completed by these bytes, in order.

        Raises:
            EventTooLargeError: an event outgrew ``max_event_size``.  The
                events completed before it are returned first; the error
                comes with the next call (or this one, when there are none),
                which then reads none of its bytes.  The oversized event is
                dropped, up to the end of the line being read, and decoding
                goes on after it.
        """
        self._raise_overflow()
        if not self._started:
            chunk = self._head + chunk
            if len(chunk) < 3 and _BOM.startswith(chunk):
                self._head = chunk
                return []
            self._started = True
            self._head = b""
            if chunk[:3] == _BOM:
                chunk = chunk[3:]
        if not chunk:
            return []
        if self._skip_lf:
            self._skip_lf = False
            if chunk[0] == _LF:
                chunk = chunk[1:]
                if not chunk:
                    return []
        if _CR in chunk:
            # A CR at the very end may be the first half of a CRLF.
            self._skip_lf = chunk[-1] == _CR
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        if self._discard:  # the rest of a line that outgrew max_event_size
            start = chunk.find(b"\n") + 1
            if not start:
                return []
            self._discard = False
            chunk = chunk[start:]
        end = chunk.rfind(b"\n") + 1
        if not end:
            events: List[Event] = []
        elif self._tail:
            self._tail.append(chunk[:end])
            text = b"".join(self._tail)
            self._tail = []
            self._tail_len = 0
            events = self._lines(text)
        else:
            events = self._lines(chunk[:end] if end < len(chunk) else chunk)
        if end < len(chunk) and not self._overflow:
            self._hold(chunk[end:])
        if not events:
            self._raise_overflow()
        return events

    @property
    def at_boundary(self) -> bool:
        """No line and no event is in progress: the next byte starts a new event.

        A caller may then interpret whole events itself (``_protocol`` does, for
        the plain ``data: {...}`` frames of a read) and feed the decoder only
        what follows them.
        """
        return (
            self._started
            and not self._tail
            and not self._data
            and not self._skip_lf
            and not self._event
            and self._event_retry is None
            and self._id == self.last_event_id
            and not self._overflow
            and not self._discard
        )

    def take_line(self) -> Optional[bytes]:
        """Hand back the unfinished line, when it is all the decoder holds.

        Returns:
            Its bytes (the decoder is then at a boundary, as if they had
            never been fed), or ``None`` when an event is in progress.
        """
        if (
            not self._started
            or self._skip_lf
            or self._data
            or self._event
            or self._event_retry is not None
            or self._id != self.last_event_id
            or self._overflow
            or self._discard
        ):
            return None
        line = b"".join(self._tail)
        self._tail = []
        self._tail_len = 0
        return line

    @property
    def held(self) -> int:
        """Bytes of the unfinished event (and line) held, as ``max_event_size`` counts them."""
        return self._tail_len + self._data_len + len(self._head)

    def close(self) -> None:
        """End of input: an event without its closing empty line is discarded.

        ``last_event_id`` and ``retry`` are kept (they are what a reconnection
        needs); bytes fed afterwards are read as a new stream.

        Raises:
            EventTooLargeError: an event had outgrown ``max_event_size`` (and
                the events before it were already returned).
        """
        self._head = b""
        self._started = False
        self._skip_lf = False
        self._id = self.last_event_id
        self._tail = []
        self._tail_len = 0
        self._reset_event()
        self._discard = False
        self._raise_overflow()

    def _hold(self, piece: bytes) -> None:
        self._tail.append(piece)
        self._tail_len += len(piece)
        limit = self.max_event_size
        if limit is not None and self._tail_len + self._data_len > limit:
            self._too_large()
            self._discard = True

    def _too_large(self) -> None:
        # Drop what is held at once; the error is raised once the events
        # completed before it have been handed over.
        self._overflow = True
        self._tail = []
        self._tail_len = 0
        self._reset_event()

    def _raise_overflow(self) -> None:
        if self._overflow:
            self._overflow = False
            raise EventTooLargeError(
                f"An event grew past max_event_size ({self.max_event_size} bytes)"
            )

    def _lines(self, text: bytes) -> List[Event]:
        # ``text`` is whole lines, each ended by LF.  Splitting on a blank line
        # gives blocks each followed by a dispatch; the last piece is either
        # empty or the lines of an event that continues in later chunks.
        limit = self.max_event_size
        if (
            text[:6] == b"data: "
            and text[-2:] == b"\n\n"
            and (limit is None or len(text) <= limit)
            and not self._data
            and not self._event
            and self._event_retry is None
            and self._id == self.last_event_id
        ):
            # Fast path: nothing but one-line ``data: ...`` events, what every
            # server sends.  Decoding them together gives the same text as one
            # by one: the separators are ASCII, which never continues a sequence.
            count = text.count(b"\n\ndata: ")
            if text.count(b"\n") == 2 * count + 2:
                datas = text[6:-2].decode("utf-8", "replace").split("\n\ndata: ")
                last_id = self.last_event_id
                new = tuple.__new__  # Event(...) minus NamedTuple's Python-level __new__
                return [new(Event, (data, "message", last_id, None)) for data in datas]
        events: List[Event] = []
        blocks = text.split(b"\n\n")
        last = blocks.pop()
        for block in blocks:
            if (
                block[:6] == b"data: "
                and not self._data
                and not self._event
                and self._event_retry is None
                and b"\n" not in block
            ):
                # Fast path: the one-line ``data: ...`` frame every server sends.
                if limit is not None and len(block) >= limit:
                    self._too_large()
                    return events
                self.last_event_id = self._id
                events.append(Event(block[6:].decode("utf-8", "replace"), "message", self._id))
                continue
            for line in block.split(b"\n"):
                self._line(line, events)
                if self._overflow:
                    return events
            self._dispatch(events)
        if last:
            for line in last[:-1].split(b"\n"):
                self._line(line, events)
                if self._overflow:
                    return events
        return events

    def _line(self, line: bytes, events: List[Event]) -> None:
        if not line:
            self._dispatch(events)
            return
        size = self._data_len + len(line) + 1
        limit = self.max_event_size
        if limit is not None and size > limit:
            self._too_large()
            return
        if line[0] == _COLON:
            return
        colon = line.find(b":")
        if colon < 0:
            name, value = line, b""
        else:
            name, value = line[:colon], line[colon + 1 :]
            if value[:1] == b" ":
                value = value[1:]
        if name == b"data":
            self._data.append(value.decode("utf-8", "replace"))
            self._data_len = size
        elif name == b"event":
            self._event = value.decode("utf-8", "replace")
        elif name == b"id":
            if b"\0" not in value:
                self._id = value.decode("utf-8", "replace")
        elif name == b"retry" and value.isdigit():  # ASCII digits only, for bytes
            self.retry = self._event_retry = int(value)

    def _dispatch(self, events: List[Event]) -> None:
        self.last_event_id = self._id
        if self._data:
            events.append(
                Event("\n".join(self._data), self._event or "message", self._id, self._event_retry)
            )
        self._reset_event()

    def _reset_event(self) -> None:
        self._data = []
        self._data_len = 0
        self._event = ""
        self._event_retry = None
