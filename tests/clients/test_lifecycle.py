"""Early exit, timeouts, leaks and load, for both front ends, on real sockets.

The server holds every stream open after its tokens (``Stall``), so only the
client can close it: each test asserts that the server saw the close while
the client object was still open.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import re
import signal
import socket
import sys
import threading
from typing import Any, Iterator, List

import aiohttp.client_proto
import pytest
from support.fault_server import Pause, Request, Script, ServerThread, Stall, end_frame, live
from support.twin import BOTH, MESSAGES, Twin

from opchatgpts_compat import AsyncClient, Client, StreamTimeoutError, _aiohttp_glue

HELD = Script(body=[live("a"), live("b"), Stall()])


@pytest.fixture(scope="module")
def server() -> Iterator[Any]:
    with ServerThread() as server:
        yield server


@pytest.fixture(params=BOTH, ids=str)
def twin(request: pytest.FixtureRequest) -> Twin:
    return request.param  # type: ignore[no-any-return]


def rname(request: Any) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "-", request.node.name)


def route(server: Any, request: pytest.FixtureRequest, script: Script = HELD) -> str:
    return server.route(rname(request), script)  # type: ignore[no-any-return]


async def assert_released(server: Any, twin: Twin, name: str) -> None:
    (conn,) = server.connections_for(name)
    assert await twin.wait(conn.wait_gone)
    assert conn.closed_by_client
    assert conn.closed_during == "stall"


# -- early exit -------------------------------------------------------------------


async def test_break_in_with_block(server: Any, twin: Twin, request: Any) -> None:
    client = twin.client(route(server, request))
    if twin.is_async:
        async with client.stream(MESSAGES) as chunks:
            async for _ in chunks:
                break
    else:
        with client.stream(MESSAGES) as chunks:
            for _ in chunks:
                break
    await assert_released(server, twin, rname(request))
    await twin.close(client)


async def test_break_without_with(server: Any, twin: Twin, request: Any) -> None:
    client = twin.client(route(server, request))
    if twin.is_async:
        async for _ in client.stream(MESSAGES):
            break
    else:
        for _ in client.stream(MESSAGES):
            break
    await assert_released(server, twin, rname(request))  # refcount: freed at once
    await twin.close(client)


async def test_close(server: Any, twin: Twin, request: Any) -> None:
    client = twin.client(route(server, request))
    chunks = client.stream(MESSAGES)
    assert await twin.next(chunks) == "a"
    await twin.close(chunks)
    await assert_released(server, twin, rname(request))
    await twin.close(chunks)  # twice is fine
    assert "done" in repr(chunks)
    await twin.close(client)


async def test_sync_close_of_async_stream(server: Any, request: Any) -> None:
    client = AsyncClient(route(server, request))
    chunks = client.stream(MESSAGES)
    assert await chunks.__anext__() == "a"
    chunks.close()  # no await: what __del__ does
    await assert_released(server, Twin("async"), rname(request))
    await client.aclose()


async def test_exception_in_the_loop(server: Any, twin: Twin, request: Any) -> None:
    client = twin.client(route(server, request))
    with pytest.raises(ZeroDivisionError):
        if twin.is_async:
            async with client.stream(MESSAGES) as chunks:
                async for _ in chunks:
                    1 / 0  # noqa: B018
        else:
            with client.stream(MESSAGES) as chunks:
                for _ in chunks:
                    1 / 0  # noqa: B018
    await assert_released(server, twin, rname(request))
    await twin.close(client)


async def test_exception_in_a_bare_loop(server: Any, twin: Twin, request: Any) -> None:
    client = twin.client(route(server, request))
    try:
        if twin.is_async:
            async for _ in client.stream(MESSAGES):
                raise KeyError("caller")
        else:
            for _ in client.stream(MESSAGES):
                raise KeyError("caller")
    except KeyError as exc:
        assert exc.args == ("caller",)
    await assert_released(server, twin, rname(request))
    await twin.close(client)


async def test_garbage_collection(server: Any, twin: Twin, request: Any) -> None:
    client = twin.client(route(server, request))
    chunks: Any = client.stream(MESSAGES)
    assert await twin.next(chunks) == "a"
    cycle: List[Any] = [chunks]
    cycle.append(cycle)  # only the cycle collector can free it
    del chunks, cycle
    gc.collect()
    await assert_released(server, twin, rname(request))
    await twin.close(client)


async def test_task_cancellation(server: Any, request: Any) -> None:
    await cancel_while_reading(server, request)


async def cancel_while_reading(server: Any, request: Any) -> None:
    """Cancel a task that waits for the next token: the cancel goes through as
    itself, and the connection is closed."""
    client = AsyncClient(route(server, request))
    got: List[str] = []

    async def read() -> None:
        async with client.stream(MESSAGES) as chunks:
            async for chunk in chunks:
                got.append(chunk)

    task = asyncio.ensure_future(read())
    await asyncio.to_thread(_wait_for_connection, server, rname(request))
    while len(got) < 2:  # both tokens read: the task now waits on the stall
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await assert_released(server, Twin("async"), rname(request))
    await client.aclose()


def _wait_for_connection(server: Any, name: str) -> List[Any]:
    for _ in range(1000):
        conns = server.connections_for(name)
        if conns:
            return conns  # type: ignore[no-any-return]
        threading.Event().wait(0.01)
    raise AssertionError("no connection")


def _blocked_in_poll(thread_id: int) -> bool:
    # /proc/<pid>/task/<tid>/syscall: the number of the system call the thread
    # sleeps in; a socket with a timeout waits in poll (7) on x86_64.
    with open(f"/proc/self/task/{thread_id}/syscall") as f:
        return f.read().split()[0] in ("7", "271")  # poll, ppoll


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or os.uname().machine != "x86_64",
    reason="finds the blocked system call through /proc (Linux x86_64)",
)
@pytest.mark.parametrize("where", ["after-tokens", "before-status"])
def test_keyboard_interrupt_in_the_sync_iterator(server: Any, request: Any, where: str) -> None:
    # A plain test function: under a running asyncio.Runner, SIGINT cancels
    # the main task instead of raising KeyboardInterrupt.  Python installs its
    # handler only when SIGINT is not ignored at startup, and a shell ignores
    # it for the commands it starts in the background: install it here.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    request.addfinalizer(lambda: signal.signal(signal.SIGINT, previous))
    script = HELD if where == "after-tokens" else Script(before_head=Stall())
    client = Client(route(server, request, script))
    chunks = client.stream(MESSAGES)
    if where == "after-tokens":
        assert next(chunks) == "a"
        assert next(chunks) == "b"
    main = threading.get_native_id()
    main_ident = threading.get_ident()
    stop = threading.Event()

    def interrupt() -> None:
        # Only once the main thread sleeps in poll() inside next(): the
        # KeyboardInterrupt then surely comes from within the iterator.
        while not stop.is_set():
            if _blocked_in_poll(main):
                signal.pthread_kill(main_ident, signal.SIGINT)
                return
            stop.wait(0.001)

    thread = threading.Thread(target=interrupt)
    thread.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            next(chunks)
    finally:
        stop.set()
        thread.join()
    # Before the status line the server may not have read the request yet.
    (conn,) = _wait_for_connection(server, rname(request))
    assert conn.wait_gone()
    assert conn.closed_by_client
    assert conn.closed_during == ("stall" if where == "after-tokens" else "head")
    assert list(chunks) == []  # closed: iteration is over
    client.close()


async def test_client_still_works_after_early_exits(server: Any, twin: Twin, request: Any) -> None:
    held = server.route(rname(request) + "-held", HELD)
    good = server.route(rname(request), Script(body=[live("x"), end_frame(None)]))
    client = twin.client(held)
    for _ in range(5):
        chunks = client.stream(MESSAGES)
        assert await twin.next(chunks) == "a"
        await twin.close(chunks)
    await twin.close(client)
    outcome = await twin.run(good)
    assert outcome.chunks == ["x"]


# -- timeouts -----------------------------------------------------------------------


@pytest.fixture
def unaccepting() -> Iterator[str]:
    """A listening socket that never accepts, its one-slot backlog full:
    the next SYN is dropped, so connecting stalls (only 127.0.0.1)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    address = listener.getsockname()
    fillers = []
    try:
        for _ in range(8):
            filler = socket.socket()
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(address)
            fillers.append(filler)
        yield f"http://127.0.0.1:{address[1]}"
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


async def test_stalled_connect_times_out(twin: Twin, unaccepting: str) -> None:
    outcome = await twin.run(unaccepting, timeout=0.5)
    error = outcome.error
    assert type(error) is StreamTimeoutError
    assert str(error) == f"Connecting to {unaccepting} took more than 0.5 s"
    assert error.__cause__ is not None
    assert error.partial == ""


#: 20 tokens 0.02 s apart: 0.42 s in all, longer than a 0.25 s timeout, but no
#: gap comes near it.
TRICKLE = Script(
    body=[part for i in range(20) for part in (live(f"{i},"), Pause(0.02))]
    + [Pause(0.02), end_frame(None)]
)


async def test_a_steady_trickle_is_not_a_timeout(server: Any, twin: Twin, request: Any) -> None:
    outcome = await twin.run(route(server, request, TRICKLE), timeout=0.25)
    assert outcome.error is None
    assert outcome.chunks == [f"{i}," for i in range(20)]


# -- how the asyncio front end bounds a read ----------------------------------------


def _no_timer(self: Any) -> None:
    pass


@pytest.fixture(params=["asyncio.timeout", "wait_for"])
def read_wait(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The asyncio front end bounds each read with ``asyncio.timeout`` (Python
    3.11+), else with ``asyncio.wait_for``: both are run, where they exist."""
    if request.param == "wait_for":
        monkeypatch.setattr(_aiohttp_glue, "_timeout", None)
    elif _aiohttp_glue._timeout is None:
        pytest.skip("asyncio.timeout is new in Python 3.11")
    return request.param  # type: ignore[no-any-return]


async def test_an_async_read_is_bounded_either_way(
    server: Any, request: Any, read_wait: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # aiohttp's own read timer off: the bound must be the front end's own.
    monkeypatch.setattr(aiohttp.client_proto.ResponseHandler, "_reschedule_timeout", _no_timer)
    twin = Twin("async")
    # The outer bound only turns a wait that was not bounded into a failure.
    outcome = await asyncio.wait_for(twin.run(route(server, request), timeout=0.3), 10)
    assert type(outcome.error) is StreamTimeoutError
    assert outcome.error.partial == "ab"
    assert outcome.chunks == ["a", "b"]
    await assert_released(server, twin, rname(request))


async def test_an_async_trickle_is_not_a_timeout_either_way(
    server: Any, request: Any, read_wait: str
) -> None:
    outcome = await Twin("async").run(route(server, request, TRICKLE), timeout=0.25)
    assert outcome.error is None
    assert outcome.chunks == [f"{i}," for i in range(20)]


async def test_a_cancelled_async_read_is_not_a_timeout_either_way(
    server: Any, request: Any, read_wait: str
) -> None:
    await cancel_while_reading(server, request)


# -- descriptors ------------------------------------------------------------------


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def streams_in_a_row(server: Any, twin: Twin, name: str, count: int) -> None:
    base_url = server.route(name, Script(body=[live("a"), live("b"), end_frame(None)]))
    assert await twin.wait(server.wait_idle)
    gc.collect()
    before = open_fds()
    client = twin.client(base_url)
    for _ in range(count):
        outcome = await twin.collect(client.stream(MESSAGES))
        assert outcome.chunks == ["a", "b"], outcome.error
    during = open_fds()
    await twin.close(client)
    if twin.is_async:
        await asyncio.sleep(0)  # aiohttp closes transports on the loop's next turn
    assert await twin.wait(server.wait_idle)
    gc.collect()
    after = open_fds()
    print(f"{twin}: {count} streams, fds before {before}, during {during}, after {after}")
    # During: at most a pooled connection (two descriptors here: both ends are
    # in this process) and aiohttp's resolver; after: exactly as before.
    assert during <= before + 4
    assert after == before
    assert sum(len(c.requests) for c in server.connections_for(name)) == count


async def test_500_streams_leave_no_descriptor(server: Any, twin: Twin, request: Any) -> None:
    await streams_in_a_row(server, twin, rname(request), 500)


@pytest.mark.slow
async def test_10000_streams_leave_no_descriptor(server: Any, twin: Twin, request: Any) -> None:
    await streams_in_a_row(server, twin, rname(request), 10_000)


async def test_early_exits_leave_no_descriptor(server: Any, twin: Twin, request: Any) -> None:
    base_url = route(server, request)
    assert await twin.wait(server.wait_idle)
    before = open_fds()
    client = twin.client(base_url)
    for i in range(200):
        chunks = client.stream(MESSAGES)
        assert await twin.next(chunks) == "a"
        if i % 2:
            await twin.close(chunks)
        else:
            del chunks  # garbage collection
    await twin.close(client)
    assert await twin.wait(server.wait_idle)
    assert open_fds() == before


# -- load ---------------------------------------------------------------------------

TOKENS_PER_STREAM = 40


def echo(request: Request) -> Script:
    """Tokens that name their stream, so order and mix-ups show."""
    name = request.json()["newMessage"]
    body: List[Any] = []
    for k in range(TOKENS_PER_STREAM):
        body.append(live(f"{name}:{k} "))
        if k % 10 == 9:
            body.append(Pause(0))  # let other connections interleave
    body.append(end_frame(None))
    return Script(body=body)


def expected(name: str) -> List[str]:
    return [f"{name}:{k} " for k in range(TOKENS_PER_STREAM)]


async def test_1000_concurrent_streams_through_one_async_client(server: Any, request: Any) -> None:
    base_url = server.route(rname(request), echo)
    async with AsyncClient(base_url, timeout=60) as client:

        async def one(i: int) -> List[str]:
            got = []
            async with client.stream([{"role": "user", "content": f"s{i}"}]) as chunks:
                async for chunk in chunks:
                    got.append(chunk)
            assert chunks.reply is not None
            return got

        results = await asyncio.gather(*(one(i) for i in range(1000)))
    for i, got in enumerate(results):
        assert got == expected(f"s{i}")
    print(f"async: 1000 streams, {sum(map(len, results))} tokens, all in order")
    assert await asyncio.to_thread(server.wait_idle)


async def test_32_threads_share_one_client(server: Any, request: Any) -> None:
    base_url = server.route(rname(request), echo)
    per_thread = 20
    results: dict[str, List[str]] = {}
    errors: List[BaseException] = []
    with Client(base_url, timeout=60) as client:

        def work(t: int) -> None:
            try:
                for j in range(per_thread):
                    name = f"t{t}-{j}"
                    results[name] = list(client.stream([{"role": "user", "content": name}]))
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(t,)) for t in range(32)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []
    assert len(results) == 32 * per_thread
    for name, got in results.items():
        assert got == expected(name)
    print(f"sync: 32 threads, {len(results)} streams, {sum(map(len, results.values()))} tokens")
    assert server.wait_idle()


def test_threads_get_one_session() -> None:
    client = Client("http://127.0.0.1:9")
    barrier = threading.Barrier(32)
    sessions: List[Any] = []

    def get() -> None:
        barrier.wait()
        sessions.append(client._get_session())

    threads = [threading.Thread(target=get) for _ in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(sessions) == 32
    assert len({id(s) for s in sessions}) == 1
    client.close()
