"""The core chunked reader (``_chunked.ChunkedReader``), at every split of its input.

Each case is a chunked body (framing included) and what the reader must make
of it: the data, the framing error (if any), whether the last chunk came and
whether the body reached its framed end (trailer section included).  Every
case is fed whole, in two pieces split at every offset, and byte by byte:
the outcome must not depend on where the network cut the bytes.
"""

from __future__ import annotations

import zlib
from typing import List, NamedTuple, Optional, Sequence, Tuple

import pytest

from opchatgpts_compat._chunked import MAX_CHUNK_LINE, MAX_TRAILER, ChunkedReader, Inflater


def chunk(data: bytes, ext: bytes = b"") -> bytes:
    return b"%x%s\r\n%s\r\n" % (len(data), ext, data)


class Case(NamedTuple):
    body: bytes
    data: bytes
    #: The framing error's message, up to the bytes it shows (they depend on the split).
    error: Optional[str] = None
    ended: bool = True
    complete: bool = True


LAST = b"0\r\n\r\n"

CASES = {
    "one-chunk": Case(chunk(b"hello") + LAST, b"hello"),
    "many-chunks": Case(
        b"".join(chunk(b"x%d" % i) for i in range(30)) + LAST,
        b"".join(b"x%d" % i for i in range(30)),
    ),
    "empty-body": Case(LAST, b""),
    "upper-and-lower-hex": Case(
        b"A\r\n" + b"a" * 10 + b"\r\nb\r\n" + b"b" * 11 + b"\r\n" + LAST, b"a" * 10 + b"b" * 11
    ),
    "leading-zeros": Case(b"0005\r\nhello\r\n" + LAST, b"hello"),
    "sixteen-digits": Case(b"%016x\r\nhello\r\n" % 5 + LAST, b"hello"),
    "blanks-after-size": Case(b"5 \t \r\nhello\r\n" + LAST, b"hello"),
    "extension": Case(chunk(b"hello", b";a=b") + LAST, b"hello"),
    "extensions-quoted": Case(chunk(b"hello", b' \t;x;y="; z"') + b"0;last\r\n\r\n", b"hello"),
    "long-extension": Case(chunk(b"hello", b";" + b"e" * 70_000) + LAST, b"hello"),
    "lf-after-data": Case(b"5\r\nhello\n" + LAST, b"hello"),
    "crlf-data": Case(chunk(b"a\r\nb\n\r") + LAST, b"a\r\nb\n\r"),
    "trailers": Case(chunk(b"hello") + b"0\r\nX-Sum: 1\r\nX-More: two\r\n\r\n", b"hello"),
    "lf-only-trailer": Case(chunk(b"hello") + b"0\r\nX-Sum: 1\n\n", b"hello"),
    # Not (yet) whole: the data so far, no error.
    "cut-in-data": Case(b"5\r\nhel", b"hel", ended=False, complete=False),
    "cut-in-size": Case(chunk(b"hello") + b"1", b"hello", ended=False, complete=False),
    "cut-before-last-crlf": Case(chunk(b"hello") + b"0\r\n", b"hello", complete=False),
    "cut-in-trailer": Case(chunk(b"hello") + b"0\r\nX-Sum: 1\r\n", b"hello", complete=False),
    "huge-size": Case(b"ffffffffffffffff\r\nabc", b"abc", ended=False, complete=False),
    "endless-trailer": Case(
        chunk(b"hello") + b"0\r\nX: " + b"t" * (MAX_TRAILER + 10), b"hello", complete=False
    ),
    "trailer-too-long": Case(
        chunk(b"hello") + b"0\r\n" + (b"X: " + b"y" * 1000 + b"\r\n") * 66 + b"\r\n",
        b"hello",
        complete=False,
    ),
    # Broken framing: the data before the break, then the error.
    "lf-only-size-line": Case(
        chunk(b"hello") + b"5\nworld\r\n" + LAST, b"hello", "invalid chunk size line", False, False
    ),
    "no-crlf-after-data": Case(
        b"5\r\nhelloX\r\n" + LAST, b"hello", "no CRLF after the chunk data", False, False
    ),
    "cr-cr-after-data": Case(
        b"5\r\nhello\r\r\n" + LAST, b"hello", "no CRLF after the chunk data", False, False
    ),
    "blank-after-semicolon": Case(
        chunk(b"hello") + chunk(b"world", b"; x"),
        b"hello",
        "white space after ';' in a chunk extension",
        False,
        False,
    ),
    "control-in-extension": Case(
        chunk(b"hello") + chunk(b"world", b";a\x01b"),
        b"hello",
        "a control character in a chunk extension",
        False,
        False,
    ),
    "lf-ends-extension": Case(
        chunk(b"hello") + b"5;a\nworld\r\n",
        b"hello",
        "a control character in a chunk extension",
        False,
        False,
    ),
    "cr-without-lf-in-extension": Case(
        chunk(b"hello") + b"5;a\rxworld\r\n",
        b"hello",
        "a control character in a chunk extension",
        False,
        False,
    ),
    "0x-size": Case(
        chunk(b"hello") + b"0x5\r\nworld\r\n", b"hello", "invalid chunk size line", False, False
    ),
    "17-digit-size": Case(
        chunk(b"hello") + b"0%016x\r\nworld\r\n" % 5,
        b"hello",
        "invalid chunk size line",
        False,
        False,
    ),
    "negative-size": Case(b"-5\r\nhello\r\n", b"", "invalid chunk size line", False, False),
    "plus-size": Case(b"+5\r\nhello\r\n", b"", "invalid chunk size line", False, False),
    "underscore-size": Case(
        b"1_0\r\n" + b"x" * 16 + b"\r\n", b"", "invalid chunk size line", False, False
    ),
    "leading-space-size": Case(b" 5\r\nhello\r\n", b"", "invalid chunk size line", False, False),
    "empty-size-line": Case(
        chunk(b"hello") + b"\r\nworld", b"hello", "invalid chunk size line", False, False
    ),
    "zz-size": Case(b"zz\r\nhello\r\n", b"", "invalid chunk size line", False, False),
    "endless-size-line": Case(
        b"5" + b" " * (MAX_CHUNK_LINE + 10), b"", "invalid chunk size line", False, False
    ),
}


def run(pieces: Sequence[bytes]) -> Tuple[bytes, Optional[str], bool, bool]:
    """Feed ``pieces`` one by one, reading all there is after each."""
    reader = ChunkedReader()
    out: List[bytes] = []
    for piece in pieces:
        reader.feed(piece)
        while True:
            try:
                data = reader.read()
            except ValueError as exc:
                return b"".join(out), str(exc), reader.ended, reader.complete
            if not data:
                break
            out.append(data)
    return b"".join(out), None, reader.ended, reader.complete


def splits(body: bytes) -> List[List[bytes]]:
    """``body`` whole, in two pieces at every offset, and byte by byte.

    A body longer than 4 KiB (an extension, a trailer or a size line past a
    limit) is split at every offset of its first and last 128 bytes, and at
    every 4093rd between: its middle is the same bytes over and over.
    """
    ways = [[body]]
    if len(body) > 4096:  # the long ones: every offset near where something happens
        offsets = {*range(1, 128), *range(len(body) - 128, len(body))}
        offsets.update(range(128, len(body) - 128, 4093))
    else:
        offsets = set(range(1, len(body)))
        ways.append([body[at : at + 1] for at in range(len(body))])
    ways += [[body[:at], body[at:]] for at in sorted(offsets)]
    return ways


def check(outcome: Tuple[bytes, Optional[str], bool, bool], case: Case) -> None:
    data, error, ended, complete = outcome
    assert data == case.data
    if case.error is None:
        assert error is None
    else:
        assert error is not None and error.startswith(case.error), error
    assert (ended, complete) == (case.ended, case.complete)


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_split(name: str) -> None:
    case = CASES[name]
    for pieces in splits(case.body):
        check(run(pieces), case)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"zz\r\n", "invalid chunk size line b'zz\\r\\n'"),
        (b"0x5\r\nhello\r\n", "invalid chunk size line b'0x5\\r\\nhello\\r\\n'"),
        (chunk(b"x") + b"5\nhello", "invalid chunk size line b'5\\nhello'"),
        (b"5\r\nhelloX", "no CRLF after the chunk data"),
        (b"5; x\r\nhello\r\n", "white space after ';' in a chunk extension"),
        (b"5;a\x00\r\nhello\r\n", "a control character in a chunk extension"),
    ],
)
def test_messages(body: bytes, message: str) -> None:
    """The messages of the blocking twin's reader before it moved to the core, word for word."""
    assert run([body])[1] == message


def test_bytes_after_the_end_are_left_over() -> None:
    reader = ChunkedReader()
    reader.feed(chunk(b"hello") + LAST + b"HTTP/1.1 200 OK\r\n")
    assert reader.read() == b"hello"
    assert reader.read() == b""
    assert reader.complete and reader.leftover


def test_an_endless_trailer_is_dropped_as_it_comes() -> None:
    reader = ChunkedReader()
    reader.feed(LAST[:3] + b"X: ")
    for _ in range(100):
        reader.feed(b"t" * 65536)
        assert reader.read() == b""
    assert reader.ended and not reader.complete
    assert not reader._buffer  # nothing kept


def test_an_extension_is_skipped_as_it_comes() -> None:
    reader = ChunkedReader()
    reader.feed(b"5;")
    for _ in range(100):
        reader.feed(b"e" * 65536)
        assert reader.read() == b""
        assert not reader._buffer  # nothing kept
    reader.feed(b"\r\nhello\r\n" + LAST)
    assert reader.read() == b"hello"
    assert reader.complete


def test_many_chunks_in_one_read() -> None:
    reader = ChunkedReader()
    reader.feed(b"".join(chunk(b"%d," % i) for i in range(1000)) + LAST)
    assert reader.read() == b"".join(b"%d," % i for i in range(1000))
    assert reader.complete


@pytest.mark.parametrize("coding", ["gzip", "deflate", "raw-deflate"])
def test_inflater_gives_at_most_read_size(coding: str) -> None:
    plain = b"data: x\n\n" * 100_000
    wbits = {"gzip": 31, "deflate": 15, "raw-deflate": -15}[coding]
    packer = zlib.compressobj(9, zlib.DEFLATED, wbits)
    packed = packer.compress(plain) + packer.flush()
    inflater = Inflater("gzip" if coding == "gzip" else "deflate")
    out = [inflater.inflate(packed)]
    while inflater.tail:
        out.append(inflater.inflate(b""))
    out.append(inflater.finish())
    assert max(len(piece) for piece in out) <= 64 * 1024
    assert b"".join(out) == plain


def test_inflater_reads_gzip_members_in_turn() -> None:
    import gzip

    inflater = Inflater("gzip")
    out = [inflater.inflate(gzip.compress(b"one,") + gzip.compress(b"two"))]
    while inflater.tail:
        out.append(inflater.inflate(b""))
    assert b"".join(out) + inflater.finish() == b"one,two"


def test_inflater_refuses_a_body_not_in_its_coding() -> None:
    with pytest.raises(zlib.error):
        Inflater("gzip").inflate(b"not gzip at all")
