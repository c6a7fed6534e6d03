"""``Opchatgpts``: a drop-in for the old g4f provider of the same name.

Same class attributes and the same three class methods, now over the two
front ends: ``create_completion`` is blocking (requests), the other two are
asyncio (aiohttp, imported on first use).  ``Opchatgpts.for_site`` makes a
provider class bound to one site.

Each front end is imported by the first call that uses it: importing the
provider imports neither requests nor aiohttp.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from types import MappingProxyType
from typing import (
    TYPE_CHECKING,
    Any,
    AsyncIterator,
    Awaitable,
    Callable,
    ClassVar,
    Dict,
    Iterator,
    List,
    Mapping,
    Optional,
    Type,
    Union,
    cast,
)
from urllib.parse import urlsplit

from ._page import page_client_options
from ._request import build_request, check_messages
from ._settings import DEFAULT_BASE_URL, build_settings, check_options

if TYPE_CHECKING:
    from ._async import AsyncStream
    from ._awaitable import AwaitableIterator, AwaitableStream
    from ._sync import Stream

__all__ = ["Opchatgpts"]

logger = logging.getLogger(__name__)

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

#: What ``for_site`` takes as the defaults of every call.
SITE_OPTIONS = frozenset(CLIENT_OPTIONS) - {"base_url"} | {"proxy"}

#: A g4f response object factory (``g4f.providers.response.Usage``).
UsageType = Callable[..., Any]


class Opchatgpts:
    """The g4f provider interface for AI Engine chatbots (opchatgpts.net by default).

    The site is ``cls.url`` unless a call passes ``base_url``: a subclass
    that sets ``url`` talks to that site.
    """

    url = DEFAULT_BASE_URL
    working = False  # as upstream: the public site is gone
    supports_message_history = True
    supports_gpt_35_turbo = True
    supports_stream = True
    needs_auth = False
    # g4f 8 reads these of every provider it is given (g4f.providers.types).
    use_stream_timeout = True
    live = 0

    # Set by for_site: the options every call starts from, the chatbot page
    # to read first, and g4f 8's Usage to hand it the site's usage.
    _options: ClassVar[Mapping[str, Any]] = MappingProxyType({})
    _page: ClassVar[Optional[str]] = None
    _usage: ClassVar[Optional[UsageType]] = None

    @classmethod
    def for_site(
        cls,
        base_url: Optional[str] = None,
        *,
        page: Optional[str] = None,
        name: Optional[str] = None,
        **options: Any,
    ) -> Type[Opchatgpts]:
        """A provider class bound to one site, for g4f (0.2.x and 8.x) as it is.

        >>> Site = Opchatgpts.for_site("https://example.org", bot_id="support")
        >>> Site.__name__, Site.url, Site.working
        ('ExampleOrg', 'https://example.org', True)

        Args:
            base_url: the WordPress site, as for :class:`Client`.
            page: instead of ``base_url``: a page showing the chatbot.  Nothing
                is fetched here; every call reads the page first, as
                :meth:`Client.from_page` does (REST base, bot, nonce, ...), so
                a call always starts from the site's current settings.
            name: the class's ``__name__`` (a Python identifier, which g4f
                shows and keys its retry state by); by default made from the
                site's host and port.
            **options: the defaults of every call: ``proxy``, ``timeout``,
                ``headers``, ``bot_id``, ... (see :class:`Client`); a call's
                own keyword arguments win.

        With g4f installed, the class also inherits g4f's
        ``AsyncGeneratorProvider``; with g4f 8, it yields g4f's ``Usage``
        (the site's usage from the ``end`` frame) after the reply's text.

        Raises:
            TypeError, ValueError: not exactly one of ``base_url`` and
                ``page``, a bad URL, name or option.
        """
        if (base_url is None) == (page is None):
            raise TypeError("for_site() takes a base_url or page=, not both or neither")
        check_options("Opchatgpts.for_site()", options, SITE_OPTIONS)
        if page is not None:
            build_settings(**page_client_options(page, options))
            parts = urlsplit(page)
            site = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"  # no credentials
        else:
            site = build_settings(base_url=cast(str, base_url), **options).base_url
        if name is None:
            name = _name_from(site)
        elif not isinstance(name, str):
            raise TypeError("name must be a string")
        elif not name.isidentifier():
            raise ValueError(f"name must be a Python identifier, not {name!r}")
        if "headers" in options and options["headers"] is not None:
            options["headers"] = MappingProxyType(dict(options["headers"]))

        from ._g4f import provider_bases, usage_type

        namespace: Dict[str, Any] = {
            "__doc__": f"The AI Engine chatbot of {site}, as a g4f provider.",
            "__qualname__": name,
            "__module__": cls.__module__,
            "url": site,
            "working": True,
            "live": 0,
            "_options": MappingProxyType(dict(options)),
            "_page": page,
            "_usage": usage_type(),
        }
        bases = (cls, *(base for base in provider_bases() if not issubclass(cls, base)))
        return cast(Type[Opchatgpts], type(name, bases, namespace))

    @classmethod
    def get_dict(cls) -> Dict[str, Optional[str]]:
        """What g4f 8 shows of a provider: its name, url and label."""
        return {"name": cls.__name__, "url": cls.url, "label": getattr(cls, "label", None)}

    @classmethod
    def get_parent(cls) -> str:
        """g4f 8 keys API keys and retries by a provider's parent name."""
        return str(getattr(cls, "parent", cls.__name__))

    @classmethod
    def create_completion(
        cls,
        model: str,
        messages: List[Dict[str, Any]],
        stream: bool = True,
        proxy: Optional[str] = None,
        **kwargs: Any,
    ) -> Iterator[Any]:
        """Blocking: the reply's chunks, or with ``stream=False`` one chunk, the whole reply.

        ``model`` is accepted and not sent (the site picks its model).  A
        ``for_site`` class under g4f 8 yields g4f's ``Usage`` last.

        Raises:
            TypeError, ValueError: bad arguments, before anything is sent.
        """
        from ._sync import Client, Stream

        options = cls._call_options(proxy, kwargs)
        page = cls._page
        if page is not None:
            check_messages(messages)
            build_settings(**page_client_options(page, options))
            return _chunks(lambda: _page_stream(page, options, messages), stream, cls._usage)
        client = Client(**options)
        chunks = Stream(
            client, build_request(messages, client.settings), client.settings, owns_client=True
        )
        if stream and cls._usage is None:
            return chunks
        return _chunks(lambda: chunks, stream, cls._usage)

    @classmethod
    def create_async_generator(
        cls,
        model: str,
        messages: List[Dict[str, Any]],
        proxy: Optional[str] = None,
        **kwargs: Any,
    ) -> Union[AwaitableStream, AwaitableIterator]:
        """Asyncio: an async iterator of the reply's chunks.

        Both ``async for c in Opchatgpts.create_async_generator(...)`` and
        ``gen = await Opchatgpts.create_async_generator(...)`` work.  A
        ``for_site`` class under g4f 8 yields g4f's ``Usage`` last.

        Raises:
            TypeError, ValueError: bad arguments, before anything is sent.
        """
        from ._async import AsyncClient, AsyncStream
        from ._awaitable import AwaitableIterator, AwaitableStream

        options = cls._call_options(proxy, kwargs)
        page = cls._page
        if page is not None:
            check_messages(messages)
            build_settings(**page_client_options(page, options))
            return AwaitableIterator(
                _async_chunks(lambda: _page_async_stream(page, options, messages), cls._usage)
            )
        client = AsyncClient(**options)
        request = build_request(messages, client.settings)
        if cls._usage is None:
            return AwaitableStream(client, request, client.settings, owns_client=True)
        chunks = AsyncStream(client, request, client.settings, owns_client=True)
        return AwaitableIterator(_async_chunks(lambda: _ready(chunks), cls._usage))

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

        options = cls._call_options(proxy, kwargs)
        if cls._page is None:
            async with AsyncClient(**options) as client:
                return (await client.complete(messages)).text
        check_messages(messages)
        async with await AsyncClient.from_page(cls._page, **options) as client:
            return (await client.complete(messages)).text

    @classmethod
    def _call_options(cls, proxy: Optional[str], kwargs: Mapping[str, Any]) -> Dict[str, Any]:
        """The client options of one call: the class's, then the call's own."""
        options: Dict[str, Any] = {} if cls._page is not None else {"base_url": cls.url}
        options.update(cls._options)
        options.update((name, kwargs[name]) for name in CLIENT_OPTIONS if name in kwargs)
        if proxy is not None or "proxy" not in options:
            options["proxy"] = proxy
        return options


def _name_from(base_url: str) -> str:
    """A readable class name for a site: ``ExampleOrg``, ``Site_127_0_0_1_8080``."""
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    words = [word for word in re.split(r"[^0-9A-Za-z]+", host) if word]
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if len(words) > 2 and words[0].lower() == "www":
            words = words[1:]
        name = "".join(word[:1].upper() + word[1:] for word in words)
    else:
        name = "Site_" + "_".join(words)
    if parts.port is not None:
        name += f"_{parts.port}"
    return name if name.isidentifier() else f"Site_{name}"


def _page_stream(page: str, options: Mapping[str, Any], messages: Any) -> Stream:
    """The page read as ``Client.from_page`` does, then the stream of one reply."""
    from ._sync import Client, Stream

    client = Client.from_page(page, **options)
    try:
        settings = client._settings_for({})
        return Stream(client, build_request(messages, settings), settings, owns_client=True)
    except BaseException:
        client.close()
        raise


def _chunks(
    open_stream: Callable[[], Stream], stream: bool, usage: Optional[UsageType]
) -> Iterator[Any]:
    """The reply's chunks (or the whole reply), then g4f's ``Usage`` when given one."""
    with open_stream() as chunks:
        for chunk in chunks:
            if stream:
                yield chunk
    reply = chunks.reply
    assert reply is not None
    if not stream:
        yield reply.text
    site_usage = _usage_object(usage, reply.usage)
    if site_usage is not None:
        yield site_usage


async def _ready(chunks: AsyncStream) -> AsyncStream:
    return chunks


async def _page_async_stream(page: str, options: Mapping[str, Any], messages: Any) -> AsyncStream:
    """The async twin of :func:`_page_stream`."""
    from ._async import AsyncClient, AsyncStream

    client = await AsyncClient.from_page(page, **options)
    try:
        settings = client._settings_for({})
        return AsyncStream(client, build_request(messages, settings), settings, owns_client=True)
    except BaseException:
        await client.aclose()
        raise


async def _async_chunks(
    open_stream: Callable[[], Awaitable[AsyncStream]], usage: Optional[UsageType]
) -> AsyncIterator[Any]:
    """The reply's chunks, then g4f's ``Usage`` when given one."""
    async with await open_stream() as chunks:
        async for chunk in chunks:
            yield chunk
    reply = chunks.reply
    assert reply is not None
    site_usage = _usage_object(usage, reply.usage)
    if site_usage is not None:
        yield site_usage


def _usage_object(usage: Optional[UsageType], site_usage: Optional[Dict[str, Any]]) -> Any:
    """g4f's ``Usage`` of the site's usage; ``None`` without either, or when
    g4f cannot take it (then g4f estimates one, as without a usage)."""
    if usage is None or not site_usage:
        return None
    try:
        return usage(**site_usage)
    except (TypeError, ValueError):
        logger.debug("the site's usage is not one g4f takes: %r", site_usage)
        return None
