"""The event-stream decoder against the WHATWG rules, split anywhere.

The rules are the HTML Living Standard, 9.2.6 "Interpreting an event stream".
Every case below is fed whole, byte by byte and split at every offset (as h11's
``t_body_reader`` does); a few short streams are also split at every pair of
offsets.  :func:`reference` is the spec transcribed line by line over the whole
decoded text; hypothesis checks that the decoder agrees with it and with itself
however the bytes are split.

Events after :meth:`SSEDecoder.close`: ``close()`` ends the stream, discarding
the unfinished event and its ``id``; ``last_event_id`` and ``retry`` are kept
(a reconnection needs them) and bytes fed afterwards are read as a new stream
(a BOM at its start is dropped, a CR at the end of the old one does not eat an
LF at the start of the new).

``max_event_size``: an event's size is the bytes of its ``data`` lines, each
counted whole with one byte for its line end, plus the line being read (any
kind: it is held until its end).  Whether a stream is too large does not depend
on how it is split.

Where sseclient-py (1.9.0, ``sseclient.SSEClient`` over an iterable of bytes)
departs from the spec; each is pinned by a test below (``test_sseclient_*``),
next to the spec's answer, which this decoder gives:

1. An empty line after an LF-ended line is missed when it ends with CRLF or CR,
   and one ending with CR after a CRLF-ended line is missed: the events merge.
   ``data: a\\n\\r\\ndata: b\\n\\n`` gives one event ``"a\\nb"`` (spec: ``"a"``,
   ``"b"``); likewise ``data: a\\n\\rdata: b\\n\\n`` and
   ``data: a\\r\\n\\rdata: b\\n\\n``.  It looks for a blank line only as the byte
   pairs ``\\n\\n``, ``\\r\\r`` and ``\\r\\n\\r\\n``.
2. A CR-ended line followed by a CRLF empty line depends on the split:
   ``data: a\\r\\r\\ndata: b\\n\\n`` in one chunk gives ``"a\\nb"``, split after
   the second CR it gives ``"a"``, ``"b"``.
3. At the end of the input it dispatches the unfinished event: ``data: a``
   and ``data: a\\n`` each give ``"a"`` (spec: nothing; a connection cut in the
   middle of a frame yields a truncated frame as if whole).
4. The leading BOM is kept: ``\\ufeffdata: a\\n\\n`` gives nothing (the first
   field is named ``"\\ufeffdata"``; spec: ``"a"``).
5. Invalid UTF-8 raises ``UnicodeDecodeError``: ``data: \\xff\\n\\n`` (spec:
   ``"\\ufffd"``).
6. ``id`` does not persist: ``id: 1\\ndata: a\\n\\ndata: b\\n\\n`` gives ids
   ``"1"`` and ``None`` (spec: ``"1"``, ``"1"``), and ``id: 1\\n\\ndata: a\\n\\n``
   gives ``None`` (spec: ``"1"``).  With no ``id`` at all it reports ``None``
   where the spec's ``lastEventId`` is ``""``.
7. An ``id`` containing NUL is taken: ``id: a\\x00b\\ndata: x\\n\\n`` gives id
   ``"a\\x00b"`` (spec: the field is ignored, id ``""``).
8. ``retry`` is not checked and stays a string: ``retry: 1.5``,
   ``retry:  10`` (two spaces), ``retry:`` give ``"1.5"``, ``" 10"``, ``""``
   (spec: ignored); ``retry: 10`` gives ``"10"``, not ``10``.

It agrees with the spec on the rest: comments, one space stripped after the
colon, a line without a colon, unknown fields, multi-line data, ``data`` with
an empty value (``data\\n\\n`` dispatches ``""``), data-less events (not
dispatched), the event type and its reset.  :func:`sseclient_streams` stays
inside that area (and maps ``id=None`` to ``""`` and ``retry`` to ``int``), and
there the two must agree whatever the split.
"""

from __future__ import annotations

import re
import tracemalloc
from typing import Iterator, List, Optional, Sequence, Tuple

import pytest
import sseclient
from hypothesis import given, settings
from hypothesis import strategies as st

from opchatgpts_compat import EventTooLargeError
from opchatgpts_compat.core import DEFAULT_MAX_EVENT_SIZE, Event, SSEDecoder

BOM = b"\xef\xbb\xbf"


def decode(
    chunks: Sequence[bytes], max_event_size: Optional[int] = DEFAULT_MAX_EVENT_SIZE
) -> Tuple[List[Event], str, Optional[int]]:
    """Feed ``chunks``, close, and return the events, last_event_id and retry."""
    decoder = SSEDecoder(max_event_size)
    events: List[Event] = []
    for chunk in chunks:
        events += decoder.feed(chunk)
    decoder.close()
    return events, decoder.last_event_id, decoder.retry


def events_of(chunks: Sequence[bytes]) -> List[Event]:
    return decode(chunks)[0]


def pieces(stream: bytes, cuts: Sequence[int]) -> List[bytes]:
    bounds = [0, *sorted(cuts), len(stream)]
    return [stream[a:b] for a, b in zip(bounds, bounds[1:])]


def splits(stream: bytes, *, three: bool = False) -> Iterator[List[bytes]]:
    """Whole, byte by byte, at every offset; with ``three`` at every two offsets."""
    n = len(stream)
    yield [stream]
    yield [stream[i : i + 1] for i in range(n)]
    for i in range(n + 1):
        yield pieces(stream, [i])
    if three:
        for i in range(n + 1):
            for j in range(i, n + 1):
                yield pieces(stream, [i, j])


_LINE_END = re.compile("\r\n|\r|\n")


def reference(stream: bytes) -> Tuple[List[Event], str, Optional[int]]:
    """HTML 9.2.6, transcribed over the whole stream, for one stream then EOF."""
    text = stream.decode("utf-8", "replace")  # "UTF-8 decode", with U+FFFD
    if text[:1] == "\ufeff":  # ... which strips one leading BOM
        text = text[1:]
    lines = _LINE_END.split(text)
    lines.pop()  # no line end: "any pending data must be discarded"
    events: List[Event] = []
    data = event_type = id_buffer = last_event_id = ""
    retry: Optional[int] = None
    event_retry: Optional[int] = None
    for line in lines:
        if not line:  # dispatch
            last_event_id = id_buffer
            if data:
                if data.endswith("\n"):
                    data = data[:-1]
                events.append(Event(data, event_type or "message", last_event_id, event_retry))
            data = event_type = ""
            event_retry = None
            continue
        if line.startswith(":"):
            continue
        field, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if field == "data":
            data += value + "\n"
        elif field == "event":
            event_type = value
        elif field == "id":
            if "\0" not in value:
                id_buffer = value
        elif field == "retry" and value and all(c in "0123456789" for c in value):
            retry = event_retry = int(value)
    return events, last_event_id, retry


def E(data: str, event: str = "message", id: str = "", retry: Optional[int] = None) -> Event:
    return Event(data, event, id, retry)


# (stream, events): every WHATWG rule, in the order of 9.2.6.
CASES = [
    # BOM: one leading U+FEFF is dropped, and only that one.
    (BOM + b"data: a\n\n", [E("a")]),
    (BOM + BOM + b"data: a\n\ndata: b\n\n", [E("b")]),  # field "\ufeffdata"
    (BOM + b"\n" + BOM + b"data: a\n\n", []),
    (b"data: a\n\n" + BOM + b"data: b\n\n", [E("a")]),
    (b"data: " + BOM + b"a\n\n", [E("\ufeffa")]),
    (BOM, []),
    (b"\xef\xbbdata: a\n\ndata: b\n\n", [E("b")]),  # half a BOM is not a BOM
    (b"\xefdata: a\n\n", []),
    # Line ends: LF, CR, CRLF, mixed; an empty line ends the event.
    (b"data: a\ndata: b\n\n", [E("a\nb")]),
    (b"data: a\rdata: b\r\r", [E("a\nb")]),
    (b"data: a\r\ndata: b\r\n\r\n", [E("a\nb")]),
    (b"data: a\r\ndata: b\rdata: c\n\r\n", [E("a\nb\nc")]),
    (b"data: a\n\r\ndata: b\n\n", [E("a"), E("b")]),  # LF, then CRLF
    (b"data: a\n\rdata: b\n\n", [E("a"), E("b")]),  # LF, then CR
    (b"data: a\r\n\rdata: b\n\n", [E("a"), E("b")]),  # CRLF, then CR
    (b"data: a\r\r\ndata: b\n\n", [E("a"), E("b")]),  # CR, then CRLF
    (b"data: a\r\n\ndata: b\n\n", [E("a"), E("b")]),  # CRLF, then LF
    (b"data: a\r\rdata: b\r\r", [E("a"), E("b")]),  # CR, CR: two line ends
    (b"data: a\n\n\n\n\r\r\n\ndata: b\n\n", [E("a"), E("b")]),
    (b"\n\r\n\rdata: a\n\n", [E("a")]),
    # Comments.
    (b": hello\ndata: a\n: there\n\n", [E("a")]),
    (b":\n\n", []),
    (b": data: a\n\n", []),
    (b":data: a\n\n", []),
    # ``field:value``: one space after the colon is dropped, no more.
    (b"data:a\n\n", [E("a")]),
    (b"data:  a\n\n", [E(" a")]),
    (b"data: a \n\n", [E("a ")]),
    (b"data:\ta\n\n", [E("\ta")]),
    (b"data: a: b\n\n", [E("a: b")]),
    (b"data::\n\n", [E(":")]),
    (b"data: a\x00b\n\n", [E("a\x00b")]),
    # A line without a colon is the field with an empty value.
    (b"data\n\n", [E("")]),
    (b"data:\n\n", [E("")]),
    (b"data: \n\n", [E("")]),
    (b"data\ndata\n\n", [E("\n")]),
    (b"data:\ndata: a\n\n", [E("\na")]),
    (b"data: a\ndata:\n\n", [E("a\n")]),
    (b"event\ndata: a\n\n", [E("a")]),
    # Unknown fields are ignored; names are exact.
    (b"foo: bar\ndata: a\nDATA: b\n data: c\ndata : d\ndat: e\ndatas: f\n\n", [E("a")]),
    (b"dat\n\n", []),
    (b" \n\n", []),
    # An event with no data is not dispatched.
    (b"event: x\n\n", []),
    (b"event: x\nretry: 1\nid: 2\n: c\n\n", []),
    # ``event``: the type, "message" by default and after each dispatch.
    (b"event: add\ndata: a\n\ndata: b\n\n", [E("a", "add"), E("b")]),
    (b"event: add\n\ndata: b\n\n", [E("b")]),  # reset by a data-less dispatch
    (b"event:\ndata: a\n\n", [E("a")]),
    (b"event: a\nevent: b\ndata: x\n\n", [E("x", "b")]),
    (b"event:  x\ndata: a\n\n", [E("a", " x")]),
    (b"data: a\nevent: late\n\n", [E("a", "late")]),
    # ``id``: persists; NUL makes it ignored; empty resets it.
    (b"id: 1\ndata: a\n\ndata: b\n\n", [E("a", id="1"), E("b", id="1")]),
    (b"id: 1\ndata: a\n\nid\ndata: b\n\n", [E("a", id="1"), E("b")]),
    (b"id: 1\ndata: a\n\nid:\ndata: b\n\n", [E("a", id="1"), E("b")]),
    (b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n", [E("a", id="1"), E("b", id="1")]),
    (b"id: \x00\ndata: a\n\n", [E("a")]),
    (b"id: 1\n\ndata: a\n\n", [E("a", id="1")]),
    (b"data: a\nid: 5\n\n", [E("a", id="5")]),
    (b"id:  5\ndata: a\n\n", [E("a", id=" 5")]),
    (b"id: \xc3\xa9\ndata: a\n\n", [E("a", id="\xe9")]),
    # ``retry``: only ASCII digits; the event carries the value it gave.
    (b"retry: 1500\ndata: a\n\ndata: b\n\n", [E("a", retry=1500), E("b")]),
    (b"retry:10\ndata: a\n\n", [E("a", retry=10)]),
    (b"retry: 007\ndata: a\n\n", [E("a", retry=7)]),
    (b"retry: 0\ndata: a\n\n", [E("a", retry=0)]),
    (b"retry: 1\nretry: x\ndata: a\n\n", [E("a", retry=1)]),
    (
        b"retry: 123456789012345678901234567890\ndata: a\n\n",
        [E("a", retry=int("1" + "2345678901" * 2 + "234567890"))],
    ),
    # Invalid UTF-8 becomes U+FFFD, as if the whole stream were decoded.
    (b"data: \xff\n\n", [E("\ufffd")]),
    (b"data: \xe2\x82\n\n", [E("\ufffd")]),
    (b"data: \xe2\x82\xac \xf0\x9f\x98\x80\n\n", [E("\u20ac \U0001f600")]),
    (b"data: a\xed\xa0\x80b\n\n", [E("a\ufffd\ufffd\ufffdb")]),
    (b"data: \xe2\x82\ndata: \x82\xac\n\n", [E("\ufffd\n\ufffd\ufffd")]),
    (b"\xffdata: a\n\n", []),
    (b"event: \xc0\ndata: a\n\n", [E("a", "\ufffd")]),
    # The end of the input discards an unfinished event.
    (b"data: a", []),
    (b"data: a\n", []),
    (b"data: a\r", []),
    (b"data: a\n\ndata: b\n", [E("a")]),
    (b"", []),
]

RETRY_IGNORED = [
    b"1.5",
    b" 10",  # "retry:  10": only one space is stripped
    b"10 ",
    b"",
    b"-1",
    b"+1",
    b"1e3",
    b"0x10",
    b"1_000",
    b"\xd9\xa1\xd9\xa2",  # ARABIC-INDIC DIGITS ONE, TWO
    b"\xc2\xb9",  # SUPERSCRIPT ONE
    b"\xef\xbc\x91",  # FULLWIDTH DIGIT ONE
    b"\x00",
]
CASES += [(b"retry: " + value + b"\ndata: a\n\n", [E("a")]) for value in RETRY_IGNORED]
CASES += [(b"retry\ndata: a\n\n", [E("a")])]

# Short streams split at every pair of offsets too.
SHORT = [
    BOM + b"data: \xe2\x82\xac\r\n\r\n",
    b"data: a\r\rdata: b\n\r\n",
    b"id: 1\rdata\r\n\n:\rretry: 2\n\n",
    b"event: e\ndata:  x\r\ndata\r\r",
    BOM + b"data: \xf0\x9f\x98\x80\n\n",
]

_ids = [repr(stream)[:60] for stream, _ in CASES]


@pytest.mark.parametrize(("stream", "expected"), CASES, ids=_ids)
def test_reference_model_agrees_with_the_cases(stream: bytes, expected: List[Event]) -> None:
    assert reference(stream)[0] == expected


@pytest.mark.parametrize(("stream", "expected"), CASES, ids=_ids)
def test_rules_whatever_the_split(stream: bytes, expected: List[Event]) -> None:
    want = reference(stream)
    assert want[0] == expected
    for chunks in splits(stream):
        assert decode(chunks) == want, chunks


@pytest.mark.parametrize("stream", SHORT)
def test_every_split_into_three(stream: bytes) -> None:
    want = decode([stream])
    assert want == reference(stream)
    assert want[0]
    for chunks in splits(stream, three=True):
        assert decode(chunks) == want, chunks


@pytest.mark.parametrize("value", RETRY_IGNORED)
def test_retry_ignored_keeps_the_previous_value(value: bytes) -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"retry: 250\n\nretry: " + value + b"\ndata: a\n\n") == [E("a")]
    assert decoder.retry == 250


def test_retry_is_set_without_an_event() -> None:
    assert SSEDecoder().retry is None
    decoder = SSEDecoder()
    assert decoder.feed(b"retry: 3000\n") == []
    assert decoder.retry == 3000  # the reconnection time is set at once
    decoder.close()
    assert decoder.retry == 3000


def test_cr_then_lf_across_chunks_is_one_line_end() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"\ndata: b\r") == []  # not an empty line: "a" goes on
    assert decoder.feed(b"\n") == []
    assert decoder.feed(b"data: c\r") == []
    assert decoder.feed(b"") == []  # an empty chunk does not forget the CR
    assert decoder.feed(b"\n") == []
    assert decoder.feed(b"\r") == [E("a\nb\nc")]  # an empty line, at once
    assert decoder.feed(b"\nid: 1\n\n") == []
    assert decoder.last_event_id == "1"


def test_cr_then_cr_across_chunks_is_two_line_ends() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"\r") == [E("a")]
    assert decoder.feed(b"\n") == []  # an empty line: nothing to dispatch
    assert decoder.feed(b"data: b\r\r") == [E("b")]


def test_bom_split_across_chunks() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"\xef") == []
    assert decoder.feed(b"") == []
    assert decoder.feed(b"\xbb") == []
    assert decoder.feed(b"\xbfdata: a\n\n") == [E("a")]
    assert decoder.feed(BOM + b"data: b\n\n") == []  # not at the start: kept
    assert decoder.feed(b"data: c\n\n") == [E("c")]


def test_multibyte_character_split_across_chunks() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: \xf0") == []
    assert decoder.feed(b"\x9f") == []
    assert decoder.feed(b"\x98") == []
    assert decoder.feed(b"\x80\n\n") == [E("\U0001f600")]


def test_feed_returns_the_events_completed_by_the_chunk() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: 1\n\ndata: 2\n\nda") == [E("1"), E("2")]
    assert decoder.feed(b"ta: 3\n") == []
    assert decoder.feed(b"\n") == [E("3")]


def test_id_becomes_the_last_event_id_at_dispatch() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"id: 1\ndata: a\n") == []
    assert decoder.last_event_id == ""  # the buffer is set, not the string
    assert decoder.feed(b"\n") == [E("a", id="1")]
    assert decoder.last_event_id == "1"
    assert decoder.feed(b"id: 2\n\n") == []  # a data-less event sets it too
    assert decoder.last_event_id == "2"
    assert decoder.feed(b"id: 3\ndata: b\n") == []
    decoder.close()  # an event cut off never arrived: its id does not count
    assert decoder.last_event_id == "2"


def test_close_discards_the_unfinished_event() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\n\nevent: x\nretry: 5\ndata: b\ndata: c") == [E("a")]
    decoder.close()
    decoder.close()  # twice is fine
    assert decoder.retry == 5


def test_bytes_after_close_are_a_new_stream() -> None:
    decoder = SSEDecoder()
    decoder.feed(b"id: 7\nretry: 9\ndata: a\n\nevent: x\ndata: b\ndat")
    decoder.close()
    # A BOM starts the new stream; "a: c" is not glued to the discarded "dat";
    # ``event: x`` is gone; the last event ID and retry stay.
    assert decoder.feed(BOM + b"a: c\n\ndata: d\n\n") == [E("d", id="7")]
    decoder.close()
    assert decoder.feed(BOM + b"data: e\n\n") == [E("e", id="7")]
    decoder.feed(b"data: f\r")
    decoder.close()
    assert decoder.feed(b"\ndata: g\n\n") == [E("g", id="7")]
    assert (decoder.last_event_id, decoder.retry) == ("7", 9)
    decoder = SSEDecoder()
    decoder.feed(b"\xef")  # half a BOM, or half a line: discarded
    decoder.close()
    assert decoder.feed(b"data: h\n\n") == [E("h")]


def test_events_are_named_tuples() -> None:
    (event,) = SSEDecoder().feed(b"event: e\nid: i\nretry: 1\ndata: d\n\n")
    assert (event.data, event.event, event.id, event.retry) == ("d", "e", "i", 1)
    assert event == ("d", "e", "i", 1)


def test_a_run_of_plain_events_is_made_as_event_would_make_them() -> None:
    # The run's events are made in C (``_models.messages``): the same values,
    # the same type, the defaults of Event itself, whatever Event becomes.
    events = SSEDecoder().feed(b"data: a\n\ndata: \xc3\xa9\n\ndata: {}\n\n")
    assert [e.data for e in events] == ["a", "\u00e9", "{}"]
    for event in events:
        assert type(event) is Event
        assert event == Event(event.data)
        assert event._asdict() == {"data": event.data, **Event._field_defaults}


# -- max_event_size --------------------------------------------------------------


@pytest.mark.parametrize("size", [0, -1])
def test_max_event_size_must_be_positive(size: int) -> None:
    with pytest.raises(ValueError, match="max_event_size"):
        SSEDecoder(max_event_size=size)


def _too_large(chunks: Sequence[bytes], limit: int) -> bool:
    decoder = SSEDecoder(max_event_size=limit)
    try:
        for chunk in chunks:
            decoder.feed(chunk)
        decoder.close()  # an overflow found with events before it is owed until here
    except EventTooLargeError:
        return True
    return False


# A data line of n bytes counts n + 1: ``b"data: 123\n"`` is 10 bytes.
@pytest.mark.parametrize(
    ("stream", "limit", "too_large"),
    [
        (b"data: 123\n\n", 10, False),  # the fast path
        (b"data: 1234\n\n", 10, True),
        (b"event: x\ndata: 123\n\n", 10, False),  # the line path
        (b"event: x\ndata: 1234\n\n", 10, True),
        (b"data: 1\ndata: 2\ndata:3\n\n", 23, False),  # many data lines add up
        (b"data: 1\ndata: 2\ndata:3\n\n", 22, True),
        (b"data: 123\n\n" * 5, 10, False),  # a dispatch starts again from 0
        (b"data: 123\n\ndata: 4\n\nid: 1\n: 2\n", 10, False),
        (b": 3456789\n\n", 10, False),  # other lines count while they are read
        (b": 34567890\n\n", 10, True),
        (b"data: 1\n: 3\n\n", 12, False),
        (b"data: 1\n: 34\n\n", 12, True),
        (b"data: 1234", 10, False),  # held unfinished: 10 bytes
        (b"data: 12345", 10, True),
        (BOM + b"data: 123\n\n", 10, False),  # the BOM is not counted
        (b"data: 123\r\n\r\n", 10, False),  # nor the CR of a CRLF
    ],
)
def test_max_event_size_whatever_the_split(stream: bytes, limit: int, too_large: bool) -> None:
    for chunks in splits(stream):
        assert _too_large(chunks, limit) is too_large, chunks


def test_max_event_size_stops_a_long_line_arriving_in_pieces() -> None:
    decoder = SSEDecoder(max_event_size=1000)
    decoder.feed(b"data: ")
    fed = 0
    with pytest.raises(EventTooLargeError, match="1000 bytes"):
        for _ in range(2000):
            decoder.feed(b"x")
            fed += 1
    assert fed == 994  # raised once 1001 bytes were held, not at the line end
    # The decoder dropped the event and can read on.
    assert decoder.feed(b"\n\ndata: ok\n\n") == [E("ok")]


def test_max_event_size_stops_many_data_lines() -> None:
    decoder = SSEDecoder(max_event_size=1000)
    fed = 0
    with pytest.raises(EventTooLargeError):
        for _ in range(1000):
            decoder.feed(b"data: 12345678\n")  # 15 bytes each
            fed += 1
    assert fed == 66  # 67 * 15 > 1000


def test_max_event_size_on_the_fast_path() -> None:
    decoder = SSEDecoder(max_event_size=1000)
    line = b"data: " + b"x" * 993  # 999 bytes, and its LF
    assert decoder.feed(line + b"\n\n") == [E("x" * 993)]
    with pytest.raises(EventTooLargeError):
        decoder.feed(line + b"x\n\n")


def test_events_before_an_oversized_one_come_first() -> None:
    decoder = SSEDecoder(max_event_size=100)
    assert decoder.feed(b"data: a\n\ndata: b\n\n" + b"x" * 200) == [E("a"), E("b")]
    with pytest.raises(EventTooLargeError):
        decoder.feed(b"x")  # the error is owed to the next call ...
    assert decoder.feed(b"xx\ndata: c\n\n") == [E("c")]  # ... and the long line is dropped
    decoder = SSEDecoder(max_event_size=100)
    assert decoder.feed(b"data: a\n\n" + b"data: y\n" * 60) == [E("a")]
    with pytest.raises(EventTooLargeError):
        decoder.close()  # ... or to close()


def test_max_event_size_none_is_no_limit() -> None:
    big = b"x" * (1 << 20)
    assert SSEDecoder(max_event_size=None).feed(b"data: " + big + b"\n\n") == [E(big.decode())]


# -- O(bytes) ----------------------------------------------------------------


def _churn(decoder: SSEDecoder, chunks: Sequence[bytes]) -> Tuple[int, List[Event]]:
    """Feed ``chunks``; the sum over the feeds of what each allocated at its peak.

    A decoder that copied what it holds on every feed would churn the square of
    the bytes; one that keeps the pieces and joins them once churns them once.
    """
    events: List[Event] = []
    churn = 0
    tracemalloc.start()
    try:
        for chunk in chunks:
            tracemalloc.reset_peak()
            before = tracemalloc.get_traced_memory()[0]
            events += decoder.feed(chunk)
            churn += tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    return churn, events


def test_a_long_line_in_one_byte_pieces_is_joined_once() -> None:
    n = 1 << 17
    decoder = SSEDecoder()
    assert decoder.feed(b"data: ") == []
    churn, events = _churn(decoder, [b"x"] * n + [b"\n\n"])
    assert events == [E("x" * n)]
    # Some hundred bytes a feed (the answer, the list of pieces, joining and
    # decoding the line once); copying what is held would be n / 2 a feed.
    assert churn < 1024 * (n + 1)


def test_many_data_lines_are_joined_once() -> None:
    n = 1 << 14
    decoder = SSEDecoder()
    churn, events = _churn(decoder, [b"data: xxxxxxxx\n"] * n + [b"\n"])
    assert events == [E("\n".join(["xxxxxxxx"] * n))]
    assert churn < 2048 * (n + 1)


# -- hypothesis: any split of any stream --------------------------------------

_NAMES = ["data", "data", "data", "event", "id", "retry", "Data", "dat", "datas", " data", "\ufeff"]
_CHARS = "ab :0123456789\x00\t\ufeff\u00e9\u20ac\U0001f600\u0661"
_ENDS = ["\n", "\r", "\r\n"]


@st.composite
def grammar_streams(draw: st.DrawFn) -> bytes:
    """Lines of fields, comments and empty lines, any line ends, BOMs, a tail."""
    out = []
    for _ in range(draw(st.integers(0, 2))):
        out.append("\ufeff")
    for _ in range(draw(st.integers(0, 12))):
        kind = draw(st.integers(0, 5))
        value = draw(st.text(_CHARS, max_size=6))
        if kind == 0:
            line = ""
        elif kind == 1:
            line = ":" + value
        elif kind == 2:
            line = draw(st.sampled_from(_NAMES))
        else:
            line = draw(st.sampled_from(_NAMES)) + draw(st.sampled_from([":", ": ", ":  "])) + value
        out.append(line + draw(st.sampled_from(_ENDS)))
    out.append(draw(st.sampled_from(["", "data: tail", "id: tail", "\r"])))
    return "".join(out).encode()


_SOUP = [b"\r", b"\n", b"\r\n", b":", b" ", b"data", b"id", b"event", b"retry", b"1", b"\x00"]
_SOUP += [
    BOM,
    b"\xef",
    b"\xbb\xbf",
    b"\xff",
    b"\xe2\x82",
    b"\xac",
    b"\xf0\x9f",
    b"\x98\x80",
    b"\xc3",
]

any_stream = st.one_of(
    grammar_streams(),
    st.lists(st.sampled_from(_SOUP), max_size=40).map(b"".join),
    st.binary(max_size=64),
)


def any_split(data: st.DataObject, stream: bytes) -> List[bytes]:
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=10), label="cuts")
    return pieces(stream, cuts)


@settings(max_examples=400, deadline=None)
@given(stream=any_stream, data=st.data())
def test_any_split_gives_the_events_of_one_feed(stream: bytes, data: st.DataObject) -> None:
    assert decode(any_split(data, stream)) == decode([stream])


@settings(max_examples=400, deadline=None)
@given(stream=any_stream)
def test_one_feed_follows_the_spec(stream: bytes) -> None:
    assert decode([stream]) == reference(stream)


@settings(max_examples=300, deadline=None)
@given(stream=any_stream, data=st.data(), limit=st.integers(1, 48))
def test_max_event_size_does_not_depend_on_the_split(
    stream: bytes, data: st.DataObject, limit: int
) -> None:
    chunks = any_split(data, stream)
    too_large = _too_large([stream], limit)
    assert _too_large(chunks, limit) is too_large
    if not too_large:
        assert decode(chunks, max_event_size=limit) == decode([stream])


# -- sseclient-py --------------------------------------------------------------

# The empty line ending an event may end with these, after a line ending with
# the key; outside this sseclient-py misses the end of the event (deviation 1, 2).
_BLANK_AFTER = {"": _ENDS, "\n": ["\n"], "\r\n": ["\n", "\r\n"], "\r": ["\r"]}
_SAFE_CHARS = "ab :0123456789\x00\t\ufeff\u00e9\u20ac\U0001f600"


@st.composite
def _safe_line(draw: st.DrawFn, *, data: bool) -> str:
    names = ["event", "retry", "foo", "Data", "dat", ""] + ["data"] * 3 * data
    name = draw(st.sampled_from(names))
    if name == "retry":  # only values it reads as the spec does (deviation 8)
        return (
            name
            + draw(st.sampled_from([":", ": "]))
            + draw(st.text("0123456789", min_size=1, max_size=4))
        )
    if draw(st.booleans()) and name:
        return name  # no colon
    return name + ":" + draw(st.text(_SAFE_CHARS, max_size=6))


@st.composite
def sseclient_streams(draw: st.DrawFn) -> bytes:
    """Streams on which sseclient-py follows the spec.

    No leading BOM (4), valid UTF-8 (5), no unfinished event with data at the
    end (3), empty lines ending as :data:`_BLANK_AFTER` allows (1, 2); ``id``
    (6, 7) either nowhere or, without NUL, at the head of every event; ``retry``
    as digits only (8).
    """
    with_ids = draw(st.booleans())
    out: List[str] = []
    end = ""
    for _ in range(draw(st.integers(0, 5))):
        lines = draw(st.lists(_safe_line(data=True), max_size=4))
        if with_ids:
            value = draw(st.text(_SAFE_CHARS.replace("\x00", ""), max_size=4))
            lines.insert(0, draw(st.sampled_from(["id", "id:" + value, "id: " + value])))
        for line in lines:
            end = draw(st.sampled_from(_ENDS))
            out.append(line + end)
        end = draw(st.sampled_from(_BLANK_AFTER[end]))
        out.append(end)
    # An unfinished event without data, its last line maybe cut too.
    for line in draw(st.lists(_safe_line(data=False), max_size=3)):
        out.append(line + draw(st.sampled_from([*_ENDS, ""])))
    stream = "".join(out)
    assert stream[:1] != "\ufeff"
    return stream.encode()


def sseclient_events(chunks: Sequence[bytes]) -> List[Event]:
    """sseclient-py's events, as this library reports them (``id=None`` is ``""``)."""
    client = sseclient.SSEClient(iter(chunks))
    return [
        Event(
            e.data, e.event, "" if e.id is None else e.id, None if e.retry is None else int(e.retry)
        )
        for e in client.events()
    ]


@settings(max_examples=400, deadline=None)
@given(stream=sseclient_streams(), data=st.data())
def test_sseclient_agrees_where_it_follows_the_spec(stream: bytes, data: st.DataObject) -> None:
    chunks = any_split(data, stream)
    assert sseclient_events(chunks) == events_of(chunks) == reference(stream)[0]


@pytest.mark.parametrize(
    ("chunks", "theirs", "spec"),
    [
        # 1. An empty line after LF ending with CRLF or CR; CR after CRLF.
        ([b"data: a\n\r\ndata: b\n\n"], [E("a\nb")], [E("a"), E("b")]),
        ([b"data: a\n\rdata: b\n\n"], [E("a\nb")], [E("a"), E("b")]),
        ([b"data: a\r\n\rdata: b\n\n"], [E("a\nb")], [E("a"), E("b")]),
        # 2. CR then a CRLF empty line: the answer depends on the split.
        ([b"data: a\r\r\ndata: b\n\n"], [E("a\nb")], [E("a"), E("b")]),
        ([b"data: a\r\r", b"\ndata: b\n\n"], [E("a"), E("b")], [E("a"), E("b")]),
        # 3. The unfinished event at the end is dispatched.
        ([b"data: a"], [E("a")], []),
        ([b"data: a\n"], [E("a")], []),
        ([b"data: a\n\ndata: hel"], [E("a"), E("hel")], [E("a")]),
        # 4. The BOM is kept.
        ([BOM + b"data: a\n\n"], [], [E("a")]),
        # 6. id does not persist (``None`` here is ``""``).
        (
            [b"id: 1\ndata: a\n\ndata: b\n\n"],
            [E("a", id="1"), E("b")],
            [E("a", id="1"), E("b", id="1")],
        ),
        ([b"id: 1\n\ndata: a\n\n"], [E("a")], [E("a", id="1")]),
        # 7. An id with NUL is taken.
        ([b"id: a\x00b\ndata: x\n\n"], [E("x", id="a\x00b")], [E("x")]),
    ],
)
def test_sseclient_deviates(chunks: List[bytes], theirs: List[Event], spec: List[Event]) -> None:
    assert sseclient_events(chunks) == theirs
    assert events_of(chunks) == spec
    assert reference(b"".join(chunks))[0] == spec


def test_sseclient_raises_on_invalid_utf8() -> None:  # 5
    with pytest.raises(UnicodeDecodeError):
        sseclient_events([b"data: \xff\n\n"])
    assert events_of([b"data: \xff\n\n"]) == [E("\ufffd")]


@pytest.mark.parametrize(
    ("value", "theirs"), [(b"1.5", "1.5"), (b" 10", " 10"), (b"", ""), (b"10", "10")]
)
def test_sseclient_reports_retry_unchecked(value: bytes, theirs: str) -> None:  # 8
    stream = b"retry: " + value + b"\ndata: x\n\n"
    (event,) = sseclient.SSEClient(iter([stream])).events()
    assert event.retry == theirs
    assert event.id is None  # 6: no id is None, not ""
    assert events_of([stream]) == [E("x", retry=int(value) if value.isdigit() else None)]


@pytest.mark.parametrize(
    "stream",
    [
        b"data\n\n",
        b"data:\ndata\n\n",
        b"event: x\n\n",
        b": c\ndata:  a\nfoo: b\n\n",
        b"event:\ndata: a\n\n",
    ],
)
def test_sseclient_agrees_on(stream: bytes) -> None:
    assert sseclient_events([stream]) == events_of([stream])
