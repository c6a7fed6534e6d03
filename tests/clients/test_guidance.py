"""Errors that say what was tried and what to do, through both front ends.

One table of a new user's mistakes (issue 10): each case names where the
client is pointed and the exact error both front ends must raise for it.
Everything is on 127.0.0.1; the one name that must not resolve is refused by
a patched ``socket.getaddrinfo``, which requests (urllib3) and aiohttp both
call at connect time, so no DNS server is asked.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, NamedTuple, Type

import pytest
from support.fault_server import Script, ServerThread, Stall
from support.twin import BOTH, Twin

from opchatgpts_compat import (
    HTTPStatusError,
    OpchatgptsError,
    RejectedError,
    ServerError,
    StreamTimeoutError,
    TransportError,
    _failures,
)
from opchatgpts_compat.server import Server

UNRESOLVED_HOST = "chat.invalid"
REFUSED = "connection refused (nothing listens on that port)"
SUBMIT = "/wp-json/mwai-ui/v1/chats/submit"
REJECTED = "Sorry, your query has been rejected."
NOT_FOUND_HINT = (
    "; is base_url the WordPress site's root, with the path it lives under (e.g. "
    "https://example.org/blog), and not a page?  For a page showing the chatbot, "
    "use Client.from_page(url)"
)


class Places(NamedTuple):
    """Where a case can point the client."""

    site: Server  # AI Engine 2.0: unknown bots rejected
    dead: str  # a port nothing listens on
    stalled: str  # accepts, never answers


@dataclass
class Mistake:
    name: str
    #: ``(base_url, options)`` for the client.
    where: Callable[[Places], Any]
    error: Type[OpchatgptsError]
    #: The whole message, from the places.
    message: Callable[[Places], str]
    #: The site's own message (``.message``), for a ServerError.
    site_message: str = ""
    #: The default site is the dead port (as opchatgpts.net is dead).
    default_is_dead: bool = False
    messages: List[Dict[str, str]] = field(
        default_factory=lambda: [{"role": "user", "content": "Hi"}]
    )

    def __str__(self) -> str:
        return self.name


def _bot(places: Places, **options: Any) -> Any:
    return places.site.base_url, {"nonce": places.site.nonce, **options}


MISTAKES = [
    Mistake(
        "connection-refused",
        lambda p: (p.dead, {}),
        TransportError,
        lambda p: f"Cannot connect to {p.dead}: {REFUSED}",
    ),
    Mistake(
        "name-does-not-resolve",
        lambda p: (f"http://{UNRESOLVED_HOST}", {}),
        TransportError,
        lambda p: (
            f"Cannot connect to http://{UNRESOLVED_HOST}: "
            f"the name {UNRESOLVED_HOST} does not resolve (DNS)"
        ),
    ),
    Mistake(
        "timeout",
        lambda p: (p.stalled, {"timeout": 0.5}),
        StreamTimeoutError,
        lambda p: f"No new bytes from {p.stalled.rsplit('/', 1)[0]} for 0.5 s",
    ),
    Mistake(
        "default-site-is-gone",
        lambda p: (p.dead, {}),
        TransportError,
        lambda p: (
            f"Cannot connect to {p.dead}: {REFUSED}; {p.dead}, the default site, "
            "is no longer online: pass base_url= (a WordPress site running AI Engine) "
            "or use Client.from_page(url) with a page showing its chatbot"
        ),
        default_is_dead=True,
    ),
    Mistake(
        "proxy-unreachable",
        lambda p: (p.site.base_url, {"proxy": p.dead.replace("//", "//user:hunter2@")}),
        TransportError,
        lambda p: f"Cannot connect to the proxy {p.dead.replace('//', '//****@')}: {REFUSED}",
    ),
    Mistake(
        "page-url-as-base-url",
        lambda p: (p.site.base_url + "/chatbot", {"nonce": p.site.nonce}),
        HTTPStatusError,
        lambda p: f"HTTP 404 Not Found from {p.site.base_url}/chatbot{SUBMIT}{NOT_FOUND_HINT}",
    ),
    Mistake(
        "wrong-path-prefix",
        lambda p: (p.site.base_url + "/blog", {"nonce": p.site.nonce}),
        HTTPStatusError,
        lambda p: f"HTTP 404 Not Found from {p.site.base_url}/blog{SUBMIT}{NOT_FOUND_HINT}",
    ),
    Mistake(
        "unknown-bot-id-streaming",
        lambda p: _bot(p, bot_id="no-such-bot"),
        ServerError,
        lambda p: (
            f"{REJECTED} (AI Engine answers this to an unknown bot id, or a message "
            "it refuses: is the bot id 'no-such-bot' right?  Client.from_page(url) takes "
            "it from the page)"
        ),
        site_message=REJECTED,
    ),
    Mistake(
        "unknown-custom-id-not-streaming",
        lambda p: _bot(p, custom_id="no-such-bot", stream=False),
        RejectedError,
        lambda p: (
            f"HTTP 500 Internal Server Error: {REJECTED} (AI Engine answers this to an "
            "unknown bot id, or a message it refuses: is the bot id 'no-such-bot' right?  "
            "Client.from_page(url) takes it from the page)"
        ),
        site_message=REJECTED,
    ),
    Mistake(
        "message-too-long-for-the-default-bot",  # no bot id to blame
        _bot,
        RejectedError,
        lambda p: f"HTTP 403 Forbidden: {REJECTED}",
        site_message=REJECTED,
        messages=[{"role": "user", "content": "A" * 65537}],
    ),
]


@pytest.fixture(scope="module")
def places() -> Iterator[Places]:
    dead = socket.socket()  # bound, never listening: connections are refused
    dead.bind(("127.0.0.1", 0))
    with Server() as site, ServerThread() as faults:
        stalled = faults.route("stalled", Script(before_head=Stall()))
        try:
            yield Places(site, f"http://127.0.0.1:{dead.getsockname()[1]}", stalled)
        finally:
            dead.close()


@pytest.fixture(autouse=True)
def no_such_name(monkeypatch: pytest.MonkeyPatch) -> None:
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == UNRESOLVED_HOST:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def test_the_mistake_names_are_unique() -> None:
    assert len({case.name for case in MISTAKES}) == len(MISTAKES)


@pytest.mark.parametrize("twin", BOTH, ids=str)
@pytest.mark.parametrize("case", MISTAKES, ids=str)
async def test_the_error_says_what_to_do(
    places: Places, twin: Twin, case: Mistake, monkeypatch: pytest.MonkeyPatch
) -> None:
    if case.default_is_dead:
        monkeypatch.setattr(_failures, "DEFAULT_BASE_URL", places.dead)
    base_url, options = case.where(places)
    outcome = await twin.run(base_url, case.messages, **options)
    error = outcome.error
    assert type(error) is case.error, f"{type(error).__name__}: {error}"
    assert str(error) == case.message(places)
    assert "hunter2" not in str(error)
    if case.site_message:
        assert isinstance(error, ServerError)
        assert error.message == case.site_message  # the site's own words, without the hint


def test_the_default_site_gets_the_hint_only_for_connecting() -> None:
    # Once connected, the site is up: the hint would mislead.
    for kind in (_failures.Failure.READ_TIMEOUT, _failures.Failure.LOST):
        error = _failures.transport_error(kind, origin="https://opchatgpts.net", timeout=1.0)
        assert "default site" not in str(error)
    error = _failures.transport_error(
        _failures.Failure.CONNECT_TIMEOUT, origin="https://opchatgpts.net", timeout=1.0
    )
    assert str(error).startswith(
        "Connecting to https://opchatgpts.net took more than 1 s; https://opchatgpts.net, "
        "the default site, is no longer online: pass base_url="
    )


@pytest.mark.parametrize("twin", BOTH, ids=str)
def test_an_unknown_option_names_the_client_and_its_options(twin: Twin) -> None:
    with pytest.raises(TypeError) as info:
        twin.client("http://127.0.0.1:9", temperature=0.1)
    name = "AsyncClient" if twin.is_async else "Client"
    assert str(info.value) == (
        f"{name}() got unexpected keyword argument(s) 'temperature'; its options are: "
        "base_url, bot_id, chat_id, context_id, custom_id, headers, legacy_id, max_event_size, "
        "nonce, proxy, rest_url, session, session_id, stream, timeout, verify"
    )
    assert "build_settings" not in str(info.value)


@pytest.mark.parametrize("twin", BOTH, ids=str)
async def test_an_unknown_call_option_names_the_calls(twin: Twin) -> None:
    client = twin.client("http://127.0.0.1:9")
    try:
        with pytest.raises(TypeError) as info:
            client.stream([{"role": "user", "content": "Hi"}], temperature=0.1)
    finally:
        await twin.close(client)
    assert str(info.value) == (
        "stream()/complete() got unexpected keyword argument(s) 'temperature'; its options "
        "are: bot_id, chat_id, context_id, custom_id, nonce, session_id, stream"
    )


@pytest.mark.parametrize("twin", BOTH, ids=str)
async def test_an_unknown_from_page_option_names_from_page(twin: Twin) -> None:
    with pytest.raises(TypeError) as info:
        await twin.from_page("http://127.0.0.1:9/chatbot/", temperature=0.1)
    name = "AsyncClient" if twin.is_async else "Client"
    assert str(info.value).startswith(
        f"{name}.from_page() got unexpected keyword argument(s) 'temperature'; "
        "its options are: base_url, bot_id,"
    )
