"""What goes on the wire: headers, payload, and the arguments refused before it."""

from __future__ import annotations

import json
from typing import Any, Dict, List

import pytest
import responses
from aioresponses import aioresponses
from support.helpers import MockedResponse
from support.live_server import SUBMIT
from support.twin import MESSAGES

from opchatgpts_compat import AsyncClient, Client, Opchatgpts
from opchatgpts_compat.core import build_request, build_settings, redact_url

BASE = "http://site.test"
OK = b'data: {"type":"end","data":"{\\"success\\":true,\\"reply\\":\\"ok\\"}"}\n\n'


def sent_with_requests(messages: Any = MESSAGES, **options: Any) -> responses.Call:
    with responses.RequestsMock() as mocked:
        mocked.add(responses.POST, options.get("base_url", BASE) + SUBMIT, body=OK)
        options.setdefault("base_url", BASE)
        with Client(**options) as client:
            assert client.complete(messages).text == "ok"
        (call,) = mocked.calls
    return call


async def sent_with_aiohttp(messages: Any = MESSAGES, **options: Any) -> Dict[str, Any]:
    options.setdefault("base_url", BASE)
    with aioresponses() as mocked:
        mocked.post(options["base_url"] + SUBMIT, body=OK, response_class=MockedResponse)
        async with AsyncClient(**options) as client:
            assert (await client.complete(messages)).text == "ok"
        ((_, calls),) = mocked.requests.items()
        (call,) = calls
    return dict(call.kwargs)


def test_browser_headers_derive_from_base_url() -> None:
    call = sent_with_requests(base_url="https://example.org:8443/blog")
    headers = call.request.headers
    assert call.request.url == "https://example.org:8443/blog" + SUBMIT
    assert headers["Origin"] == "https://example.org:8443"
    assert headers["Alt-Used"] == "example.org:8443"
    assert headers["Referer"] == "https://example.org:8443/blog/chatgpt-free-use/"
    assert headers["Content-Type"] == "application/json"
    assert headers["Accept"] == "*/*"
    assert headers["User-Agent"].startswith("Mozilla/5.0")
    assert headers["Sec-Fetch-Mode"] == "cors"
    assert "X-WP-Nonce" not in headers


async def test_both_front_ends_send_the_same_headers_and_body() -> None:
    options = dict(headers={"accept-language": "fr", "X-Extra": "1"}, nonce="a41f0c7e92")
    call = sent_with_requests(chat_id="fixchat01", **options)
    kwargs = await sent_with_aiohttp(chat_id="fixchat01", **options)
    sent_by_requests = dict(call.request.headers.lower_items())
    for name, value in kwargs["headers"].items():
        assert sent_by_requests[name.lower()] == value
    assert call.request.body == kwargs["data"]
    headers = kwargs["headers"]
    assert headers["accept-language"] == "fr"  # the caller's overrides the built-in
    assert "Accept-Language" not in headers
    assert headers["X-WP-Nonce"] == "a41f0c7e92"


def test_payload_is_what_the_sites_own_chatbot_sends() -> None:
    history: List[Dict[str, str]] = [
        {"role": "system", "content": "Be brief."},
        {"role": "assistant", "content": "Hi!"},
        {"role": "user", "content": "Ça va ? /"},
    ]
    body = json.loads(sent_with_requests(history).request.body)
    chat_id = body.pop("chatId")
    assert body == {
        "botId": "default",
        "customId": None,
        "session": "N/A",
        "contextId": 28,
        "messages": history[:-1],  # the new message once, in newMessage alone
        "newMessage": "Ça va ? /",
        "newFileId": None,
        "stream": True,
    }
    assert len(chat_id) == 10
    assert chat_id.isalnum()
    assert chat_id == chat_id.lower()


def test_a_fresh_chat_id_per_call_unless_given() -> None:
    settings = build_settings()
    ids = {build_request(MESSAGES, settings).chat_id for _ in range(50)}
    assert len(ids) == 50
    fixed = build_settings(chat_id="fixchat01")
    assert build_request(MESSAGES, fixed).chat_id == "fixchat01"


def test_payload_options_in_the_constructor_and_per_call() -> None:
    with responses.RequestsMock() as mocked:
        mocked.add(responses.POST, BASE + SUBMIT, body=OK)
        mocked.add(responses.POST, BASE + SUBMIT, body=OK)
        with Client(BASE, bot_id="b1", context_id=4, session_id="s") as client:
            client.complete(MESSAGES)
            client.complete(MESSAGES, bot_id="b2", custom_id="c0ffee", context_id=None)
        first, second = (json.loads(c.request.body) for c in mocked.calls)
    assert (first["botId"], first["contextId"], first["session"]) == ("b1", 4, "s")
    assert (second["botId"], second["customId"], second["contextId"]) == ("b2", "c0ffee", None)


def test_provider_ignores_model_and_unknown_options() -> None:
    with responses.RequestsMock() as mocked:
        mocked.add(responses.POST, BASE + SUBMIT, body=OK)
        chunks = Opchatgpts.create_completion(
            "gpt-3.5-turbo",
            MESSAGES,
            stream=False,
            base_url=BASE,
            temperature=0.2,
            max_tokens=5,
            bot_id="b7",
        )
        assert list(chunks) == ["ok"]
        body = json.loads(mocked.calls[0].request.body)
    assert "model" not in body and "temperature" not in body
    assert body["botId"] == "b7"


HI = {"role": "user", "content": "Hi"}
BAD_MESSAGES = [
    ([], ValueError),
    ("Hi", TypeError),
    (None, TypeError),
    ([{"role": "user"}], ValueError),
    ([{"content": "Hi"}], ValueError),
    (["Hi"], TypeError),
    ([{"role": "user", "content": 3}], TypeError),
    ([{"role": None, "content": "Hi"}], TypeError),
    ([{"role": "user", "content": ""}], ValueError),
    ([{"role": "user", "content": " \n\t "}], ValueError),
    ([{"role": "user", "content": "Hi"}, {"role": "user", "content": "  "}], ValueError),
    ([{"role": "user", "content": "Hi", "x": float("nan")}, HI], ValueError),
    ([{"role": "user", "content": "Hi", "x": object()}, HI], TypeError),
]


@pytest.mark.parametrize(("messages", "error"), BAD_MESSAGES)
def test_bad_messages_are_refused_before_anything_is_sent(messages: Any, error: type) -> None:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.add(responses.POST, BASE + SUBMIT, body=OK)
        with Client(BASE) as client, pytest.raises(error):
            client.stream(messages)
        with pytest.raises(error):
            Opchatgpts.create_completion("m", messages, base_url=BASE)
        with pytest.raises(error):
            Opchatgpts.create_async_generator("m", messages, base_url=BASE)
        assert not mocked.calls


@pytest.mark.parametrize(("messages", "error"), BAD_MESSAGES)
async def test_bad_messages_are_refused_by_the_async_twin(messages: Any, error: type) -> None:
    with aioresponses() as mocked:
        async with AsyncClient(BASE) as client:
            with pytest.raises(error):
                client.stream(messages)
            with pytest.raises(error):
                await client.complete(messages)
        with pytest.raises(error):
            await Opchatgpts.create_async("m", messages, base_url=BASE)
        assert not mocked.requests


BAD_OPTIONS = [
    (dict(base_url="ftp://x"), ValueError),
    (dict(base_url="example.org"), ValueError),
    (dict(base_url="http://x/?q=1"), ValueError),
    (dict(base_url=3), TypeError),
    (dict(timeout=0), ValueError),
    (dict(timeout=-1.0), ValueError),
    (dict(timeout=float("inf")), ValueError),
    (dict(timeout="10"), TypeError),
    (dict(timeout=True), TypeError),
    (dict(headers=[("a", "b")]), TypeError),
    (dict(headers={"X-A": "1\r\nX-B: 2"}), ValueError),
    (dict(headers={"X-A": 1}), TypeError),
    (dict(proxy="socks5://h:1"), ValueError),
    (dict(proxy="http://user:hunter2@"), ValueError),
    (dict(nonce=""), ValueError),
    (dict(nonce=123), TypeError),
    (dict(bot_id=None), TypeError),
    (dict(context_id="28"), TypeError),
    (dict(context_id=True), TypeError),
    (dict(chat_id=""), ValueError),
    (dict(max_event_size=0), ValueError),
    (dict(bot_id="", custom_id=None), ValueError),
    (dict(no_such_option=1), TypeError),
]


@pytest.mark.parametrize(("options", "error"), BAD_OPTIONS)
def test_bad_options_are_refused(options: Dict[str, Any], error: type) -> None:
    with pytest.raises(error) as info:
        Client(**options)
    with pytest.raises(error):
        AsyncClient(**options)
    assert "hunter2" not in str(info.value)


def test_bad_per_call_options_are_refused() -> None:
    with Client(BASE) as client:
        with pytest.raises(TypeError):
            client.stream(MESSAGES, timeout=3)  # a client option, not a call option
        with pytest.raises(TypeError):
            client.stream(MESSAGES, context_id="4")


def test_redaction() -> None:
    assert redact_url("http://user:pw@proxy:3128") == "http://****@proxy:3128"
    assert redact_url("http://user@[::1]:3128/x") == "http://****@[::1]:3128/x"
    assert redact_url("http://proxy:3128") == "http://proxy:3128"


def test_no_secret_in_reprs() -> None:
    settings = build_settings(proxy="http://user:hunter2@proxy:3128", nonce="a41f0c7e92")
    request = build_request(MESSAGES, settings)
    client = Client(proxy="http://user:hunter2@proxy:3128", nonce="a41f0c7e92")
    shown = " ".join([repr(settings), repr(request), repr(client), repr(client.stream(MESSAGES))])
    for secret in ("hunter2", "user:", "a41f0c7e92"):
        assert secret not in shown
    assert "proxy:3128" in repr(client)
    client.close()
