"""What ``Opchatgpts.create_async_generator`` returns: iterate it, or await it first.

``async for c in create_async_generator(...)`` is how g4f calls it;
``gen = await create_async_generator(...)`` is how its docs showed it.  The
provider imports this module on first use: it loads aiohttp.
"""

from __future__ import annotations

from typing import Any, AsyncIterator, Awaitable, Generator

from ._async import AsyncStream

__all__ = ["AwaitableIterator", "AwaitableStream"]


class AwaitableStream(AsyncStream):
    """An :class:`AsyncStream` that may also be awaited first (to itself)."""

    def __await__(self) -> Generator[Any, None, AwaitableStream]:
        return self._self().__await__()

    async def _self(self) -> AwaitableStream:
        return self


class AwaitableIterator:
    """An async iterator that may also be awaited first, as :class:`AwaitableStream`."""

    def __init__(self, iterator: AsyncIterator[Any]) -> None:
        self._iterator = iterator

    def __aiter__(self) -> AwaitableIterator:
        return self

    def __anext__(self) -> Awaitable[Any]:
        return self._iterator.__anext__()

    async def aclose(self) -> None:
        """Stop, and close the connection."""
        aclose = getattr(self._iterator, "aclose", None)
        if aclose is not None:
            await aclose()

    def __await__(self) -> Generator[Any, None, AwaitableIterator]:
        return self._self().__await__()

    async def _self(self) -> AwaitableIterator:
        return self
