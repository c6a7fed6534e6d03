"""``Opchatgpts.for_site`` and ``cls.url`` on their own, without g4f.

The provider's two front ends (``create_completion``: requests,
``create_async_generator``: aiohttp) run every case against the embedded
server on 127.0.0.1.  g4f is kept out (whether or not it is installed): with
it, see test_g4f.py (0.2.0.6) and test_g4f8.py (8.8.6).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
from typing import Any, Dict, Iterator, List

import pytest
from support.twin import MESSAGES, Twin, both

from opchatgpts_compat import IncompleteStreamError, Opchatgpts, TransportError, _g4f
from opchatgpts_compat.server import ScriptedBot, Server

TOKENS = ["Hello", " there", ",", " world"]
OTHER = ["Other", " bot"]


@pytest.fixture(autouse=True)
def _no_g4f(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if g4f were not installed (the subprocess test below checks the real thing)."""
    monkeypatch.setattr(_g4f, "provider_bases", lambda: ())
    monkeypatch.setattr(_g4f, "usage_type", lambda: None)


@pytest.fixture
def server() -> Iterator[Server]:
    # One per test (about 1 ms to start): the server records a request after
    # its answer, which the client may beat, so with a server shared by the
    # module a test could count the last request of the test before it.
    bots = {"default": ScriptedBot(TOKENS), "other": ScriptedBot(OTHER)}
    with Server(flavor="2.0", bots=bots) as running:
        yield running


async def chunks_of(twin: Twin, provider: Any, messages: Any = None, **kwargs: Any) -> List[Any]:
    """What the provider yields, through ``twin``'s front end."""
    messages = MESSAGES if messages is None else messages
    if twin.is_async:
        return [
            c async for c in provider.create_async_generator("gpt-3.5-turbo", messages, **kwargs)
        ]
    return list(provider.create_completion("gpt-3.5-turbo", messages, **kwargs))


def kinds(server: Server, since: int) -> List[str]:
    return [record.kind for record in server.records[since:]]


async def seen(twin: Twin, server: Server, since: int, count: int) -> List[str]:
    """The kinds of the ``count`` requests since ``since``, once the server has
    recorded them (it does so after the answer, which the client may beat)."""
    done = await twin.wait(
        lambda timeout: server.wait_for(lambda r: len(r) >= since + count, timeout)
    )
    assert done, kinds(server, since)
    return kinds(server, since)


@pytest.mark.parametrize(
    "base_url, name",
    [
        ("https://example.org", "ExampleOrg"),
        ("https://www.example.co.uk/blog/", "ExampleCoUk"),
        ("http://chat-bot.example.org:8080", "ChatBotExampleOrg_8080"),
        ("http://127.0.0.1:8080", "Site_127_0_0_1_8080"),
        ("http://[::1]:8080", "Site_1_8080"),
    ],
)
def test_the_class_is_bound_to_the_site(base_url: str, name: str) -> None:
    site = Opchatgpts.for_site(base_url)
    assert site.__name__ == name
    assert site.url == base_url.rstrip("/")
    assert site.working is True and Opchatgpts.working is False
    assert issubclass(site, Opchatgpts) and site.__mro__[1:] == Opchatgpts.__mro__
    assert site.get_dict() == {"name": name, "url": site.url, "label": None}
    assert Opchatgpts.for_site(base_url, name="Support").__name__ == "Support"


def test_the_page_form_names_the_site_without_credentials() -> None:
    site = Opchatgpts.for_site(page="https://user:secret@example.org/chatbot/")
    assert (site.__name__, site.url) == ("ExampleOrg", "https://example.org")
    assert "secret" not in repr(site.get_dict())


@pytest.mark.parametrize(
    "args, kwargs, error, match",
    [
        ((), {}, TypeError, "base_url or page="),
        (("https://example.org",), {"page": "https://example.org/"}, TypeError, "not both"),
        (("example.org",), {}, ValueError, "base_url must be an http"),
        ((), {"page": "ftp://example.org/"}, ValueError, "page must be an http"),
        ((), {"page": 42}, TypeError, "page must be a URL"),
        (("https://example.org",), {"name": "Example Bot"}, ValueError, "identifier"),
        (("https://example.org",), {"name": 7}, TypeError, "name must be a string"),
        (("https://example.org",), {"temperature": 0.5}, TypeError, "temperature"),
        (("https://example.org",), {"session": None}, TypeError, "session"),
        (("https://example.org",), {"timeout": -1}, ValueError, "timeout"),
        (("https://example.org",), {"proxy": "socks5://h:1"}, ValueError, "proxy"),
        ((), {"page": "https://example.org/", "bot_id": 3}, TypeError, "bot_id"),
    ],
)
def test_bad_arguments_fail_at_once(
    args: Any, kwargs: Dict[str, Any], error: type, match: str
) -> None:
    with pytest.raises(error, match=match):
        Opchatgpts.for_site(*args, **kwargs)


@both
async def test_it_talks_to_its_site_in_str_chunks(twin: Twin, server: Server) -> None:
    site = Opchatgpts.for_site(server.base_url)
    assert await chunks_of(twin, site) == TOKENS
    if not twin.is_async:  # the async generator has no stream=False
        assert await chunks_of(twin, site, stream=False) == ["".join(TOKENS)]


@both
async def test_the_options_are_defaults_and_a_call_wins(twin: Twin, server: Server) -> None:
    site = Opchatgpts.for_site(server.base_url, bot_id="other")
    assert await chunks_of(twin, site) == OTHER
    assert await chunks_of(twin, site, bot_id="default") == TOKENS
    assert await chunks_of(twin, site) == OTHER  # the call changed nothing for the next


@both
async def test_the_page_form_reads_the_page_at_every_call_and_only_then(
    twin: Twin, server: Server
) -> None:
    before = len(server.records)
    site = Opchatgpts.for_site(page=server.page_url)
    chunks = site.create_completion("", MESSAGES) if not twin.is_async else None
    assert kinds(server, before) == []  # nothing fetched until the chunks are asked for
    if chunks is not None:
        chunks.close()  # type: ignore[attr-defined]
    assert await chunks_of(twin, site) == TOKENS
    assert await seen(twin, server, before, 2) == ["page", "stream"]
    assert await chunks_of(twin, site) == TOKENS
    # The 2.0 page carries the nonce: no refused submit first.
    assert await seen(twin, server, before, 4) == ["page", "stream", "page", "stream"]
    assert [r.nonce for r in server.records[before:]] == [None, server.nonce] * 2


@both
async def test_the_page_form_checks_messages_before_reading_the_page(
    twin: Twin, server: Server
) -> None:
    site = Opchatgpts.for_site(page=server.page_url)
    before = len(server.records)
    for messages in ([], [{"role": "user", "content": "  "}]):
        with pytest.raises(ValueError):
            await chunks_of(twin, site, messages)
    with pytest.raises(ValueError, match="timeout"):
        await chunks_of(twin, site, timeout=-1)
    assert kinds(server, before) == []


@both
async def test_a_subclass_talks_to_its_url(twin: Twin, server: Server) -> None:
    class Mine(Opchatgpts):
        url = server.base_url

    before = len(server.records)
    assert await chunks_of(twin, Mine) == TOKENS

    def streamed(timeout: float) -> bool:
        return server.wait_for(lambda rs: "stream" in [r.kind for r in rs[before:]], timeout)

    assert await twin.wait(streamed)  # at this server, not opchatgpts.net


@both
async def test_the_site_errors_stay_ours(twin: Twin, server: Server) -> None:
    site = Opchatgpts.for_site(server.base_url, bot_id="fault-cut")
    with pytest.raises(IncompleteStreamError) as info:
        await chunks_of(twin, site)
    assert info.value.partial  # what arrived before the cut


def test_without_g4f_nothing_of_g4f_is_imported() -> None:
    code = textwrap.dedent(
        """
        import sys
        sys.modules["g4f"] = None  # as if it were not installed
        from opchatgpts_compat import Opchatgpts
        site = Opchatgpts.for_site("https://example.org")
        assert site.__mro__[1:] == Opchatgpts.__mro__, site.__mro__
        assert site._usage is None
        assert not [name for name in sys.modules if name.startswith("g4f.")]
        print("ok")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "ok\n", "")


@both
async def test_leaving_the_page_form_early_closes_the_connection(twin: Twin) -> None:
    # The next token is 60 s away: only the disconnect can end the answer now.
    with Server(flavor="2.0", delay=60.0, bots={"default": ScriptedBot(TOKENS)}) as slow:
        site = Opchatgpts.for_site(page=slow.page_url)
        if twin.is_async:
            agen = site.create_async_generator("", MESSAGES)
            assert await agen.__anext__() == TOKENS[0]
            await agen.aclose()
        else:
            chunks = site.create_completion("", MESSAGES)
            assert next(chunks) == TOKENS[0]
            chunks.close()  # type: ignore[attr-defined]
        assert await twin.wait(lambda timeout: slow.wait_for(lambda r: len(r) == 2, timeout))
        assert [(r.kind, r.tokens, r.outcome) for r in slow.records] == [
            ("page", 0, "ok"),
            ("stream", 1, "disconnected"),
        ]


@both
async def test_the_proxy_credentials_stay_hidden(twin: Twin) -> None:
    with socket.socket() as sock:  # a port nothing listens on: the proxy is refused
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    site = Opchatgpts.for_site("https://example.org", proxy=f"http://user:s3cret@127.0.0.1:{port}")
    shown = [repr(site), str(site.__doc__), repr(site.get_dict()), site.__name__]
    with pytest.raises(TransportError) as info:
        await chunks_of(twin, site)
    shown += [str(info.value), repr(info.value.__cause__)]
    assert not [text for text in shown if "s3cret" in text]
