"""HTTP/1.1 chunked framing (RFC 9112, section 7.1), bytes in and data out: no I/O.

As h11's ``ChunkedReader``: the blocking front end feeds what the socket gave
(:meth:`ChunkedReader.feed`) and takes the data of every chunk that has
arrived (:meth:`ChunkedReader.read`), many chunks per call.  The framing is
read as aiohttp's parser (llhttp) reads it, so both front ends take and
refuse the same bytes (README, "Framing"): a size is 1 to 16 hex digits (no
``0x``, sign, ``_`` or leading space), then optional spaces or tabs, an
optional extension (``;`` and no control characters) and CRLF; the data ends
with CRLF or LF.  An extension of any length is skipped, as it arrives,
without being kept.  After the last chunk the trailer section is skipped; the
body has reached its framed end once its empty line has come
(:attr:`ChunkedReader.complete`), and only then may the connection carry
another request.

:class:`Inflater` decodes a gzip or deflate body at most ``READ_SIZE`` bytes
at a time, as urllib3's ``read1`` does.
"""

from __future__ import annotations

import re
import zlib
from typing import List

__all__ = ["READ_SIZE", "ChunkedReader", "Inflater"]

#: Largest piece of data handed over at once by :class:`Inflater` (and read by the blocking twin).
READ_SIZE = 64 * 1024
#: Longest chunk-size line accepted, without its extension (http.client's ``_MAXLINE``).
MAX_CHUNK_LINE = 65536
#: Longest trailer section skipped; a longer one leaves the body unfinished.
MAX_TRAILER = 65536
#: A chunk-size line as llhttp takes it: 1-16 hex digits, blanks, then CRLF or ``;``.
_SIZE_LINE = re.compile(rb"([0-9A-Fa-f]{1,16})[ \t]*(?:(\r\n)|;)")
#: What may still become such a line when more bytes arrive.
_SIZE_PREFIX = re.compile(rb"[0-9A-Fa-f]{0,16}[ \t]*\r?")
#: Where a chunk extension ends (CR) or breaks (another control character).
_EXT_STOP = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")


class ChunkedReader:
    """The data of a chunked body, from its bytes as they arrive.

    Raises ``ValueError`` (its message says what broke) for framing llhttp
    refuses, once the data before the break has been handed over.
    """

    __slots__ = ("_buffer", "_crlf", "_end", "_ext", "_left", "_size", "_trailer", "complete")

    def __init__(self) -> None:
        self._buffer = b""
        self._left = 0  # data bytes left in the current chunk
        self._crlf = 0  # after a chunk's data: 2 = CRLF or LF to come, 1 = LF to come
        self._ext = 0  # in a chunk extension: 1 = its first byte to come, 2 = in it
        self._size = 0  # the size of the chunk whose extension is being skipped
        self._end = False  # the last chunk's size line has come: no more data
        self._trailer = 0  # bytes of the trailer section skipped (past MAX_TRAILER: given up)
        #: The trailer section's empty line has come: the body is whole.
        self.complete = False

    @property
    def ended(self) -> bool:
        """The last chunk has come: :meth:`read` gives no more data."""
        return self._end

    @property
    def leftover(self) -> bool:
        """Bytes came after the body's end (the connection is not fit for reuse)."""
        return self.complete and bool(self._buffer)

    def feed(self, data: bytes) -> None:
        """Add the bytes that arrived."""
        self._buffer += data

    def read(self) -> bytes:
        """The data of every chunk fed so far (``b""`` at the end, or when more must come).

        Raises:
            ValueError: the framing is broken at the first byte not yet parsed.
        """
        if self._end:
            self._skip_trailer()
            return b""
        buffer = self._buffer
        size = len(buffer)
        at = 0
        left = self._left
        crlf = self._crlf
        ext = self._ext
        pieces: List[bytes] = []
        error = ""
        while not self._end:
            if left:
                stop = at + left
                if stop > size:
                    if at < size:
                        pieces.append(buffer[at:])
                    left = stop - size
                    at = size
                    break
                pieces.append(buffer[at:stop])
                at = stop
                left = 0
                crlf = 2
            if crlf:
                if at >= size:
                    break
                byte = buffer[at]
                if byte == 10:  # LF
                    crlf = 0
                elif byte == 13 and crlf == 2:  # CR
                    crlf = 1
                    at += 1
                    continue
                else:
                    error = "no CRLF after the chunk data"
                    break
                at += 1
            if ext:
                if ext == 1:
                    if at >= size:
                        break
                    if buffer[at] in b" \t":
                        error = "white space after ';' in a chunk extension"
                        break
                    ext = 2
                stop_at = _EXT_STOP.search(buffer, at)
                if stop_at is None:
                    at = size  # skipped, not kept
                    break
                at = stop_at.start()
                if buffer[at] != 13 or buffer[at + 1 : at + 2] not in (b"", b"\n"):
                    error = "a control character in a chunk extension"
                    break
                if at + 1 >= size:
                    break  # the LF is still to come
                at += 2
                ext = 0
                left = self._size
                if not left:
                    self._end = True
                continue
            match = _SIZE_LINE.match(buffer, at)
            if match is None:
                rest = buffer[at : at + MAX_CHUNK_LINE + 1]
                if len(rest) <= MAX_CHUNK_LINE and _SIZE_PREFIX.fullmatch(rest):
                    break  # the rest of the line is still to come
                error = f"invalid chunk size line {rest[:20]!r}"
                break
            at = match.end()
            length = int(match.group(1), 16)
            if match.group(2) is None:  # an extension follows
                ext = 1
                self._size = length
                continue
            if not length:
                self._end = True
            left = length
        self._left = left
        self._crlf = crlf
        self._ext = ext
        self._buffer = buffer[at:] if at < size else b""
        if error and not pieces:
            raise ValueError(error)
        if self._end:
            self._skip_trailer()
        return b"".join(pieces) if len(pieces) != 1 else pieces[0]

    def _skip_trailer(self) -> None:
        # Trailer fields, one a line, until an empty line: skipped, never kept.
        # A section longer than MAX_TRAILER (an endless one) leaves the body
        # unfinished, and its bytes are dropped as they come.
        buffer = self._buffer
        if self._trailer > MAX_TRAILER:
            self._buffer = b""
            return
        at = 0
        while not self.complete:
            end = buffer.find(b"\n", at)
            if end < 0 or self._trailer + end >= MAX_TRAILER:
                break
            self.complete = end - at <= 1 and buffer[at:end] in (b"", b"\r")
            at = end + 1
        self._trailer += at
        self._buffer = buffer[at:]
        if not self.complete and self._trailer + len(self._buffer) > MAX_TRAILER:
            self._trailer = MAX_TRAILER + 1
            self._buffer = b""


class Inflater:
    """A gzip or deflate body, at most ``READ_SIZE`` bytes out per call.

    As urllib3's ``read1`` does: a small read of a bomb never becomes a huge
    string at once; the compressed rest waits in ``unconsumed_tail``.  gzip
    members that follow each other are read in turn; deflate is zlib-wrapped
    or raw, as its first bytes say (as urllib3 reads them).
    """

    __slots__ = ("_gzip", "_obj", "_raw_tried")

    def __init__(self, coding: str) -> None:
        self._gzip = coding == "gzip"
        self._obj = zlib.decompressobj(31 if self._gzip else 15)
        self._raw_tried = self._gzip

    @property
    def tail(self) -> bool:
        """Compressed bytes are waiting: the last call stopped at ``READ_SIZE``,
        or another gzip member follows."""
        obj = self._obj
        return bool(obj.unconsumed_tail) or (self._gzip and obj.eof and bool(obj.unused_data))

    def inflate(self, data: bytes) -> bytes:
        """Up to ``READ_SIZE`` decompressed bytes of what came so far.

        Raises:
            zlib.error: the body is not in its coding.
        """
        obj = self._obj
        if not self._raw_tried and data:
            self._raw_tried = True
            try:
                return obj.decompress(data, READ_SIZE)
            except zlib.error:  # deflate without the zlib wrapper
                self._obj = obj = zlib.decompressobj(-15)
        out = obj.decompress(obj.unconsumed_tail + data, READ_SIZE)
        while self._gzip and obj.eof and obj.unused_data and not out:
            rest = obj.unused_data  # the next gzip member
            self._obj = obj = zlib.decompressobj(31)
            out = obj.decompress(rest, READ_SIZE)
        return out

    def finish(self) -> bytes:
        """What is left at the end of the body (once; then nothing)."""
        obj, self._obj = self._obj, zlib.decompressobj()
        return b"" if obj.eof else obj.flush()
