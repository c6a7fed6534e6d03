"""``Opchatgpts.for_site`` driven by g4f 8.8.6, through g4f's own entry points.

The ``g4f8`` tier: g4f 8.8.6 with its dependencies, in an environment of its
own (.ci/run makes ``.venv-g4f8`` and runs ``pytest -m g4f8`` there); with
another g4f, or none, these tests are skipped.  Every site is the embedded
server on 127.0.0.1.  Each case runs through g4f's ``Client`` and its
``AsyncClient`` (the ``via`` fixture).
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any, Dict, Iterator, List, Type

import pytest
from support import readme_code
from support.helpers import g4f_tier

INSTALL = "python3 -m venv .venv-g4f8 && .venv-g4f8/bin/pip install -e '.[test]' g4f==8.8.6"
G4F_VERSION = g4f_tier("8.8.6", "8.", INSTALL)

import g4f  # noqa: E402
import g4f.cookies  # noqa: E402
import g4f.debug  # noqa: E402
from g4f.client import AsyncClient as G4FAsyncClient  # noqa: E402
from g4f.client import Client as G4FClient  # noqa: E402
from g4f.providers.base_provider import AsyncGeneratorProvider  # noqa: E402
from g4f.providers.response import Usage  # noqa: E402
from g4f.providers.retry_provider import ProviderCircuitBreaker, RetryProvider  # noqa: E402

from opchatgpts_compat import (  # noqa: E402
    Client,
    IncompleteStreamError,
    Opchatgpts,
    OpchatgptsError,
    ServerError,
    TransportError,
)
from opchatgpts_compat.server import ScriptedBot, Server  # noqa: E402

pytestmark = pytest.mark.g4f8

MESSAGES = [{"role": "user", "content": "Hi"}]
TOKENS = ["Hello", " there", ",", " world"]
TEXT = "Hello there, world"
#: What the site reports; g4f would estimate something else.
USAGE = {"prompt_tokens": 11, "completion_tokens": 4, "total_tokens": 15}


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Iterator[None]:
    """No PyPI version check; g4f's usage log in a temporary directory; no
    retry state carried from one test to the next."""
    monkeypatch.setattr(g4f.debug, "version_check", False)
    monkeypatch.setattr(g4f.cookies.CookiesConfig, "cookies_dir", str(tmp_path))
    ProviderCircuitBreaker.reset()
    yield
    ProviderCircuitBreaker.reset()


@pytest.fixture
def server() -> Iterator[Server]:
    # One per test: a request is recorded after its answer, so a shared server
    # could show a test the last request of the test before it.
    with Server(flavor="3.6", bots={"default": ScriptedBot(TOKENS, usage=USAGE)}) as running:
        yield running


@pytest.fixture
def site(server: Server) -> Type[Opchatgpts]:
    return Opchatgpts.for_site(server.base_url, name="Loopback")


class Via:
    """g4f's ``Client`` or ``AsyncClient``: one test body for both.

    The blocking ``Client`` runs in a worker thread, as in a script: called
    inside the test's running loop, g4f would patch that loop with
    nest_asyncio (for ``RetryProvider``), for the rest of the session.
    """

    def __init__(self, kind: str) -> None:
        self.is_async = kind == "AsyncClient"
        self.kind = kind

    def __repr__(self) -> str:
        return self.kind

    async def create(self, provider: Any, messages: Any = None, **kwargs: Any) -> Any:
        """A whole ``ChatCompletion``."""
        messages = MESSAGES if messages is None else messages
        if self.is_async:
            client = G4FAsyncClient(provider=provider)
            return await client.chat.completions.create(messages=messages, **kwargs)
        client = G4FClient(provider=provider)
        return await asyncio.to_thread(
            lambda: client.chat.completions.create(messages=messages, **kwargs)
        )

    async def stream(
        self, provider: Any, messages: Any = None, *, into: Any = None, **kwargs: Any
    ) -> List[Any]:
        """The ``ChatCompletionChunk`` objects of a streamed completion."""
        messages = MESSAGES if messages is None else messages
        chunks: List[Any] = [] if into is None else into
        if self.is_async:
            client = G4FAsyncClient(provider=provider)
            async for chunk in client.chat.completions.stream(messages, **kwargs):
                chunks.append(chunk)
        else:
            client = G4FClient(provider=provider)
            await asyncio.to_thread(
                lambda: chunks.extend(client.chat.completions.stream(messages, **kwargs))
            )
        return chunks


@pytest.fixture(params=["Client", "AsyncClient"])
def via(request: pytest.FixtureRequest) -> Via:
    return Via(request.param)


def usage_of(completion: Any) -> Dict[str, Any]:
    usage = completion.usage
    return {key: getattr(usage, key) for key in USAGE}


def texts(chunks: List[Any]) -> List[str]:
    return [c.choices[0].delta.content for c in chunks if c.choices[0].delta.content]


def dead_url() -> str:
    """A loopback port nothing listens on (connections are refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_the_tier_runs_g4f_8_8_6() -> None:
    assert G4F_VERSION == "8.8.6"


async def test_whole(via: Via, site: Type[Opchatgpts]) -> None:
    completion = await via.create(site)
    assert completion.choices[0].message.content == TEXT
    assert completion.choices[0].finish_reason == "stop"
    assert usage_of(completion) == USAGE  # the site's, not g4f's estimate


async def test_streamed(via: Via, site: Type[Opchatgpts]) -> None:
    chunks = await via.stream(site)
    assert texts(chunks) == TOKENS
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert usage_of(chunks[-1]) == USAGE


async def test_the_page_form(via: Via, server: Server) -> None:
    site = Opchatgpts.for_site(page=server.page_url)
    before = len(server.records)
    completion = await via.create(site)
    assert completion.choices[0].message.content == TEXT
    assert usage_of(completion) == USAGE
    read = await asyncio.to_thread(
        server.wait_for, lambda records: records[before:][:1] and records[before].kind == "page", 10
    )
    assert read  # the page first
    assert texts(await via.stream(site)) == TOKENS


async def test_a_subclass_talks_to_its_url_in_str_only(via: Via, server: Server) -> None:
    class Mine(Opchatgpts):
        url = server.base_url

    completion = await via.create(Mine)
    assert completion.choices[0].message.content == TEXT
    assert usage_of(completion) != USAGE  # g4f's estimate: the class yields str only
    assert texts(await via.stream(Mine)) == TOKENS
    assert list(Mine.create_completion("", MESSAGES)) == TOKENS


async def test_retry_provider_falls_over_from_a_dead_site(via: Via, site: Type[Opchatgpts]) -> None:
    dead = Opchatgpts.for_site(dead_url(), name="Dead")
    with pytest.raises(TransportError):  # on its own, it fails
        await via.create(dead)
    completion = await via.create(RetryProvider([dead, site], shuffle=False))
    assert completion.choices[0].message.content == TEXT
    assert completion.provider == "Loopback"
    chunks = await via.stream(RetryProvider([dead, site], shuffle=False))
    assert texts(chunks) == TOKENS


def test_chat_completion_create_without_ignore_working(site: Type[Opchatgpts]) -> None:
    assert g4f.ChatCompletion.create("", MESSAGES, provider=site) == TEXT
    chunks = list(g4f.ChatCompletion.create("", MESSAGES, provider=site, stream=True))
    assert chunks[:-1] == TOKENS
    assert isinstance(chunks[-1], Usage) and chunks[-1].get_dict() == {**USAGE, **SITE_EXTRAS}
    with pytest.raises(g4f.errors.ProviderNotWorkingError):
        g4f.ChatCompletion.create("", MESSAGES, provider=Opchatgpts)


async def test_chat_completion_create_async(site: Type[Opchatgpts]) -> None:
    assert await g4f.ChatCompletion.create_async("", MESSAGES, provider=site) == TEXT
    chunks = [
        c async for c in g4f.ChatCompletion.create_async("", MESSAGES, provider=site, stream=True)
    ]
    assert chunks[:-1] == TOKENS
    assert isinstance(chunks[-1], Usage)


#: AI Engine 3.6 adds these to the usage it reports.
SITE_EXTRAS = {"price": None, "queries": 1, "accuracy": "tokens"}

ERRORS = [
    pytest.param("Please FAIL500", {}, ServerError, id="server-error"),
    pytest.param("Hi", {"bot_id": "fault-cut"}, IncompleteStreamError, id="cut"),
]


def _our_error(server: Server, text: str, options: Dict[str, Any]) -> OpchatgptsError:
    with Client(server.base_url, **options) as client, pytest.raises(OpchatgptsError) as info:
        client.complete([{"role": "user", "content": text}])
    return info.value


@pytest.mark.parametrize("text, options, error", ERRORS)
async def test_the_errors_stay_ours(
    via: Via, server: Server, text: str, options: Dict[str, Any], error: type
) -> None:
    expected = _our_error(server, text, options)
    assert type(expected) is error
    site = Opchatgpts.for_site(server.base_url, **options)
    messages = [{"role": "user", "content": text}]
    with pytest.raises(error) as whole:
        await via.create(site, messages)
    assert str(whole.value) == str(expected)
    chunks: List[Any] = []
    with pytest.raises(error) as streamed:
        await via.stream(site, messages, into=chunks)
    assert str(streamed.value) == str(expected)
    assert "".join(texts(chunks)) == streamed.value.partial == expected.partial


@pytest.mark.parametrize("text, options, error", ERRORS)
async def test_the_errors_stay_ours_in_chat_completion(
    server: Server, text: str, options: Dict[str, Any], error: type
) -> None:
    expected = _our_error(server, text, options)
    site = Opchatgpts.for_site(server.base_url, **options)
    messages = [{"role": "user", "content": text}]
    with pytest.raises(error) as info:
        g4f.ChatCompletion.create("", messages, provider=site)
    assert str(info.value) == str(expected)
    with pytest.raises(error) as info:
        await g4f.ChatCompletion.create_async("", messages, provider=site)
    assert str(info.value) == str(expected)


def test_a_site_class_is_a_g4f_provider(site: Type[Opchatgpts]) -> None:
    assert issubclass(site, AsyncGeneratorProvider)
    again = site.for_site("https://example.org")  # a bound class binds again
    assert issubclass(again, site) and again.url == "https://example.org"


def test_the_readme_g4f_8_code_runs_as_written(server: Server) -> None:
    code = readme_code.from_g4f_code("g4f 8.x")
    sites = {"https://example.org": server.base_url, "https://example.net": dead_url()}
    out = readme_code.run(code, sites)
    total = USAGE["total_tokens"]
    assert out == f"{TEXT}\n{total}\n{TEXT}\n{TEXT}\n{TEXT}\n{TEXT}\n"


@pytest.mark.parametrize("front_end", ["create_completion", "create_async_generator"])
async def test_leaving_early_closes_the_connection(front_end: str) -> None:
    # The next token is 60 s away: only the disconnect can end the answer now.
    with Server(flavor="3.6", delay=60.0, bots={"default": ScriptedBot(TOKENS)}) as slow:
        site = Opchatgpts.for_site(slow.base_url)
        if front_end == "create_async_generator":
            agen = site.create_async_generator("", MESSAGES)
            assert await agen.__anext__() == TOKENS[0]
            await agen.aclose()
        else:
            chunks = site.create_completion("", MESSAGES)
            assert next(chunks) == TOKENS[0]
            chunks.close()  # type: ignore[attr-defined]
        left = await asyncio.to_thread(
            slow.wait_for, lambda records: records[-1:] and records[-1].kind == "stream", 10
        )
        assert left
        assert (slow.records[-1].tokens, slow.records[-1].outcome) == (1, "disconnected")


async def test_a_usage_g4f_cannot_take_is_left_to_g4f(via: Via) -> None:
    odd = {"prompt_tokens": "eleven", "completion_tokens": 4}  # g4f's Usage adds them up
    with Server(flavor="3.6", bots={"default": ScriptedBot(TOKENS, usage=odd)}) as running:
        site = Opchatgpts.for_site(running.base_url)
        completion = await via.create(site)
    assert completion.choices[0].message.content == TEXT
    assert isinstance(completion.usage.prompt_tokens, int)  # g4f's own estimate
