"""The provider driven by g4f 0.2.0.6, through g4f's own entry points.

g4f is not a dependency: .ci/run installs it with
``pip install --no-deps g4f==0.2.0.6`` (pip extras cannot say ``--no-deps``,
and its full dependency list is large); without it these tests are skipped.
g4f 8 has its own tier (test_g4f8.py).  The README's g4f 0.2.x code is run
here as written, against the embedded server on 127.0.0.1.
"""

from __future__ import annotations

import warnings
from typing import Iterator, List, Type

import pytest
from support import readme_code
from support.helpers import g4f_tier

import opchatgpts_compat
from opchatgpts_compat import Client, Opchatgpts, OpchatgptsError, ServerError
from opchatgpts_compat.server import ScriptedBot, Server

INSTALL = "pip install --no-deps g4f==0.2.0.6"
G4F_VERSION = g4f_tier("0.2.0.6", "0.2.", INSTALL)

with warnings.catch_warnings():
    # g4f 0.2.0.6 subclasses aiohttp.ClientSession, which aiohttp warns about on import.
    warnings.simplefilter("ignore", DeprecationWarning)
    import g4f
    from g4f.Provider import AsyncGeneratorProvider

MESSAGES = [{"role": "user", "content": "Hi"}]
TOKENS = ["Hello", " there", ",", " world"]
REPLY = "Hello there, world"


@pytest.fixture(autouse=True)
def _no_version_check(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(g4f.debug, "version_check", False)  # it would ask PyPI


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with Server(flavor="3.6", bots={"default": ScriptedBot(TOKENS)}) as running:
        yield running


@pytest.fixture(params=["base_url", "page"])
def site(request: pytest.FixtureRequest, server: Server) -> Type[Opchatgpts]:
    if request.param == "page":
        return Opchatgpts.for_site(page=server.page_url)
    return Opchatgpts.for_site(server.base_url)


def test_the_release_tested_is_0_2_0_6() -> None:
    assert G4F_VERSION == "0.2.0.6"


def test_a_site_class_is_a_g4f_provider(site: Type[Opchatgpts]) -> None:
    assert issubclass(site, AsyncGeneratorProvider)  # create_async streams only from these
    assert site.working is True


def test_create_blocking_and_streaming(site: Type[Opchatgpts]) -> None:
    assert g4f.ChatCompletion.create("gpt-3.5-turbo", MESSAGES, provider=site) == REPLY
    chunks = g4f.ChatCompletion.create("gpt-3.5-turbo", MESSAGES, provider=site, stream=True)
    assert list(chunks) == TOKENS  # str only: 0.2.x joins them


async def test_create_async_whole_and_streaming(site: Type[Opchatgpts]) -> None:
    text = await g4f.ChatCompletion.create_async("gpt-3.5-turbo", MESSAGES, provider=site)
    assert text == REPLY
    chunks: List[str] = []
    async for chunk in g4f.ChatCompletion.create_async(
        "gpt-3.5-turbo", MESSAGES, provider=site, stream=True
    ):
        chunks.append(chunk)
    assert chunks == TOKENS


def test_the_plain_class_needs_ignore_working(server: Server) -> None:
    plain = opchatgpts_compat.Opchatgpts
    site = {"base_url": server.base_url}
    with pytest.raises(g4f.errors.ProviderNotWorkingError):
        g4f.ChatCompletion.create("gpt-3.5-turbo", MESSAGES, provider=plain, **site)
    text = g4f.ChatCompletion.create(
        "gpt-3.5-turbo", MESSAGES, provider=plain, ignore_working=True, **site
    )
    assert text == REPLY
    with pytest.raises(g4f.errors.ProviderNotWorkingError):
        g4f.ChatCompletion.create_async("gpt-3.5-turbo", MESSAGES, provider=plain, **site)


def test_a_subclass_talks_to_its_url(server: Server) -> None:
    class Mine(Opchatgpts):
        url = server.base_url

    assert g4f.ChatCompletion.create("", MESSAGES, provider=Mine, ignore_working=True) == REPLY


def test_the_provider_errors_reach_g4f_callers(server: Server) -> None:
    messages = [{"role": "user", "content": "Please FAIL500"}]
    with Client(server.base_url) as client, pytest.raises(ServerError) as ours:
        client.complete(messages)
    site = Opchatgpts.for_site(server.base_url)
    with pytest.raises(ServerError) as info:
        g4f.ChatCompletion.create("gpt-3.5-turbo", messages, provider=site)
    assert isinstance(info.value, RuntimeError)  # what the original provider raised
    assert str(info.value) == str(ours.value)


async def test_the_provider_errors_reach_g4f_async_callers(server: Server) -> None:
    site = Opchatgpts.for_site(server.base_url, bot_id="fault-cut")
    chunks: List[str] = []
    with pytest.raises(OpchatgptsError) as info:
        stream = g4f.ChatCompletion.create_async("", MESSAGES, provider=site, stream=True)
        async for chunk in stream:
            chunks.append(chunk)
    assert type(info.value) is opchatgpts_compat.IncompleteStreamError
    assert info.value.partial == "".join(chunks) != ""


def test_the_readme_g4f_0_2_code_runs_as_written(server: Server) -> None:
    code = readme_code.from_g4f_code("g4f 0.2.x")
    out = readme_code.run(code, {"https://example.org": server.base_url})
    assert out == f"{REPLY}\n{REPLY}{REPLY}\n{REPLY}"
