"""A careful, blocking and asyncio client for WordPress "AI Engine" chatbots.

The successor of gpt4free's ``Opchatgpts`` provider: one sans-I/O core, a
``requests`` front end (:class:`Client`) and an ``aiohttp`` one
(:class:`AsyncClient`), and the drop-in :class:`Opchatgpts` class.

``aiohttp`` is imported only when the asyncio side is first used.
"""

from typing import TYPE_CHECKING, Any

from ._exceptions import (
    BrokenLineError,
    EventTooLargeError,
    HTTPStatusError,
    IncompleteStreamError,
    OpchatgptsError,
    RejectedError,
    ServerError,
    StreamTimeoutError,
    TransportError,
)
from ._models import Reply, StatusEvent
from ._provider import Opchatgpts
from ._sync import Client, Conversation, Stream
from ._version import __version__

if TYPE_CHECKING:
    from ._async import AsyncClient, AsyncConversation, AsyncStream

__all__ = [
    "AsyncClient",
    "AsyncConversation",
    "AsyncStream",
    "BrokenLineError",
    "Client",
    "Conversation",
    "EventTooLargeError",
    "HTTPStatusError",
    "IncompleteStreamError",
    "Opchatgpts",
    "OpchatgptsError",
    "RejectedError",
    "Reply",
    "ServerError",
    "StatusEvent",
    "Stream",
    "StreamTimeoutError",
    "TransportError",
    "__version__",
]

_LAZY = {"AsyncClient", "AsyncConversation", "AsyncStream"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from . import _async

        return getattr(_async, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> "list[str]":
    return sorted(set(globals()) | _LAZY)
