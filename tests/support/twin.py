"""One test body for both front ends: a small helper hiding ``await``.

``Twin("sync")`` drives :class:`Client` (blocking calls made in place, inside
the test's running loop, as a Jupyter user would), ``Twin("async")`` drives
:class:`AsyncClient`.  Tests are ``async def`` and call ``await twin.run(...)``;
the servers live in their own thread, so blocking here does not stall them.
Parametrize a test over both with ``@both`` (it takes a ``twin`` argument) or
a fixture over ``BOTH``.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, List, Optional, Tuple, Union

import pytest

from opchatgpts_compat import AsyncClient, Client, OpchatgptsError, Reply
from opchatgpts_compat.core import StatusEvent

MESSAGES = [{"role": "user", "content": "Hi"}]


@dataclass
class Outcome:
    """What one stream gave: the chunks, then a reply or an error, and its status frames."""

    chunks: List[str] = field(default_factory=list)
    reply: Optional[Reply] = None
    error: Optional[OpchatgptsError] = None
    statuses: List[StatusEvent] = field(default_factory=list)
    #: ``time.monotonic()`` when each chunk reached the caller.
    times: List[float] = field(default_factory=list)

    def summary(self) -> Tuple[Any, ...]:
        """Comparable across front ends (class, message, partial; or chunks, text)."""
        if self.error is not None:
            partial = getattr(self.error, "partial", None)
            return ("error", type(self.error), str(self.error), partial, self.chunks)
        assert self.reply is not None
        return ("reply", self.chunks, self.reply.text)

    def expect_ok(self) -> Reply:
        if self.error is not None:
            raise AssertionError(f"unexpected {type(self.error).__name__}: {self.error}")
        assert self.reply is not None
        return self.reply


class Twin:
    def __init__(self, kind: str) -> None:
        assert kind in ("sync", "async"), kind
        self.kind = kind
        self.is_async = kind == "async"

    def __repr__(self) -> str:
        return self.kind

    def client(self, base_url: str, **options: Any) -> Union[Client, AsyncClient]:
        return AsyncClient(base_url, **options) if self.is_async else Client(base_url, **options)

    async def from_page(self, url: Any, **options: Any) -> Union[Client, AsyncClient]:
        if self.is_async:
            return await AsyncClient.from_page(url, **options)
        return Client.from_page(url, **options)

    async def close(self, obj: Any) -> None:
        """``close()`` a client or stream, ``aclose()`` the async ones."""
        if self.is_async:
            await obj.aclose()
        else:
            obj.close()

    async def next(self, stream: Any) -> str:
        if self.is_async:
            return await stream.__anext__()  # type: ignore[no-any-return]
        return next(stream)  # type: ignore[no-any-return]

    async def collect(self, stream: Any, *, closing: bool = False) -> Outcome:
        """Read ``stream`` to its end; never raises OpchatgptsError (it is recorded).

        Args:
            closing: read inside ``with stream`` (``async with``), which closes
                it whatever happens; without it, the stream must release its
                connection by itself.
        """
        out = Outcome()

        def take(chunk: str) -> None:
            out.chunks.append(chunk)
            out.times.append(time.monotonic())

        try:
            if self.is_async:
                if closing:
                    async with stream:
                        async for chunk in stream:
                            take(chunk)
                else:
                    async for chunk in stream:
                        take(chunk)
            elif closing:
                with stream:
                    for chunk in stream:
                        take(chunk)
            else:
                for chunk in stream:
                    take(chunk)
        except OpchatgptsError as exc:
            out.error = exc
        out.reply = stream.reply
        out.statuses = stream.statuses
        return out

    async def drain(self, stream: Any) -> List[str]:
        """The chunks of ``stream`` to its end; its OpchatgptsError is raised."""
        outcome = await self.collect(stream)
        if outcome.error is not None:
            raise outcome.error
        return outcome.chunks

    async def run(self, base_url: str, messages: Any = None, **options: Any) -> Outcome:
        """A fresh client, one stream read to its end, everything closed."""
        client = self.client(base_url, **options)
        try:
            return await self.collect(client.stream(MESSAGES if messages is None else messages))
        finally:
            await self.close(client)

    async def stream(self, source: Any, messages: Any = None, **options: Any) -> Outcome:
        """``source.stream(messages, **options)`` (a client or a conversation),
        read to its end (or its error) inside ``with``; the status frames
        passed to ``on_status`` must be the stream's own."""
        reported: List[StatusEvent] = []
        stream = source.stream(
            MESSAGES if messages is None else messages, on_status=reported.append, **options
        )
        outcome = await self.collect(stream, closing=True)
        assert outcome.statuses == reported
        return outcome

    async def complete(self, source: Any, messages: Any, **options: Any) -> Reply:
        if self.is_async:
            reply: Reply = await source.complete(messages, **options)
        else:
            reply = source.complete(messages, **options)
        return reply

    async def wait(self, event_wait: Any, timeout: float = 10.0) -> bool:
        """Call a blocking ``wait(timeout)`` without blocking the test's loop.

        aiohttp closes sockets on the loop's next turn, so the async twin must
        let the loop run while it waits for the server to see the close.
        """
        if self.is_async:
            return await asyncio.to_thread(event_wait, timeout)  # type: ignore[no-any-return]
        return event_wait(timeout)  # type: ignore[no-any-return]


SYNC, ASYNC = Twin("sync"), Twin("async")
BOTH = [SYNC, ASYNC]
#: Parametrize a test over both front ends: the test takes a ``twin`` argument.
both = pytest.mark.parametrize("twin", BOTH, ids=str)
