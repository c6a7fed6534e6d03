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

Speed comes from the shape every server sends, events of one ``data: ...``
line and no other field: the decoder reads a run of them with a few passes of
C code over the whole run (count the line ends, decode once, split once) and
goes line by line only where the stream does anything else.
"""

from __future__ import annotations

from typing import List, Optional, Tuple, Union, cast

from ._exceptions import EventTooLargeError
from ._models import Event, messages

__all__ = ["SSEDecoder", "DEFAULT_MAX_EVENT_SIZE"]

#: Largest event (or unfinished line) the decoder holds: far above any real
#: reply, small enough that a runaway stream fails instead of eating memory.
DEFAULT_MAX_EVENT_SIZE = 16 * 1024 * 1024

_BOM = b"\xef\xbb\xbf"
_LF = 10
_CR = 13
_COLON = 58
#: What separates the events of a run, once its first ``data: `` is cut off.
RUN_SEPARATOR = "\n\ndata: "
_RUN_SEPARATOR = b"\n\ndata: "

#: What :meth:`SSEDecoder._feed` returns: events, and runs of plain events.
#: A run of plain events: their data joined with RUN_SEPARATOR, and how many.
Run = Tuple[bytes, int]
Item = Union[Event, Run]


class SSEDecoder:
    """Turn bytes, split anywhere, into complete :class:`Event` objects.

    >>> decoder = SSEDecoder()
    >>> decoder.feed(b'data: {"type":')
    []
    >>> [e.data for e in decoder.feed(b' "live"}\\n\\n')]
    ['{"type": "live"}']
    """

    __slots__ = (
        "_batch",
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
        # Read runs of plain events together; ``False`` reads every line on
        # its own (the reference the tests compare the runs with).
        self._batch = True

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
        events: List[Event] = []
        for item in self._feed(chunk):
            if type(item) is tuple:  # a run (an Event's type is Event)
                data = cast(Run, item)[0].decode("utf-8", "replace")
                events += messages(data.split(RUN_SEPARATOR))
            else:
                events.append(cast(Event, item))
        return events

    def _feed(self, chunk: bytes) -> List[Item]:
        """:meth:`feed`, with the events of a run not yet made.

        Returns:
            The completed events, in order, where a run of plain events (one
            ``data`` line each, type ``message``, no event ID) may stand as
            one :data:`Run`: their data joined with :data:`RUN_SEPARATOR`
            (which no data holds), not yet decoded, and their number.
            ``ReplyParser`` reads such a run whole.
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
        items: List[Item] = []
        if not end:
            pass
        elif self._tail:
            self._tail.append(chunk[:end])
            text = b"".join(self._tail)
            self._tail = []
            self._tail_len = 0
            self._lines(text, items)
        else:
            self._lines(chunk[:end] if end < len(chunk) else chunk, items)
        if end < len(chunk) and not self._overflow:
            self._hold(chunk[end:])
        if not items:
            self._raise_overflow()
        return items

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

    def _lines(self, text: bytes, items: List[Item]) -> None:
        # ``text`` is whole lines, each ended by LF.  An event in progress is
        # finished line by line; then the events that follow, when they are
        # all plain, are one run; the rest goes line by line again.
        if not self._batch:
            self._each_line(text, items)
            return
        if self._data or self._event or self._event_retry is not None:
            if text[0] == _LF:
                end = 1
            else:
                end = text.find(b"\n\n") + 2
                if end < 2:
                    self._each_line(text, items)
                    return
            self._each_line(text[:end], items)
            if self._overflow or end == len(text):
                return
            text = text[end:]
        if self._id or self.last_event_id:  # runs have no event ID
            self._each_line(text, items)
            return
        limit = self.max_event_size
        end = text.rfind(b"\n\n") + 2
        if end > 2 and text[:6] == b"data: ":
            run = text if end == len(text) else text[:end]
            count = run.count(_RUN_SEPARATOR) + 1
            if run.count(b"\n") == 2 * count and (limit is None or len(run) <= limit):
                # Each event is one ``data`` line (the LFs are all counted),
                # none larger than the run.  Decoded later, together: that
                # gives the same text as one by one, since the separators are
                # ASCII, which never continues a sequence.
                items.append((run[6:-2], count))
                if end == len(text):
                    return
                text = text[end:]
        if (
            text[:6] == b"data: "
            and text.find(b"\n") == len(text) - 1
            and (limit is None or len(text) <= limit)
        ):
            # The first line of the next event, where a read often ends: held
            # as it came (it counts as much as a data line), it starts the
            # next run instead of an event in progress.
            self._tail.append(text)
            self._tail_len = len(text)
            return
        self._each_line(text, items)

    def _each_line(self, text: bytes, items: List[Item]) -> None:
        # The rules of the standard, one line at a time.
        lines = text.split(b"\n")
        lines.pop()  # the empty piece after the last LF
        for line in lines:
            self._line(line, items)
            if self._overflow:
                return

    def _line(self, line: bytes, items: List[Item]) -> None:
        if not line:
            self._dispatch(items)
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

    def _dispatch(self, items: List[Item]) -> None:
        self.last_event_id = self._id
        if self._data:
            items.append(
                Event("\n".join(self._data), self._event or "message", self._id, self._event_retry)
            )
        self._reset_event()

    def _reset_event(self) -> None:
        self._data = []
        self._data_len = 0
        self._event = ""
        self._event_retry = None
