"""A real HTTP server on 127.0.0.1 for the front-end tests (aiohttp.web in a thread).

It serves the case table: ``POST /case/<n>/wp-json/mwai-ui/v1/chats/submit``
answers with ``CASES[n]``, writing an event stream in pieces (every frame cut
in two, each piece its own HTTP chunk and its own write, a short pause
between writes so they leave as separate TCP segments) and other bodies with
a Content-Length, also in two writes.  A gzip case is compressed with a sync
flush after every piece, as Apache's mod_deflate does.

A few more routes drive the streaming tests: ``/gate`` waits for the test's
signal before each next token, ``/endless`` streams until the client goes
away (and records that it did), ``/stall`` goes quiet after one token until
the test releases it.
"""

from __future__ import annotations

import asyncio
import json
import threading
import zlib
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from aiohttp import web

from support.cases import CASES, Case, end, frames, live

SUBMIT = "/wp-json/mwai-ui/v1/chats/submit"
#: Pause between two writes: long enough for them to leave as separate segments.
PAUSE = 0.002


@dataclass
class Seen:
    """A request as the server received it."""

    path: str
    headers: Dict[str, str]
    body: bytes
    host: str

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Gate:
    """Lets the test hold the server between two tokens."""

    tokens: List[str]
    release: List[threading.Event] = field(default_factory=list)
    written: int = 0

    def __post_init__(self) -> None:
        self.release = [threading.Event() for _ in self.tokens]


class LiveServer:
    """The server, its thread, and what it saw."""

    def __init__(self) -> None:
        self.seen: List[Seen] = []
        self.gates: Dict[str, Gate] = {}
        self.disconnected: Dict[str, threading.Event] = {}
        self.stalls: Dict[str, threading.Event] = {}
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="live-server", daemon=True)
        self._runner: Optional[web.AppRunner] = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def case_url(self, case: Case) -> str:
        return f"{self.url}/case/{CASES.index(case)}"

    # -- lifecycle ------------------------------------------------------------------

    def start(self) -> LiveServer:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the live server did not start")
        return self

    def stop(self) -> None:
        for stall in self.stalls.values():
            stall.set()
        for gate in self.gates.values():
            for event in gate.release:
                event.set()
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._startup())
        self._ready.set()
        self._loop.run_forever()

    async def _startup(self) -> None:
        app = web.Application()
        app.router.add_post("/case/{index}" + SUBMIT, self._case)
        # The same answer to every other request under the case's site (the
        # nonce cases send start_session and fetch pages too).
        app.router.add_route("*", "/case/{index}/{rest:.*}", self._case)
        app.router.add_post("/gate/{name}" + SUBMIT, self._gate)
        app.router.add_post("/endless/{name}" + SUBMIT, self._endless)
        app.router.add_post("/stall/{name}" + SUBMIT, self._stall)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def _shutdown(self) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    # -- handlers -------------------------------------------------------------------

    async def _record(self, request: web.Request) -> None:
        self.seen.append(
            Seen(request.path, dict(request.headers), await request.read(), request.host)
        )

    async def _case(self, request: web.Request) -> web.StreamResponse:
        await self._record(request)
        case = CASES[int(request.match_info["index"])]
        headers = dict(case.headers)
        headers["Set-Cookie"] = "mwai_session_id=6b0506648288a; path=/; HttpOnly"
        response = web.StreamResponse(status=case.status, headers=headers)
        is_stream = case.body.lstrip()[:5] == b"data:" or "event-stream" in case.content_type
        pieces = _stream_pieces(case.body) if is_stream else _halves(case.body)
        if case.gzip:
            pieces = _gzip_pieces(pieces)
        if is_stream:
            response.enable_chunked_encoding()
        else:
            response.content_length = sum(len(p) for p in pieces)
        await response.prepare(request)
        try:
            for piece in pieces:
                await response.write(piece)
                await asyncio.sleep(PAUSE)
            await response.write_eof()
        except ConnectionError:
            pass  # the client stopped reading early, as it may (data after ``end``)
        return response

    async def _gate(self, request: web.Request) -> web.StreamResponse:
        await self._record(request)
        gate = self.gates[request.match_info["name"]]
        response = await _sse_response(request)
        loop = asyncio.get_running_loop()
        for token, release in zip(gate.tokens, gate.release):
            gate.written += 1  # counted before the bytes leave
            await response.write(frames(live(token)))
            # Wait for the test to say it holds this token; a client that needs
            # more bytes before yielding it would keep us here until the timeout.
            if not await loop.run_in_executor(None, release.wait, 10):
                break
        await response.write(frames(end("".join(gate.tokens))))
        await response.write_eof()
        return response

    async def _endless(self, request: web.Request) -> web.StreamResponse:
        await self._record(request)
        gone = self.disconnected.setdefault(request.match_info["name"], threading.Event())
        response = await _sse_response(request)
        finished = False
        try:
            for i in range(4000):
                await response.write(frames(live(f"t{i} ")))
                await asyncio.sleep(0.005)
            finished = True
        except (ConnectionError, RuntimeError):
            pass  # the write found the connection closed
        finally:
            if not finished:  # ... or aiohttp cancelled us when the peer left
                gone.set()
        return response

    async def _stall(self, request: web.Request) -> web.StreamResponse:
        await self._record(request)
        release = self.stalls.setdefault(request.match_info["name"], threading.Event())
        response = await _sse_response(request)
        await response.write(frames(live("first")))
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, release.wait, 15)
        return response


async def _sse_response(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream;charset=UTF-8",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        }
    )
    response.enable_chunked_encoding()
    await response.prepare(request)
    return response


def _halves(body: bytes) -> List[bytes]:
    middle = len(body) // 2
    return [p for p in (body[:middle], body[middle:]) if p]


def _stream_pieces(body: bytes) -> List[bytes]:
    """Every frame cut in two, as PHP's two flushes (``data: {...}`` then ``\\n\\n``) do."""
    pieces: List[bytes] = []
    for frame in body.split(b"\n\n"):
        pieces.extend(_halves(frame))
        pieces.append(b"\n\n")
    pieces[-1:] = []  # split() added one separator too many
    return [p for p in pieces if p]


def _gzip_pieces(pieces: List[bytes]) -> List[bytes]:
    compressor = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    out = [compressor.compress(p) + compressor.flush(zlib.Z_SYNC_FLUSH) for p in pieces]
    out.append(compressor.flush())
    return [p for p in out if p]
