"""The sans-I/O side of sites: page reading, the nonce plan, transcripts. No sockets."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from support.cases import WIRE
from support.recorded import REAL
from support.site_emulator import chatbot_element, page

from opchatgpts_compat import HTTPStatusError, OpchatgptsError, Reply
from opchatgpts_compat._conversation import Transcript
from opchatgpts_compat._fetch import Fetch
from opchatgpts_compat._page import page_settings, parse_page, read_page
from opchatgpts_compat._request import build_request
from opchatgpts_compat._settings import build_settings
from opchatgpts_compat._site import NonceRefresh, SiteState
from opchatgpts_compat.core import ReplyParser

WIRE_PAGE = WIRE / "chatbot-page-data-system.html"
URL = "https://example.org/chatbot/"
NO_NONCE = b'{"code":"rest_forbidden","message":"Sorry, you are not allowed to do that.","data":{"status":401}}'  # noqa: E501
BAD_NONCE = (
    b'{"code":"rest_cookie_invalid_nonce","message":"Cookie check failed","data":{"status":403}}'
)
NO_ROUTE = b'{"code":"rest_no_route","message":"No route was found matching the URL and request method.","data":{"status":404}}'  # noqa: E501
JSON = "application/json; charset=UTF-8"


def test_recorded_pages_parse() -> None:
    for version, nonce, session in (("2.0.9", "f75546e6d2", "N/A"), ("3.6.2", None, None)):
        html = (REAL / f"ai-engine-{version}" / "page_chatbot_element.html").read_text()
        [bot] = parse_page(html, URL)
        assert (bot.bot_id, bot.custom_id, bot.context_id) == ("default", None, 4)
        assert (bot.nonce, bot.session_id, bot.stream) == (nonce, session, True)
        assert bot.start_sentence == "Hi! How can I help you?"
        assert bot.rest_url is not None and bot.rest_url.endswith("/wp-json")
        assert nonce is None or nonce not in repr(bot)


def test_entities_floats_and_other_markup() -> None:
    system = {"botId": "b1", "contextId": 28.0, "restNonce": "0a1b2c3d4e", "stream": False}
    params = {"startSentence": 'It\'s <b>"fine"</b> & \u00e9 \U0001f30d', "aiName": "Bot: "}
    html = (
        "<p class='mwai-chatbot-container-ish'>not this</p>"
        + chatbot_element(system, params).replace(
            "class='mwai-chatbot-container'", "class='mwai-chatbot-container mwai-theme'"
        )
        + "<div class=mwai-chatbot-container data-system='{}' />"
    )
    first, second = parse_page(html, URL)
    assert (first.bot_id, first.context_id, first.nonce, first.stream) == (
        "b1",
        28,
        "0a1b2c3d4e",
        False,
    )
    assert first.start_sentence == 'It\'s <b>"fine"</b> & \u00e9 \U0001f30d'
    assert first.ai_name == "Bot: "
    assert (second.bot_id, second.context_id, second.stream) == (None, None, None)


def test_wire_fixture_page() -> None:
    # contextId rendered as 28.0, sessionId as "N\/A", a nonce for guests (2.0.1-2.4.3).
    [bot] = parse_page(WIRE_PAGE.read_text(), URL)
    assert (bot.context_id, bot.session_id) == (28, "N/A")
    assert bot.nonce is not None


def test_unreadable_data_system() -> None:
    html = "<div class='mwai-chatbot-container' data-system='{&quot;botId'></div>"
    with pytest.raises(OpchatgptsError) as info:
        parse_page(html, URL)
    assert str(info.value) == f"The chatbot on {URL} has an unreadable data-system attribute"


def test_read_page_errors_name_the_url_without_credentials() -> None:
    secret_url = "https://user:hunter2@example.org/chatbot/"
    with pytest.raises(OpchatgptsError) as info:
        read_page(secret_url, 200, "text/html", b"<html></html>")
    assert (
        str(info.value)
        == "No AI Engine chatbot (mwai-chatbot-container) on https://****@example.org/chatbot/"
    )
    with pytest.raises(HTTPStatusError) as status:
        read_page(secret_url, 503, "text/html", b"busy")
    assert "hunter2" not in str(status.value)
    assert status.value.body == "busy"


def test_page_charset_is_honoured() -> None:
    html = page(chatbot_element({"botId": "default"}, {"startSentence": "Gr\u00fc\u00df Gott"}))
    bot = read_page(URL, 200, "text/html; charset=ISO-8859-1", html.decode().encode("latin-1"))
    assert bot.start_sentence == "Gr\u00fc\u00df Gott"


@pytest.mark.parametrize(
    ("rest_url", "base_url", "submit"),
    [
        (
            "https://example.org/wp-json",
            "https://example.org",
            "https://example.org/wp-json/mwai-ui/v1/chats/submit",
        ),
        (
            "https://example.org/blog/wp-json/",
            "https://example.org/blog",
            "https://example.org/blog/wp-json/mwai-ui/v1/chats/submit",
        ),
        (
            "https://example.org/?rest_route=",
            "https://example.org",
            "https://example.org/?rest_route=/mwai-ui/v1/chats/submit",
        ),
        ("/wp-json", "https://example.org", "https://example.org/wp-json/mwai-ui/v1/chats/submit"),
    ],
)
def test_rest_url_gives_the_endpoint(rest_url: str, base_url: str, submit: str) -> None:
    [bot] = parse_page(chatbot_element({"botId": "default", "restUrl": rest_url}, {}), URL)
    settings = page_settings(build_settings(base_url="https://example.org"), bot, URL, {})
    assert (settings.base_url, settings.url) == (base_url, submit)
    assert settings.start_session_url == submit.replace(
        "mwai-ui/v1/chats/submit", "mwai/v1/start_session"
    )


def test_a_custom_id_only_bot() -> None:
    [bot] = parse_page(chatbot_element({"botId": None, "customId": "c0ffee"}, {}), URL)
    settings = page_settings(build_settings(), bot, URL, {})
    assert (settings.bot_id, settings.custom_id) == ("", "c0ffee")


def test_a_1x_custom_bot_is_named_by_id() -> None:
    # Before 1.9.8: {"id": md5, "botId": null}; the default bot has "id": null.
    system = {"id": "2d017cc157c17e47", "botId": None, "restNonce": None}
    [bot] = parse_page(chatbot_element(system, {}), URL)
    assert (bot.bot_id, bot.custom_id, bot.legacy_id) == (None, "2d017cc157c17e47", True)
    assert read_page(URL, 200, "text/html", page(chatbot_element(system, {})), "2d017cc157c17e47")
    settings = page_settings(build_settings(), bot, URL, {})
    body = json.loads(build_request([{"role": "user", "content": "Hi"}], settings).body)
    assert (body["id"], body["botId"], "customId" in body) == ("2d017cc157c17e47", None, False)
    [default] = parse_page(chatbot_element({"id": None, "botId": "default"}, {}), URL)
    assert (default.bot_id, default.custom_id, default.legacy_id) == ("default", None, False)
    # A custom id the caller gives is sent as customId, whatever the page said.
    own = page_settings(build_settings(custom_id="c0ffee"), bot, URL, {"custom_id": "c0ffee"})
    assert own.legacy_id is False


# -- the nonce plan, step by step ------------------------------------------------------


def _plan(nonce: str | None = None) -> NonceRefresh:
    state = SiteState(nonce)
    settings = state.settings_for(build_settings(base_url="https://example.org"), {})
    return NonceRefresh(
        state, settings, build_request([{"role": "user", "content": "Hi"}], settings)
    )


def test_plan_3x_start_session() -> None:
    plan = _plan()
    assert "X-WP-Nonce" not in plan.request.headers
    assert plan.wants_body(401) and plan.wants_body(403) and not plan.wants_body(200)
    fetch = plan.feed_rejection(401, JSON, NO_NONCE)
    assert (fetch.method, fetch.url, fetch.purpose) == (
        "POST",
        "https://example.org/wp-json/mwai/v1/start_session",
        Fetch.SESSION,
    )
    assert "X-WP-Nonce" not in fetch.headers
    retry = plan.feed_fetch(
        fetch, 200, JSON, b'{"success":true,"sessionId":"x","restNonce":"cc3a529209"}'
    )
    assert not isinstance(retry, Fetch)
    assert retry.headers["X-WP-Nonce"] == "cc3a529209"
    assert retry.body == plan.request.body
    assert plan.state.nonce == "cc3a529209"
    with pytest.raises(HTTPStatusError) as info:  # the retry refused too
        plan.feed_rejection(403, JSON, BAD_NONCE)
    assert info.value.code == "rest_cookie_invalid_nonce"
    assert plan.state.nonce is None


def test_plan_2x_pages_in_order() -> None:
    plan = _plan("stale00000")
    plan.state.page_url = "https://example.org/chatbot/"
    fetch = plan.feed_rejection(403, JSON, BAD_NONCE)
    assert plan.state.nonce is None
    fetch = plan.feed_fetch(fetch, 404, JSON, NO_ROUTE)
    assert isinstance(fetch, Fetch) and fetch.purpose == Fetch.PAGE
    assert fetch.url == "https://example.org/chatbot/"  # the page from_page read
    assert "X-WP-Nonce" not in fetch.headers and fetch.method == "GET"
    fetch = plan.feed_fetch(fetch, 200, "text/html", b"<p>moved</p>")
    assert isinstance(fetch, Fetch)
    assert fetch.url == "https://example.org/chatgpt-free-use/"  # the Referer page
    fetch = plan.feed_fetch(fetch, 404, "text/html", b"")
    assert isinstance(fetch, Fetch) and fetch.url == "https://example.org/"
    element = chatbot_element({"botId": "default", "restNonce": "f75546e6d2"}, {})
    retry = plan.feed_fetch(fetch, 200, "text/html", element.encode())
    assert not isinstance(retry, Fetch)
    assert retry.headers["X-WP-Nonce"] == "f75546e6d2"


def test_plan_skips_a_page_that_hands_out_the_refused_nonce() -> None:
    # Page caches serve stale nonces (PROTOCOL.md section 2): look further.
    plan = _plan("f75546e6d2")
    fetch = plan.feed_rejection(403, JSON, BAD_NONCE)
    fetch = plan.feed_fetch(fetch, 404, JSON, NO_ROUTE)
    stale = chatbot_element({"botId": "default", "restNonce": "f75546e6d2"}, {})
    fetch = plan.feed_fetch(fetch, 200, "text/html", stale.encode())
    assert isinstance(fetch, Fetch) and fetch.url == "https://example.org/"
    fresh = chatbot_element({"botId": "default", "restNonce": "0fe5e0fe5e"}, {})
    retry = plan.feed_fetch(fetch, 200, "text/html", fresh.encode())
    assert not isinstance(retry, Fetch)
    assert retry.headers["X-WP-Nonce"] == "0fe5e0fe5e"


def test_plan_searches_the_site_then_drops_a_nonce_no_one_hands_out() -> None:
    plan = _plan("stale00000")
    fetch = plan.feed_rejection(403, JSON, BAD_NONCE)
    for status in (404, 404, 404):  # start_session, the Referer page, the home page
        fetch = plan.feed_fetch(fetch, status, "text/html", b"")
        assert isinstance(fetch, Fetch)
    assert fetch.purpose == Fetch.SEARCH and fetch.method == "GET"
    assert fetch.url == (
        "https://example.org/wp-json/wp/v2/search?search=mwai_chatbot&per_page=5&_fields=url"
    )
    assert "X-WP-Nonce" not in fetch.headers
    found = [
        {"url": "https://example.org/a/"},
        {"url": "https://elsewhere.example/b/"},  # another origin: never fetched
        {"url": "https://example.org/a/"},
        {"url": "https://example.org/c/"},
        {"url": "https://example.org/d/"},  # beyond the two pages read
    ]
    fetch = plan.feed_fetch(fetch, 200, JSON, json.dumps(found).encode())
    assert isinstance(fetch, Fetch) and fetch.url == "https://example.org/a/"
    fetch = plan.feed_fetch(fetch, 200, "text/html", b"<p>no chatbot</p>")
    assert isinstance(fetch, Fetch) and fetch.url == "https://example.org/c/"
    retry = plan.feed_fetch(fetch, 404, "text/html", b"")  # nothing left: drop the nonce
    assert not isinstance(retry, Fetch) and "X-WP-Nonce" not in retry.headers
    assert retry.body == plan.request.body
    with pytest.raises(HTTPStatusError) as info:  # the bare retry refused: raised
        plan.feed_rejection(401, JSON, NO_NONCE)
    assert info.value.code == "rest_forbidden"
    assert str(info.value).endswith(
        "no nonce from start_session or https://example.org/chatgpt-free-use/ or "
        "https://example.org/ or https://example.org/a/ or https://example.org/c/"
    )


def test_plan_a_chatbot_without_a_nonce_means_none_is_needed() -> None:
    plan = _plan("stale00000")
    fetch = plan.feed_rejection(403, JSON, BAD_NONCE)
    fetch = plan.feed_fetch(fetch, 404, JSON, NO_ROUTE)
    element = chatbot_element({"id": None, "botId": "default", "restNonce": None}, {})
    retry = plan.feed_fetch(fetch, 200, "text/html", element.encode())
    assert not isinstance(retry, Fetch)
    assert "X-WP-Nonce" not in retry.headers


def test_plan_a_cached_page_then_no_chatbot_keeps_looking() -> None:
    # The refused nonce in a cached page says nothing about the site needing none.
    plan = _plan("f75546e6d2")
    plan.state.page_url = "https://example.org/chatbot/"
    fetch = plan.feed_rejection(403, JSON, BAD_NONCE)
    fetch = plan.feed_fetch(fetch, 404, JSON, NO_ROUTE)
    stale = chatbot_element({"botId": "default", "restNonce": "f75546e6d2"}, {})
    fetch = plan.feed_fetch(fetch, 200, "text/html", stale.encode())
    for _ in range(2):  # the Referer page, the home page: nothing
        assert isinstance(fetch, Fetch) and fetch.purpose == Fetch.PAGE
        fetch = plan.feed_fetch(fetch, 404, "text/html", b"")
    assert isinstance(fetch, Fetch) and fetch.purpose == Fetch.SEARCH


def test_plan_search_answers_that_list_nothing_usable() -> None:
    for status, body in ((200, b"{}"), (200, b"not json"), (401, NO_NONCE), (200, b"[1, {}]")):
        plan = _plan()
        fetch = plan.feed_rejection(401, JSON, NO_NONCE)
        for _ in range(3):
            fetch = plan.feed_fetch(fetch, 404, "text/html", b"")
        assert isinstance(fetch, Fetch) and fetch.purpose == Fetch.SEARCH
        with pytest.raises(HTTPStatusError) as info:  # no nonce was refused: no bare retry
            plan.feed_fetch(fetch, status, JSON, body)
        assert info.value.code == "rest_forbidden"


def test_plan_other_refusals_are_raised_at_once() -> None:
    rejected = b'{"success":false,"message":"Sorry, your query has been rejected."}'
    for status, body, code in (
        (403, rejected, None),
        (403, b"<html>Just a moment...</html>", None),
    ):
        plan = _plan("keep000000")
        with pytest.raises(HTTPStatusError) as info:
            plan.feed_rejection(status, JSON, body)
        assert info.value.code == code
        assert plan.state.nonce == "keep000000"  # not a nonce problem: kept


def test_kept_nonce_rotation_and_per_call_nonce() -> None:
    state = SiteState("first00000")
    base = build_settings(nonce="first00000")
    assert state.settings_for(base, {}).nonce == "first00000"
    state.observe_headers({"X-WP-Nonce": "second0000"})
    assert state.settings_for(base, {}).nonce == "second0000"
    state.observe_headers({"X-WP-Nonce": "bad value\r\nX: y"})  # not a nonce: ignored
    assert state.nonce == "second0000"
    parser = ReplyParser(200, JSON)
    parser.feed(b'{"success":true,"reply":"ok","new_token":"third00000"}')
    parser.feed_eof()
    state.observe_parser(parser)
    assert state.settings_for(base, {}).nonce == "third00000"
    assert state.settings_for(base, {"nonce": "given00000"}).nonce == "given00000"
    assert "third00000" not in repr(state)


# -- transcripts -------------------------------------------------------------------------


def test_transcript_turns_and_json() -> None:
    transcript = Transcript(chat_id="abc", start_sentence="Hello!", ai_name="Bot: ")
    turn = transcript.begin("Hi", build_settings(chat_id="ignored"))
    body = json.loads(turn.request.body)
    assert body["chatId"] == "abc"
    assert body["newMessage"] == "Hi"
    assert [(m["role"], m["content"], m["who"]) for m in body["messages"]] == [
        ("assistant", "Hello!", "Bot: ")
    ]
    assert len(transcript.messages) == 1  # nothing kept before the reply
    turn.commit(Reply("Hi there"))
    copy = Transcript.from_json(transcript.to_json())
    assert (copy.chat_id, copy.ai_name, copy.messages) == ("abc", "Bot: ", transcript.messages)
    assert [m["content"] for m in copy.messages] == ["Hello!", "Hi", "Hi there"]


@pytest.mark.parametrize(
    "text",
    [
        "nope",
        "[]",
        '{"version": 2, "chatId": "a", "messages": []}',
        '{"version": 1, "chatId": "", "messages": []}',
        '{"version": 1, "chatId": "a", "messages": [{"role": "bot", "content": "x"}]}',
        '{"version": 1, "chatId": "a", "messages": [{"role": "user"}]}',
    ],
)
def test_transcript_from_bad_json(text: str) -> None:
    with pytest.raises(ValueError):
        Transcript.from_json(text)


@pytest.mark.parametrize(
    ("text", "error"), [("  ", ValueError), ("", ValueError), (None, TypeError)]
)
def test_blank_turns_are_refused_before_sending(text: object, error: type) -> None:
    with pytest.raises(error):
        Transcript().begin(text, build_settings())


def test_the_new_core_modules_leave_aiohttp_alone() -> None:
    code = (
        "import sys, opchatgpts_compat, opchatgpts_compat._site, opchatgpts_compat._conversation;"
        "c = opchatgpts_compat.Client.from_page;"
        "sys.exit('aiohttp' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
