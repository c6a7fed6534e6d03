"""The automatic nonce, page discovery and conversations, end to end on both clients.

Against the loopback emulation of AI Engine 2.0 (nonce in the page, no
start_session) and 3.6 (start_session and its cookie), site_emulator.py.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, List, Optional, Tuple

import pytest
from support.fault_server import LoopbackServer, Request, Writer, response_head
from support.site_emulator import (
    NO_NONCE,
    START_SENTENCE,
    START_SESSION,
    SUBMIT,
    Site,
    chatbot_element,
    page,
    php_json,
)
from support.twin import Twin, both

from opchatgpts_compat import (
    HTTPStatusError,
    OpchatgptsError,
    ServerError,
    StreamTimeoutError,
    TransportError,
)

FLAVORS = pytest.mark.parametrize("flavor", ["2.0", "3.6"])
HI = [{"role": "user", "content": "Hi"}]


def steps(server: Any, start: int = 0) -> List[Tuple[str, str, Optional[str]]]:
    """(method, route, X-WP-Nonce) of the requests the site saw, from ``start``."""
    return [(r.method, r.path, r.header("X-WP-Nonce")) for r in server.requests[start:]]


def refresh_steps(flavor: str, page: str = "/chatgpt-free-use/") -> List[Tuple[str, str, None]]:
    """The requests that get a fresh nonce: start_session, and the page on 2.0."""
    found: List[Tuple[str, str, None]] = [("POST", START_SESSION, None)]
    if flavor == "2.0":
        found.append(("GET", page, None))
    return found


def make_site(flavor: str, **options: Any) -> Site:
    # 3.6 binds the nonce to its session cookie: the cookie jar must work.
    return Site(flavor, bind_cookie=flavor == "3.6", **options)


@both
@FLAVORS
async def test_first_call_without_a_nonce_succeeds(flavor: str, twin: Twin) -> None:
    site = make_site(flavor)
    with site.server() as server:
        client = twin.client(base_url=site.base_url)
        try:
            first = await twin.stream(client, HI)
            after_first = len(server.requests)
            second = await twin.stream(client, [{"role": "user", "content": "Again"}])
        finally:
            await twin.close(client)
    assert first.expect_ok().text == "Turn 1: you said Hi."
    assert first.chunks == ["Turn", " 1:", " you", " said", " Hi."]
    assert second.expect_ok().text == "Turn 1: you said Again."
    nonce = site.nonce
    assert steps(server) == [
        ("POST", SUBMIT, None),
        *refresh_steps(flavor),
        ("POST", SUBMIT, nonce),
        ("POST", SUBMIT, nonce),  # kept, sent up front
    ]
    assert after_first == len(server.requests) - 1


@both
@FLAVORS
async def test_nonce_expired_on_the_site_is_refreshed_once(flavor: str, twin: Twin) -> None:
    site = make_site(flavor)
    with site.server() as server:
        client = twin.client(base_url=site.base_url)
        try:
            (await twin.stream(client, HI)).expect_ok()
            old = site.nonce
            site.expire()
            start = len(server.requests)
            reply = (await twin.stream(client, HI)).expect_ok()
        finally:
            await twin.close(client)
    assert reply.text == "Turn 1: you said Hi."
    assert steps(server, start) == [
        ("POST", SUBMIT, old),  # 403 rest_cookie_invalid_nonce
        *refresh_steps(flavor),  # fetched without the stale nonce
        ("POST", SUBMIT, site.nonce),
    ]


@both
@FLAVORS
@pytest.mark.parametrize("given", [None, "0123456789"], ids=["no-nonce", "stale-nonce"])
async def test_a_second_refusal_raises(flavor: str, given: Optional[str], twin: Twin) -> None:
    site = make_site(flavor, refuse_all=True)
    with site.server() as server:
        options = {} if given is None else {"nonce": given}
        client = twin.client(base_url=site.base_url, **options)
        try:
            outcome = await twin.stream(client, HI)
            kept = client._site.nonce
        finally:
            await twin.close(client)
    error = outcome.error
    assert type(error) is HTTPStatusError
    assert (error.status_code, error.code) == (403, "rest_cookie_invalid_nonce")
    assert str(error) == "HTTP 403 Forbidden: Cookie check failed (rest_cookie_invalid_nonce)"
    assert steps(server) == [
        ("POST", SUBMIT, given),
        *refresh_steps(flavor),
        ("POST", SUBMIT, site.nonce),  # one retry, no more
    ]
    assert kept is None  # a refused nonce is not sent again


@both
async def test_no_nonce_anywhere_raises_the_refusal(twin: Twin) -> None:
    site = Site("2.0", searchable=False)
    with site.server() as server:
        site.extra_pages["/chatgpt-free-use/"] = page(
            chatbot_element(site.system(restNonce=None), site.params())
        )
        client = twin.client(base_url=site.base_url)
        try:
            outcome = await twin.stream(client, HI)
        finally:
            await twin.close(client)
    error = outcome.error
    assert type(error) is HTTPStatusError
    assert (error.status_code, error.code) == (401, "rest_forbidden")
    base = site.base_url
    assert str(error) == (
        "HTTP 401 Unauthorized: Sorry, you are not allowed to do that. (rest_forbidden); "
        f"no nonce from start_session or {base}/chatgpt-free-use/ or {base}/"
    )
    assert steps(server) == [
        ("POST", SUBMIT, None),
        ("POST", START_SESSION, None),
        ("GET", "/chatgpt-free-use/", None),  # the Referer page: a chatbot, no nonce
        ("GET", "/", None),  # then the home page: 404
        ("GET", "/wp-json/wp/v2/search", None),  # then the site's search: closed here
    ]


@both
@FLAVORS
@pytest.mark.parametrize("how", ["header", "new_token"])
async def test_a_rotated_nonce_replaces_the_kept_one(flavor: str, how: str, twin: Twin) -> None:
    site = make_site(flavor, rotate_header=how == "header", rotate_token=how == "new_token")
    with site.server() as server:
        client = twin.client(base_url=site.base_url)
        try:
            sent = []
            for _ in range(3):
                (await twin.stream(client, HI)).expect_ok()
                sent.append(site.nonce)  # the one the last answer carried
            start = len(server.requests)
            (await twin.stream(client, HI)).expect_ok()
        finally:
            await twin.close(client)
    assert steps(server, start) == [("POST", SUBMIT, sent[-1])]
    submits = [s for s in steps(server) if s[1] == SUBMIT and s[2] is not None]
    assert [nonce for _, _, nonce in submits][1:] == sent  # each call used the newest


@both
async def test_from_page_2_0_uses_the_page_nonce_and_rereads_that_page(twin: Twin) -> None:
    site = Site("2.0")
    with site.server() as server:
        client = await twin.from_page(site.base_url + "/chatbot/")
        try:
            (await twin.stream(client, HI)).expect_ok()
            site.expire()
            (await twin.stream(client, HI)).expect_ok()
        finally:
            await twin.close(client)
    first_nonce = steps(server)[1][2]
    assert steps(server) == [
        ("GET", "/chatbot/", None),
        ("POST", SUBMIT, first_nonce),  # from data-system, sent up front
        ("POST", SUBMIT, first_nonce),  # expired: 403
        ("POST", START_SESSION, None),  # 404 rest_no_route
        ("GET", "/chatbot/", None),  # the page from_page read
        ("POST", SUBMIT, site.nonce),
    ]


@both
async def test_from_page_3_6_starts_a_session_and_reports_status_frames(twin: Twin) -> None:
    site = Site("3.6", bind_cookie=True)
    with site.server() as server:
        client = await twin.from_page(site.base_url + "/chatbot/")
        try:
            outcome = await twin.stream(client, HI)
        finally:
            await twin.close(client)
    assert outcome.expect_ok().text == "Turn 1: you said Hi."
    assert " Hi." in outcome.chunks
    assert "Generating response..." not in "".join(outcome.chunks)
    assert [(s.subtype, s.text) for s in outcome.statuses] == [("status", "Generating response...")]
    assert set(outcome.reply.raw) >= {"actions", "shortcuts", "blocks", "responseId"}  # type: ignore[union-attr]
    assert steps(server) == [
        ("GET", "/chatbot/", None),
        ("POST", SUBMIT, None),
        ("POST", START_SESSION, None),
        ("POST", SUBMIT, site.nonce),
    ]
    body = json.loads(server.requests[-1].body)
    assert (body["botId"], body["contextId"], body["session"]) == ("default", 4, "N/A")


@both
@FLAVORS
async def test_three_turn_conversation_carries_history_and_chat_id(flavor: str, twin: Twin) -> None:
    site = make_site(flavor)
    with site.server():
        client = await twin.from_page(site.base_url + "/chatbot/")
        try:
            conv = client.conversation()
            first = await twin.stream(conv, "Hello")
            second = await twin.complete(conv, "And then?")
            third = await twin.stream(conv, "Bye")
            messages = conv.messages
            chat_id = conv.chat_id
        finally:
            await twin.close(client)
    assert first.expect_ok().text == "Turn 1: you said Hello."
    assert second.text == "Turn 2: you said And then?."
    assert third.expect_ok().text == "Turn 3: you said Bye."
    assert [chat for chat, _, _ in site.turns] == [chat_id] * 3
    sent_history = [[(m["role"], m["content"]) for m in history] for _, history, _ in site.turns]
    start = ("assistant", START_SENTENCE)
    assert sent_history == [
        [start],
        [start, ("user", "Hello"), ("assistant", "Turn 1: you said Hello.")],
        [
            start,
            ("user", "Hello"),
            ("assistant", "Turn 1: you said Hello."),
            ("user", "And then?"),
            ("assistant", "Turn 2: you said And then?."),
        ],
    ]
    assert [text for _, _, text in site.turns] == ["Hello", "And then?", "Bye"]
    assert len(messages) == 7
    for message in messages:
        assert set(message) == {"id", "role", "content", "who", "timestamp"}
        assert message["who"] == {"user": "User: ", "assistant": "AI: "}[message["role"]]
        assert isinstance(message["timestamp"], int)
    assert len({m["id"] for m in messages}) == 7


@both
async def test_a_failed_or_abandoned_turn_leaves_the_messages_as_they_were(twin: Twin) -> None:
    site = Site("3.6")
    with site.server():
        client = twin.client(base_url=site.base_url)
        try:
            conv = client.conversation()
            (await twin.stream(conv, "One")).expect_ok()
            before = conv.messages
            failed = await twin.stream(conv, "Please FAIL")
            after_failure = conv.messages
            stream = conv.stream("Left early")
            if twin.is_async:
                async with stream:
                    await stream.__anext__()
            else:
                with stream:
                    next(stream)
            after_break = conv.messages
            (await twin.stream(conv, "Two")).expect_ok()
            final = conv.messages
        finally:
            await twin.close(client)
    assert type(failed.error) is ServerError
    assert failed.error.partial == "Partial"
    # The stream had started: never sent twice.
    assert [text for _, _, text in site.turns].count("Please FAIL") == 1
    assert before == after_failure == after_break
    assert len(before) == 2  # no start sentence without a page
    assert [m["content"] for m in final] == [
        "One",
        "Turn 1: you said One.",
        "Two",
        "Turn 2: you said Two.",
    ]


@both
async def test_conversation_to_and_from_json(twin: Twin) -> None:
    site = Site("2.0")
    with site.server():
        client = await twin.from_page(site.base_url + "/chatbot/")
        try:
            conv = client.conversation()
            await twin.complete(conv, "Remember me")
            saved = conv.to_json()
        finally:
            await twin.close(client)
        other = twin.client(base_url=site.base_url)
        try:
            resumed = other.conversation_from_json(saved)
            reply = await twin.complete(resumed, "Still there?")
        finally:
            await twin.close(other)
    assert resumed.chat_id == conv.chat_id == site.turns[-1][0]
    assert reply.text == "Turn 2: you said Still there?."
    assert json.loads(saved)["messages"] == conv.messages
    assert resumed.messages[:3] == conv.messages


@both
async def test_a_site_with_streaming_off_yields_through_the_same_iterator(twin: Twin) -> None:
    site = Site("3.6", stream=False)
    with site.server() as server:
        client = await twin.from_page(site.base_url + "/chatbot/")
        try:
            assert client.settings.stream is False
            outcome = await twin.stream(client.conversation(), "Hi")
        finally:
            await twin.close(client)
    assert outcome.chunks == ["Turn 1: you said Hi."]
    assert outcome.expect_ok().raw["responseId"] == "resp_1"
    assert json.loads(server.requests[-1].body)["stream"] is False


@both
@FLAVORS
async def test_a_site_without_pretty_permalinks(flavor: str, twin: Twin) -> None:
    site = make_site(flavor, pretty_permalinks=False)
    with site.server() as server:
        client = await twin.from_page(site.base_url + "/chatbot/")
        try:
            url = client.settings.url
            reply = (await twin.stream(client, HI)).expect_ok()
        finally:
            await twin.close(client)
    assert url == site.base_url + "/?rest_route=/mwai-ui/v1/chats/submit"
    assert reply.text == "Turn 1: you said Hi."
    targets = [r.target for r in server.requests if r.method == "POST"]
    assert targets[0] == "/?rest_route=/mwai-ui/v1/chats/submit"
    if flavor == "3.6":
        assert "/?rest_route=/mwai/v1/start_session" in targets


@both
async def test_picking_one_of_several_chatbots(twin: Twin) -> None:
    site = Site("2.0")
    with site.server():
        other = site.system(botId=None, customId="5f1a0c0ffee", contextId=12.0, stream=False)
        site.extra_pages["/two/"] = page(
            chatbot_element(site.system(), site.params()),
            chatbot_element(other, site.params(startSentence="It's me, the other one!")),
        )
        url = site.base_url + "/two/"
        first = await twin.from_page(url)
        await twin.close(first)
        picked = await twin.from_page(url, bot_id="5f1a0c0ffee", timeout=5.0)
        try:
            settings = picked.settings
            start = picked.conversation().messages[0]["content"]
            reply = await twin.complete(picked.conversation(), "Hi")
        finally:
            await twin.close(picked)
        with pytest.raises(OpchatgptsError) as info:
            await twin.from_page(url, bot_id="nope")
    assert first.settings.bot_id == "default"
    assert (settings.custom_id, settings.context_id, settings.stream) == ("5f1a0c0ffee", 12, False)
    assert settings.timeout == 5.0
    assert start == "It's me, the other one!"
    assert reply.text == "Turn 1: you said Hi."
    assert str(info.value) == f"No chatbot 'nope' on {url}; it has 'default', '5f1a0c0ffee'"


@both
async def test_explicit_options_win_over_the_page(twin: Twin) -> None:
    site = Site("2.0")
    with site.server():
        client = await twin.from_page(
            site.base_url + "/chatbot/", context_id=99, stream=False, nonce="abcdef0123"
        )
        try:
            settings, kept = client.settings, client._site.nonce
        finally:
            await twin.close(client)
    assert (settings.context_id, settings.stream) == (99, False)
    assert kept == "abcdef0123"


@both
async def test_a_page_without_a_chatbot_names_the_url(twin: Twin) -> None:
    site = Site("2.0")
    with site.server():
        site.extra_pages["/about/"] = page("<p>No chatbot here</p>")
        with pytest.raises(OpchatgptsError) as empty:
            await twin.from_page(site.base_url + "/about/")
        with pytest.raises(HTTPStatusError) as missing:
            await twin.from_page(site.base_url + "/gone/")
    assert type(empty.value) is OpchatgptsError
    assert str(empty.value) == (
        f"No AI Engine chatbot (mwai-chatbot-container) on {site.base_url}/about/"
    )
    assert missing.value.status_code == 404
    assert str(missing.value) == f"HTTP 404 for the page {site.base_url}/gone/"


@both
async def test_bad_page_urls_are_refused_before_any_io(twin: Twin) -> None:
    with pytest.raises(ValueError):
        await twin.from_page("ftp://example.org/chatbot/")
    with pytest.raises(TypeError):
        await twin.from_page(None)


@both
@FLAVORS
async def test_nonce_and_cookies_stay_out_of_errors_reprs_and_logs(
    flavor: str, twin: Twin, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    site = make_site(flavor)
    with site.server() as server:
        client = await twin.from_page(site.base_url + "/chatbot/")
        try:
            conv = client.conversation()
            await twin.complete(conv, "Hi")
            nonce = site.nonce
            shown = [repr(client), repr(conv), repr(client.settings), repr(client._site)]
            stream = conv.stream("x")
            shown.append(repr(stream))
            await twin.close(client)
            site.refuse_all = True
            failing = twin.client(base_url=site.base_url, nonce=nonce)
            outcome = await twin.stream(failing, HI)
            await twin.close(failing)
        finally:
            await twin.close(client)
    cookies = [r.cookies.get("mwai_session_id") for r in server.requests]
    secrets = [nonce, *(c for c in cookies if c)]
    assert outcome.error is not None
    shown += [str(outcome.error), repr(outcome.error), caplog.text]
    for text in shown:
        for secret in secrets:
            assert secret not in text


@both
@pytest.mark.parametrize("fault", ["silent", "cut"])
async def test_a_failing_nonce_fetch_is_a_transport_error(fault: str, twin: Twin) -> None:
    """start_session that never answers, or hangs up: the contract's errors, no hang."""

    async def handler(request: Request, writer: Writer) -> bool:
        if request.path == START_SESSION:
            while fault == "silent" and not writer.closed:
                await asyncio.sleep(0.05)
            return False  # hang up without a byte
        body = php_json(NO_NONCE).encode()
        head = [("Content-Length", str(len(body))), ("Content-Type", "application/json")]
        await writer.write(response_head("401 Unauthorized", head) + body)
        return True

    with LoopbackServer(handler) as server:
        client = twin.client(base_url=server.base_url, timeout=0.5)
        try:
            outcome = await twin.stream(client, HI)
        finally:
            await twin.close(client)
    error = outcome.error
    if fault == "silent":
        assert type(error) is StreamTimeoutError
        assert str(error) == f"No new bytes from {server.base_url} for 0.5 s"
    else:
        assert type(error) is TransportError
        assert str(error) == f"The connection to {server.base_url} was closed before an answer"
    assert [r.path for r in server.requests] == [SUBMIT, START_SESSION]


@both
async def test_the_callers_referer_is_the_page_to_read(twin: Twin) -> None:
    site = Site("2.0")
    with site.server() as server:
        site.extra_pages["/talk/"] = site.chatbot_page()
        client = twin.client(base_url=site.base_url, headers={"Referer": site.base_url + "/talk/"})
        try:
            (await twin.stream(client, HI)).expect_ok()
        finally:
            await twin.close(client)
    assert steps(server)[2] == ("GET", "/talk/", None)


# -- what the real plugin showed (issue 9) ---------------------------------------------

ALL_FLAVORS = pytest.mark.parametrize("flavor", ["1.x", "2.0", "3.6"])
HISTORY = [
    {"role": "system", "content": "Be brief."},
    {"role": "assistant", "content": "Hi! How can I help you?"},
    {"role": "user", "content": "Hi"},
]
SEEN = [(m["role"], m["content"]) for m in HISTORY]


@both
@ALL_FLAVORS
async def test_the_model_reads_the_new_message_once(flavor: str, twin: Twin) -> None:
    site = make_site(flavor)
    with site.server():
        client = twin.client(base_url=site.base_url)
        try:
            streamed = await twin.stream(client, HISTORY)
            completed = await twin.complete(client, HISTORY, stream=False)
        finally:
            await twin.close(client)
    assert streamed.expect_ok().text == completed.text == "Turn 1: you said Hi."
    assert [history for _, history, _ in site.turns] == [HISTORY[:-1]] * 2
    assert [text for _, _, text in site.turns] == ["Hi", "Hi"]
    assert site.seen == [SEEN, SEEN]


PROVIDER_CALLS = ["create_completion", "create_async", "create_async_generator"]


@pytest.mark.parametrize("method", PROVIDER_CALLS)
@ALL_FLAVORS
async def test_the_provider_sends_the_new_message_once(flavor: str, method: str) -> None:
    from opchatgpts_compat import Opchatgpts

    site = make_site(flavor)
    with site.server():
        options: Any = {"base_url": site.base_url}
        if method == "create_completion":
            gen = Opchatgpts.create_completion("gpt-3.5-turbo", HISTORY, stream=True, **options)
            text = "".join(await asyncio.to_thread(list, gen))
        elif method == "create_async":
            text = await Opchatgpts.create_async("gpt-3.5-turbo", HISTORY, **options)
        else:
            agen = Opchatgpts.create_async_generator("gpt-3.5-turbo", HISTORY, **options)
            text = "".join([chunk async for chunk in agen])
    assert text == "Turn 1: you said Hi."
    assert site.seen == [SEEN]


@both
async def test_a_nonce_from_a_chatbot_on_an_inner_page(twin: Twin) -> None:
    # AI Engine 2.0.1-2.4.3 put the nonce only in pages that show a chatbot:
    # WordPress's own search (open to guests) finds the page with the shortcode.
    site = Site("2.0", chatbot_paths=("/help/ask-us/",))
    with site.server() as server:
        client = twin.client(base_url=site.base_url)
        try:
            first = await twin.stream(client, HI)
            second = await twin.stream(client, HI)
        finally:
            await twin.close(client)
    assert first.expect_ok().text == second.expect_ok().text == "Turn 1: you said Hi."
    assert steps(server) == [
        ("POST", SUBMIT, None),
        ("POST", START_SESSION, None),  # 404 before 2.4.4
        ("GET", "/chatgpt-free-use/", None),  # the Referer page: 404 here
        ("GET", "/", None),  # the home page: no chatbot
        ("GET", "/wp-json/wp/v2/search", None),
        ("GET", "/help/ask-us/", None),  # the first page found
        ("POST", SUBMIT, site.nonce),
        ("POST", SUBMIT, site.nonce),  # kept
    ]
    search = server.requests[4]
    assert search.query == {"search": ["mwai_chatbot"], "per_page": ["5"], "_fields": ["url"]}


@both
async def test_the_search_on_a_site_without_pretty_permalinks(twin: Twin) -> None:
    site = Site("2.0", chatbot_paths=("/help/",), pretty_permalinks=False)
    with site.server() as server:
        client = twin.client(base_url=site.base_url, rest_url=site.base_url + "/?rest_route=")
        try:
            outcome = await twin.stream(client, HI)
        finally:
            await twin.close(client)
    assert outcome.expect_ok().text == "Turn 1: you said Hi."
    search = [r for r in server.requests if r.query.get("rest_route") == ["/wp/v2/search"]]
    assert len(search) == 1
    assert search[0].query["search"] == ["mwai_chatbot"]


@both
async def test_search_results_on_another_origin_are_not_fetched(twin: Twin) -> None:
    other = Site("2.0")
    site = Site("2.0", chatbot_paths=())
    with other.server() as elsewhere, site.server() as server:
        site.search = lambda: [  # type: ignore[method-assign]
            {"url": other.base_url + "/chatbot/"},
            {"url": "javascript:alert(1)"},
            {"url": None},
        ]
        client = twin.client(base_url=site.base_url, headers={"Cookie": "secret=1"})
        try:
            outcome = await twin.stream(client, HI)
        finally:
            await twin.close(client)
    error = outcome.error
    assert type(error) is HTTPStatusError
    assert (error.status_code, error.code) == (401, "rest_forbidden")
    assert elsewhere.requests == []
    assert [path for _, path, _ in steps(server)][-1] == "/wp-json/wp/v2/search"


@both
async def test_a_refused_nonce_on_a_site_that_needs_none_is_dropped(twin: Twin) -> None:
    # AI Engine 1.x checks no nonce, but WordPress refuses any invalid one.
    site = Site("1.x")
    with site.server() as server:
        client = twin.client(base_url=site.base_url, nonce="0123456789")
        try:
            first = await twin.stream(client, HI)
            second = await twin.stream(client, HI)
            kept = client._site.nonce
        finally:
            await twin.close(client)
    assert first.expect_ok().text == second.expect_ok().text == "Turn 1: you said Hi."
    assert steps(server) == [
        ("POST", SUBMIT, "0123456789"),  # 403 rest_cookie_invalid_nonce
        ("POST", START_SESSION, None),  # 404 before 2.4.4
        ("GET", "/chatgpt-free-use/", None),  # a chatbot without a nonce: none needed
        ("POST", SUBMIT, None),
        ("POST", SUBMIT, None),
    ]
    assert kept is None


@both
async def test_without_a_nonce_once_then_the_refusal(twin: Twin) -> None:
    site = Site("2.0", searchable=False)
    with site.server() as server:
        site.extra_pages["/chatgpt-free-use/"] = page(
            chatbot_element(site.system(restNonce=None), site.params())
        )
        client = twin.client(base_url=site.base_url, nonce="0123456789")
        try:
            outcome = await twin.stream(client, HI)
        finally:
            await twin.close(client)
    error = outcome.error
    assert type(error) is HTTPStatusError
    assert (error.status_code, error.code) == (401, "rest_forbidden")
    assert str(error) == (
        "HTTP 401 Unauthorized: Sorry, you are not allowed to do that. (rest_forbidden); "
        f"no nonce from start_session or {site.base_url}/chatgpt-free-use/"
    )
    assert steps(server) == [
        ("POST", SUBMIT, "0123456789"),
        ("POST", START_SESSION, None),
        ("GET", "/chatgpt-free-use/", None),
        ("POST", SUBMIT, None),  # once, then the refusal
    ]


@both
@ALL_FLAVORS
async def test_from_page_talks_to_the_custom_bot(flavor: str, twin: Twin) -> None:
    site = make_site(flavor)
    with site.server():
        client = await twin.from_page(site.base_url + "/custom-bot/")
        try:
            conversation = client.conversation()
            start = conversation.messages[0]["content"]
            reply = await twin.complete(conversation, "Hi")
            direct = await twin.complete(client, HI)
        finally:
            await twin.close(client)
    assert start == "Howdy"
    assert reply.text == direct.text == "Custom turn 1: you said Hi."
    sent = [json.loads(r) for r in site.sent_bodies]
    if flavor == "1.x":  # before 1.9.8: {"id": md5, "botId": null}
        assert [(b["id"], b["botId"], "customId" in b) for b in sent] == [
            ("d605eabe133ba05cc4bf5f7248805475", None, False)
        ] * 2
    else:
        assert [(b["customId"], "id" in b) for b in sent] == [
            ("d605eabe133ba05cc4bf5f7248805475", False)
        ] * 2
