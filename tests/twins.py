"""Run one scenario through either front end: ``Twin(sync)`` hides the ``await``.

The tests are ``async def`` (the asyncio client needs the loop); the blocking
client runs right inside that loop, as it would in a Jupyter cell.  The
servers live in their own thread, so blocking here does not stall them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, List, Optional

import pytest

from opchatgpts_compat import AsyncClient, Client, OpchatgptsError, Reply
from opchatgpts_compat.core import StatusEvent

#: Parametrize a test over both front ends.
both = pytest.mark.parametrize("sync", [True, False], ids=["sync", "async"])


@dataclass
class Outcome:
    """What one call gave: chunks, reply or error, status frames."""

    chunks: List[str]
    reply: Optional[Reply]
    error: Optional[OpchatgptsError]
    statuses: List[StatusEvent] = field(default_factory=list)
    #: ``time.monotonic()`` when each chunk reached the caller.
    times: List[float] = field(default_factory=list)

    def expect_ok(self) -> Reply:
        if self.error is not None:
            raise AssertionError(f"unexpected {type(self.error).__name__}: {self.error}")
        assert self.reply is not None
        return self.reply


class Twin:
    def __init__(self, sync: bool) -> None:
        self.sync = sync

    def client(self, **options: Any) -> Any:
        return Client(**options) if self.sync else AsyncClient(**options)

    async def from_page(self, url: str, **options: Any) -> Any:
        if self.sync:
            return Client.from_page(url, **options)
        return await AsyncClient.from_page(url, **options)

    async def close(self, client: Any) -> None:
        if self.sync:
            client.close()
        else:
            await client.aclose()

    async def run(self, source: Any, arg: Any, **options: Any) -> Outcome:
        """``source.stream(arg, **options)`` read to its end (or its error)."""
        statuses: List[StatusEvent] = []
        outcome = Outcome([], None, None, statuses)
        stream = source.stream(arg, on_status=statuses.append, **options)
        try:
            if self.sync:
                with stream:
                    for chunk in stream:
                        outcome.chunks.append(chunk)
                        outcome.times.append(time.monotonic())
            else:
                async with stream:
                    async for chunk in stream:
                        outcome.chunks.append(chunk)
                        outcome.times.append(time.monotonic())
        except OpchatgptsError as exc:
            outcome.error = exc
        outcome.reply = stream.reply
        assert stream.statuses == statuses
        return outcome

    async def complete(self, source: Any, arg: Any, **options: Any) -> Reply:
        if self.sync:
            reply: Reply = source.complete(arg, **options)
        else:
            reply = await source.complete(arg, **options)
        return reply
