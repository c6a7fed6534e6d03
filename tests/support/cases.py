"""One table of answers and what each must give, for the core and both front ends.

Every case is an answer of ``chats/submit`` (status, headers, body) and the
outcome API.md fixes for it: the chunks, then either the reply (text and
usage) or an error (class, exact message, ``.partial``).  ``test_cases.py``
runs the table four ways: through the core alone, through each front end with
``responses``/``aioresponses``, and through both front ends against a real
server on 127.0.0.1 that writes the body in pieces.

The recorded answers of fixtures/ are cases too: ``wire/`` (made by
hand from the plugin's sources) and ``real/`` (captured from real AI Engine
2.0.9 and 3.6.2 sites; see their README.md).
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Type

from opchatgpts_compat import (
    BrokenLineError,
    HTTPStatusError,
    IncompleteStreamError,
    OpchatgptsError,
    RejectedError,
    ServerError,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
WIRE = FIXTURES / "wire"
REAL = FIXTURES / "real"

SSE = "text/event-stream; charset=UTF-8"
PHP_SSE = "text/event-stream;charset=UTF-8"
JSON_TYPE = "application/json; charset=UTF-8"
HTML = "text/html; charset=UTF-8"

REJECTED = "Sorry, your query has been rejected."


@dataclass(frozen=True)
class Case:
    """An answer and its expected outcome."""

    id: str
    body: bytes
    status: int = 200
    content_type: str = SSE
    #: Send the body gzip-compressed with ``Content-Encoding: gzip``.
    gzip: bool = False
    #: The chunks, in order (before the error, for a failing case).
    chunks: Tuple[str, ...] = ()
    #: ``Reply.text`` of a successful case.
    text: Optional[str] = None
    usage: Optional[Dict[str, Any]] = None
    #: The exact exception class and ``str()`` of a failing case.
    error: Optional[Type[OpchatgptsError]] = None
    message: Optional[str] = None
    #: Extra expectations on the error (attribute -> value).
    error_attrs: Dict[str, Any] = field(default_factory=dict)
    #: The number of non-text ``live`` frames (progress lines).
    statuses: int = 0

    @property
    def nonce_rejection(self) -> bool:
        """A 401/403 about the nonce: a client then tries to fetch one, and fails
        here, since the site gives the same answer to every request."""
        return self.error_attrs.get("code") in ("rest_forbidden", "rest_cookie_invalid_nonce")

    @property
    def wire_body(self) -> bytes:
        """The bytes on the wire (compressed when ``gzip``)."""
        return gzip.compress(self.body, mtime=0) if self.gzip else self.body

    @property
    def headers(self) -> Dict[str, str]:
        headers = {"Content-Type": self.content_type}
        if self.gzip:
            headers["Content-Encoding"] = "gzip"
        return headers


def frames(*frames: Dict[str, Any]) -> bytes:
    """An event stream as PHP writes it: ``data: <compact JSON>\\n\\n`` per frame."""
    return b"".join(
        b"data: " + json.dumps(f, separators=(",", ":")).encode() + b"\n\n" for f in frames
    )


def live(text: str, **extra: Any) -> Dict[str, Any]:
    return {"type": "live", "data": text, **extra}


def end(reply: Optional[str], **extra: Any) -> Dict[str, Any]:
    answer = {"success": True, "reply": reply, "images": None, "usage": None, **extra}
    return {"type": "end", "data": json.dumps(answer, separators=(",", ":"))}


def error(message: str) -> Dict[str, Any]:
    return {"type": "error", "data": message}


USAGE = {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}

# -- hand-written cases: every rule of API.md and PROTOCOL.md ----------------------

HAND: List[Case] = [
    Case(
        "basic",
        frames(live("Hel"), live("lo"), end("Hello", usage=USAGE)),
        chunks=("Hel", "lo"),
        text="Hello",
        usage=USAGE,
    ),
    Case(
        "reply-differs-from-tokens",
        frames(live(" Hi "), live("\n"), end("Hi")),
        chunks=(" Hi ", "\n"),
        text="Hi",
    ),
    Case(
        "no-reply-in-end: text is the joined chunks",
        frames(live("a"), live("b"), {"type": "end", "data": '{"success":true}'}),
        chunks=("a", "b"),
        text="ab",
    ),
    Case(
        "end data already an object",
        frames(live("a"), {"type": "end", "data": {"success": True, "reply": "A"}}),
        chunks=("a",),
        text="A",
    ),
    Case(
        "CRLF line ends",
        frames(live("a"), live("b"), end("ab")).replace(b"\n", b"\r\n"),
        chunks=("a", "b"),
        text="ab",
    ),
    Case(
        "CR line ends",
        frames(live("a"), live("b"), end("ab")).replace(b"\n", b"\r"),
        chunks=("a", "b"),
        text="ab",
    ),
    Case(
        "BOM, comments, no space after colon, unknown fields",
        b"\xef\xbb\xbf: hello\n\nretry: 10\nid: 7\nfoo: bar\n"
        b'data:{"type":"live","data":"x"}\n\n'
        b": keep-alive\n\n" + frames(end("x")),
        chunks=("x",),
        text="x",
    ),
    Case(
        "multi-line data is joined with LF",
        b'data: {"type":"live",\ndata: "data":"x"}\n\n' + frames(end("x")),
        chunks=("x",),
        text="x",
    ),
    Case(
        "HTML before the first frame is skipped",
        b"<br />\n<b>Notice</b>:  ob_end_flush(): Failed in <b>x.php</b><br />\n"
        + frames(live("ok"), end("ok")),
        chunks=("ok",),
        text="ok",
    ),
    Case(
        "other frame types are skipped",
        frames({"type": "stream", "data": "old"}, live("a"), {"type": "ping"}, end("a")),
        chunks=("a",),
        text="a",
    ),
    Case(
        "empty and null live data give no chunk",
        frames(live(""), {"type": "live", "data": None}, live("a"), end("a")),
        chunks=("a",),
        text="a",
    ),
    Case(
        "status frames are not text",
        frames(
            live("Thinking...", subtype="status", visibility="collapsed"),
            live("a", subtype="content"),
            end("a"),
        ),
        chunks=("a",),
        text="a",
        statuses=1,
    ),
    Case(
        "reading stops at the first end",
        frames(live("a"), end("a"), live("late"), end("b")) + b"garbage without newline",
        chunks=("a",),
        text="a",
    ),
    Case(
        "error frame after tokens",
        frames(live("a"), live("b"), error("Rate limit reached"), live("late")),
        chunks=("a", "b"),
        error=ServerError,
        message="Rate limit reached",
        error_attrs={"message": "Rate limit reached"},
    ),
    Case(
        "empty error frame waits for the real one",
        frames(live("a"), error(""), error("Overloaded")),
        chunks=("a",),
        error=ServerError,
        message="Overloaded",
    ),
    Case(
        "empty error frame alone",
        frames(live("a"), error("")),
        chunks=("a",),
        error=ServerError,
        message="The site reported an error without a message",
    ),
    Case(
        "end with success false",
        frames(
            live("a"),
            {"type": "end", "data": json.dumps({"success": False, "message": "Nope"})},
        ),
        chunks=("a",),
        error=ServerError,
        message="Nope",
    ),
    Case(
        "data that is not JSON",
        frames(live("a")) + b"data: {oops\n\n",
        chunks=("a",),
        error=BrokenLineError,
        message="Broken line: {oops",
        error_attrs={"line": "{oops"},
    ),
    Case(
        "JSON without a type",
        b'data: {"data":"x"}\n\n',
        error=BrokenLineError,
        message='Broken line: {"data":"x"}',
    ),
    Case(
        "JSON nested too deep to parse",
        frames(live("a")) + b"data: " + b"[" * 100_000 + b"\n\n",
        chunks=("a",),
        error=BrokenLineError,
        message="Broken line: " + "[" * 200 + "...",
    ),
    Case(
        "JSON that is not an object",
        b"data: null\n\n",
        error=BrokenLineError,
        message="Broken line: null",
    ),
    Case(
        "end data that is not JSON",
        frames(live("a"), {"type": "end", "data": "{nope"}),
        chunks=("a",),
        error=BrokenLineError,
        message='Broken line: {"type":"end","data":"{nope"}',
    ),
    Case(
        "cut before end",
        frames(live("a"), live("b")) + b'data: {"type":"live","da',
        chunks=("a", "b"),
        error=IncompleteStreamError,
        message="The stream ended before its end frame",
    ),
    Case(
        "last frame without its blank line",
        frames(live("a")) + frames(end("a"))[:-1],
        chunks=("a",),
        error=IncompleteStreamError,
        message="The stream ended before its end frame",
    ),
    Case(
        "empty 200 body",
        b"",
        error=IncompleteStreamError,
        message="The answer was empty",
    ),
    Case(
        "200 HTML page",
        b"<!DOCTYPE html><html><body>Cached page</body></html>\n",
        content_type=HTML,
        error=IncompleteStreamError,
        message="The answer has no events (text/html; charset=UTF-8)",
    ),
    Case(
        "JSON reply to a streaming request",
        b'  {"success":true,"reply":"Whole","images":["u"],"usage":null}',
        content_type=JSON_TYPE,
        chunks=("Whole",),
        text="Whole",
    ),
    Case(
        "JSON error with status 200",
        b'{"success":false,"message":"Quota exceeded"}',
        content_type=JSON_TYPE,
        error=ServerError,
        message="Quota exceeded",
    ),
    Case(
        "WordPress fatal error JSON with status 200",
        b'{"code":"internal_server_error","message":"Critical error","data":{"status":500}}',
        content_type=JSON_TYPE,
        error=ServerError,
        message="Critical error",
    ),
    Case(
        "truncated JSON answer",
        b'{"success":true,"reply":"Wh',
        content_type=JSON_TYPE,
        error=IncompleteStreamError,
        message="The answer is neither an event stream nor a whole JSON object",
    ),
    Case(
        "event stream under a JSON content type",
        frames(live("a"), end("a")),
        content_type=JSON_TYPE,
        chunks=("a",),
        text="a",
    ),
    Case(
        "gzip-compressed stream",
        frames(live("z"), live("ip"), end("zip")),
        gzip=True,
        chunks=("z", "ip"),
        text="zip",
    ),
    Case(
        "a 20 KB token",
        frames(live("a"), live("b" * 20000), end("done")),
        chunks=("a", "b" * 20000),
        text="done",
    ),
    Case(
        "500 HTML",
        b"<html><body>Internal Server Error</body></html>",
        status=500,
        content_type=HTML,
        error=HTTPStatusError,
        message="HTTP 500 Internal Server Error",
        error_attrs={
            "status_code": 500,
            "body": "<html><body>Internal Server Error</body></html>",
        },
    ),
    Case(
        "502 without a body",
        b"",
        status=502,
        content_type="text/plain",
        error=HTTPStatusError,
        message="HTTP 502 Bad Gateway",
        error_attrs={"status_code": 502, "body": ""},
    ),
    Case(
        "429 JSON success false",
        b'{"success":false,"message":"Too many requests"}',
        status=429,
        content_type=JSON_TYPE,
        error=RejectedError,
        message="HTTP 429 Too Many Requests: Too many requests",
        error_attrs={"status_code": 429, "message": "Too many requests"},
    ),
    Case(
        "long error body is cut to 1 KiB",
        b"x" * 5000,
        status=503,
        content_type="text/plain",
        error=HTTPStatusError,
        message="HTTP 503 Service Unavailable",
        error_attrs={"body": "x" * 1024},
    ),
]


# -- the recorded answers ------------------------------------------------------------

WIRE_EXPECTED: Dict[str, Dict[str, Any]] = {
    "live-end-basic.sse": dict(
        chunks=("Hello", "!", " How", " can", " I", " help", " you", " today", "?"),
        text="Hello! How can I help you today?",
        usage={"prompt_tokens": 24, "completion_tokens": 9, "total_tokens": 33},
    ),
    "end-with-usage.sse": dict(
        chunks=(
            "\n\n",
            "Voilà",
            " :",
            " https://example.org/docs",
            "  \n",
            "Bonne",
            " journée",
            " —",
            " 🙂",
        ),
        text="Voilà : https://example.org/docs  \nBonne journée — 🙂",
        usage={
            "prompt_tokens": 412,
            "completion_tokens": 17,
            "total_tokens": 429,
            "price": 0.001201,
            "queries": 1,
            "accuracy": "tokens",
        },
    ),
    "newer-version-event-types.sse": dict(
        chunks=("We", " are", " open", " 10", "\u201318", " on", " Sundays", "."),
        text="We are open 10\u201318 on Sundays.",
        usage={
            "prompt_tokens": 1210,
            "completion_tokens": 11,
            "total_tokens": 1221,
            "price": None,
            "queries": 1,
        },
        statuses=9,
    ),
    "error-frame.sse": dict(
        chunks=("The", " answer", " is"),
        error=ServerError,
        message="Rate limit reached for requests. Limit: 3 per minute. Please try again in 20s.",
    ),
    "error-frame-no-sse-headers.sse": dict(
        content_type=JSON_TYPE, error=ServerError, message=REJECTED
    ),
    "php-notice-before-stream.sse": dict(
        chunks=("Sure", ",", " here", " it", " is", "."),
        text="Sure, here it is.",
        usage={"prompt_tokens": 30, "completion_tokens": 6, "total_tokens": 36},
    ),
    "stream-dies-without-end.sse": dict(
        chunks=("Once", " upon", " a", " time"),
        error=IncompleteStreamError,
        message="The stream ended before its end frame",
    ),
    "non-stream-reply.json": dict(
        content_type=JSON_TYPE,
        chunks=("Paris is the capital of France.",),
        text="Paris is the capital of France.",
        usage={"prompt_tokens": 27, "completion_tokens": 7, "total_tokens": 34},
    ),
    "takeover-json-to-stream-request.json": dict(
        content_type=JSON_TYPE,
        chunks=("Our support team is offline until Monday.",),
        text="Our support team is offline until Monday.",
    ),
    "rejected-403.json": dict(
        status=403,
        content_type=JSON_TYPE,
        error=RejectedError,
        message=f"HTTP 403 Forbidden: {REJECTED}",
        error_attrs={"status_code": 403, "message": REJECTED},
    ),
    "nonce-invalid-403.json": dict(
        status=403,
        content_type=JSON_TYPE,
        error=HTTPStatusError,
        message="HTTP 403 Forbidden: Cookie check failed (rest_cookie_invalid_nonce)",
        error_attrs={"status_code": 403, "code": "rest_cookie_invalid_nonce"},
    ),
    "nonce-missing-401.json": dict(
        status=401,
        content_type=JSON_TYPE,
        error=HTTPStatusError,
        message="HTTP 401 Unauthorized: Sorry, you are not allowed to do that. (rest_forbidden)",
        error_attrs={"status_code": 401, "code": "rest_forbidden"},
    ),
    "chatbot-page-data-system.html": dict(
        content_type=HTML,
        error=IncompleteStreamError,
        message="The answer has no events (text/html; charset=UTF-8)",
    ),
    "cloudflare-challenge-403.html": dict(
        status=403,
        content_type=HTML,
        error=HTTPStatusError,
        message="HTTP 403 Forbidden",
    ),
}

HELLO = ("Hello", " there", ",", " world")
HELLO_TEXT = "Hello there, world"
UNICODE = ("Héllo", " wörld", " 🌍", " a/b", ' "q"\n')
UNICODE_TEXT = 'Héllo wörld 🌍 a/b "q"'
USAGE_209_STREAM = {"prompt_tokens": 0, "completion_tokens": 6, "total_tokens": 6}
USAGE_209_JSON = {"prompt_tokens": 12, "completion_tokens": 4, "total_tokens": 16}
USAGE_362 = {
    "prompt_tokens": 12,
    "completion_tokens": 4,
    "total_tokens": 16,
    "price": None,
    "queries": 1,
    "accuracy": "tokens",
}
MISSING_NONCE = dict(
    error=HTTPStatusError,
    message="HTTP 401 Unauthorized: Sorry, you are not allowed to do that. (rest_forbidden)",
    error_attrs={"status_code": 401, "code": "rest_forbidden"},
)
INVALID_NONCE = dict(
    error=HTTPStatusError,
    message="HTTP 403 Forbidden: Cookie check failed (rest_cookie_invalid_nonce)",
    error_attrs={"status_code": 403, "code": "rest_cookie_invalid_nonce"},
)
REJECTED_403 = dict(
    error=RejectedError,
    message=f"HTTP 403 Forbidden: {REJECTED}",
    error_attrs={"status_code": 403, "message": REJECTED},
)

STREAM_209 = dict(chunks=HELLO, text=HELLO_TEXT, usage=USAGE_209_STREAM)
JSON_209 = dict(chunks=(HELLO_TEXT,), text=HELLO_TEXT, usage=USAGE_209_JSON)
STREAM_362 = dict(chunks=HELLO, text=HELLO_TEXT, usage=USAGE_362)
JSON_362 = dict(chunks=(HELLO_TEXT,), text=HELLO_TEXT, usage=USAGE_362)
UPSTREAM_362 = dict(
    error=ServerError,
    message="OpenAI (Responses API): Error: The server had an error while processing your"
    " request. Sorry about that! (server_error)",
)

REAL_EXPECTED: Dict[str, Dict[str, Any]] = {
    "ai-engine-2.0.9/stream_success": STREAM_209,
    "ai-engine-2.0.9/stream_success_gzip": STREAM_209,
    "ai-engine-2.0.9/stream_success_unicode": dict(
        chunks=UNICODE,
        text=UNICODE_TEXT,
        usage={"prompt_tokens": 0, "completion_tokens": 9, "total_tokens": 9},
    ),
    "ai-engine-2.0.9/long_message_600": STREAM_209,
    "ai-engine-2.0.9/long_message_65536": STREAM_209,
    "ai-engine-2.0.9/long_message_65537": REJECTED_403,
    "ai-engine-2.0.9/long_message_70000": REJECTED_403,
    "ai-engine-2.0.9/empty_message": REJECTED_403,
    "ai-engine-2.0.9/nonstream_success": JSON_209,
    "ai-engine-2.0.9/nonstream_success_gzip": JSON_209,
    "ai-engine-2.0.9/stream_upstream_error": dict(
        error=ServerError,
        message="From OpenAI: Error : The server had an error while processing your request."
        " Sorry about that!",
    ),
    "ai-engine-2.0.9/nonstream_upstream_error": dict(
        error=RejectedError,
        message="HTTP 500 Internal Server Error: From OpenAI: The server had an error while"
        " processing your request. Sorry about that!",
        error_attrs={"status_code": 500},
    ),
    "ai-engine-2.0.9/unknown_botid": dict(error=ServerError, message=REJECTED),
    "ai-engine-2.0.9/missing_nonce": MISSING_NONCE,
    "ai-engine-2.0.9/invalid_nonce": INVALID_NONCE,
    "ai-engine-2.0.9/start_session": dict(
        error=HTTPStatusError,
        message="HTTP 404 Not Found: No route was found matching the URL and request method."
        " (rest_no_route)",
        error_attrs={"status_code": 404, "code": "rest_no_route"},
    ),
    "ai-engine-3.6.2/stream_success": STREAM_362,
    "ai-engine-3.6.2/stream_success_gzip": STREAM_362,
    "ai-engine-3.6.2/stream_success_gzip_forced": STREAM_362,
    "ai-engine-3.6.2/stream_success_eventlogs": dict(
        chunks=HELLO, text=HELLO_TEXT, usage=USAGE_362, statuses=1
    ),
    "ai-engine-3.6.2/stream_success_unicode": dict(
        chunks=UNICODE, text=UNICODE_TEXT, usage=USAGE_362
    ),
    "ai-engine-3.6.2/unknown_botid": STREAM_362,
    "ai-engine-3.6.2/long_message_600": dict(error=ServerError, message=REJECTED),
    "ai-engine-3.6.2/long_message_70000": dict(error=ServerError, message=REJECTED),
    "ai-engine-3.6.2/empty_message": REJECTED_403,
    "ai-engine-3.6.2/nonstream_success": JSON_362,
    "ai-engine-3.6.2/nonstream_success_gzip": JSON_362,
    "ai-engine-3.6.2/nonstream_success_gzip_forced": JSON_362,
    "ai-engine-3.6.2/stream_upstream_error": UPSTREAM_362,
    "ai-engine-3.6.2/stream_upstream_error_eventlogs": UPSTREAM_362,
    "ai-engine-3.6.2/nonstream_upstream_error": dict(
        error=RejectedError,
        message='HTTP 500 Internal Server Error: OpenAI (Responses API): {"error": {"message":'
        ' "The server had an error while processing your request. Sorry about that!",'
        ' "type": "server_error", "param": null, "code": null}}',
        error_attrs={"status_code": 500},
    ),
    "ai-engine-3.6.2/missing_nonce": MISSING_NONCE,
    "ai-engine-3.6.2/invalid_nonce": INVALID_NONCE,
}

#: Recorded files that are not answers of chats/submit (or are replayed raw elsewhere).
REAL_SKIPPED = {
    "stream_success_rawchunked": "keeps the chunk framing; replayed raw by the fixture tests",
    "start_session": "an answer of start_session, not of chats/submit",
    "start-session.json": "an answer of start_session, not of chats/submit",
    "page": "the chatbot page",
}


def _parse_headers(path: Path) -> Tuple[int, Dict[str, str]]:
    lines = path.read_bytes().decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    return status, headers


def _real_cases() -> List[Case]:
    cases = []
    for key, expected in sorted(REAL_EXPECTED.items()):
        head = REAL / f"{key}.headers"
        status, headers = _parse_headers(head)
        body = (REAL / f"{key}.body").read_bytes()
        compressed = headers.get("content-encoding") == "gzip"
        if compressed:
            body = gzip.decompress(body)
        cases.append(
            Case(
                f"real/{key}",
                body,
                status=status,
                content_type=headers.get("content-type", ""),
                gzip=compressed,
                **expected,
            )
        )
    return cases


def _wire_cases() -> List[Case]:
    cases = []
    for name, spec in sorted(WIRE_EXPECTED.items()):
        expected = dict(spec)
        content_type = expected.pop("content_type", SSE)
        status = expected.pop("status", 200)
        cases.append(
            Case(
                f"wire/{name}",
                (WIRE / name).read_bytes(),
                status=status,
                content_type=content_type,
                **expected,
            )
        )
    return cases


def all_cases() -> List[Case]:
    return HAND + _wire_cases() + _real_cases()


CASES = all_cases()


def recorded_files() -> List[str]:
    """Every recorded answer file, to check the table covers them all."""
    names = sorted(p.name for p in WIRE.iterdir() if p.name != "README.md")
    real = sorted(f"{p.parent.name}/{p.name[: -len('.headers')]}" for p in REAL.glob("*/*.headers"))
    return [f"wire/{n}" for n in names] + [f"real/{n}" for n in real]
