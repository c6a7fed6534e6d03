"""The fast path changes nothing but speed.

``SSEDecoder`` reads a run of plain ``data:`` events together, and
``ReplyParser`` reads the frames of such a run with one ``json.loads``; their
private ``_batch`` attribute set to ``False`` reads every line and every frame
on its own, the reference.  Every stream below is fed both ways, whole, split
at every offset and in random pieces, and both runs must give the same chunks
from each ``feed``, the same reply and statuses, and the same error (class,
message, partial text) at the same point.
"""

from __future__ import annotations

import gzip
import json
import random
from typing import Any, Iterator, List, Optional, Tuple

import pytest
from support.cases import FIXTURES

from opchatgpts_compat import EventTooLargeError
from opchatgpts_compat.core import DEFAULT_MAX_EVENT_SIZE, Event, ReplyParser, SSEDecoder


def _fixture_bodies() -> List[Tuple[str, bytes]]:
    paths = sorted(FIXTURES.glob("wire/*.sse")) + sorted(FIXTURES.glob("real/*/*.body"))
    bodies = []
    for path in paths:
        body = path.read_bytes()
        if body[:2] == b"\x1f\x8b":
            body = gzip.decompress(body)
        if body.lstrip()[:1] == b"{":
            continue  # a JSON answer, not an event stream
        bodies.append((f"{path.parent.name}/{path.name}", body))
    return bodies


def _live(token: str, **extra: Any) -> bytes:
    frame = json.dumps({"type": "live", "data": token, **extra}, ensure_ascii=False)
    return b"data: " + frame.encode() + b"\n\n"


def _end(reply: str = "abc") -> bytes:
    inner = json.dumps({"success": True, "reply": reply, "images": None, "usage": None})
    return b"data: " + json.dumps({"type": "end", "data": inner}).encode() + b"\n\n"


TOKENS = ["a", "b", "c", "", "\u00e9t\u00e9", "\u65e5\u672c"]
LIVES = b"".join(map(_live, TOKENS))

# Streams that stress the places where the fast path decides; each is also
# correct or wrong in a way the slow path defines.
SYNTHETIC = {
    "plain": LIVES + _end(),
    "no-end": LIVES,
    "half-frame-at-eof": LIVES + b'data: {"type":"live","da',
    "bom": b"\xef\xbb\xbf" + LIVES + _end(),
    "crlf": (LIVES + _end()).replace(b"\n", b"\r\n"),
    "cr": (LIVES + _end()).replace(b"\n", b"\r"),
    "lf-then-crlf": LIVES + b'data: {"type":"live","data":"x"}\n\r\n' + _end(),
    "comments": b": hi\n\n" + LIVES + b": ping\n\n" + _end(),
    "event-and-id": b"event: live\nid: 7\n" + LIVES + b"retry: 10\n" + _end(),
    "multi-line-data": LIVES + b'data: {"type":"live",\ndata: "data":"m"}\n\n' + _end(),
    "no-space": b'data:{"type":"live","data":"x"}\n\n' + LIVES + _end(),
    "two-spaces": LIVES + b'data:  {"type":"live","data":"x"}\n\n' + _end(),
    "trailing-space": LIVES + b'data: {"type":"live","data":"x"} \n\n' + _end(),
    "blank-lines": LIVES + b"\n\n\n" + LIVES + b"\n\n\n\n" + _end(),
    "bracket-in-token": LIVES + _live("[x](y)") + _live("]") + _end(),
    "subtype-content": LIVES + _live("c", subtype="content") + _end(),
    "subtype-status": LIVES + _live("Thinking...", subtype="status") + _end(),
    "subtype-null": LIVES + _live("n", subtype=None) + _end(),
    "data-not-str": LIVES + b'data: {"type":"live","data":5}\n\n' + _end(),
    "data-null": LIVES + b'data: {"type":"live","data":null}\n\n' + _end(),
    "data-missing": LIVES + b'data: {"type":"live"}\n\n' + _end(),
    "no-type": LIVES + b'data: {"typ":"live","data":"x"}\n\n' + _end(),
    "other-type": LIVES + b'data: {"type":"debug","data":"x"}\n\n' + _end(),
    "not-json": LIVES + b"data: {nope}\n\n" + _end(),
    "not-object": LIVES + b"data: [1,2]\n\n" + _end(),
    "extra-data": LIVES + b'data: {"type":"live","data":"x"} {"b":2}\n\n' + _end(),
    "two-objects": LIVES + b'data: {"type":"live","data":"x"},{"type":"live","data":"y"}\n\n',
    # Frames that are wrong alone but would make a valid array if simply joined.
    "split-string": LIVES + b'data: {"type":"live","data":"x\n\ndata: y"}\n\n' + _end(),
    "split-object": LIVES + b'data: {"type":"live","x":{"a":1}\n\ndata: {"b":2}}\n\n' + _end(),
    "split-array": (
        LIVES + b'data: {"type":"live","data":"x"},{"type":"live","x":[{}\n\n'
        b'data: {}],"data":"y"}\n\n' + _end()
    ),
    "split-members": (
        LIVES + b'data: {"type":"live","x":{"a":1\n\ndata: "b":2},"data":"y"}\n\n' + _end()
    ),
    # One frame too many (two objects) and one too few (split members): as many
    # items as frames, so only the separators' check refuses the array.
    "split-and-merge": (
        LIVES + b'data: {"type":"live","data":"x"},{"type":"live","data":"y"}\n\n'
        b'data: {"type":"live","x":{"a":1\n\ndata: "b":2},"data":"z"}\n\n' + _end()
    ),
    # Frames that are JSON but not objects, so a separator is not between } and {.
    "number-frame": LIVES + b"data: 5\n\n" + LIVES + _end(),
    "string-frame": LIVES + b'data: "x"\n\n' + LIVES + _end(),
    "empty-object": LIVES + b"data: {}\n\n" + LIVES + _end(),
    "brace-data": LIVES + _live("}") + _live("{") + _live("}\n\ndata: {") + _end(),
    "nan": LIVES + b'data: {"type":"live","data":"x","n":NaN}\n\n' + _end(),
    "deep": LIVES + b"data: " + b'{"a":' * 1200 + b"1" + b"}" * 1200 + b"\n\n" + _end(),
    "control-char": LIVES + b'data: {"type":"live","data":"a\tb"}\n\n' + _end(),
    "invalid-utf8": LIVES + b'data: {"type":"live","data":"\xff\xfe\xe6\x97"}\n\n' + _end(),
    "lone-surrogate": LIVES + b'data: {"type":"live","data":"\\ud800"}\n\n' + _end(),
    "nul": LIVES + b'data: {"type":"live","data":"\x00"}\n\n' + _end(),
    "error": LIVES + b'data: {"type":"error","data":"Boom"}\n\n' + LIVES,
    "empty-error-then-error": (
        LIVES + b'data: {"type":"error","data":""}\n\n' + b'data: {"type":"error","data":"X"}\n\n'
    ),
    "empty-error-then-eof": LIVES + b'data: {"type":"error","data":""}\n\n',
    "end-then-more": LIVES + _end() + LIVES + b"data: {nope}\n\n",
    "end-not-json": LIVES + b'data: {"type":"end","data":"{"}\n\n',
    "end-failure": LIVES + b'data: {"type":"end","data":"{\\"success\\":false}"}\n\n',
    "html-first": b"<b>Notice</b>: x in y\n" + LIVES + _end(),
    "fatal-after": LIVES + b'{"code":"internal_server_error","message":"x"}',
    "whitespace-first": b"\n\n \n" + LIVES + _end(),
    "huge-end": LIVES + _end("r" * 5000),
}

LIMITS: List[Optional[int]] = [DEFAULT_MAX_EVENT_SIZE, None, 40, 100]

CASES = [(f"fixture:{n}", b) for n, b in _fixture_bodies()] + sorted(SYNTHETIC.items())


def _outcome(pieces: List[bytes], *, fast: bool, limit: Optional[int]) -> Any:
    parser = ReplyParser(200, "text/event-stream", max_event_size=limit)
    parser._batch = fast
    steps: List[Any] = []
    for piece in pieces:
        steps.append(parser.feed(piece))
    steps.append(parser.feed_eof())
    exc = parser.error
    if exc is not None:
        extra = {k: getattr(exc, k) for k in ("line", "message", "partial") if hasattr(exc, k)}
        steps.append((type(exc), str(exc), extra))
    reply = parser.reply
    shown = None if reply is None else (reply.text, reply.usage, reply.images, reply.raw)
    return steps, shown, parser.statuses, parser.new_nonce, parser.done, parser.partial


def _splits(body: bytes, seed: int) -> Iterator[List[bytes]]:
    yield [body]
    step = 1 if len(body) <= 700 else len(body) // 500 + 1
    for cut in range(1, len(body), step):
        yield [body[:cut], body[cut:]]
    if len(body) <= 700:
        yield [body[i : i + 1] for i in range(len(body))]
    rng = random.Random(seed)
    for _ in range(20):
        pieces, at = [], 0
        while at < len(body):
            size = rng.choice([1, 2, 3, 7, 38, 100, 1024])
            pieces.append(body[at : at + size])
            at += size
        yield pieces


@pytest.mark.parametrize("limit", LIMITS, ids=lambda x: f"limit={x}")
@pytest.mark.parametrize(("name", "body"), CASES, ids=[n for n, _ in CASES])
def test_fast_path_changes_nothing(name: str, body: bytes, limit: Optional[int]) -> None:
    for pieces in _splits(body, seed=len(body)):
        slow = _outcome(pieces, fast=False, limit=limit)
        fast = _outcome(pieces, fast=True, limit=limit)
        assert fast == slow, (name, [len(p) for p in pieces])


def test_every_recorded_stream_is_fed() -> None:
    names = {name for name, _ in _fixture_bodies()}
    assert "wire/live-end-basic.sse" in names
    assert "ai-engine-3.6.2/stream_success.body" in names
    assert len(names) >= 20


def _frames_read_alone(parser: ReplyParser, body: bytes) -> List[Any]:
    calls: List[Any] = []
    original = parser._frame
    parser._frame = lambda *a: calls.append(a) or original(*a)  # type: ignore[method-assign]
    assert parser.feed(body) == ["a", "b", "c", "\u00e9t\u00e9", "\u65e5\u672c"] * 2
    return calls


def test_fast_path_is_taken() -> None:
    # Guard the guard: the plain shape must really go the fast way ...
    assert _frames_read_alone(ReplyParser(200), LIVES + LIVES) == []
    # ... and the reference must really read every frame alone.
    parser = ReplyParser(200)
    parser._batch = False
    assert len(_frames_read_alone(parser, LIVES + LIVES)) == 12


@pytest.mark.parametrize("batch", [True, False], ids=["fast", "slow"])
def test_batch_switch(batch: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    # The class attribute is what the case table's [slow] runs set.
    monkeypatch.setattr(ReplyParser, "_batch", batch)
    parser = ReplyParser(200)
    assert parser.feed(LIVES + _end()) == ["a", "b", "c", "\u00e9t\u00e9", "\u65e5\u672c"]
    assert parser.reply is not None and parser.reply.text == "abc"
    assert parser._decoder is not None and parser._decoder._batch is batch


# -- the decoder's own bulk path: one-line ``data:`` events decoded together ----

SSE_ONLY = {
    "ids": b"id: 1\n" + LIVES + b"id: 2\n\n" + LIVES + b"id\n\n" + LIVES,
    "retry": b"retry: 5\n" + LIVES + b"retry: x\n\n" + LIVES,
    "event-names": b"event: a\n" + LIVES + b"event: b\ndata: 1\n\n" + LIVES,
    "empty-data": b"data: \n\ndata:\n\n" + LIVES + b"data: \n\n",
    "pending-data": b"data: 1\n" + LIVES,
    "field-no-colon": b"data\n\n" + LIVES,
}


def _events(pieces: List[bytes], limit: Optional[int], batch: bool = True) -> Any:
    decoder = SSEDecoder(limit)
    decoder._batch = batch
    out: List[Any] = []
    for piece in [*pieces, None]:
        try:
            if piece is None:
                decoder.close()
            else:
                out += decoder.feed(piece)
        except EventTooLargeError as exc:
            out.append(str(exc))  # where it came, between the events
    return out, decoder.last_event_id, decoder.retry


@pytest.mark.parametrize("limit", [None, DEFAULT_MAX_EVENT_SIZE])
@pytest.mark.parametrize(
    "body",
    [b for _, b in CASES] + list(SSE_ONLY.values()),
    ids=[n for n, _ in CASES] + list(SSE_ONLY),
)
def test_decoder_bulk_path_changes_nothing(body: bytes, limit: Optional[int]) -> None:
    # Fed a byte at a time, the decoder never sees two lines at once, so it
    # never takes the bulk path: that is the reference, and so is every
    # split with the bulk path switched off.
    reference = _events([body[i : i + 1] for i in range(len(body))], limit)
    for pieces in _splits(body, seed=len(body) + 1):
        assert _events(pieces, limit) == reference
        assert _events(pieces, limit, batch=False) == reference


@pytest.mark.parametrize("limit", [40, 100])
@pytest.mark.parametrize(
    "body",
    [b for _, b in CASES] + list(SSE_ONLY.values()),
    ids=[n for n, _ in CASES] + list(SSE_ONLY),
)
def test_decoder_bulk_path_changes_nothing_near_the_limit(body: bytes, limit: int) -> None:
    # Where an event is too large, what is dropped with it depends on the
    # split, so each split is compared with itself, the bulk path switched off.
    for pieces in _splits(body, seed=len(body) + 2):
        assert _events(pieces, limit) == _events(pieces, limit, batch=False)


def test_decoder_bulk_path_is_taken() -> None:
    decoder = SSEDecoder()
    items = decoder._feed(LIVES + b"data: x\n")
    assert len(items) == 1 and type(items[0]) is tuple  # one run, no Event made
    frames = [_live(t)[6:-2].decode() for t in TOKENS]
    assert decoder.feed(b"\n" + LIVES) == [Event("x"), *map(Event, frames)]
    decoder._batch = False
    assert all(type(item) is Event for item in decoder._feed(LIVES))
