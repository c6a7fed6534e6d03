"""Show a reply growing in one Jupyter output area as its tokens arrive.

::

    from opchatgpts_compat.notebook import display_stream

    with client.stream(messages) as chunks:        # a blocking client
        text = display_stream(chunks)

    async with aclient.stream(messages) as chunks: # an asyncio client, top-level await
        text = await display_stream(chunks, markdown=True)

One output area is created and updated in place (IPython's ``display`` with a
``display_id``); the whole text stays in it when the stream ends.  Updates are
coalesced: at most one per ``interval`` seconds (0.1 by default), the first
chunk at once, and the final text always, so a fast stream of thousands of
tokens sends tens of updates, not thousands.  IPython is optional for the rest
of the package: ``pip install 'opchatgpts-compat[notebook]'``.
"""

from __future__ import annotations

import time
from typing import Any, AsyncIterable, Awaitable, Iterable, List, Optional, Union, overload

__all__ = ["display_stream"]

_MISSING = (
    "opchatgpts_compat.notebook needs IPython; install it with "
    "pip install 'opchatgpts-compat[notebook]'"
)

#: The default least number of seconds between two updates of the output area.
UPDATE_INTERVAL = 0.1

_now = time.monotonic


class _Area:
    """One output area: shown once, then updated in place, at most once per ``interval``."""

    def __init__(self, markdown: bool, interval: float) -> None:
        try:
            from IPython.display import Markdown, Pretty, display
        except ImportError as exc:
            raise ImportError(_MISSING) from exc
        self._kind: Any = Markdown if markdown else Pretty
        self._handle: Any = display(self._kind(""), display_id=True)  # type: ignore[no-untyped-call,unused-ignore]
        self._interval = interval
        self._pieces: List[str] = []
        self._shown = 0  # how many pieces the area shows
        self._last = float("-inf")  # when it was last updated: the first chunk shows at once

    def add(self, chunk: str) -> None:
        if not chunk:
            return
        self._pieces.append(chunk)
        now = _now()
        if now - self._last >= self._interval:
            self._last = now
            self._shown = len(self._pieces)
            self._handle.update(self._kind("".join(self._pieces)))

    def finish(self, chunks: object) -> str:
        """Show the final text (the reply's, when ``chunks`` is a stream) and return it."""
        reply = getattr(chunks, "reply", None)
        text: Optional[str] = getattr(reply, "text", None)
        if not isinstance(text, str):
            text = "".join(self._pieces)
        if text != "".join(self._pieces[: self._shown]):
            self._handle.update(self._kind(text))
        return text


@overload
def display_stream(
    chunks: Iterable[str], *, markdown: bool = ..., interval: float = ...
) -> str: ...


@overload
def display_stream(
    chunks: AsyncIterable[str], *, markdown: bool = ..., interval: float = ...
) -> Awaitable[str]: ...


def display_stream(
    chunks: Union[Iterable[str], AsyncIterable[str]],
    *,
    markdown: bool = False,
    interval: float = UPDATE_INTERVAL,
) -> Union[str, Awaitable[str]]:
    """Display ``chunks`` in one output area that grows as they arrive.

    Args:
        chunks: a :class:`~opchatgpts_compat.Stream` or any iterable of ``str``;
            or an :class:`~opchatgpts_compat.AsyncStream` or any async
            iterable, in which case the result must be awaited.
        markdown: render the text as Markdown (IPython's ``Markdown``: headings,
            lists, code blocks) instead of plain text (``Pretty``).
        interval: the least number of seconds between two updates; the chunks
            that arrive meanwhile are shown together with the next one, and the
            final text always.  ``0`` updates on every chunk.

    Returns:
        The reply's text (:attr:`Reply.text <opchatgpts_compat.Reply.text>`) for
        a stream, the joined chunks for any other iterable (a coroutine giving
        it, for an async iterable).  The output area is left showing it.

    Raises:
        ImportError: IPython is not installed.
        ValueError: ``interval`` is negative or not finite.
    """
    if isinstance(interval, bool) or not isinstance(interval, (int, float)):
        raise TypeError("interval must be a number of seconds")
    if not 0 <= interval < float("inf"):
        raise ValueError("interval must be a finite number of seconds, 0 or more")
    area = _Area(markdown, interval)  # IPython is checked before anything is read
    if hasattr(chunks, "__aiter__"):
        return _display_async(chunks, area)  # type: ignore[arg-type]
    for chunk in chunks:
        area.add(chunk)
    return area.finish(chunks)


async def _display_async(chunks: AsyncIterable[str], area: _Area) -> str:
    async for chunk in chunks:
        area.add(chunk)
    return area.finish(chunks)
