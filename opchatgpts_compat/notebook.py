"""Show a reply growing in one Jupyter output area as its tokens arrive.

::

    from opchatgpts_compat.notebook import display_stream

    with client.stream(messages) as chunks:        # a blocking client
        text = display_stream(chunks)

    async with aclient.stream(messages) as chunks: # an asyncio client, top-level await
        text = await display_stream(chunks)

One output area is created and updated in place (IPython's ``display`` with a
``display_id``); the whole text stays in it when the stream ends.  IPython is
optional for the rest of the package: ``pip install 'opchatgpts-compat[notebook]'``.
"""

from __future__ import annotations

from typing import Any, AsyncIterable, Awaitable, Iterable, Union, overload

__all__ = ["display_stream"]

_MISSING = (
    "opchatgpts_compat.notebook needs IPython; install it with "
    "pip install 'opchatgpts-compat[notebook]'"
)


class _Area:
    """One output area: shown once, then updated in place."""

    def __init__(self, markdown: bool) -> None:
        try:
            from IPython.display import Markdown, Pretty, display
        except ImportError as exc:
            raise ImportError(_MISSING) from exc
        self._kind: Any = Markdown if markdown else Pretty
        self._handle: Any = display(self._kind(""), display_id=True)  # type: ignore[no-untyped-call,unused-ignore]
        self.text = ""

    def add(self, chunk: str) -> None:
        self.text += chunk
        self._handle.update(self._kind(self.text))


@overload
def display_stream(chunks: Iterable[str], *, markdown: bool = ...) -> str: ...


@overload
def display_stream(chunks: AsyncIterable[str], *, markdown: bool = ...) -> Awaitable[str]: ...


def display_stream(
    chunks: Union[Iterable[str], AsyncIterable[str]], *, markdown: bool = False
) -> Union[str, Awaitable[str]]:
    """Display ``chunks`` in one output area that grows as they arrive.

    Args:
        chunks: a :class:`~opchatgpts_compat.Stream` or any iterable of ``str``;
            or an :class:`~opchatgpts_compat.AsyncStream` or any async
            iterable, in which case the result must be awaited.
        markdown: render the text as Markdown instead of plain text.

    Returns:
        The whole text (a coroutine giving it, for an async iterable).

    Raises:
        ImportError: IPython is not installed.
    """
    area = _Area(markdown)  # IPython is checked before anything is read
    if hasattr(chunks, "__aiter__"):
        return _display_async(chunks, area)  # type: ignore[arg-type]
    for chunk in chunks:
        area.add(chunk)
    return area.text


async def _display_async(chunks: AsyncIterable[str], area: _Area) -> str:
    async for chunk in chunks:
        area.add(chunk)
    return area.text
