"""A small HTTP proxy for the tests, on asyncio streams: absolute-form and CONNECT.

``http://`` requests arrive in absolute form (``POST http://host:port/path``):
the proxy connects to the target, rewrites the request line to origin form,
drops ``Proxy-Authorization`` and pipes bytes both ways.  ``CONNECT host:port``
opens a tunnel (the client speaks TLS through it).  With ``credentials`` set,
a request without the right ``Proxy-Authorization: Basic ...`` gets 407.
Only 127.0.0.1 targets are allowed.  Every request line seen is recorded.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from dataclasses import dataclass
from typing import List, Optional, Tuple
from urllib.parse import urlsplit

__all__ = ["ProxyServer", "Seen"]


@dataclass
class Seen:
    method: str
    target: str
    authorized: bool


class ProxyServer:
    def __init__(self, credentials: Optional[Tuple[str, str]] = None) -> None:
        self.credentials = credentials
        self.seen: List[Seen] = []
        self.port = 0
        self._server: Optional[asyncio.AbstractServer] = None
        self._tasks: set[asyncio.Task[None]] = set()

    def url(self, user: Optional[str] = None, password: Optional[str] = None) -> str:
        auth = f"{user}:{password}@" if user is not None else ""
        return f"http://{auth}127.0.0.1:{self.port}"

    async def open(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self._server.wait_closed()

    def _authorized(self, headers: List[Tuple[str, str]]) -> bool:
        if self.credentials is None:
            return True
        token = base64.b64encode(":".join(self.credentials).encode()).decode()
        return any(
            name.lower() == "proxy-authorization" and value == f"Basic {token}"
            for name, value in headers
        )

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        upstream: Optional[asyncio.StreamWriter] = None
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, target, version = lines[0].split(" ", 2)
            headers = [tuple(x.strip() for x in line.split(":", 1)) for line in lines[1:] if line]
            authorized = self._authorized(headers)  # type: ignore[arg-type]
            self.seen.append(Seen(method, target, authorized))
            if not authorized:
                writer.write(
                    b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                    b'Proxy-Authenticate: Basic realm="tests"\r\n'
                    b"Content-Length: 0\r\nConnection: close\r\n\r\n"
                )
                await writer.drain()
                return
            if method == "CONNECT":
                host, _, port = target.rpartition(":")
                up_reader, upstream = await self._open(host, int(port))
                writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                await writer.drain()
            else:
                parts = urlsplit(target)
                up_reader, upstream = await self._open(parts.hostname or "", parts.port or 80)
                path = parts.path + (f"?{parts.query}" if parts.query else "")
                kept = [f"{n}: {v}" for n, v in headers if n.lower() != "proxy-authorization"]
                upstream.write(
                    "\r\n".join([f"{method} {path} {version}", *kept, "", ""]).encode("latin-1")
                )
            await asyncio.gather(_pipe(reader, upstream), _pipe(up_reader, writer))
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:
            pass
        finally:
            for w in (writer, upstream):
                if w is not None:
                    with contextlib.suppress(Exception):
                        w.close()
            self._tasks.discard(task)

    async def _open(
        self, host: str, port: int
    ) -> Tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if host not in ("127.0.0.1", "localhost"):
            raise ConnectionError(f"refusing to proxy to {host}")
        return await asyncio.open_connection("127.0.0.1", port)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        with contextlib.suppress(Exception):
            if writer.can_write_eof():
                writer.write_eof()
            else:
                writer.close()
