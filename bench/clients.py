"""One benchmark client run, in a fresh process.

Usage: ``python bench/clients.py NAME BASE_URL SCENARIO [STREAMS]`` where
SCENARIO is the server's path prefix.  Prints one JSON line: the seconds from
sending the request to the last chunk, the chunks' count and bytes, whether
they were all right, and for ``stamp`` scenarios the latency of every token.
With STREAMS > 1 (async clients only) that many streams run at once on one
event loop, and the peak RSS is reported too.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import MESSAGES, decode, payload, reply_text, tokens

Result = Tuple[List[str], List[int], Optional[str]]  # chunks, arrival ns, reply

ENDPOINT = "/wp-json/mwai-ui/v1/chats/submit"
HEADERS = {"Content-Type": "application/json", "Accept": "text/event-stream"}


# -- the contestants: each streams one answer and returns (chunks, stamps, reply) --


def ours_sync(base: str, stamp: bool) -> Result:
    from opchatgpts_compat import Client

    got: List[str] = []
    when: List[int] = []
    now = time.monotonic_ns
    with Client(base_url=base) as client, client.stream(MESSAGES) as chunks:
        if stamp:
            for chunk in chunks:
                when.append(now())
                got.append(chunk)
        else:
            for chunk in chunks:
                got.append(chunk)
    return got, when, chunks.reply.text if chunks.reply else None


async def ours_async(base: str, stamp: bool, client: Any = None) -> Result:
    from opchatgpts_compat import AsyncClient

    got: List[str] = []
    when: List[int] = []
    now = time.monotonic_ns
    own = client is None
    if own:
        client = AsyncClient(base_url=base)
    try:
        async with client.stream(MESSAGES) as chunks:
            if stamp:
                async for chunk in chunks:
                    when.append(now())
                    got.append(chunk)
            else:
                async for chunk in chunks:
                    got.append(chunk)
    finally:
        if own:
            await client.aclose()
    return got, when, chunks.reply.text if chunks.reply else None


async def original(base: str, stamp: bool, client: Any = None) -> Result:
    """g4f's Opchatgpts.create_async_generator, its reading loop verbatim.

    https://github.com/xtekky/gpt4free g4f/Provider/deprecated/Opchatgpts.py:
    a ClientSession per call, ``async for line in response.content``,
    ``startswith(b"data: ")``, ``json.loads``; it stops at ``end`` and never
    reads the reply out of it.
    """
    from aiohttp import ClientSession

    got: List[str] = []
    when: List[int] = []
    now = time.monotonic_ns
    async with ClientSession(headers=HEADERS) as session:
        data = json.loads(payload())
        async with session.post(base + ENDPOINT, json=data) as response:
            response.raise_for_status()
            async for line in response.content:
                if line.startswith(b"data: "):
                    try:
                        line = json.loads(line[6:])  # noqa: PLW2901
                        assert "type" in line
                    except Exception as exc:
                        raise RuntimeError(f"Broken line: {line.decode()}") from exc
                    if line["type"] == "live":
                        if stamp:
                            when.append(now())
                        got.append(line["data"])
                    elif line["type"] == "end":
                        break
    return got, when, None


def requests_sseclient(base: str, stamp: bool) -> Result:
    """requests + sseclient-py as its README shows: ``SSEClient(response)``."""
    import requests
    import sseclient

    got: List[str] = []
    when: List[int] = []
    now = time.monotonic_ns
    reply = None
    with requests.Session() as session:
        response = session.post(base + ENDPOINT, data=payload(), headers=HEADERS, stream=True)
        for event in sseclient.SSEClient(response).events():
            frame = json.loads(event.data)
            if frame["type"] == "live":
                if stamp:
                    when.append(now())
                got.append(frame["data"])
            elif frame["type"] == "end":
                reply = json.loads(frame["data"])["reply"]
                break
        response.close()
    return got, when, reply


def httpx_sse_sync(base: str, stamp: bool) -> Result:
    import httpx
    from httpx_sse import connect_sse

    got: List[str] = []
    when: List[int] = []
    now = time.monotonic_ns
    reply = None
    with (
        httpx.Client(timeout=60) as client,
        connect_sse(client, "POST", base + ENDPOINT, content=payload(), headers=HEADERS) as source,
    ):
        for event in source.iter_sse():
            frame = json.loads(event.data)
            if frame["type"] == "live":
                if stamp:
                    when.append(now())
                got.append(frame["data"])
            elif frame["type"] == "end":
                reply = json.loads(frame["data"])["reply"]
                break
    return got, when, reply


async def httpx_sse_async(base: str, stamp: bool, client: Any = None) -> Result:
    import httpx
    from httpx_sse import aconnect_sse

    got: List[str] = []
    when: List[int] = []
    now = time.monotonic_ns
    reply = None
    own = client is None
    if own:
        client = httpx.AsyncClient(timeout=60)
    try:
        async with aconnect_sse(
            client, "POST", base + ENDPOINT, content=payload(), headers=HEADERS
        ) as source:
            async for event in source.aiter_sse():
                frame = json.loads(event.data)
                if frame["type"] == "live":
                    if stamp:
                        when.append(now())
                    got.append(frame["data"])
                elif frame["type"] == "end":
                    reply = json.loads(frame["data"])["reply"]
                    break
    finally:
        if own:
            await client.aclose()
    return got, when, reply


def limit(base: str, stamp: bool) -> Result:
    """No HTTP library: a socket, big reads, split on blank lines, json.loads.

    It speaks HTTP/1.0, so the server sends the frames without chunked framing
    and closes the connection at the end.
    """
    import socket

    host, _, rest = base.partition("://")[2].partition(":")
    port, _, prefix = rest.partition("/")
    body = payload()
    request = (
        f"POST /{prefix}{ENDPOINT} HTTP/1.0\r\nHost: {host}:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    got: List[str] = []
    when: List[int] = []
    now = time.monotonic_ns
    reply = None
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(request)
        buffer = b""
        while b"\r\n\r\n" not in buffer:
            buffer += sock.recv(1 << 20)
        buffer = buffer.partition(b"\r\n\r\n")[2]
        done = False
        while not done:
            blocks = buffer.split(b"\n\n")
            buffer = blocks.pop()
            for block in blocks:
                if block.startswith(b"data: "):
                    frame = json.loads(block[6:])
                    if frame["type"] == "live":
                        if stamp:
                            when.append(now())
                        got.append(frame["data"])
                    elif frame["type"] == "end":
                        reply = json.loads(frame["data"])["reply"]
                        done = True
                        break
            if not done:
                data = sock.recv(1 << 20)
                if not data:
                    break
                buffer += data
    return got, when, reply


SYNC: Dict[str, Callable[[str, bool], Result]] = {
    "ours-sync": ours_sync,
    "requests+sseclient": requests_sseclient,
    "httpx-sse-sync": httpx_sse_sync,
    "limit": limit,
}
ASYNC: Dict[str, Callable[..., Any]] = {
    "ours-async": ours_async,
    "original": original,
    "httpx-sse-async": httpx_sse_async,
}


async def _many(name: str, base: str, streams: int) -> List[Result]:
    run = ASYNC[name]
    client: Any = None
    if name == "ours-async":
        from opchatgpts_compat import AsyncClient

        client = AsyncClient(base_url=base)
    elif name == "httpx-sse-async":
        import httpx

        client = httpx.AsyncClient(timeout=60)
    try:
        return list(await asyncio.gather(*(run(base, False, client) for _ in range(streams))))
    finally:
        if client is not None:
            await client.aclose()


def _rss_kib() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() // 1024


def main() -> None:
    name, base, prefix = sys.argv[1:4]
    streams = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    params = decode(prefix.strip("/").split("/")[-1])
    stamp = bool(params["stamp"])
    url = base.rstrip("/") + prefix
    # Import the contestant's libraries before the clock starts.
    if name in ASYNC:
        import aiohttp  # noqa: F401

        if name == "ours-async":
            from opchatgpts_compat import AsyncClient  # noqa: F401
        if name == "httpx-sse-async":
            import httpx
            import httpx_sse
    elif name == "ours-sync":  # the package imports its front ends on first use
        from opchatgpts_compat import Client  # noqa: F401
    elif name == "requests+sseclient":
        import requests  # noqa: F401
        import sseclient  # noqa: F401
    elif name == "httpx-sse-sync":
        import httpx  # noqa: F401
        import httpx_sse  # noqa: F401
    out: Dict[str, Any] = {"client": name, "streams": streams}
    rss_before = _rss_kib()
    start = time.perf_counter()
    try:
        if streams > 1:
            results = asyncio.run(_many(name, url, streams))
        elif name in ASYNC:
            results = [asyncio.run(ASYNC[name](url, stamp))]
        else:
            results = [SYNC[name](url, stamp)]
    except Exception as exc:
        out.update(ok=False, error=f"{type(exc).__name__}: {str(exc)[:120]}")
        print(json.dumps(out))
        return
    out["seconds"] = time.perf_counter() - start
    out["rss_before_kib"] = rss_before
    out["rss_peak_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    want = None if stamp else tokens(params)
    want_reply = reply_text(params)
    ok = True
    count = size = 0
    for got, when, reply in results:
        count += len(got)
        size += sum(len(c.encode()) for c in got)
        if stamp:
            ok = ok and len(got) == int(params["n"])
            lat = [w - int(g) for g, w in zip(got, when)]
            out.setdefault("latency_ns", []).extend(lat)
        else:
            ok = ok and got == want
        if reply is not None:
            ok = ok and reply == want_reply
    out.update(ok=ok, chunks=count, bytes=size)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
