"""One test body for both front ends: a small helper hiding ``await``.

``Twin("sync")`` drives :class:`Client` (blocking calls made in place, inside
the test's running loop, as a Jupyter user would), ``Twin("async")`` drives
:class:`AsyncClient`.  Tests are ``async def`` and call ``await twin.run(...)``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, List, Optional, Tuple, Union

from opchatgpts_compat import AsyncClient, Client, OpchatgptsError, Reply

MESSAGES = [{"role": "user", "content": "Hi"}]


@dataclass
class Outcome:
    """What one stream gave: the chunks, then a reply or an error."""

    chunks: List[str] = field(default_factory=list)
    reply: Optional[Reply] = None
    error: Optional[BaseException] = None

    def summary(self) -> Tuple[Any, ...]:
        """Comparable across front ends (class, message, partial; or chunks, text)."""
        if self.error is not None:
            partial = getattr(self.error, "partial", None)
            return ("error", type(self.error), str(self.error), partial, self.chunks)
        assert self.reply is not None
        return ("reply", self.chunks, self.reply.text)


class Twin:
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.is_async = kind == "async"

    def __repr__(self) -> str:
        return self.kind

    def client(self, base_url: str, **options: Any) -> Union[Client, AsyncClient]:
        return AsyncClient(base_url, **options) if self.is_async else Client(base_url, **options)

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

    async def collect(self, stream: Any) -> Outcome:
        """Read ``stream`` to its end; never raises OpchatgptsError (it is recorded)."""
        out = Outcome()
        try:
            if self.is_async:
                async for chunk in stream:
                    out.chunks.append(chunk)
            else:
                for chunk in stream:
                    out.chunks.append(chunk)
            out.reply = stream.reply
        except OpchatgptsError as exc:
            out.error = exc
        return out

    async def run(self, base_url: str, messages: Any = None, **options: Any) -> Outcome:
        """A fresh client, one stream read to its end, everything closed."""
        client = self.client(base_url, **options)
        try:
            return await self.collect(client.stream(messages or MESSAGES))
        finally:
            await self.close(client)

    async def wait(self, event_wait: Any, timeout: float = 10.0) -> bool:
        """Call a blocking ``wait(timeout)`` without blocking the test's loop.

        aiohttp closes sockets on the loop's next turn, so the async twin must
        let the loop run while it waits for the server to see the close.
        """
        if self.is_async:
            return await asyncio.to_thread(event_wait, timeout)  # type: ignore[no-any-return]
        return event_wait(timeout)  # type: ignore[no-any-return]


BOTH = [Twin("sync"), Twin("async")]
