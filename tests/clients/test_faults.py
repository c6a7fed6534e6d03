"""Every fault of issue 4, through both front ends, against a real socket.

One table: each case is a script for the fault server and what the contract
says must come out of it: the chunks and reply, or the exception class, its
exact message (the same for both front ends), ``.partial``, whether the
library's own exception is chained as ``__cause__``, and how the connection
must end as seen by the server (closed by the client while the server still
held it, before the client object itself is closed).
"""

from __future__ import annotations

import base64
import gzip
import json
import zlib
from dataclasses import dataclass
from typing import Any, List, Optional, Sequence, Type

import aiohttp.http_parser
import pytest
from support.fault_server import (
    SSE,
    Abort,
    Cut,
    Pause,
    Raw,
    Repeat,
    Script,
    ServerThread,
    Stall,
    Trickle,
    end_frame,
    error_frame,
    frame,
    live,
)
from support.twin import BOTH, MESSAGES, Twin

from opchatgpts_compat import (
    BrokenLineError,
    EventTooLargeError,
    HTTPStatusError,
    IncompleteStreamError,
    OpchatgptsError,
    RejectedError,
    ServerError,
    StreamTimeoutError,
    TransportError,
)

#: Short enough to keep the suite fast, long enough never to fire on loopback
#: unless the server really stalls.
TIMEOUT = 1.0
LIBRARIES = {"sync": ("requests", "urllib3"), "async": ("aiohttp",)}


def tokens(n: int) -> List[bytes]:
    return [live(f"t{i} ") for i in range(n)]


def text(n: int) -> str:
    return "".join(f"t{i} " for i in range(n))


@dataclass
class Case:
    name: str
    script: Script
    #: A reply: the chunks; its text is ``reply`` or, if None, the joined chunks.
    chunks: Optional[Sequence[str]] = None
    reply: Optional[str] = None
    #: An error: class, message (``{origin}`` is the server's), partial.
    error: Optional[Type[OpchatgptsError]] = None
    message: str = ""
    partial: str = ""
    #: ``__cause__`` is the library's exception (transport failures).
    chained: bool = False
    #: How the server saw the connection end: "client" (closed by the client
    #: while the server held it), "cut" (the server shut its side, then the
    #: client closed), "reset" (the server reset it).
    closed: str = "client"
    options: Optional[dict] = None  # type: ignore[type-arg]
    #: The outcome holds with aiohttp's C parser (llhttp, the default) only:
    #: its pure-Python parser (AIOHTTP_NO_EXTENSIONS=1) lets these bytes through.
    llhttp_only: bool = False

    def __str__(self) -> str:
        return self.name


STREAM_GZ = gzip.compress(b"".join(tokens(3)) + end_frame("t0 t1 t2 "))
UTF8_E = 'data: {"type":"live","data":"caf\u00e9"}\n\n'.encode()
JSON = (("Content-Type", "application/json; charset=UTF-8"),)
HTML = (("Content-Type", "text/html; charset=UTF-8"),)
REJECTED = b'{"success":false,"message":"Sorry, your query has been rejected."}'
# Not a nonce code: rest_forbidden and rest_cookie_invalid_nonce start the
# nonce refresh, which test_site_flows.py and test_recorded.py cover.
WP_ERROR = (
    b'{"code":"rest_not_logged_in","message":"You are not currently logged in.",'
    b'"data":{"status":401}}'
)
BIG = 50 * 1024 * 1024
LOST = "The connection to {origin} was lost before the end frame"
ENDED = "The stream ended before its end frame"

FAULTS = [
    # -- the happy path, as a control -------------------------------------------------
    Case("ok-chunked", Script(body=[*tokens(3), end_frame(None)]), chunks=["t0 ", "t1 ", "t2 "]),
    Case(
        "ok-close", Script(body=[*tokens(2), end_frame("R")], framing="close"), ["t0 ", "t1 "], "R"
    ),
    Case("ok-length", Script(body=[*tokens(2), end_frame(None)], framing="length"), ["t0 ", "t1 "]),
    # -- cuts ------------------------------------------------------------------------
    Case(
        "cut-before-end-chunked",
        Script(body=[*tokens(2), Cut()]),
        error=IncompleteStreamError,
        message=LOST,
        partial=text(2),
        chained=True,
        closed="cut",
    ),
    Case(
        "cut-before-end-close",
        Script(body=[*tokens(2), Cut()], framing="close"),
        error=IncompleteStreamError,
        message=ENDED,
        partial=text(2),
        closed="cut",
    ),
    Case(
        "cut-before-end-length",
        Script(body=[*tokens(2), Cut(), b"never sent"], framing="length"),
        error=IncompleteStreamError,
        message=LOST,
        partial=text(2),
        chained=True,
        closed="cut",
    ),
    Case(
        "cut-before-any-byte",
        Script(body=[Cut()], framing="close"),
        error=IncompleteStreamError,
        message="The answer was empty",
        closed="cut",
    ),
    Case(
        "cut-mid-frame",
        Script(body=[*tokens(2), b'data: {"type":"live","da', Cut()], framing="close"),
        error=IncompleteStreamError,
        message=ENDED,
        partial=text(2),
        closed="cut",
    ),
    Case(
        "cut-mid-utf8",
        Script(body=[*tokens(1), UTF8_E[:-5], Cut()], framing="close"),
        error=IncompleteStreamError,
        message=ENDED,
        partial=text(1),
        closed="cut",
    ),
    Case(
        "cut-mid-utf8-chunked",
        Script(body=[*tokens(1), UTF8_E[:-5], Cut()]),
        error=IncompleteStreamError,
        message=LOST,
        partial=text(1),
        chained=True,
        closed="cut",
    ),
    Case(
        "cut-mid-chunk",
        Script(body=[*tokens(2), Raw(b'40\r\ndata: {"type"'), Cut()]),
        error=IncompleteStreamError,
        message=LOST,
        partial=text(2),
        chained=True,
        closed="cut",
    ),
    Case(
        "cut-in-chunk-size",
        Script(body=[*tokens(2), Raw(b"4"), Cut()]),
        error=IncompleteStreamError,
        message=LOST,
        partial=text(2),
        chained=True,
        closed="cut",
    ),
    Case(
        "reset-after-tokens",
        Script(body=[*tokens(2), Abort()]),
        error=IncompleteStreamError,
        message=LOST,
        partial=text(2),
        chained=True,
        closed="reset",
    ),
    Case(
        "reset-before-answer",
        Script(before_head=Abort()),
        error=TransportError,
        message="The connection to {origin} was closed before an answer",
        chained=True,
        closed="reset",
    ),
    # -- stalls and trickles -------------------------------------------------------------
    Case(
        "stall-after-tokens",
        Script(body=[*tokens(2), Stall()]),
        error=StreamTimeoutError,
        message="No new bytes from {origin} for 1 s",
        partial=text(2),
        chained=True,
    ),
    Case(
        "stall-before-status",
        Script(before_head=Stall()),
        error=StreamTimeoutError,
        message="No new bytes from {origin} for 1 s",
        chained=True,
    ),
    Case(
        "stall-mid-frame",
        Script(body=[*tokens(1), b'data: {"type":"li', Stall()]),
        error=StreamTimeoutError,
        message="No new bytes from {origin} for 1 s",
        partial=text(1),
        chained=True,
    ),
    Case(
        "trickle-1-byte",
        Script(body=[Trickle(b"".join(tokens(3)) + end_frame(None))]),
        chunks=["t0 ", "t1 ", "t2 "],
    ),
    Case(
        "trickle-1-byte-close",
        Script(body=[Trickle(b"".join(tokens(2)) + end_frame(None))], framing="close"),
        chunks=["t0 ", "t1 "],
    ),
    # -- size ------------------------------------------------------------------------
    Case(
        "frame-50MB",
        Script(
            body=[
                *tokens(2),
                b'data: {"type":"live","data":"',
                Repeat(b"x" * 65536, BIG // 65536),
                b'"}\n\n',
                end_frame(None),
            ]
        ),
        error=EventTooLargeError,
        message="An event grew past max_event_size (16777216 bytes)",
        partial=text(2),
    ),
    Case(
        "frame-over-small-limit",
        Script(body=[*tokens(1), live("y" * 5000), end_frame(None)]),
        error=EventTooLargeError,
        message="An event grew past max_event_size (1024 bytes)",
        partial=text(1),
        options={"max_event_size": 1024},
    ),
    Case(
        "json-over-small-limit",
        Script(
            headers=JSON, body=[b'{"success":true,"reply":"', b"z" * 4000, b'"}'], framing="length"
        ),
        error=EventTooLargeError,
        message="The JSON answer grew past max_event_size (1024 bytes)",
        options={"max_event_size": 1024},
    ),
    # -- what the body is --------------------------------------------------------------
    Case(
        "html-page-200",
        Script(headers=HTML, body=[b"<!doctype html><title>x</title>"]),
        error=IncompleteStreamError,
        message="The answer has no events (text/html; charset=UTF-8)",
    ),
    Case(
        "gzip-stream",
        Script(headers=(("Content-Type", SSE), ("Content-Encoding", "gzip")), body=[STREAM_GZ]),
        chunks=["t0 ", "t1 ", "t2 "],
    ),
    Case(
        "gzip-stream-split",
        Script(
            headers=(("Content-Type", SSE), ("Content-Encoding", "gzip")),
            body=[STREAM_GZ[:7], STREAM_GZ[7:30], STREAM_GZ[30:]],
        ),
        chunks=["t0 ", "t1 ", "t2 "],
    ),
    Case(
        "content-type-says-json",
        Script(headers=JSON, body=[*tokens(2), end_frame(None)]),
        chunks=["t0 ", "t1 "],
    ),
    Case(
        "content-type-says-html",
        Script(headers=HTML, body=[*tokens(2), end_frame(None)]),
        chunks=["t0 ", "t1 "],
    ),
    Case("no-content-type", Script(headers=(), body=[*tokens(1), end_frame(None)]), chunks=["t0 "]),
    Case(
        "json-answer-to-stream",
        Script(headers=JSON, body=[b'{"success":true,"reply":"Hi!"}'], framing="length"),
        chunks=["Hi!"],
    ),
    Case(
        "invalid-utf8",
        Script(body=[b'data: {"type":"live","data":"a\xff\xfeb"}\n\n', end_frame(None)]),
        chunks=["a\ufffd\ufffdb"],
    ),
    Case(
        "raw-nul-byte",
        Script(body=[*tokens(1), b'data: {"type":"live","data":"a\x00b"}\n\n']),
        error=BrokenLineError,
        message='Broken line: {"type":"live","data":"a\x00b"}',
        partial=text(1),
    ),
    Case("escaped-nul", Script(body=[live("a\0b"), end_frame(None)]), chunks=["a\0b"]),
    Case(
        "10000-comments",
        Script(body=[live("a"), Repeat(b": keep-alive\n", 10000), live("b"), end_frame(None)]),
        chunks=["a", "b"],
    ),
    Case(
        "10000-comments-one-write",
        Script(body=[live("a") + b": x\r\n" * 10000 + live("b"), end_frame(None)]),
        chunks=["a", "b"],
    ),
    # -- frames ----------------------------------------------------------------------
    Case(
        "error-after-tokens",
        Script(body=[*tokens(2), error_frame("Boom"), Stall()]),
        error=ServerError,
        message="Boom",
        partial=text(2),
    ),
    Case(
        "error-in-same-write",
        Script(body=[b"".join(tokens(2)) + error_frame("Boom"), Stall()]),
        error=ServerError,
        message="Boom",
        partial=text(2),
    ),
    Case(
        "empty-error-then-error",
        Script(body=[*tokens(1), error_frame(""), error_frame("Real"), Stall()]),
        error=ServerError,
        message="Real",
        partial=text(1),
    ),
    Case(
        "empty-error-then-eof",
        Script(body=[*tokens(1), error_frame("")], framing="close"),
        error=ServerError,
        message="The site reported an error without a message",
        partial=text(1),
        closed="cut",
    ),
    Case(
        "two-end-frames",
        Script(body=[*tokens(1), end_frame("one"), end_frame("two"), Stall()]),
        chunks=["t0 "],
        reply="one",
    ),
    Case(
        "data-after-end",
        Script(body=[*tokens(1), end_frame(None), *tokens(3), Stall()]),
        chunks=["t0 "],
    ),
    Case(
        "garbage-after-end",
        Script(body=[end_frame("x") + b"\xff\x00garbage", Stall()]),
        chunks=[],
        reply="x",
    ),
    Case(
        "broken-json-frame",
        Script(body=[*tokens(1), b"data: {nope\n\n", Stall()]),
        error=BrokenLineError,
        message="Broken line: {nope",
        partial=text(1),
    ),
    Case(
        "frame-without-type",
        Script(body=[frame({"data": "x"}), Stall()]),
        error=BrokenLineError,
        message='Broken line: {"data":"x"}',
    ),
    Case(
        "php-fatal-after-tokens",
        Script(body=[*tokens(1), b"<b>Fatal error</b>: x\n"], framing="close"),
        error=IncompleteStreamError,
        message=ENDED,
        partial=text(1),
        closed="cut",
    ),
    # -- status codes ------------------------------------------------------------------
    Case(
        "301-to-other-path",
        Script(301, (("Location", "/elsewhere/"),), [], "length"),
        error=HTTPStatusError,
        message="HTTP 301 Moved Permanently: redirected to /elsewhere/, not followed",
    ),
    Case(
        "302-absolute-with-secret",
        Script(302, (("Location", "http://u:pw@127.0.0.1:9/x"),), [b"moved"], "length"),
        error=HTTPStatusError,
        message="HTTP 302 Found: redirected to http://****@127.0.0.1:9/x, not followed",
    ),
    Case(
        "307",
        Script(307, (("Location", "https://example.org/x"),), [], "length"),
        error=HTTPStatusError,
        message="HTTP 307 Temporary Redirect: redirected to https://example.org/x, not followed",
    ),
    Case(
        "403-html",
        Script(403, HTML, [b"<html>Just a moment...</html>"], "length"),
        error=HTTPStatusError,
        message="HTTP 403 Forbidden",
    ),
    Case(
        "403-rejected-json",
        Script(403, JSON, [REJECTED], "length"),
        error=RejectedError,
        message="HTTP 403 Forbidden: Sorry, your query has been rejected.",
    ),
    Case(
        "401-wp-json",
        Script(401, JSON, [WP_ERROR], "chunked"),
        error=HTTPStatusError,
        message="HTTP 401 Unauthorized: You are not currently logged in. (rest_not_logged_in)",
    ),
    Case(
        "429-retry-after",
        Script(429, (("Retry-After", "30"),), [], "length"),
        error=HTTPStatusError,
        message="HTTP 429 Too Many Requests",
    ),
    Case(
        "429-json",
        Script(429, (*JSON, ("Retry-After", "30")), [b'{"message":"Slow down"}'], "length"),
        error=HTTPStatusError,
        message="HTTP 429 Too Many Requests: Slow down",
    ),
    Case(
        "500-empty",
        Script(500, (), [], "length"),
        error=HTTPStatusError,
        message="HTTP 500 Internal Server Error",
    ),
    Case(
        "500-json",
        Script(500, JSON, [b'{"success":false,"message":"Quota"}'], "length"),
        error=RejectedError,
        message="HTTP 500 Internal Server Error: Quota",
    ),
    Case(
        "502-close-delimited",
        Script(502, HTML, [b"<h1>Bad Gateway</h1>"], "close"),
        error=HTTPStatusError,
        message="HTTP 502 Bad Gateway",
        closed="cut",
    ),
    Case(
        "503-retry-after-chunked",
        Script(503, (*HTML, ("Retry-After", "120")), [b"Just a moment...", b"<html>"]),
        error=HTTPStatusError,
        message="HTTP 503 Service Unavailable",
    ),
    Case(
        "503-json",
        Script(503, JSON, [b'{"code":"maintenance","message":"Back soon"}'], "length"),
        error=HTTPStatusError,
        message="HTTP 503 Service Unavailable: Back soon (maintenance)",
    ),
    Case(
        "500-body-cut",
        Script(500, JSON, [b'{"success":false,', Cut()], "chunked"),
        error=IncompleteStreamError,
        message=LOST,
        chained=True,
        closed="cut",
    ),
    Case(
        "error-body-stall",
        Script(500, JSON, [b'{"success":false,', Stall()], "chunked"),
        error=StreamTimeoutError,
        message="No new bytes from {origin} for 1 s",
        chained=True,
    ),
]


# -- issue 11: framing (README, "Framing") -------------------------------------------------
#: Bytes after the first two tokens arrive later, in their own read, as when a
#: proxy or a PHP fatal error breaks a stream that has started.
LATER = Pause(0.2)
PIECE = b"x" * 16 + b"\r\n"
END = end_frame(None)
TWO_TOKENS = b"".join(tokens(2))


def _gzip_in_two() -> Any:
    # Two tokens that decompress whole from the first piece (a sync flush).
    packer = zlib.compressobj(wbits=31)
    first = packer.compress(TWO_TOKENS) + packer.flush(zlib.Z_SYNC_FLUSH)
    return first, packer.compress(END) + packer.flush()


GZ_FIRST, GZ_REST = _gzip_in_two()
DEFLATED = zlib.compress(TWO_TOKENS + END)


def _bomb() -> List[bytes]:
    # After the two tokens of GZ_FIRST: an endless frame of 64 MiB of zeros.
    packer = zlib.compressobj(wbits=31)
    packer.compress(TWO_TOKENS)
    packer.flush(zlib.Z_SYNC_FLUSH)  # the same stream as GZ_FIRST, dropped here
    pieces = [packer.compress(b'data: {"type":"live","data":"')]
    pieces += [packer.compress(b"0" * (1 << 20)) for _ in range(64)]
    pieces.append(packer.flush())
    return [piece for piece in pieces if piece]


BOMB = _bomb()


def broken_chunk(name: str, line: bytes, *, then: Any = None, **kw: Any) -> Case:
    """A chunk-size line that breaks the framing after two tokens: the tokens
    come, then IncompleteStreamError at once, whether the server then closes
    (``Cut``) or holds the connection (``Stall``)."""
    stall = isinstance(then, Stall)
    return Case(
        name,
        Script(body=[*tokens(2), LATER, Raw(line + b"\r\n" + PIECE), then or Cut()]),
        error=IncompleteStreamError,
        message=LOST,
        partial=text(2),
        chained=True,
        closed="client" if stall else "cut",
        **kw,
    )


def refused_head(name: str, headers: Any, framing: str = "close", **kw: Any) -> Case:
    """A head whose body length is ambiguous: refused before any byte of it."""
    return Case(
        name,
        Script(headers=(("Content-Type", SSE), *headers), body=[Stall()], framing=framing),
        error=TransportError,
        message="The connection to {origin} was closed before an answer",
        chained=True,
        **kw,
    )


def chunk_with(size_line: bytes, data: bytes) -> Raw:
    return Raw(size_line + b"\r\n" + data + b"\r\n")


def encoded(name: str, coding: str, body: bytes) -> Case:
    return Case(
        name,
        Script(headers=(("Content-Type", SSE), ("Content-Encoding", coding)), body=[body]),
        error=IncompleteStreamError,
        message=f"The answer is in a Content-Encoding not read here ({coding!r})",
    )


FRAMING = [
    # a chunk size is 1-16 hex digits: no 0x, sign, _, blank before it; the line ends in CRLF
    broken_chunk("chunk-size-zz", b"zz"),
    broken_chunk("chunk-size-zz-stall", b"zz", then=Stall()),
    broken_chunk("chunk-size-0x", b"0x10"),
    broken_chunk("chunk-size-0x-stall", b"0x10", then=Stall()),
    broken_chunk("chunk-size-plus", b"+10"),
    broken_chunk("chunk-size-plus-stall", b"+10", then=Stall()),
    broken_chunk("chunk-size-underscore", b"1_0"),
    broken_chunk("chunk-size-underscore-stall", b"1_0", then=Stall()),
    broken_chunk("chunk-size-negative", b"-5"),
    broken_chunk("chunk-size-negative-stall", b"-5", then=Stall()),
    broken_chunk("chunk-size-empty", b""),
    broken_chunk("chunk-size-empty-stall", b"", then=Stall()),
    broken_chunk("chunk-size-leading-space", b" 10"),
    broken_chunk("chunk-size-160-bit", b"f" * 40),
    broken_chunk("chunk-size-17-digits", b"0" * 15 + b"10"),
    broken_chunk("chunk-size-unicode-digit", "\u0661\u0660".encode()),
    broken_chunk("chunk-ext-blank-after-semicolon", b"10; a=b"),
    broken_chunk("chunk-ext-control-character", b"10;a=\x01"),
    broken_chunk("chunk-size-cr-only", b"10\r" + PIECE),
    Case(
        "chunk-size-line-lf-only",
        Script(body=[*tokens(2), LATER, Raw(b"%x\n%s\r\n" % (len(END), END)), Cut()]),
        error=IncompleteStreamError,
        message=LOST,
        partial=text(2),
        chained=True,
        closed="cut",
        llhttp_only=True,  # the Python parser takes LF-only lines in answers
    ),
    Case(
        "chunk-stall-lf-only",
        Script(body=[*tokens(2), LATER, Raw(b"%x\n%s\n" % (len(END), END)), Stall()]),
        error=IncompleteStreamError,
        message=LOST,
        partial=text(2),
        chained=True,
        llhttp_only=True,
    ),
    Case(
        "chunk-data-without-crlf",
        Script(body=[*tokens(2), LATER, Raw(b"10\r\n" + b"x" * 16 + b"XX" + PIECE), Cut()]),
        error=IncompleteStreamError,
        message=LOST,
        partial=text(2),
        chained=True,
        closed="cut",
    ),
    # what llhttp takes, the blocking client takes too
    Case(
        "chunk-size-uppercase-leading-zeros",
        Script(body=[chunk_with(b"000%X" % len(TWO_TOKENS), TWO_TOKENS), END]),
        chunks=["t0 ", "t1 "],
    ),
    Case(
        "chunk-size-16-digits",
        Script(body=[chunk_with(b"%016x" % len(TWO_TOKENS), TWO_TOKENS), END]),
        chunks=["t0 ", "t1 "],
    ),
    Case(
        "chunk-size-trailing-blanks",
        Script(body=[chunk_with(b"%x \t" % len(TWO_TOKENS), TWO_TOKENS), END]),
        chunks=["t0 ", "t1 "],
    ),
    Case(
        "chunk-ext-8000",
        Script(body=[chunk_with(b"%x;a=" % len(TWO_TOKENS) + b"b" * 8000, TWO_TOKENS), END]),
        chunks=["t0 ", "t1 "],
    ),
    Case(
        "chunk-ext-200KB",
        Script(body=[chunk_with(b"%x;a=" % len(TWO_TOKENS) + b"b" * 200_000, TWO_TOKENS), END]),
        chunks=["t0 ", "t1 "],
        llhttp_only=True,  # the Python parser refuses lines over 8190 bytes
    ),
    Case(
        "chunk-ext-quoted-and-blank-before",
        Script(body=[chunk_with(b'%x ;a="b; c";d' % len(TWO_TOKENS), TWO_TOKENS), END]),
        chunks=["t0 ", "t1 "],
    ),
    Case(
        "chunk-data-then-lf-only",
        Script(body=[Raw(b"%x\r\n%s\n" % (len(TWO_TOKENS), TWO_TOKENS)), END]),
        chunks=["t0 ", "t1 "],
    ),
    # a head whose body length is ambiguous is refused (RFC 9112, 6.3)
    refused_head("content-length-with-chunked", [("Content-Length", "5")], "chunked"),
    refused_head("content-length-negative", [("Content-Length", "-1")]),
    refused_head("content-length-plus", [("Content-Length", "+5")]),
    refused_head("content-length-list", [("Content-Length", "5, 5")]),
    refused_head("content-length-empty", [("Content-Length", "")]),
    # the Python parser takes the first of two Content-Length headers
    refused_head(
        "content-length-twice-same",
        [("Content-Length", "5"), ("Content-Length", "5")],
        llhttp_only=True,
    ),
    refused_head(
        "content-length-twice-other",
        [("Content-Length", "5"), ("Content-Length", "6")],
        llhttp_only=True,
    ),
    refused_head("content-length-hex", [("Content-Length", "0x5")]),
    refused_head(
        "content-length-2-to-64", [("Content-Length", str(2**64))], llhttp_only=True
    ),  # the Python parser takes it
    Case(
        "content-length-short-then-more",
        Script(
            headers=(("Content-Type", SSE), ("Content-Length", str(len(TWO_TOKENS)))),
            body=[TWO_TOKENS, LATER, END, Stall()],
            framing="close",
        ),
        error=IncompleteStreamError,
        message=ENDED,
        partial=text(2),
    ),
    # Content-Encoding: only what both decode (gzip, deflate)
    encoded("encoding-gzip-twice", "gzip, gzip", gzip.compress(STREAM_GZ)),
    encoded("encoding-x-gzip", "x-gzip", STREAM_GZ),
    encoded("encoding-unknown", "snappy", b"whatever"),
    Case(
        "encoding-gzip-uppercase",
        Script(headers=(("Content-Type", SSE), ("Content-Encoding", "GZIP")), body=[STREAM_GZ]),
        chunks=["t0 ", "t1 ", "t2 "],
    ),
    Case(
        "encoding-identity",
        Script(
            headers=(("Content-Type", SSE), ("Content-Encoding", "identity")),
            body=[*tokens(1), END],
        ),
        chunks=["t0 "],
    ),
    # the same framing rules for a gzip body
    Case(
        "gzip-chunk-size-0x",
        Script(
            headers=(("Content-Type", SSE), ("Content-Encoding", "gzip")),
            body=[GZ_FIRST, LATER, Raw(b"0x%x\r\n%s\r\n" % (len(GZ_REST), GZ_REST)), Cut()],
        ),
        error=IncompleteStreamError,
        message=LOST,
        partial=text(2),
        chained=True,
        closed="cut",
    ),
    Case(
        "gzip-chunk-extension-and-lf",
        Script(
            headers=(("Content-Type", SSE), ("Content-Encoding", "gzip")),
            body=[
                Raw(b"%x;a=b\r\n%s\n" % (len(GZ_FIRST), GZ_FIRST)),
                Raw(b"%X \r\n%s\r\n" % (len(GZ_REST), GZ_REST)),
            ],
        ),
        chunks=["t0 ", "t1 "],
    ),
    Case(
        "deflate-zlib-chunked",
        Script(
            headers=(("Content-Type", SSE), ("Content-Encoding", "deflate")),
            body=[DEFLATED[:9], DEFLATED[9:]],
        ),
        chunks=["t0 ", "t1 "],
    ),
    Case(
        "deflate-raw-chunked",
        Script(
            headers=(("Content-Type", SSE), ("Content-Encoding", "deflate")),
            body=[DEFLATED[2:9], DEFLATED[9:-4]],
        ),
        chunks=["t0 ", "t1 "],
    ),
    Case(
        "gzip-bomb-chunked",
        Script(
            headers=(("Content-Type", SSE), ("Content-Encoding", "gzip")),
            body=[GZ_FIRST, *BOMB],
        ),
        error=EventTooLargeError,
        message="An event grew past max_event_size (1048576 bytes)",
        partial=text(2),
        options={"max_event_size": 1024 * 1024},
    ),
    # 1xx answers are skipped (RFC 9110, 15.2)
    Case(
        "103-early-hints",
        Script(
            body=[*tokens(2), END],
            interim=b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n",
        ),
        chunks=["t0 ", "t1 "],
    ),
    Case(
        "102-processing-twice-then-103",
        Script(
            body=[*tokens(1), END],
            interim=b"HTTP/1.1 102 Processing\r\n\r\n" * 2 + b"HTTP/1.1 103 Early Hints\r\n\r\n",
        ),
        chunks=["t0 "],
    ),
    Case(
        "103-then-500",
        Script(500, (), [], "length", interim=b"HTTP/1.1 103 Early Hints\r\n\r\n"),
        error=HTTPStatusError,
        message="HTTP 500 Internal Server Error",
    ),
    # a redirect names its target, masked, even when urlsplit refuses it
    Case(
        "302-location-port-99999",
        Script(302, (("Location", "http://u:pw@127.0.0.1:99999/x"),), [], "length"),
        error=HTTPStatusError,
        message="HTTP 302 Found: redirected to http://****@127.0.0.1:99999/x, not followed",
    ),
    Case(
        "302-location-broken-ipv6",
        Script(302, (("Location", "http://[::1/"),), [], "length"),
        error=HTTPStatusError,
        message="HTTP 302 Found: redirected to http://[::1/, not followed",
    ),
    Case(
        "308-location-broken-ipv6-with-secret",
        Script(308, (("Location", "https://u:p@ss@[::1/x?a@b"),), [], "length"),
        error=HTTPStatusError,
        message="HTTP 308 Permanent Redirect: redirected to https://****@[::1/x?a@b, not followed",
    ),
    Case(
        "303-location-at-in-path",
        Script(303, (("Location", "//example.org/a@b"),), [], "length"),
        error=HTTPStatusError,
        message="HTTP 303 See Other: redirected to //example.org/a@b, not followed",
    ),
    # a lone surrogate ("\ud800" is valid JSON) is U+FFFD, as in a browser
    Case(
        "lone-surrogate",
        Script(body=[live("a\ud800b"), live("\udc00"), live("\U0001f600"), end_frame(None)]),
        chunks=["a\ufffdb", "\ufffd", "\U0001f600"],
    ),
    Case(
        "lone-surrogate-in-reply",
        Script(body=[*tokens(1), end_frame("r\udbff")]),
        chunks=["t0 "],
        reply="r\ufffd",
    ),
]
FAULTS += FRAMING
#: aiohttp's parser: llhttp (C) unless AIOHTTP_NO_EXTENSIONS=1 or no wheel.
LLHTTP = aiohttp.http_parser.HttpResponseParser is not aiohttp.http_parser.HttpResponseParserPy


@pytest.fixture(scope="module")
def server() -> Any:
    with ServerThread() as server:
        yield server


@pytest.fixture(params=BOTH, ids=str)
def twin(request: pytest.FixtureRequest) -> Twin:
    return request.param  # type: ignore[no-any-return]


def test_fault_names_are_unique() -> None:
    names = [case.name for case in FAULTS]
    assert len(names) == len(set(names))
    assert len(FAULTS) >= 50


@pytest.mark.parametrize("case", FAULTS, ids=str)
async def test_fault(server: Any, twin: Twin, case: Case) -> None:
    if case.llhttp_only and twin.is_async and not LLHTTP:
        pytest.xfail("aiohttp's pure-Python parser lets these bytes through")
    route = f"{case.name}-{twin.kind}"
    base_url = server.route(route, case.script)
    client = twin.client(base_url, timeout=TIMEOUT, **(case.options or {}))
    try:
        outcome = await twin.collect(client.stream(MESSAGES))
        (conn,) = server.connections_for(route)
        if case.error is None:
            assert outcome.error is None, outcome.error
            assert outcome.chunks == list(case.chunks or [])
            assert outcome.reply is not None
            expected = case.reply if case.reply is not None else "".join(outcome.chunks)
            assert outcome.reply.text == expected
        else:
            error = outcome.error
            assert type(error) is case.error, repr(error)
            assert str(error) == case.message.replace("{origin}", server.origin)
            assert error.partial == case.partial
            assert "".join(outcome.chunks) == case.partial  # every chunk before the error
            if case.chained:
                cause = error.__cause__
                assert cause is not None
                assert type(cause).__module__.split(".")[0] in LIBRARIES[twin.kind]
            else:
                assert error.__cause__ is None
            if case.script.keeps_alive:
                # The whole answer came: the connection is fit for reuse and may
                # wait in the pool; it is closed with the client (checked below).
                assert case.closed == "client"
            else:
                # The connection is released at once: the server sees it closed
                # while the client object is still open.
                assert await twin.wait(conn.wait_gone)
            if case.closed == "reset":
                assert conn.cut_by_server and not conn.closed_by_client
            elif not case.script.keeps_alive:
                assert conn.closed_by_client
                assert conn.cut_by_server == (case.closed == "cut")
    finally:
        await twin.close(client)
    assert await twin.wait(conn.wait_gone)
    assert conn.closed_by_client or conn.cut_by_server
    assert len(conn.requests) == 1  # never retried, never redirected
    assert conn.requests[0].method == "POST"
    assert conn.requests[0].json()["newMessage"] == "Hi"


def test_frame_helpers() -> None:
    assert json.loads(live("x")[6:]) == {"type": "live", "data": "x"}


async def test_a_lone_surrogate_does_not_poison_the_next_turn(server: Any, twin: Twin) -> None:
    # The reply keeps U+FFFD for "\ud800", so the history can be sent again,
    # and saved: to_json, then json.dumps(...).encode() of it, must work.
    route = f"surrogate-turns-{twin.kind}"
    script = Script(body=[live("\ud800"), end_frame("a\ud800b\udfff")])
    client = twin.client(server.route(route, script), timeout=TIMEOUT)
    try:
        chat = client.conversation()
        for text in ("one", "two\udc80"):  # a caller's lone surrogate, too
            outcome = await twin.collect(chat.stream(text))
            assert outcome.chunks == ["\ufffd"]
            assert outcome.expect_ok().text == "a\ufffdb\ufffd"
        saved = chat.to_json()
        saved.encode("utf-8")
    finally:
        await twin.close(client)
    sent = [r.json() for c in server.connections_for(route) for r in c.requests]
    assert [body["newMessage"] for body in sent] == ["one", "two\ufffd"]
    assert sent[1]["messages"][-1]["content"] == "a\ufffdb\ufffd"
    assert json.loads(saved)["messages"][-1]["content"] == "a\ufffdb\ufffd"


# -- issue 11: what is sent --------------------------------------------------------------

#: Header values neither front end can send as the same bytes, if at all.
UNSENDABLE = {
    "leading-space": {"X-Key": " s3cret"},
    "trailing-tab": {"X-Key": "s3cret\t"},
    "latin-1": {"X-Key": "s3cr\u00e9t"},
    "not-latin-1": {"X-Key": "s3cr\u20act"},
    "nul": {"X-Key": "s3\x00cret"},
    "cr": {"X-Key": "s3\rcret"},
    "lf": {"X-Key": "s3\ncret"},
    "crlf-injection": {"X-Key": "s3cret\r\nX-Evil: 1"},
    "del": {"X-Key": "s3cret\x7f"},
    "name-with-space": {"X Key": "s3cret"},
    "name-with-colon": {"X-Key:": "s3cret"},
    "name-empty": {"": "s3cret"},
    "name-non-ascii": {"X-K\u00e9y": "s3cret"},
}
UNSENDABLE_OPTIONS = {
    "nonce-with-space": {"nonce": "s3cret 1"},
    "nonce-non-ascii": {"nonce": "s3cr\u00e9t"},
    "base-url-crlf": {"base_url": "http://127.0.0.1:9/a\r\nX-Evil: s3cret"},
    "base-url-space": {"base_url": "http://127.0.0.1:9/a s3cret"},
    "base-url-tab-in-host": {"base_url": "http://127.0.\t0.1:9"},
    "proxy-crlf": {"proxy": "http://u:s3cret@127.0.0.1:9\r\n"},
    "rest-url-nul": {"rest_url": "http://127.0.0.1:9/?rest_route=\x00s3cret"},
}


@pytest.mark.parametrize(
    "options",
    [{"headers": h} for h in UNSENDABLE.values()] + list(UNSENDABLE_OPTIONS.values()),
    ids=[*UNSENDABLE, *UNSENDABLE_OPTIONS],
)
async def test_what_cannot_be_sent_is_a_value_error_before_sending(
    server: Any, options: Any
) -> None:
    base_url = server.route("never", Script(body=[end_frame(None)]))
    options = {"base_url": base_url, **options}
    messages = []
    for twin in BOTH:
        before = len(server.connections_for("never"))
        with pytest.raises(ValueError) as info:
            twin.client(**options)
        messages.append(str(info.value))
        if "headers" in options or "nonce" in options or "proxy" in options:
            assert "s3cret" not in str(info.value)  # the value may be a secret
        assert "\r" not in str(info.value) and "\n" not in str(info.value)
        assert len(server.connections_for("never")) == before  # nothing was sent
    assert messages[0] == messages[1]


async def test_userinfo_in_base_url_is_basic_auth_never_shown(server: Any, twin: Twin) -> None:
    route = f"userinfo-{twin.kind}"
    secret = "pa%3Ass:w0rd"
    ok = server.route(route, Script(body=[live("hi"), end_frame(None)]))
    base_url = ok.replace("http://", f"http://ad%40min:{secret}@")
    client = twin.client(base_url, timeout=TIMEOUT)
    try:
        assert (await twin.collect(client.stream(MESSAGES))).chunks == ["hi"]
        shown = [repr(client), repr(client.settings), client.settings.base_url]
    finally:
        await twin.close(client)
    (conn,) = server.connections_for(route)
    headers = conn.requests[0].headers
    token = base64.b64encode(b"ad@min:pa:ss:w0rd").decode()
    assert headers["authorization"] == f"Basic {token}"
    assert headers["origin"] == server.origin
    assert headers["referer"] == f"{ok}/chatgpt-free-use/"
    # errors: a status, and a connection nobody accepts
    server.route(f"{route}-500", Script(500, (), [], "length"))
    failed = await twin.run(base_url.replace(route, f"{route}-500"), timeout=TIMEOUT)
    closed = await twin.run(f"http://u:{secret}@127.0.0.1:9", timeout=TIMEOUT)
    for error in (failed.error, closed.error):
        assert error is not None
        shown += [str(error), repr(error), repr(error.__cause__)]
    for text in shown:
        assert "w0rd" not in text and "ad%40min" not in text and "ad@min" not in text, text


async def test_two_nonce_headers_are_both_ignored(server: Any, twin: Twin) -> None:
    # requests joins them ("a, b": no nonce), aiohttp's get() took the first.
    route = f"two-nonces-{twin.kind}"
    two = Script(
        headers=(("Content-Type", SSE), ("X-WP-Nonce", "aaaa1111"), ("X-WP-Nonce", "bbbb2222")),
        body=[live("x"), end_frame(None)],
    )
    client = twin.client(server.route(route, two), timeout=TIMEOUT, nonce="0123456789")
    try:
        for _ in range(2):
            assert (await twin.collect(client.stream(MESSAGES))).chunks == ["x"]
    finally:
        await twin.close(client)
    sent = [r.headers["x-wp-nonce"] for c in server.connections_for(route) for r in c.requests]
    assert sent == ["0123456789", "0123456789"]


async def test_from_page_skips_1xx_answers(server: Any, twin: Twin) -> None:
    from support.site_emulator import chatbot_element, page

    route = f"page-103-{twin.kind}"
    rest = f"{server.origin}/{route}/wp-json"
    system = {"botId": "b7", "restUrl": rest, "restNonce": "a1b2c3d4e5", "stream": True}
    html = page(chatbot_element(system, {}))
    hints = b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n" * 2
    server.route(route, Script(200, HTML, [html], "length", interim=hints))
    client = await twin.from_page(f"{server.origin}/{route}/chat/", timeout=TIMEOUT)
    try:
        assert (client.settings.bot_id, client.settings.rest_base) == ("b7", rest)
    finally:
        await twin.close(client)
