"""The answers recorded from real AI Engine 2.0.9 and 3.6.2 sites (fixtures/real/).

Read from ``tests/fixtures/real/`` (its README.md says how they were
taken).  :func:`replay` puts one back on the
wire byte for byte: the recorded status line and headers, then the body with
the chunk framing it had (re-framed one chunk per PHP flush, as
``*_rawchunked.body`` shows, when curl stored it transfer-decoded), or the
recorded ``recv()`` pieces of an ``.arrivals.tsv`` with their pauses.
"""

from __future__ import annotations

import ast
import asyncio
import re
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Tuple

from support.cases import REAL
from support.fault_server import Writer, chunk

VERSIONS = ("2.0.9", "3.6.2")
#: The nonce each site handed out (README.md), and the stale one sent in ``invalid_nonce``.
NONCES = {"2.0.9": "f75546e6d2", "3.6.2": "cc3a529209"}
STALE_NONCE = "0123456789"


@dataclass(frozen=True)
class Recorded:
    version: str
    name: str
    #: Status line and headers, CRLF line ends, ending with the empty line.
    head: bytes
    #: The body as curl stored it: transfer-decoded, not content-decoded.
    body: bytes
    #: ``(seconds after the request, bytes)`` per ``recv()``, when captured.
    arrivals: Optional[Tuple[Tuple[float, bytes], ...]] = None

    @property
    def status(self) -> int:
        return int(self.head.split(b" ", 2)[1])

    @property
    def chunked(self) -> bool:
        return b"\r\ntransfer-encoding: chunked\r\n" in self.head.lower()

    @property
    def keep_alive(self) -> bool:
        return b"\r\nconnection: close\r\n" not in self.head.lower()

    def wire(self) -> List[bytes]:
        """The response as written: the head, then the body one flush at a time."""
        if not self.chunked:
            return [self.head + self.body]
        if self.name.endswith("_rawchunked"):
            return [self.head, self.body]
        return [self.head, *frame_chunks(self.body), b"0\r\n\r\n"]


def frame_chunks(body: bytes) -> List[bytes]:
    """One chunk per PHP flush: each frame is ``data: {...}`` then ``\\n\\n``."""
    return [chunk(piece) for piece in re.split(rb"(\n\n)", body) if piece]


def load(version: str, name: str) -> Recorded:
    folder = REAL / f"ai-engine-{version}"
    head = (folder / f"{name}.headers").read_bytes()
    body_file = folder / f"{name}.body"
    if not body_file.exists():
        body_file = folder / f"{name}_chatbot_element.html"  # the page
    arrivals = None
    tsv = folder / f"{name}.arrivals.tsv"
    if tsv.exists():
        arrivals = tuple(_arrivals(tsv))
    return Recorded(version, name, head, body_file.read_bytes(), arrivals)


def _arrivals(tsv: Path) -> List[Tuple[float, bytes]]:
    pieces = []
    for line in tsv.read_text("ascii").splitlines():
        if not line or line.startswith("#"):
            continue
        offset, size, payload = line.split("\t", 2)
        data = ast.literal_eval(payload)
        assert isinstance(data, bytes) and len(data) == int(size), line
        pieces.append((float(offset) / 1000, data))
    return pieces


def names(version: str) -> List[str]:
    """The recorded answers of ``chats/submit`` (not the page, not start_session)."""
    folder = REAL / f"ai-engine-{version}"
    found = sorted(p.name[: -len(".headers")] for p in folder.glob("*.headers"))
    return [name for name in found if name not in ("page", "start_session")]


async def replay(recorded: Recorded, writer: Writer, *, arrivals: bool = False) -> bool:
    """Write ``recorded`` back; returns whether the connection may stay open."""
    if arrivals:
        assert recorded.arrivals is not None
        previous = recorded.arrivals[0][0]
        for offset, data in recorded.arrivals:
            await asyncio.sleep(offset - previous)
            previous = offset
            await writer.write(data)
        return False  # the captures say Connection: close
    for piece in recorded.wire():
        await writer.write(piece)
    return recorded.keep_alive
