"""``Opchatgpts``: a drop-in for the old g4f provider of the same name.

Same class attributes and the same three class methods, now over the two
front ends: ``create_completion`` is blocking (requests), the other two are
asyncio (aiohttp, imported on first use).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Mapping, Optional

from ._request import DEFAULT_BASE_URL, build_request
from ._sync import Client, Stream

if TYPE_CHECKING:
    from ._async import _AwaitableStream

__all__ = ["Opchatgpts"]

#: The keyword arguments the provider passes on; g4f's others (temperature,
#: max_tokens, ...) are accepted and ignored, as the original did.
CLIENT_OPTIONS = (
    "base_url",
    "timeout",
    "headers",
    "bot_id",
    "custom_id",
    "context_id",
    "chat_id",
    "session_id",
    "nonce",
    "max_event_size",
    "verify",
    "rest_url",
)


def _client_options(proxy: Optional[str], kwargs: Mapping[str, Any]) -> Dict[str, Any]:
    options = {name: kwargs[name] for name in CLIENT_OPTIONS if name in kwargs}
    options["proxy"] = proxy
    return options


class Opchatgpts:
    """The g4f provider interface for AI Engine chatbots (opchatgpts.net by default)."""

    url = DEFAULT_BASE_URL
    working = False  # as upstream: the public site is gone
    supports_message_history = True
    supports_gpt_35_turbo = True
    supports_stream = True
    needs_auth = False

    @classmethod
    def create_completion(
        cls,
        model: str,
        messages: List[Dict[str, Any]],
        stream: bool = True,
        proxy: Optional[str] = None,
        **kwargs: Any,
    ) -> Iterator[str]:
        """Blocking: the reply's chunks, or with ``stream=False`` one chunk, the whole reply.

        ``model`` is accepted and not sent (the site picks its model).

        Raises:
            TypeError, ValueError: bad arguments, before anything is sent.
        """
        client = Client(**_client_options(proxy, kwargs))
        chunks = Stream(
            client, build_request(messages, client.settings), client.settings, owns_client=True
        )
        return chunks if stream else _whole(chunks)

    @classmethod
    def create_async_generator(
        cls,
        model: str,
        messages: List[Dict[str, Any]],
        proxy: Optional[str] = None,
        **kwargs: Any,
    ) -> _AwaitableStream:
        """Asyncio: an async iterator of the reply's chunks.

        Both ``async for c in Opchatgpts.create_async_generator(...)`` and
        ``gen = await Opchatgpts.create_async_generator(...)`` work.

        Raises:
            TypeError, ValueError: bad arguments, before anything is sent.
        """
        from ._async import AsyncClient, _AwaitableStream

        client = AsyncClient(**_client_options(proxy, kwargs))
        return _AwaitableStream(
            client, build_request(messages, client.settings), client.settings, owns_client=True
        )

    @classmethod
    async def create_async(
        cls,
        model: str,
        messages: List[Dict[str, Any]],
        proxy: Optional[str] = None,
        **kwargs: Any,
    ) -> str:
        """Asyncio: the whole reply text."""
        from ._async import AsyncClient

        async with AsyncClient(**_client_options(proxy, kwargs)) as client:
            return (await client.complete(messages)).text


def _whole(chunks: Stream) -> Iterator[str]:
    with chunks:
        for _ in chunks:
            pass
    assert chunks.reply is not None
    yield chunks.reply.text
