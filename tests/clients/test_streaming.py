"""What only a socket shows: tokens as they arrive, early exit, timeouts, sessions.

Every test runs both front ends (``twin`` is parametrized; twin.py hides the
``await``), against the real server of ``live_server.py`` or the raw socket
server of ``fault_server.py``, whose handlers here write every byte.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
from typing import List, Optional, Tuple

import aiohttp
import pytest
import requests
from support.cases import CASES
from support.fault_server import (
    BOUND,
    Handler,
    LoopbackServer,
    Request,
    Writer,
    live,
    refused_port,
    response_head,
)
from support.live_server import Gate, LiveServer
from support.twin import MESSAGES, Twin, both

from opchatgpts_compat import (
    AsyncClient,
    Client,
    EventTooLargeError,
    IncompleteStreamError,
    Opchatgpts,
    Stream,
    StreamTimeoutError,
    TransportError,
)

BASIC = next(c for c in CASES if c.id == "wire/live-end-basic.sse")


# -- a token reaches the caller before the server writes the next one ---------------


def close_delimited(gate: Gate) -> Handler:
    """An answer with neither chunked framing nor Content-Length, its tokens
    gated like ``/gate`` (where ``iter_content`` would wait for the end of the
    body); the server then closes the connection."""

    async def handle(request: Request, writer: Writer) -> bool:
        await writer.write(
            response_head(
                "200 OK",
                [("Content-Type", "text/event-stream;charset=UTF-8"), ("Connection", "close")],
            )
        )
        loop = asyncio.get_running_loop()
        for token, release in zip(gate.tokens, gate.release):
            gate.written += 1  # counted before the bytes leave
            await writer.write(live(token))
            if not await loop.run_in_executor(None, release.wait, BOUND):
                break
        await writer.write(b'data: {"type":"end","data":"{}"}\n\n')
        return False

    return handle


@both
@pytest.mark.parametrize("framing", ["chunked", "close-delimited"])
async def test_each_token_reaches_the_caller_before_the_next_is_written(
    twin: Twin, framing: str, live_server: LiveServer
) -> None:
    tokens = ["One", " two", " three"]
    gate = Gate(tokens)
    raw: Optional[LoopbackServer] = None
    if framing == "chunked":
        name = f"gate-{twin}"
        live_server.gates[name] = gate
        url = f"{live_server.url}/gate/{name}"
    else:
        raw = LoopbackServer(close_delimited(gate)).start()
        url = raw.base_url
    client = twin.client(url)
    try:
        stream = client.stream(MESSAGES)
        for index, token in enumerate(tokens):
            assert await twin.next(stream) == token
            # The server is parked right after writing this token.
            assert gate.written == index + 1
            gate.release[index].set()
        assert await twin.drain(stream) == []
        assert stream.reply is not None
    finally:
        await twin.close(client)
        if raw is not None:
            raw.stop()


# -- leaving early closes the connection at once --------------------------------------


async def seen(event: threading.Event) -> bool:
    """Wait for the server's event without blocking this loop (it has closing to do)."""
    return await asyncio.get_running_loop().run_in_executor(None, event.wait, 10)


def endless(live_server: LiveServer, name: str) -> Tuple[str, threading.Event]:
    gone = live_server.disconnected.setdefault(name, threading.Event())
    return f"{live_server.url}/endless/{name}", gone


@both
@pytest.mark.parametrize("how", ["break", "close", "exception", "gc", "context"])
async def test_leaving_early_closes_the_connection(
    twin: Twin, how: str, live_server: LiveServer
) -> None:
    url, gone = endless(live_server, f"exit-{how}-{twin}")
    client = twin.client(url)
    try:
        stream = client.stream(MESSAGES)
        if how == "break":
            if isinstance(stream, Stream):
                for chunk in stream:
                    if chunk == "t2 ":
                        break
            else:
                async for chunk in stream:
                    if chunk == "t2 ":
                        break
            del stream
        elif how == "close":
            await twin.next(stream)
            await twin.close(stream)
        elif how == "exception":
            with pytest.raises(ZeroDivisionError):
                if isinstance(stream, Stream):
                    with stream:
                        for _ in stream:
                            1 / 0  # noqa: B018
                else:
                    async with stream:
                        async for _ in stream:
                            1 / 0  # noqa: B018
        elif how == "gc":
            await twin.next(stream)
            del stream
            gc.collect()
        elif how == "context":
            if isinstance(stream, Stream):
                with stream:
                    next(stream)
            else:
                async with stream:
                    await stream.__anext__()
        assert await seen(gone), "the server never saw the connection close"
    finally:
        await twin.close(client)


def test_keyboard_interrupt_in_the_sync_iterator_closes(live_server: LiveServer) -> None:
    url, gone = endless(live_server, "ctrl-c")
    with Client(url) as client:
        stream = client.stream(MESSAGES)
        with pytest.raises(KeyboardInterrupt):
            for chunk in stream:
                if chunk == "t1 ":
                    raise KeyboardInterrupt
        stream.close()
        assert gone.wait(10)


async def test_cancelling_the_task_closes(live_server: LiveServer) -> None:
    url, gone = endless(live_server, "cancel")
    async with AsyncClient(url) as client:
        started = asyncio.Event()

        async def consume() -> None:
            async with client.stream(MESSAGES) as stream:
                async for _ in stream:
                    started.set()

        task = asyncio.ensure_future(consume())
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await seen(gone)


async def test_provider_generator_abandoned_by_break_closes(live_server: LiveServer) -> None:
    url, gone = endless(live_server, "provider-break")
    async for chunk in Opchatgpts.create_async_generator("m", MESSAGES, base_url=url):
        if chunk == "t1 ":
            break
    gc.collect()
    assert await seen(gone)


def test_provider_iterator_abandoned_closes(live_server: LiveServer) -> None:
    url, gone = endless(live_server, "provider-sync-break")
    for chunk in Opchatgpts.create_completion("m", MESSAGES, base_url=url):
        if chunk == "t1 ":
            break
    gc.collect()
    assert gone.wait(10)


# -- timeouts -----------------------------------------------------------------------


@both
async def test_a_stalled_stream_times_out_with_what_arrived(
    twin: Twin, live_server: LiveServer
) -> None:
    name = f"stall-{twin}"
    client = twin.client(f"{live_server.url}/stall/{name}", timeout=0.5)
    stream = client.stream(MESSAGES)
    try:
        assert await twin.next(stream) == "first"
        with pytest.raises(StreamTimeoutError) as info:
            await twin.drain(stream)
    finally:
        live_server.stalls[name].set()
        await twin.close(client)
    error = info.value
    assert str(error) == f"No new bytes from {live_server.url} for 0.5 s"
    assert error.partial == "first"
    assert isinstance(error, TransportError)
    assert error.__cause__ is not None


@both
async def test_connection_refused(twin: Twin) -> None:
    with refused_port() as port:
        client = twin.client(f"http://127.0.0.1:{port}")
        try:
            with pytest.raises(TransportError) as info:
                await twin.drain(client.stream(MESSAGES))
        finally:
            await twin.close(client)
    assert type(info.value) is TransportError
    assert str(info.value) == (
        f"Cannot connect to http://127.0.0.1:{port}: "
        "connection refused (nothing listens on that port)"
    )
    assert info.value.__cause__ is not None


@both
async def test_a_cut_connection_is_an_incomplete_stream(twin: Twin) -> None:
    async def handle(request: Request, writer: Writer) -> bool:
        await writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
            b'24\r\ndata: {"type":"live","data":"Hello"}\r\n2\r\n\n\n\r\n'
            b"10\r\ndata: {"  # a chunk announced, then the socket closes
        )
        return False

    server = LoopbackServer(handle).start()
    client = twin.client(server.base_url)
    try:
        stream = client.stream(MESSAGES)
        assert await twin.next(stream) == "Hello"
        with pytest.raises(IncompleteStreamError) as info:
            await twin.drain(stream)
    finally:
        await twin.close(client)
        server.stop()
    assert str(info.value) == f"The connection to {server.base_url} was lost before the end frame"
    assert info.value.partial == "Hello"
    assert info.value.__cause__ is not None


# -- sessions, proxies, event loops, the provider -------------------------------------


def test_a_borrowed_requests_session_is_used_and_left_open(live_server: LiveServer) -> None:
    session = requests.Session()
    url = live_server.case_url(BASIC)
    with Client(url, session=session) as client:
        client.complete(MESSAGES)
        client.complete(MESSAGES)
    assert "mwai_session_id=6b0506648288a" in live_server.seen[-1].headers.get("Cookie", "")
    with Client(url, session=session) as client:  # still usable after the client closed
        assert client.complete(MESSAGES).text == BASIC.text
    session.close()


def test_a_borrowed_sessions_response_hooks_still_run(live_server: LiveServer) -> None:
    # The client passes a hook of its own per request, and requests lets a
    # request's hooks replace the session's: the caller's must be kept.
    seen: List[int] = []
    session = requests.Session()
    session.hooks["response"].append(lambda response, **_: seen.append(response.status_code))
    with Client(live_server.case_url(BASIC), session=session) as client:
        assert client.complete(MESSAGES).text == BASIC.text
    session.hooks["response"] = lambda response, **_: seen.append(-response.status_code)
    with Client(live_server.case_url(BASIC), session=session) as client:
        client.complete(MESSAGES)
    session.close()
    assert seen == [200, -200]


async def test_a_borrowed_aiohttp_session_is_used_and_left_open(live_server: LiveServer) -> None:
    url = live_server.case_url(BASIC)
    # unsafe=True: aiohttp's default jar drops cookies of hosts named by IP address.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        async with AsyncClient(url, session=session) as client:
            await client.complete(MESSAGES)
            await client.complete(MESSAGES)
        assert "mwai_session_id=6b0506648288a" in live_server.seen[-1].headers.get("Cookie", "")
        assert not session.closed
        async with AsyncClient(url, session=session) as client:
            assert (await client.complete(MESSAGES)).text == BASIC.text


@both
async def test_through_an_http_proxy_with_credentials(twin: Twin, live_server: LiveServer) -> None:
    # For an http:// site a proxy gets the absolute URL; the live server plays
    # the proxy and answers for the site itself.
    index = CASES.index(BASIC)
    proxy = f"http://user:hunter2@127.0.0.1:{live_server.port}"
    client = twin.client(f"http://chat.example/case/{index}", proxy=proxy)
    try:
        assert await twin.drain(client.stream(MESSAGES)) == list(BASIC.chunks)
        assert "hunter2" not in repr(client)
    finally:
        await twin.close(client)
    seen = live_server.seen[-1]
    assert seen.host == "chat.example"
    assert seen.headers["Proxy-Authorization"] == "Basic dXNlcjpodW50ZXIy"


async def test_the_sync_client_works_inside_a_running_event_loop(
    live_server: LiveServer,
) -> None:
    # A Jupyter cell runs inside the kernel's loop: the sync path must not need one.
    asyncio.get_running_loop()
    with Client(live_server.case_url(BASIC)) as client:
        assert client.complete(MESSAGES).text == BASIC.text
        assert list(client.stream(MESSAGES)) == list(BASIC.chunks)
    assert list(
        Opchatgpts.create_completion("m", MESSAGES, base_url=live_server.case_url(BASIC))
    ) == list(BASIC.chunks)


async def test_the_provider_in_every_form(live_server: LiveServer) -> None:
    url = live_server.case_url(BASIC)
    expected = list(BASIC.chunks)
    assert [c async for c in Opchatgpts.create_async_generator("m", MESSAGES, base_url=url)] == (
        expected
    )
    generator = await Opchatgpts.create_async_generator("m", MESSAGES, base_url=url)
    assert [c async for c in generator] == expected
    assert await Opchatgpts.create_async("m", MESSAGES, base_url=url) == BASIC.text
    assert list(Opchatgpts.create_completion("m", MESSAGES, base_url=url)) == expected
    whole = Opchatgpts.create_completion("m", MESSAGES, stream=False, base_url=url)
    assert list(whole) == [BASIC.text]
    assert Opchatgpts.url == "https://opchatgpts.net"
    assert Opchatgpts.working is False
    assert Opchatgpts.supports_message_history is True
    assert Opchatgpts.supports_gpt_35_turbo is True
    assert Opchatgpts.supports_stream is True
    assert Opchatgpts.needs_auth is False


@both
async def test_cookies_are_kept_between_calls(twin: Twin, live_server: LiveServer) -> None:
    client = twin.client(live_server.case_url(BASIC))
    try:
        await twin.drain(client.stream(MESSAGES))
        assert "Cookie" not in live_server.seen[-1].headers
        await twin.drain(client.stream(MESSAGES))
        assert live_server.seen[-1].headers["Cookie"] == "mwai_session_id=6b0506648288a"
    finally:
        await twin.close(client)


@both
async def test_reply_and_chat_id_on_the_stream(twin: Twin, live_server: LiveServer) -> None:
    client = twin.client(live_server.case_url(BASIC), chat_id="fixchat01")
    try:
        stream = client.stream(MESSAGES)
        assert stream.reply is None
        assert stream.chat_id == "fixchat01"
        await twin.drain(stream)
        assert stream.reply is not None
        assert stream.reply.text == BASIC.text
        assert stream.reply.raw["success"] is True
    finally:
        await twin.close(client)
    assert live_server.seen[-1].json["chatId"] == "fixchat01"


@both
async def test_no_secret_reaches_the_logs(
    twin: Twin, live_server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    index = CASES.index(BASIC)
    client = twin.client(
        f"http://chat.example/case/{index}",
        proxy=f"http://user:hunter2@127.0.0.1:{live_server.port}",
        nonce="a41f0c7e92",
    )
    try:
        await twin.drain(client.stream(MESSAGES))
    finally:
        await twin.close(client)
    ours = [r for r in caplog.records if r.name.startswith("opchatgpts_compat")]
    assert ours, "the library logs its requests at DEBUG"
    for record in ours:
        text = record.getMessage()
        assert "hunter2" not in text and "a41f0c7e92" not in text


@both
async def test_an_event_past_max_event_size_fails_after_the_chunks_before_it(
    twin: Twin, live_server: LiveServer
) -> None:
    big = next(c for c in CASES if c.id == "a 20 KB token")
    client = twin.client(live_server.case_url(big), max_event_size=4096)
    chunks: List[str] = []
    try:
        stream = client.stream(MESSAGES)
        with pytest.raises(EventTooLargeError) as info:
            if isinstance(stream, Stream):
                for chunk in stream:
                    chunks.append(chunk)
            else:
                async for chunk in stream:
                    chunks.append(chunk)
    finally:
        await twin.close(client)
    assert chunks == ["a"]
    assert str(info.value) == "An event grew past max_event_size (4096 bytes)"
    assert info.value.partial == "a"
    assert isinstance(info.value, IncompleteStreamError)
