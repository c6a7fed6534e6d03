"""The ``realsite`` tier: the library against the real AI Engine plugin.

``../shared/realsite/setup.sh`` starts real WordPress sites running AI Engine
1.6.94 to 3.6.2 (plus a ``?rest_route=`` site and a gzip vhost) on 127.0.0.1,
behind a fake OpenAI upstream that echoes what the plugin forwarded: every
reply is ``Hello there, world [u=U a=A last=TEXT]``, U and A the user and
assistant messages it received, TEXT the start of the last user message.  Each
message carries a unique mark, by which the upstream's record of it is found
(``GET {upstream}/_log``): what the model was really given.

One table of scenarios, each run against every site of ``sites.json`` through
both front ends; then the ``Opchatgpts`` methods and the command line.  Without
running sites every test skips with one line saying how to start them.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import re
import subprocess
import sys
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Dict, List, Optional, Tuple, Union

import pytest
import requests
from support import realsite
from support.twin import BOTH, Outcome, Twin

from opchatgpts_compat import (
    AsyncClient,
    Client,
    Opchatgpts,
    RejectedError,
    Reply,
    ServerError,
)

pytestmark = pytest.mark.realsite

SITES = realsite.site_names()
TIMEOUT = 60.0  # the sites run PHP on a loaded 2-core machine; never reached when all is well
TOKENS = ["Hello", " there", ",", " world"]
REJECTED = "Sorry, your query has been rejected."
CUSTOM_SYSTEM = "CUSTOMSYS realsite instructions"
#: The upstream's 500 message, which the plugin passes on with its own prefix.
UPSTREAM_FAILURE = "The server had an error while processing your request."
#: Versions that keep the PHP session locked while they stream (2.8.5; not
#: 2.4.4, which sets no PHPSESSID, nor 3.x): the requests of one client, which
#: share its PHPSESSID cookie, wait for each other there, as a browser's tabs do.
SERIAL_SESSIONS = {(2, 8, 5)}
#: How many streams the concurrency scenario runs at once, per front end.
ASYNC_STREAMS = 50
THREADS = 16


# -- the sites and the upstream -----------------------------------------------------


@dataclass(frozen=True)
class Site:
    """One entry of sites.json, and how a user would point the library at it."""

    entry: Dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.entry["name"])

    @property
    def version(self) -> Tuple[int, ...]:
        return tuple(int(part) for part in self.entry["version"].split("."))

    @property
    def features(self) -> Dict[str, Any]:
        return dict(self.entry["features"])

    @property
    def needs_nonce(self) -> bool:
        return bool(self.features["nonce_required"])

    @property
    def base_url(self) -> str:
        return str(self.entry["base_url"])

    @property
    def page_url(self) -> str:
        return str(self.entry["page_url"])

    @property
    def custom_page_url(self) -> str:
        return str(self.entry["custom_page_url"])

    @property
    def options(self) -> Dict[str, Any]:
        """What a plain client needs: the REST base when it is not ``/wp-json``."""
        options: Dict[str, Any] = {"timeout": TIMEOUT}
        if self.entry["permalinks"] == "plain":
            options["rest_url"] = str(self.entry["rest_url"]).rstrip("/")
        return options

    @property
    def page_options(self) -> Dict[str, Any]:
        """``from_page`` options: the gzip vhost serves the pages of another
        site, so its own address must win over the page's REST base."""
        options: Dict[str, Any] = {"timeout": TIMEOUT}
        if self.entry.get("gzip"):
            options["base_url"] = self.base_url
        return options


@pytest.fixture(params=SITES)
def site(request: pytest.FixtureRequest) -> Site:
    return Site(realsite.site(request.param))


def mark(text: str = "") -> str:
    """A message that the upstream's log can be searched by."""
    return f"rs{uuid.uuid4().hex[:12]} {text}".strip()


def upstream_log() -> List[Dict[str, Any]]:
    url = realsite.manifest()["upstream"] + "/_log"
    with urllib.request.urlopen(url, timeout=10) as answer:
        records: List[Dict[str, Any]] = json.loads(answer.read())
    return records


def records_of(message: str, log: Optional[List[Dict[str, Any]]] = None) -> List[Dict[str, Any]]:
    """The upstream's records of requests whose last user message is ``message``."""
    key = message.split(maxsplit=1)[0]
    return [r for r in log or upstream_log() if r["last_user"] and key in r["last_user"]]


def record_of(message: str, log: Optional[List[Dict[str, Any]]] = None) -> Dict[str, Any]:
    """The one upstream record of ``message``: the plugin forwarded it once."""
    found = records_of(message, log)
    assert len(found) == 1, f"{len(found)} upstream records of {message!r}"
    return found[0]


def expected_text(history: List[Dict[str, str]], new: str) -> str:
    """The reply to ``history`` + ``new`` when the model got exactly those messages."""
    users = sum(1 for m in history if m["role"] == "user") + 1
    assistants = sum(1 for m in history if m["role"] == "assistant")
    last = re.sub(r"\s+", " ", new).strip()[:40]
    return f"Hello there, world [u={users} a={assistants} last={last}]"


def check_received(message: str, history: List[Dict[str, str]], *, stream: bool = True) -> None:
    """The upstream got ``history`` in order and the new message once."""
    record = record_of(message)
    roles = [role for role in record["roles"] if role not in ("system", "developer")]
    assert roles == [m["role"] for m in history] + ["user"], record["roles"]
    assert record["last_user"] == message
    assert record["stream"] is stream
    assert record["status"] == 200


def check_usage(reply: Reply) -> None:
    """The site's usage figures (its own estimate when streaming: 2.0.9 says
    0 prompt tokens)."""
    usage = reply.usage
    assert usage is not None, reply.raw
    assert usage["prompt_tokens"] >= 0 and usage["completion_tokens"] > 0, usage
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"], usage


def text_chunks(outcome: Outcome) -> List[str]:
    """The chunks that carry text (1.x sends an empty ``live`` frame first)."""
    return [chunk for chunk in outcome.chunks if chunk]


# -- the wire, seen through the session the client is given -------------------------


@dataclass
class Exchange:
    method: str
    path: str
    status: int
    #: X-WP-Nonce sent with the request, and the one the answer carried.
    sent_nonce: Optional[str]
    got_nonce: Optional[str]


@dataclass
class Wire:
    """A session for the client (``session=``) that records every exchange."""

    twin: Twin
    exchanges: List[Exchange] = field(default_factory=list)
    session: Any = None

    async def __aenter__(self) -> Wire:
        if self.twin.is_async:
            import aiohttp

            trace = aiohttp.TraceConfig()
            trace.on_request_end.append(self._on_async_end)
            self.session = aiohttp.ClientSession(
                trust_env=False,
                cookie_jar=aiohttp.CookieJar(unsafe=True),
                trace_configs=[trace],
            )
        else:
            self.session = requests.Session()
            self.session.trust_env = False
            self.session.hooks["response"].append(self._on_response)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self.twin.is_async:
            await self.session.close()
        else:
            self.session.close()

    def _on_response(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self._record(
            str(response.request.method),
            str(response.request.url),
            response.status_code,
            response.request.headers.get("X-WP-Nonce"),
            response.headers.get("X-WP-Nonce"),
        )

    async def _on_async_end(self, session: Any, context: Any, params: Any) -> None:
        self._record(
            params.method,
            str(params.url),
            params.response.status,
            params.headers.get("X-WP-Nonce"),
            params.response.headers.get("X-WP-Nonce"),
        )

    def _record(self, method: str, url: str, status: int, sent: Any, got: Any) -> None:
        if "rest_route=" in url:
            route = url.rsplit("rest_route=", maxsplit=1)[-1]
        else:
            route = url.split("/", 3)[-1]
        self.exchanges.append(Exchange(method, "/" + route.lstrip("/"), status, sent, got))

    def submits(self, start: int = 0) -> List[Exchange]:
        return [e for e in self.exchanges[start:] if e.path.endswith("/chats/submit")]

    def client(self, site: Site, **options: Any) -> Union[Client, AsyncClient]:
        return self.twin.client(site.base_url, session=self.session, **{**site.options, **options})


# -- the scenarios: one table, every site, both front ends ---------------------------

HISTORY = [
    {"role": "user", "content": "Remember the word apple."},
    {"role": "assistant", "content": "Noted: apple."},
]


async def streamed_reply(twin: Twin, site: Site) -> None:
    """A plain client: the chunks as sent, the Reply and its usage, and the
    upstream got the history in order and the new message once."""
    new = mark("Which word did I ask you to remember?")
    async with Wire(twin) as wire:
        outcome = await twin.stream(wire.client(site), [*HISTORY, {"role": "user", "content": new}])
    reply = outcome.expect_ok()
    text = expected_text(HISTORY, new)
    assert text_chunks(outcome) == [*TOKENS, text[len("".join(TOKENS)) :]]
    assert reply.text == text
    assert outcome.statuses == []
    check_usage(reply)
    check_received(new, HISTORY)


async def tokens_while_upstream_sends(twin: Twin, site: Site) -> None:
    """The first chunks reach the caller while the upstream is still sending:
    it pauses 2.5 s before the third token (SLOWTOKENS)."""
    new = mark("SLOWTOKENS")
    arrived: List[Tuple[str, float]] = []
    async with Wire(twin) as wire:
        stream: Any = wire.client(site).stream([{"role": "user", "content": new}])
        if twin.is_async:
            async with stream:
                async for chunk in stream:
                    arrived.append((chunk, time.time()))
        else:
            with stream:
                for chunk in stream:
                    arrived.append((chunk, time.time()))
    assert stream.reply is not None and stream.reply.text == expected_text([], new)
    record = record_of(new)
    first = next(when for chunk, when in arrived if chunk)
    assert first < record["t_last"], (arrived, record["t_first"], record["t_last"])


async def not_streamed(twin: Twin, site: Site) -> None:
    """``stream=False``: one JSON answer, one chunk, the whole reply."""
    new = mark("not streamed")
    async with Wire(twin) as wire:
        outcome = await twin.stream(
            wire.client(site), [{"role": "user", "content": new}], stream=False
        )
    reply = outcome.expect_ok()
    assert outcome.chunks == [reply.text] == [expected_text([], new)]
    check_usage(reply)
    check_received(new, [], stream=False)


async def site_streaming_off(twin: Twin, site: Site) -> None:
    """A site with streaming switched off: its page says so, ``from_page``
    asks for one JSON answer, and the reply comes as one chunk."""
    if site.entry.get("gzip"):
        pytest.skip(
            "the gzip vhost's pages are on another origin, where the caller's "
            "headers (X-Realsite-No-Stream) are not sent"
        )
    new = mark("site streaming off")
    options = {**site.page_options, "headers": {"X-Realsite-No-Stream": "1"}}
    client = await twin.from_page(site.page_url, **options)
    try:
        outcome = await twin.stream(client, [{"role": "user", "content": new}])
    finally:
        await twin.close(client)
    reply = outcome.expect_ok()
    assert outcome.chunks == [reply.text] == [expected_text([], new)]
    check_received(new, [], stream=False)


async def referer_page(twin: Twin, site: Site) -> None:
    """The chatbot page given as Referer: the nonce comes from there on 2.0.x."""
    new = mark("referer")
    async with Wire(twin) as wire:
        client = wire.client(site, headers={"Referer": site.page_url})
        outcome = await twin.stream(client, [{"role": "user", "content": new}])
    assert outcome.expect_ok().text == expected_text([], new)
    check_received(new, [])


async def stale_nonce(twin: Twin, site: Site) -> None:
    """A given nonce that is not (or no longer) valid: WordPress refuses it
    with 403 on every version; the client gets a fresh one, or on sites that
    need none tries once without, and succeeds."""
    new = mark("stale nonce")
    async with Wire(twin) as wire:
        outcome = await twin.stream(
            wire.client(site, nonce="0123456789"), [{"role": "user", "content": new}]
        )
    assert outcome.expect_ok().text == expected_text([], new)
    first, last = wire.submits()[0], wire.submits()[-1]
    assert (first.sent_nonce, first.status) == ("0123456789", 403)
    assert last.status == 200 and last.sent_nonce != "0123456789"
    assert len(wire.submits()) == 2
    check_received(new, [])


async def fresh_nonce_kept(twin: Twin, site: Site) -> None:
    """The next call sends the fresh nonce the site sent back, and needs no
    other request."""
    async with Wire(twin) as wire:
        client = wire.client(site)
        try:
            first = await twin.complete(client, [{"role": "user", "content": mark("one")}])
            start = len(wire.exchanges)
            new = mark("two")
            second = await twin.complete(client, [{"role": "user", "content": new}])
        finally:
            await twin.close(client)
    assert first.text and second.text == expected_text([], new)
    again = wire.exchanges[start:]
    assert [(e.method, e.path, e.status) for e in again] == [("POST", again[0].path, 200)]
    assert again[0].path.endswith("/chats/submit")
    if site.needs_nonce:
        sent_back = [e.got_nonce for e in wire.exchanges[:start] if e.got_nonce]
        assert sent_back and again[0].sent_nonce == sent_back[-1]
    else:
        assert again[0].sent_nonce is None


async def nonce_expires(twin: Twin, site: Site) -> None:
    """A kept nonce that has expired by the next call is refused once (403),
    refreshed, and the call succeeds.

    WordPress checks a nonce against the current "tick" of its lifetime
    (``X-Realsite-Nonce-Life``, set on the client's session): the second call
    shortens the life from a day to an hour, so the ticks have moved on past
    the kept nonce's, as after a day's wait, and the fresh nonce stays valid
    however slow the machine is.
    """
    async with Wire(twin) as wire:
        client = wire.client(site)
        try:
            await twin.complete(client, [{"role": "user", "content": mark("before")}])
            start = len(wire.exchanges)
            new = mark("after")
            wire.session.headers["X-Realsite-Nonce-Life"] = "3600"  # every request from now on
            reply = await twin.complete(client, [{"role": "user", "content": new}])
        finally:
            await twin.close(client)
    assert reply.text == expected_text([], new)
    statuses = [e.status for e in wire.submits(start)]
    assert statuses == ([403, 200] if site.needs_nonce else [200])
    check_received(new, [])


async def from_page_default(twin: Twin, site: Site) -> None:
    """``from_page`` on /chatbot/: the site's own default chatbot."""
    new = mark("from the page")
    client = await twin.from_page(site.page_url, **site.page_options)
    try:
        outcome = await twin.stream(client, [{"role": "user", "content": new}])
    finally:
        await twin.close(client)
    assert outcome.expect_ok().text == expected_text([], new)
    assert CUSTOM_SYSTEM not in (record_of(new)["system"] or "")
    check_received(new, [])


async def from_page_custom(twin: Twin, site: Site) -> None:
    """``from_page`` on /custom-bot/: the custom bot's instructions reach the model."""
    new = mark("custom bot")
    client = await twin.from_page(site.custom_page_url, **site.page_options)
    try:
        outcome = await twin.stream(client, [{"role": "user", "content": new}])
    finally:
        await twin.close(client)
    assert outcome.expect_ok().text == expected_text([], new)
    assert CUSTOM_SYSTEM in (record_of(new)["system"] or "")
    check_received(new, [])


async def three_turns(twin: Twin, site: Site) -> None:
    """A conversation from the page: the history grows turn by turn and the
    model sees every earlier turn once, in order."""
    client = await twin.from_page(site.page_url, **site.page_options)
    try:
        conv = client.conversation()
        for turn in range(3):
            history = list(conv.messages)
            new = mark(f"turn {turn}")
            outcome = await twin.stream(conv, new)
            assert outcome.expect_ok().text == expected_text(history, new)
            check_received(new, history)
        assert [m["role"] for m in conv.messages][-6:] == ["user", "assistant"] * 3
    finally:
        await twin.close(client)


async def rejected_empty(twin: Twin, site: Site) -> None:
    """A message that is empty once PHP has trimmed it (NUL only): the plugin's
    own rejection, a RejectedError (403), and the model never sees it."""
    async with Wire(twin) as wire:
        outcome = await twin.stream(wire.client(site), [{"role": "user", "content": "\x00"}])
    assert isinstance(outcome.error, RejectedError), outcome.error
    assert (outcome.error.status_code, outcome.error.message) == (403, REJECTED)
    assert outcome.chunks == [] and outcome.error.partial == ""


async def rejected_long(twin: Twin, site: Site) -> None:
    """An over-long message (70,000 bytes, over every version's cap): the
    plugin's own rejection, 403 before 2.6, an error frame after; a ServerError
    with the site's message either way, and the model never sees it."""
    new = mark("x" * 70_000)
    async with Wire(twin) as wire:
        outcome = await twin.stream(wire.client(site), [{"role": "user", "content": new}])
    assert isinstance(outcome.error, ServerError), outcome.error
    assert outcome.error.message == REJECTED
    assert isinstance(outcome.error, RejectedError) == (site.version < (2, 6)), outcome.error
    assert outcome.chunks == [] and outcome.error.partial == ""
    assert records_of(new) == []


async def message_of_4000_bytes(twin: Twin, site: Site) -> None:
    """4,000 bytes: over 1.6's cap (3,584 bytes; 403), under 1.9 to 2.0's
    (65,536; an answer), over a bot's own input limit from 2.2 (512 by
    default; an error frame under status 200, a ServerError)."""
    new = mark("y" * 4000)
    async with Wire(twin) as wire:
        outcome = await twin.stream(wire.client(site), [{"role": "user", "content": new}])
    if (1, 9) <= site.version < (2, 2):
        assert outcome.expect_ok().text == expected_text([], new)
        check_received(new, [])
        return
    expected = RejectedError if site.version < (1, 9) else ServerError
    assert type(outcome.error) is expected, outcome.error
    assert outcome.error.message == REJECTED
    assert outcome.chunks == [] and outcome.error.partial == ""
    assert records_of(new) == []


async def upstream_failure(twin: Twin, site: Site) -> None:
    """The upstream answers 500: from 1.9.3 the plugin reports it, a
    ServerError; 1.6.x swallows it and ends with an empty reply."""
    new = mark("FAIL500")
    async with Wire(twin) as wire:
        outcome = await twin.stream(wire.client(site), [{"role": "user", "content": new}])
    assert record_of(new)["status"] == 500
    assert text_chunks(outcome) == []
    if site.version < (1, 9, 3):
        assert outcome.expect_ok().text == ""
        return
    assert isinstance(outcome.error, ServerError), outcome.error
    assert not isinstance(outcome.error, RejectedError), outcome.error
    assert UPSTREAM_FAILURE in outcome.error.message, outcome.error
    assert outcome.error.partial == ""


async def unknown_bot(twin: Twin, site: Site) -> None:
    """A bot id the site does not have: refused (403) before 1.9.3, an error
    (a ServerError) until 3.0.2, the default bot's reply from 3.0.3."""
    new = mark("unknown bot")
    async with Wire(twin) as wire:
        outcome = await twin.stream(
            wire.client(site, bot_id="no-such-bot"), [{"role": "user", "content": new}]
        )
    if site.version >= (3, 0, 3):
        assert outcome.expect_ok().text == expected_text([], new)
        return
    assert isinstance(outcome.error, ServerError), outcome.error
    assert isinstance(outcome.error, RejectedError) == (site.version < (1, 9, 3)), outcome.error
    assert outcome.error.message == REJECTED
    assert records_of(new) == []


async def status_frames(twin: Twin, site: Site) -> None:
    """Event logs on: 2.8.5+ send status lines, which are not reply text."""
    new = mark("status lines")
    headers = {"X-Realsite-Event-Logs": "1"}
    async with Wire(twin) as wire:
        outcome = await twin.stream(
            wire.client(site, headers=headers), [{"role": "user", "content": new}]
        )
    reply = outcome.expect_ok()
    assert "".join(outcome.chunks) == reply.text == expected_text([], new)
    if site.features["event_logs"]:
        assert outcome.statuses, "no status frames"
        assert all(s.subtype not in (None, "content") and s.text for s in outcome.statuses)
    else:
        assert outcome.statuses == []
    check_received(new, [])


async def concurrent_streams(twin: Twin, site: Site) -> None:
    """Many streams at once through one client (50 tasks on the AsyncClient,
    16 threads on the Client): each gets its own reply, each message reaches
    the model once, and the model was writing several replies at a time."""
    messages = [mark(f"stream {i}") for i in range(ASYNC_STREAMS if twin.is_async else THREADS)]

    def ask(client: Any, message: str) -> Any:
        return client.complete([{"role": "user", "content": message}])

    async with Wire(twin) as wire:
        client = wire.client(site)
        try:
            if twin.is_async:
                replies = await asyncio.gather(*(ask(client, m) for m in messages))
            else:
                with ThreadPoolExecutor(THREADS) as pool:
                    replies = list(pool.map(lambda m: ask(client, m), messages))
        finally:
            await twin.close(client)
    assert [r.text for r in replies] == [expected_text([], m) for m in messages]
    log = upstream_log()
    records = [record_of(m, log) for m in messages]
    if site.version in SERIAL_SESSIONS:
        return  # the site may serve them one at a time: see SERIAL_SESSIONS
    # Served one after the other, no record would start before another's last token.
    assert max_in_flight(records) > 1


def max_in_flight(records: List[Dict[str, Any]]) -> int:
    """The most upstream requests between their arrival and last token at once."""
    edges = sorted([(r["t_recv"], 1) for r in records] + [(r["t_last"], -1) for r in records])
    most = now = 0
    for _, step in edges:
        now += step
        most = max(most, now)
    return most


SCENARIOS: Dict[str, Callable[[Twin, Site], Awaitable[None]]] = {
    f.__name__.replace("_", "-"): f
    for f in (
        streamed_reply,
        tokens_while_upstream_sends,
        not_streamed,
        site_streaming_off,
        referer_page,
        stale_nonce,
        fresh_nonce_kept,
        nonce_expires,
        from_page_default,
        from_page_custom,
        three_turns,
        rejected_empty,
        rejected_long,
        message_of_4000_bytes,
        upstream_failure,
        unknown_bot,
        status_frames,
        concurrent_streams,
    )
}


@pytest.mark.parametrize("twin", BOTH, ids=str)
@pytest.mark.parametrize("scenario", list(SCENARIOS))
async def test_scenario(scenario: str, twin: Twin, site: Site) -> None:
    await SCENARIOS[scenario](twin, site)


# -- the g4f provider's three methods ------------------------------------------------


async def provider_reply(method: str, messages: List[Dict[str, str]], **options: Any) -> str:
    """The whole reply through one of the provider's ways to call it."""
    model = "gpt-3.5-turbo"
    if method == "create_completion":
        return "".join(Opchatgpts.create_completion(model, messages, **options))
    if method == "create_completion-whole":
        whole = list(Opchatgpts.create_completion(model, messages, stream=False, **options))
        assert len(whole) == 1, whole
        return whole[0]
    if method == "create_async_generator":
        return "".join(
            [c async for c in Opchatgpts.create_async_generator(model, messages, **options)]
        )
    if method == "create_async_generator-awaited":
        generator = await Opchatgpts.create_async_generator(model, messages, **options)
        return "".join([c async for c in generator])
    assert method == "create_async"
    return await Opchatgpts.create_async(model, messages, **options)


PROVIDER_METHODS = [
    "create_completion",
    "create_completion-whole",
    "create_async_generator",
    "create_async_generator-awaited",
    "create_async",
]


@pytest.mark.parametrize("method", PROVIDER_METHODS)
async def test_provider(method: str, site: Site) -> None:
    """The g4f provider's three methods (``create_completion`` streamed and
    whole, ``create_async_generator`` iterated and awaited, ``create_async``),
    given a history: the model gets it in order and the new message once."""
    new = mark(method)
    options = {"base_url": site.base_url, **site.options}
    text = await provider_reply(method, [*HISTORY, {"role": "user", "content": new}], **options)
    assert text == expected_text(HISTORY, new)
    check_received(new, HISTORY)


# -- the command line ------------------------------------------------------------------


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "opchatgpts_compat", "chat", "--timeout", str(TIMEOUT), *args],
        capture_output=True,
        check=False,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    )


@pytest.mark.parametrize("how", ["base-url", "base-url-async", "page-json"])
def test_cli(how: str, site: Site) -> None:
    """``python -m opchatgpts_compat chat`` as a user types it."""
    new = mark(f"cli {how}")
    if how == "page-json":
        args = ["--page", site.page_url, "--json"]
        if site.entry.get("gzip"):
            args += ["--base-url", site.base_url]
    else:
        if site.entry["permalinks"] == "plain":
            pytest.skip("plain permalinks: the REST base comes from --page")
        args = ["--base-url", site.base_url, *(["--async"] if how.endswith("async") else [])]
    done = run_cli(*args, new)
    assert done.returncode == 0, done.stderr
    if how == "page-json":
        # A conversation: it starts from the chatbot's start sentence.
        history = Client.from_page(site.page_url).conversation().messages
        lines = [json.loads(line) for line in done.stdout.splitlines()]
        text = expected_text(history, new)
        assert "".join(line.get("chunk", "") for line in lines) == text
        assert lines[-1]["reply"] == text and lines[-1]["usage"]
    else:
        history = []
        assert done.stdout == expected_text(history, new) + "\n"
    check_received(new, history)


# -- the sites themselves ---------------------------------------------------------------


def test_gzip_site_compresses_the_stream(site: Site) -> None:
    """The gzip vhost really compresses the event stream, so the tier tests that."""
    if not site.entry.get("gzip"):
        pytest.skip("not the gzip vhost")
    rest = site.base_url + "/wp-json"
    with requests.Session() as session:
        started = session.post(rest + "/mwai/v1/start_session", timeout=TIMEOUT)
        nonce = started.json()["restNonce"]
        body = {"botId": "default", "messages": [], "newMessage": mark("gzip"), "stream": True}
        with session.post(
            rest + "/mwai-ui/v1/chats/submit",
            json=body,
            headers={"X-WP-Nonce": nonce, "Accept-Encoding": "gzip"},
            stream=True,
            timeout=TIMEOUT,
        ) as answer:
            raw = answer.raw.read(decode_content=False)
            headers = answer.headers
    assert headers["Content-Type"].startswith("text/event-stream")
    assert headers["Content-Encoding"] == "gzip"
    assert b'"type":"end"' in gzip.decompress(raw)
