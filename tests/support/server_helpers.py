"""Helpers for the server, CLI and notebook tests: the recorded fixtures, raw HTTP."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from opchatgpts_compat.server import CHATBOT_PAGE_ID

#: The answers recorded from real sites, carried in the repository (README.md there).
REAL = Path(__file__).resolve().parents[1] / "fixtures" / "real"

VERSIONS = {"2.0": "ai-engine-2.0.9", "3.6": "ai-engine-3.6.2"}
#: The nonces the recorded sites used.
NONCES = {"2.0": "f75546e6d2", "3.6": "cc3a529209"}
#: The start sentence's timestamp in the recorded requests.
TIMESTAMPS = {"2.0": 1795491467000, "3.6": 1795491428000}
#: What the fake upstream answered in the recordings.
TOKENS = ["Hello", " there", ",", " world"]
UNICODE_TOKENS = ["H\u00e9llo", " w\u00f6rld", " \U0001f30d", " a/b", ' "q"\n']

SUBMIT = "/wp-json/mwai-ui/v1/chats/submit"


def real(flavor: str, name: str) -> bytes:
    return (REAL / VERSIONS[flavor] / name).read_bytes()


def recorded_headers(flavor: str, name: str) -> Tuple[int, Dict[str, str]]:
    """The status and headers of a recorded answer (names lower-cased)."""
    lines = real(flavor, f"{name}.headers").decode().split("\r\n")
    status = int(lines[0].split()[1])
    headers: Dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name_, _, value = line.partition(": ")
            headers[name_.lower()] = value
    return status, headers


def recorded_request(
    flavor: str, new_message: str = "Hi", *, stream: bool = True, **over: Any
) -> bytes:
    """A request body exactly as the recordings sent it (README.md of fixtures/real)."""
    body: Dict[str, Any] = {
        "botId": "default",
        "customId": None,
        "session": "N/A",
        "chatId": "fixchat01",
        "contextId": CHATBOT_PAGE_ID,
        "messages": [
            {
                "id": "m0start1",
                "role": "assistant",
                "content": "Hi! How can I help you?",
                "who": "AI: ",
                "timestamp": TIMESTAMPS[flavor],
            }
        ],
        "newMessage": new_message,
        "newFileId": None,
        "newFileIds": None,
        "stream": stream,
    }
    body.update(over)
    return json.dumps(body, separators=(",", ":")).encode()


class RawAnswer:
    def __init__(self, head: bytes, body: bytes) -> None:
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1])
        self.header_list: List[Tuple[str, str]] = []
        for line in lines[1:]:
            name, _, value = line.partition(": ")
            self.header_list.append((name.lower(), value))
        self.headers = dict(self.header_list)
        #: The body as sent: chunk framing kept.
        self.raw_body = body

    @property
    def chunks(self) -> List[bytes]:
        """The chunks' data, as sent (chunked answers only; extensions dropped)."""
        chunks, rest = [], self.raw_body
        while rest:
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                break
            chunks.append(rest[:size])
            rest = rest[size + 2 :]
        return chunks

    @property
    def body(self) -> bytes:
        """The body, transfer-decoded (chunk framing removed), as curl wrote it."""
        if self.headers.get("transfer-encoding") != "chunked":
            return self.raw_body
        return b"".join(self.chunks)

    def header(self, name: str) -> Optional[str]:
        """The last value of header ``name`` (lowercase), if any."""
        values = [value for key, value in self.header_list if key == name]
        return values[-1] if values else None


def raw_request(
    port: int,
    method: str,
    path: str,
    body: Optional[bytes] = None,
    headers: Optional[Dict[str, str]] = None,
    *,
    timeout: float = 10.0,
) -> RawAnswer:
    """One HTTP/1.1 request on a fresh socket, read to the close."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"]
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    data = ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        received = b""
        while True:
            piece = sock.recv(65536)
            if not piece:
                break
            received += piece
    head, _, rest = received.partition(b"\r\n\r\n")
    return RawAnswer(head, rest)
