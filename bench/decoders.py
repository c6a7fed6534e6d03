"""Decoder-only runs: bytes already in memory, no sockets, one fresh process each.

Usage: ``python bench/decoders.py NAME PIECE_SIZE MEGABYTES [REPLY_BYTES]``
(``events:NAME`` for the SSE part alone, no JSON).
The body is ``MEGABYTES`` of 4-byte-token frames and an ``end`` frame whose
reply has ``REPLY_BYTES``; it is cut into ``PIECE_SIZE`` pieces and turned into
the list of tokens.  Every contestant does the whole job, bytes to tokens:
the SSE split and the JSON of each frame.  Prints one JSON line.

The contestants that use this library: ``core`` is ``ReplyParser`` (the public
``SSEDecoder`` inside, the frames of each run of plain events read with one
``json.loads``); ``core (fast path off)`` is the same with both switched to
their line by line reference; ``SSEDecoder+json`` is what a tool does with the
public decoder: ``feed``, then ``json.loads`` of each event's data.
``json.loads alone`` is no contestant but a bound: the frames' data already
split, as ``str``, and only the ``json.loads`` of each, which no decoder that
hands over events can beat.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import end_frame, live_frame, reply_text, scenario, tokens

Out = Tuple[List[str], str]


def core(pieces: Iterable[bytes]) -> Out:
    from opchatgpts_compat.core import ReplyParser

    parser = ReplyParser(200, "text/event-stream")
    got: List[str] = []
    for piece in pieces:
        got += parser.feed(piece)
    got += parser.feed_eof()
    assert parser.reply is not None
    return got, parser.reply.text


def core_slow(pieces: Iterable[bytes]) -> Out:
    from opchatgpts_compat.core import ReplyParser

    parser = ReplyParser(200, "text/event-stream")
    parser._batch = False
    got: List[str] = []
    for piece in pieces:
        got += parser.feed(piece)
    got += parser.feed_eof()
    assert parser.reply is not None
    return got, parser.reply.text


def _frames(got: List[str], data: str) -> str:
    frame = json.loads(data)
    if frame["type"] == "live":
        got.append(frame["data"])
    elif frame["type"] == "end":
        return str(json.loads(frame["data"])["reply"])
    return ""


def core_decoder_json(pieces: Iterable[bytes]) -> Out:
    from opchatgpts_compat.core import SSEDecoder

    decoder = SSEDecoder()
    got: List[str] = []
    reply = ""
    for piece in pieces:
        for event in decoder.feed(piece):
            reply = _frames(got, event.data) or reply
    decoder.close()
    return got, reply


def json_alone(pieces: Iterable[bytes]) -> Out:
    # The bound: the split is done before the clock starts (see ``main``).
    got: List[str] = []
    reply = ""
    for data in _PRESPLIT:
        reply = _frames(got, data) or reply
    return got, reply


_PRESPLIT: List[str] = []


def sseclient_py(pieces: Iterable[bytes]) -> Out:
    import sseclient

    got: List[str] = []
    reply = ""
    for event in sseclient.SSEClient(iter(pieces)).events():
        reply = _frames(got, event.data) or reply
    return got, reply


def httpx_sse(pieces: Iterable[bytes]) -> Out:
    # What ``EventSource.iter_sse`` does over ``Response.iter_lines``.
    from httpx._decoders import LineDecoder, TextDecoder
    from httpx_sse._decoders import SSEDecoder

    text, lines, sse = TextDecoder(), LineDecoder(), SSEDecoder()
    got: List[str] = []
    reply = ""

    def handle(line: str) -> None:
        nonlocal reply
        event = sse.decode(line)
        if event is not None:
            reply = _frames(got, event.data) or reply

    for piece in pieces:
        for line in lines.decode(text.decode(piece)):
            handle(line)
    for line in lines.decode(text.flush()):
        handle(line)
    for line in lines.flush():
        handle(line)
    return got, reply


def limit(pieces: Iterable[bytes]) -> Out:
    got: List[str] = []
    reply = ""
    buffer = b""
    for piece in pieces:
        buffer += piece
        blocks = buffer.split(b"\n\n")
        buffer = blocks.pop()
        for block in blocks:
            if block.startswith(b"data: "):
                frame = json.loads(block[6:])
                if frame["type"] == "live":
                    got.append(frame["data"])
                elif frame["type"] == "end":
                    reply = json.loads(frame["data"])["reply"]
    return got, reply


def core_events(pieces: Iterable[bytes]) -> Out:
    from opchatgpts_compat.core import SSEDecoder

    decoder = SSEDecoder()
    got: List[str] = []
    for piece in pieces:
        got += [event.data for event in decoder.feed(piece)]
    decoder.close()
    return got, ""


def sseclient_py_events(pieces: Iterable[bytes]) -> Out:
    import sseclient

    return [event.data for event in sseclient.SSEClient(iter(pieces)).events()], ""


def httpx_sse_events(pieces: Iterable[bytes]) -> Out:
    from httpx._decoders import LineDecoder, TextDecoder
    from httpx_sse._decoders import SSEDecoder

    text, lines, sse = TextDecoder(), LineDecoder(), SSEDecoder()
    got: List[str] = []
    for piece in pieces:
        for line in lines.decode(text.decode(piece)):
            event = sse.decode(line)
            if event is not None:
                got.append(event.data)
    for line in [*lines.decode(text.flush()), *lines.flush()]:
        event = sse.decode(line)
        if event is not None:
            got.append(event.data)
    return got, ""


def limit_events(pieces: Iterable[bytes]) -> Out:
    got: List[str] = []
    buffer = b""
    for piece in pieces:
        buffer += piece
        blocks = buffer.split(b"\n\n")
        buffer = blocks.pop()
        for block in blocks:
            if block.startswith(b"data: "):
                got.append(block[6:].decode())
    return got, ""


#: The SSE part alone: bytes in, each event's data out, no JSON.
EVENTS: Dict[str, Callable[[Iterable[bytes]], Out]] = {
    "core SSEDecoder": core_events,
    "sseclient-py": sseclient_py_events,
    "httpx-sse": httpx_sse_events,
    "split limit": limit_events,
}

DECODERS: Dict[str, Callable[[Iterable[bytes]], Out]] = {
    "core": core,
    "core (fast path off)": core_slow,
    "SSEDecoder+json": core_decoder_json,
    "json.loads alone": json_alone,
    "sseclient-py": sseclient_py,
    "httpx-sse": httpx_sse,
    "split+json limit": limit,
}


def main() -> None:
    name, piece, megabytes = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    reply = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    n = int(megabytes * 1e6) // len(live_frame("abcd"))
    params = scenario(n=n, size=4, reply=reply)
    want = tokens(params)
    body = b"".join(live_frame(t) for t in want) + end_frame(params)
    pieces = [body[i : i + piece] for i in range(0, len(body), piece)]
    events = name.startswith("events:")
    run = EVENTS[name[7:]] if events else DECODERS[name]
    import httpx_sse._decoders  # noqa: F401  (imports outside the clock)
    import sseclient  # noqa: F401

    import opchatgpts_compat.core  # noqa: F401

    if run is json_alone:
        _PRESPLIT.extend(block[6:].decode() for block in body.split(b"\n\n")[:-1])
    start = time.perf_counter()
    try:
        got, text = run(pieces)
    except Exception as exc:
        print(json.dumps({"decoder": name, "ok": False, "error": f"{type(exc).__name__}: {exc}"}))
        return
    seconds = time.perf_counter() - start
    if events:
        frames = [live_frame(t) for t in want] + [end_frame(params)]
        ok = got == [f[6:-2].decode() for f in frames]
    else:
        ok = got == want and text == reply_text(params)
    out = {"decoder": name, "ok": ok, "seconds": seconds, "frames": n + 1, "bytes": len(body)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
