"""A careful, blocking and asyncio client for WordPress "AI Engine" chatbots.

The successor of gpt4free's ``Opchatgpts`` provider: one sans-I/O core, a
``requests`` front end (:class:`Client`) and an ``aiohttp`` one
(:class:`AsyncClient`), and the drop-in :class:`Opchatgpts` class.

The front ends and the provider are imported when first used (PEP 562):
``import opchatgpts_compat`` imports neither requests nor aiohttp, and
``import opchatgpts_compat.core`` stays free of both.
"""

from typing import TYPE_CHECKING, Any, Dict, List

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
from ._version import __version__

if TYPE_CHECKING:
    from ._async import AsyncClient, AsyncConversation, AsyncStream
    from ._provider import Opchatgpts
    from ._sync import Client, Conversation, Stream

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

#: The names imported on first use, and the module that has each.
_LAZY: Dict[str, str] = {
    "Client": "_sync",
    "Conversation": "_sync",
    "Stream": "_sync",
    "AsyncClient": "_async",
    "AsyncConversation": "_async",
    "AsyncStream": "_async",
    "Opchatgpts": "_provider",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value  # the next lookup does not come here
    return value


def __dir__() -> List[str]:
    return sorted(set(globals()) | set(_LAZY))
