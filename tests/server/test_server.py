"""The embedded server against the answers recorded from real AI Engine sites."""

from __future__ import annotations

import asyncio
import html
import json
import re
import socket
import subprocess
import sys
from typing import Any, Dict, Iterator, List

import pytest
import requests
from support.server_helpers import (
    NONCES,
    SUBMIT,
    TOKENS,
    UNICODE_TOKENS,
    RawAnswer,
    raw_request,
    real,
    recorded_headers,
    recorded_request,
)

from opchatgpts_compat import (
    AsyncClient,
    Client,
    IncompleteStreamError,
    RejectedError,
    ServerError,
)
from opchatgpts_compat.server import (
    CHATBOT_PAGE_ID,
    FLAVORS,
    Answer,
    ScriptedBot,
    Server,
    memory_bot,
    php_json,
    render_chatbot_element,
)

#: What the recordings' fake upstream reported; 2.0.9 passes it on only in
#: JSON answers (it estimates a stream's usage itself), 3.6.2 in both.
UPSTREAM_USAGE = {"prompt_tokens": 12, "completion_tokens": 4, "total_tokens": 16}


def recorded_bot(flavor: str, tokens: Any = TOKENS, *, stream: bool = True) -> ScriptedBot:
    """A bot answering what the recorded sites' fake upstream answered."""
    if flavor == "3.6":
        return ScriptedBot(tokens, usage=UPSTREAM_USAGE, response_id="resp_fake123")
    return ScriptedBot(tokens, usage=None if stream else UPSTREAM_USAGE)


#: The flavours with recorded answers (1.6 is compared with the real plugin only:
#: tests/realsite/test_realsite_fidelity.py).
RECORDED_FLAVORS = ("2.0", "3.6")


@pytest.fixture(params=RECORDED_FLAVORS)
def flavor(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def recorded_server(flavor: str, **options: Any) -> Server:
    options.setdefault("bots", {"default": recorded_bot(flavor)})
    return Server(flavor=flavor, nonce=NONCES[flavor], **options)


def submit(
    server: Server, body: bytes, *, nonce: Any = True, accept_stream: bool = True
) -> RawAnswer:
    headers = {"Content-Type": "application/json"}
    if nonce is True:
        headers["X-WP-Nonce"] = server.nonce
    elif nonce:
        headers["X-WP-Nonce"] = nonce
    if accept_stream:
        headers["Accept"] = "text/event-stream"
    return raw_request(server.port, "POST", SUBMIT, body, headers)


def assert_like_recording(answer: RawAnswer, flavor: str, name: str) -> None:
    """Same status, body and the headers that matter as the recorded answer."""
    status, headers = recorded_headers(flavor, name)
    assert answer.status == status
    assert answer.body == real(flavor, f"{name}.body")
    for header in (
        "content-type",
        "cache-control",
        "x-accel-buffering",
        "x-wp-nonce",
        "expires",
        "x-robots-tag",
        "x-content-type-options",
        "access-control-expose-headers",
        "access-control-allow-headers",
    ):
        assert answer.headers.get(header) == headers.get(header), header
    assert ("content-length" in answer.headers) == ("content-length" in headers)
    assert answer.headers.get("transfer-encoding") == headers.get("transfer-encoding")


# -- byte for byte ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("stream_success", "Hi"),
        ("stream_upstream_error", "Please FAIL500 now"),
        ("empty_message", ""),
        ("long_message_600", "A" * 600),
        ("long_message_70000", "A" * 70000),
        ("missing_nonce", "Hi"),
        ("invalid_nonce", "Hi"),
    ],
)
def test_stream_answers_are_the_recorded_ones(flavor: str, name: str, message: str) -> None:
    nonce: Any = {"missing_nonce": None, "invalid_nonce": "0123456789"}.get(name, True)
    with recorded_server(flavor) as server:
        answer = submit(server, recorded_request(flavor, message), nonce=nonce)
    assert_like_recording(answer, flavor, name)


@pytest.mark.parametrize("name", ["long_message_65536", "long_message_65537"])
def test_the_2_0_byte_cap(name: str) -> None:
    size = int(name.rsplit("_", 1)[1])
    with recorded_server("2.0") as server:
        answer = submit(server, recorded_request("2.0", "A" * size))
    assert_like_recording(answer, "2.0", name)


def test_the_3_6_cap_counts_characters_not_bytes() -> None:
    with recorded_server("3.6") as server:
        accepted = submit(server, recorded_request("3.6", "\u00e9" * 512))
        refused = submit(server, recorded_request("3.6", "\u00e9" * 513))
    assert accepted.body == real("3.6", "stream_success.body")
    assert refused.body == real("3.6", "long_message_600.body")


def test_unknown_bot(flavor: str) -> None:
    with recorded_server(flavor) as server:
        answer = submit(server, recorded_request(flavor, botId="no-such-bot-xyz"))
    # 2.0.9 refuses it with an error frame under a JSON type; 3.6.2 uses "default".
    assert_like_recording(answer, flavor, "unknown_botid")


def test_unicode_tokens_are_escaped_as_php_does(flavor: str) -> None:
    bots = {"default": recorded_bot(flavor, UNICODE_TOKENS)}
    with recorded_server(flavor, bots=bots) as server:
        answer = submit(server, recorded_request(flavor, "Say UNICODE please"))
    assert_like_recording(answer, flavor, "stream_success_unicode")


def test_event_logs_status_frame() -> None:
    with recorded_server("3.6", event_logs=True, clock=lambda: 1795491483.795379) as server:
        answer = submit(server, recorded_request("3.6"))
    assert_like_recording(answer, "3.6", "stream_success_eventlogs")


@pytest.mark.parametrize(
    ("name", "message"), [("nonstream_success", "Hi"), ("nonstream_upstream_error", "FAIL500")]
)
def test_json_answers_are_the_recorded_ones(flavor: str, name: str, message: str) -> None:
    bots = {"default": recorded_bot(flavor, stream=False)}
    with recorded_server(flavor, bots=bots) as server:
        answer = submit(
            server, recorded_request(flavor, message, stream=False), accept_stream=False
        )
    assert_like_recording(answer, flavor, name)


def test_frames_are_written_in_two_chunks_as_php_flushes_them() -> None:
    with recorded_server("2.0") as server:
        answer = submit(server, recorded_request("2.0"))
    assert answer.raw_body == real("2.0", "stream_success_rawchunked.body")


def test_frames_in_one_chunk_on_request() -> None:
    with recorded_server("2.0", split_frames=False) as server:
        answer = submit(server, recorded_request("2.0"))
    frames = real("2.0", "stream_success.body").split(b"\n\n")[:-1]
    expected = b"".join(b"%x\r\n%s\n\n\r\n" % (len(f) + 2, f) for f in frames) + b"0\r\n\r\n"
    assert answer.raw_body == expected


def test_php_json() -> None:
    assert php_json({"a": "x/y", "b": "\u00e9\U0001f30d", "c": 1.5, "d": None}) == (
        '{"a":"x\\/y","b":"\\u00e9\\ud83c\\udf0d","c":1.5,"d":null}'
    )


# -- nonce, session, page -------------------------------------------------------


def test_start_session(flavor: str) -> None:
    with recorded_server(flavor) as server:
        answer = raw_request(server.port, "POST", "/wp-json/mwai/v1/start_session")
    if flavor == "2.0":
        assert_like_recording(answer, flavor, "start_session")
        return
    assert answer.status == 200
    assert answer.headers["content-type"] == "application/json; charset=UTF-8"
    body = json.loads(answer.body)
    assert list(body) == ["success", "sessionId", "restNonce"]
    assert body["success"] is True
    assert body["restNonce"] == NONCES["3.6"]
    assert re.fullmatch(r"[0-9a-f]{13}", body["sessionId"])
    assert answer.headers["set-cookie"] == f"mwai_session_id={body['sessionId']}; HttpOnly; Path=/"


def test_the_nonce_from_start_session_is_accepted() -> None:
    with Server(flavor="3.6") as server:
        session = requests.Session()
        nonce = session.post(server.base_url + "/wp-json/mwai/v1/start_session").json()
        with Client(server.base_url, session=session, nonce=nonce["restNonce"]) as client:
            assert "Hello" in client.complete([{"role": "user", "content": "Hi"}]).text
        session.close()


def test_page_element_is_the_recorded_one(flavor: str) -> None:
    site = {"2.0": "http://127.0.0.1:8082", "3.6": "http://127.0.0.1:8081"}[flavor]
    nonce = NONCES[flavor] if flavor == "2.0" else None
    element = render_chatbot_element(site, flavor=flavor, nonce=nonce)
    assert element == real(flavor, "page_chatbot_element.html").decode().strip()


@pytest.mark.parametrize("path", ["/chatbot/", "/", "/chatgpt-free-use/"])
def test_page_is_served_with_the_servers_own_urls(flavor: str, path: str) -> None:
    with Server(flavor=flavor) as server:
        response = requests.get(server.base_url + path, timeout=10)
        base_url = server.base_url
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=UTF-8"
    match = re.search(r"data-system='([^']*)'", response.text)
    assert match is not None
    system = json.loads(html.unescape(match.group(1)))
    assert system["restUrl"] == base_url + "/wp-json"
    assert system["restNonce"] == (server.nonce if flavor == "2.0" else None)


def test_the_nonce_from_the_page_is_accepted() -> None:
    with Server() as server:
        page = requests.get(server.page_url, timeout=10).text
        nonce = re.search(r"restNonce&quot;:&quot;([0-9a-f]+)&quot;", page)
        assert nonce is not None
        with Client(server.base_url, nonce=nonce.group(1)) as client:
            assert client.complete([{"role": "user", "content": "Hi"}]).text


def test_rotated_nonce_is_refused() -> None:
    with Server() as server:
        old = server.nonce
        new = server.rotate_nonce()
        stale = submit(server, recorded_request("2.0"), nonce=old)
        fresh = submit(server, recorded_request("2.0"), nonce=new)
    assert new != old
    assert stale.status == 403
    assert json.loads(stale.body)["code"] == "rest_cookie_invalid_nonce"
    assert fresh.status == 200
    assert fresh.headers["x-wp-nonce"] == new


def test_nonce_can_be_optional() -> None:
    with Server(require_nonce=False) as server, Client(server.base_url) as client:
        assert client.complete([{"role": "user", "content": "Hi"}]).text


def test_other_routes() -> None:
    with Server() as server:
        no_route = raw_request(server.port, "GET", SUBMIT)
        missing = raw_request(server.port, "GET", "/nowhere/")
        bad_json = raw_request(
            server.port,
            "POST",
            SUBMIT,
            b"{not json",
            {"Content-Type": "application/json", "X-WP-Nonce": server.nonce},
        )
        plain = raw_request(
            server.port,
            "POST",
            f"/?rest_route={SUBMIT[len('/wp-json') :]}",
            recorded_request("2.0"),
            {"Content-Type": "application/json", "X-WP-Nonce": server.nonce},
        )
    assert (no_route.status, json.loads(no_route.body)["code"]) == (404, "rest_no_route")
    assert missing.status == 404
    assert missing.headers["content-type"] == "text/html; charset=UTF-8"
    assert bad_json.status == 400
    assert json.loads(bad_json.body)["code"] == "rest_invalid_json"
    assert plain.status == 200
    assert plain.body.endswith(b"\n\n")


# -- as the real plugin answers (tests/realsite/test_realsite_fidelity.py compares them) -------

SESSION = "/wp-json/mwai/v1/start_session"


def body_1_6(text: str = "Hi", **over: Any) -> bytes:
    """What AI Engine 1.6.94's own chatbot sends (its custom bots are named ``id``)."""
    body: Dict[str, Any] = {
        "id": None,
        "botId": "default",
        "session": "N/A",
        "clientId": "fixchat01",
        "contextId": CHATBOT_PAGE_ID,
        "messages": [{"role": "assistant", "content": "Hi! How can I help you?"}],
        "newMessage": text,
        "stream": True,
    }
    body.update(over)
    return json.dumps(body).encode()


def cookie_names(answer: RawAnswer) -> List[str]:
    return sorted(v.split("=", 1)[0] for k, v in answer.header_list if k == "set-cookie")


def test_the_flavors() -> None:
    assert FLAVORS == ("2.0", "3.6", "1.6")  # the first is the default
    assert Server().require_nonce and not Server(flavor="1.6").require_nonce
    assert Server(flavor="1.6", require_nonce=True).require_nonce


def test_every_public_name_resolves() -> None:
    from opchatgpts_compat import server

    missing = [name for name in server.__all__ if not hasattr(server, name)]
    assert missing == []
    assert server.Server is Server
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        server.Nope  # noqa: B018


def test_only_the_server_itself_needs_aiohttp() -> None:
    # The command line reads FLAVORS for --help without importing aiohttp.
    code = (
        "import sys; sys.modules['aiohttp'] = None  # importing it now fails\n"
        "from opchatgpts_compat.server import FLAVORS, ScriptedBot, php_json,"
        " render_chatbot_element\n"
        "print(FLAVORS[0], php_json(ScriptedBot(['a/b']).answer.tokens),"
        " render_chatbot_element('http://h').startswith('<div '))\n"
        "from opchatgpts_compat.server import Server\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.stdout == '2.0 ["a\\/b"] True\n'
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == (
        "ModuleNotFoundError: import of aiohttp halted; None in sys.modules"
    )


@pytest.mark.parametrize("text", ["\u0000", "\u0000\u0000 \n", " \t\x0b"])
def test_what_php_trim_strips_is_a_blank_message(flavor: str, text: str) -> None:
    with recorded_server(flavor) as server:
        answer = submit(server, recorded_request(flavor, text))
    assert answer.status == 403
    assert answer.body == b'{"success":false,"message":"Sorry, your query has been rejected."}'


def test_php_trim_keeps_other_white_space() -> None:
    # PHP trim() leaves U+00A0 and U+3000 alone: the message is not blank.
    with recorded_server("2.0") as server:
        answer = submit(server, recorded_request("2.0", "\u00a0\u3000"))
    assert answer.status == 200


def test_a_stale_nonce_is_refused_before_routing(flavor: str) -> None:
    with recorded_server(flavor) as server:
        session = raw_request(server.port, "POST", SESSION, headers={"X-WP-Nonce": "0123456789"})
        nowhere = raw_request(server.port, "GET", "/wp-json/nowhere", headers={"X-WP-Nonce": "x"})
    for answer in (session, nowhere):
        assert answer.status == 403
        assert json.loads(answer.body)["code"] == "rest_cookie_invalid_nonce"
        assert answer.headers["expires"] == "Wed, 11 Jan 1984 05:00:00 GMT"
        assert answer.headers["cache-control"] == "no-cache, must-revalidate, max-age=0"
    # 3.6 starts a PHP session on its /mwai/ routes: PHP's cookie and Pragma.
    assert cookie_names(session) == (["PHPSESSID"] if flavor == "3.6" else [])
    assert session.headers.get("pragma") == ("no-cache" if flavor == "3.6" else None)
    assert cookie_names(nowhere) == [] and "pragma" not in nowhere.headers


def test_3_6_start_session_starts_a_php_session_too() -> None:
    with recorded_server("3.6") as server:
        fresh = raw_request(server.port, "POST", SESSION)
        again = raw_request(server.port, "POST", SESSION, headers={"Cookie": "PHPSESSID=abc"})
    assert cookie_names(fresh) == ["PHPSESSID", "mwai_session_id"]
    php = next(v for k, v in fresh.header_list if v.startswith("PHPSESSID="))
    assert re.fullmatch(r"PHPSESSID=[0-9a-v]{26}; Path=/", php)
    assert fresh.headers["expires"] == "Thu, 19 Nov 1981 08:52:00 GMT"
    assert fresh.headers["cache-control"] == "no-store, no-cache, must-revalidate"
    assert (fresh.headers["pragma"], fresh.headers["allow"]) == ("no-cache", "POST")
    assert cookie_names(again) == ["mwai_session_id"]  # PHP keeps the session it was given


def test_a_nonce_as_wpnonce_gets_a_fresh_header_but_not_past_the_plugin(flavor: str) -> None:
    with recorded_server(flavor) as server:
        body = recorded_request(flavor)
        query = raw_request(
            server.port,
            "POST",
            f"{SUBMIT}?_wpnonce={server.nonce}",
            body,
            {"Content-Type": "application/json"},
        )
        both = raw_request(
            server.port,
            "POST",
            f"{SUBMIT}?_wpnonce={server.nonce}",
            body,
            {"Content-Type": "application/json", "X-WP-Nonce": server.nonce},
        )
        stale = raw_request(
            server.port,
            "POST",
            f"{SUBMIT}?_wpnonce=0123456789",
            body,
            {"Content-Type": "application/json", "X-WP-Nonce": server.nonce},
        )
    # WordPress accepts it and answers with a fresh nonce; the plugin reads the header.
    assert (query.status, json.loads(query.body)["code"]) == (401, "rest_forbidden")
    assert query.headers["x-wp-nonce"] == server.nonce
    assert both.status == 200 and both.headers["x-wp-nonce"] == server.nonce
    assert stale.status == 403  # WordPress reads ?_wpnonce= first


def test_an_error_frame_under_a_json_type_is_one_chunk() -> None:
    # split_frames: PHP flushes a streamed frame in two, but this one is echoed whole.
    with recorded_server("2.0") as server:
        answer = submit(server, recorded_request("2.0", botId="no-such-bot"))
    assert answer.headers["content-type"] == "application/json; charset=UTF-8"
    frame = b'data: {"type":"error","data":"Sorry, your query has been rejected."}\n\n'
    assert answer.raw_body == b"%x\r\n%s\r\n0\r\n\r\n" % (len(frame), frame)


def test_the_history_as_each_version_assembles_it() -> None:
    seen: Dict[str, Any] = {}

    def bot(flavor: str) -> Any:
        def answer(messages: Any) -> List[str]:
            seen[flavor] = messages
            return ["ok"]

        return answer

    history = [{"role": "user", "content": "a"}]
    for flavor in FLAVORS:
        with Server(flavor=flavor, require_nonce=False, bots={"default": bot(flavor)}) as server:
            body = json.dumps({"botId": "default", "messages": history, "newMessage": " b "})
            answer = raw_request(
                server.port, "POST", SUBMIT, body.encode(), {"Content-Type": "application/json"}
            )
            assert answer.status == 200
    twice = [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]
    assert seen == {"2.0": twice, "3.6": twice, "1.6": [{"role": "user", "content": "b"}]}


def test_1_6_needs_no_nonce_and_names_custom_bots_id() -> None:
    custom = ScriptedBot(["Custom"])
    with Server(flavor="1.6", bots={"default": memory_bot, "c0ffee": custom}) as server:
        page = requests.get(server.page_url, timeout=10).text
        default = raw_request(server.port, "POST", SUBMIT, body_1_6(), JSON_HEADERS)
        by_id = raw_request(
            server.port, "POST", SUBMIT, body_1_6(id="c0ffee", botId=None), JSON_HEADERS
        )
        by_custom_id = raw_request(  # 1.9.8+'s name: not read by 1.6.94
            server.port, "POST", SUBMIT, body_1_6(customId="c0ffee"), JSON_HEADERS
        )
        unknown = raw_request(
            server.port, "POST", SUBMIT, body_1_6(botId="no-such-bot"), JSON_HEADERS
        )
        session = raw_request(server.port, "POST", SESSION)
        with Client.from_page(server.page_url) as client:
            reply = client.complete([{"role": "user", "content": "Hi"}])
    match = re.search(r"data-system='([^']*)'", page)
    assert match is not None
    system = json.loads(html.unescape(match.group(1)))
    assert list(system)[:5] == ["id", "botId", "userData", "sessionId", "restNonce"]
    assert (system["id"], system["restNonce"]) == (None, None)
    frames = [json.loads(f) for f in re.findall(rb"data: (.*?)\n\n", default.body)]
    assert frames[0] == {"type": "live", "data": ""}  # the upstream's first delta
    assert frames[1]["data"] == "Hello!"
    assert json.loads(frames[-1]["data"])["reply"].startswith("Hello!")
    assert b'"data":"Custom"' in by_id.body
    assert b'"data":"Hello!"' in by_custom_id.body
    assert (unknown.status, unknown.headers["allow"]) == (403, "POST")
    assert unknown.body == b'{"success":false,"message":"Sorry, your query has been rejected."}'
    assert json.loads(session.body)["code"] == "rest_no_route"
    assert reply.text.startswith("Hello!")
    assert {r.nonce for r in server.records} == {None}


def test_1_6_caps_a_message_at_3584_bytes_and_swallows_upstream_failures() -> None:
    with Server(flavor="1.6") as server:
        longest = raw_request(server.port, "POST", SUBMIT, body_1_6("é" * 1792), JSON_HEADERS)
        longer = raw_request(server.port, "POST", SUBMIT, body_1_6("é" * 1793), JSON_HEADERS)
        failed = raw_request(server.port, "POST", SUBMIT, body_1_6("FAIL500"), JSON_HEADERS)
        failed_json = raw_request(
            server.port, "POST", SUBMIT, body_1_6("FAIL500", stream=False), JSON_HEADERS
        )
    assert (longest.status, longer.status) == (200, 403)
    [end] = [json.loads(f) for f in re.findall(rb"data: (.*?)\n\n", failed.body)]
    assert end["type"] == "end" and json.loads(end["data"])["reply"] == ""
    assert (failed_json.status, failed_json.headers["allow"]) == (500, "POST")
    assert json.loads(failed_json.body)["message"].startswith("Error while calling OpenAI:")


JSON_HEADERS = {"Content-Type": "application/json"}


# -- the built-in bot -----------------------------------------------------------


def test_memory_bot_uses_the_history() -> None:
    first = memory_bot([{"role": "user", "content": "My name is Ada"}])
    later = memory_bot(
        [
            {"role": "user", "content": "My name is Ada"},
            {"role": "assistant", "content": "".join(first.tokens)},
            {"role": "user", "content": "What did I say?"},
        ]
    )
    assert "".join(first.tokens) == (
        'Hello! You said "My name is Ada". Tell me more, and I will remember it.'
    )
    assert "".join(later.tokens) == (
        'You said "What did I say?". Earlier you said "My name is Ada". '
        "That makes 2 messages from you in this conversation."
    )
    assert later.tokens[:3] == ["You", " said", ' "What']


def test_the_server_builds_the_conversation_as_the_plugin_does() -> None:
    seen = []

    def bot(messages: Any) -> Answer:
        seen.append(messages)
        return Answer(["ok"])

    with Server(bots={"default": bot}) as server, Client(server.base_url, nonce=server.nonce) as c:
        # g4f sends the whole list, the new message last; the plugin keeps it once.
        c.complete([{"role": "user", "content": "a"}, {"role": "user", "content": "  b  "}])
    assert seen == [[{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]]
    assert server.records[-1].messages == seen[0]


# -- delivery: per frame, disconnects, faults ------------------------------------


def test_each_token_is_sent_before_the_next_is_made() -> None:
    # The second token waits 60 s: the first frame must arrive long before.
    with recorded_server("2.0", delay=60.0) as server:
        body = recorded_request("2.0")
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            head = (
                f"POST {SUBMIT} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                f"X-WP-Nonce: {server.nonce}\r\nContent-Length: {len(body)}\r\n\r\n"
            )
            sock.sendall(head.encode() + body)
            received = b""
            while b'data: {"type":"live","data":"Hello"}\r\n2\r\n\n\n\r\n' not in received:
                piece = sock.recv(65536)  # times out (fails) if the frame is held back
                assert piece, "closed before the first frame"
                received += piece
        assert server.wait_for(lambda records: len(records) == 1, timeout=10)
    record = server.records[0]
    assert (record.tokens, record.outcome) == (1, "disconnected")


def test_a_client_leaving_early_is_seen_at_once() -> None:
    # The next token is 60 s away: only the disconnect can end the answer now.
    with Server(delay=60.0) as server, Client(server.base_url, nonce=server.nonce) as client:
        with client.stream([{"role": "user", "content": "Hi"}]) as chunks:
            assert next(chunks) == "Hello!"
        assert server.wait_for(lambda records: len(records) == 1, timeout=10)
    assert (server.records[0].tokens, server.records[0].outcome) == (1, "disconnected")


async def test_an_async_client_leaving_early_is_seen_at_once() -> None:
    with Server(delay=60.0) as server:
        async with AsyncClient(server.base_url, nonce=server.nonce) as client:
            async for chunk in client.stream([{"role": "user", "content": "Hi"}]):
                assert chunk == "Hello!"
                break
        # The server runs in its own thread: wait there, not in this loop.
        done = await asyncio.to_thread(server.wait_for, lambda records: len(records) == 1, 10)
        assert done
    assert (server.records[0].tokens, server.records[0].outcome) == (1, "disconnected")


@pytest.mark.parametrize("use_option", [False, True])
def test_fault_cut(use_option: bool) -> None:
    options: Dict[str, Any] = {"fault": "cut"} if use_option else {"faults": {"default": "cut"}}
    with Server(**options) as server, Client(server.base_url, nonce=server.nonce) as client:
        chunks = []
        with pytest.raises(IncompleteStreamError) as info:
            for chunk in client.stream([{"role": "user", "content": "one two three four"}]):
                chunks.append(chunk)
    assert chunks and info.value.partial == "".join(chunks)
    assert server.records[-1].outcome == "cut"


def test_fault_error(flavor: str) -> None:
    with Server(flavor=flavor) as server, Client(server.base_url, nonce=server.nonce) as client:
        with pytest.raises(ServerError) as info:
            client.complete([{"role": "user", "content": "Hello there"}], bot_id="fault-error")
        assert info.value.partial
        with pytest.raises(RejectedError) as json_info:
            client.complete([{"role": "user", "content": "Hi"}], bot_id="fault-error", stream=False)
    assert "The server had an error" in str(info.value)
    assert json_info.value.status_code == 500


def test_fault_html() -> None:
    with Server(fault="html") as server, Client(server.base_url, nonce=server.nonce) as client:
        with pytest.raises(IncompleteStreamError, match="text/html"):
            client.complete([{"role": "user", "content": "Hi"}])


def test_fault_slow_keeps_the_order() -> None:
    with Server(faults={"default": "slow"}, slow_delay=0.01) as server:
        with Client(server.base_url, nonce=server.nonce) as client:
            reply = client.complete([{"role": "user", "content": "Hi"}])
    assert reply.text.startswith("Hello!")
    assert server.records[-1].seconds >= 0.01 * (server.records[-1].tokens - 1)


@pytest.mark.parametrize("stream", [True, False])
def test_a_failing_bot_is_reported_as_the_plugin_does(stream: bool) -> None:
    def bot(messages: Any) -> Answer:
        raise RuntimeError("Quota exceeded.")

    with Server(bots={"default": bot}) as server:
        answer = submit(server, recorded_request("2.0", stream=stream), accept_stream=stream)
    if stream:
        assert (answer.status, answer.headers["content-type"]) == (
            200,
            "application/json; charset=UTF-8",
        )
        assert answer.body == b'data: {"type":"error","data":"Quota exceeded."}\n\n'
    else:
        assert answer.status == 500
        assert answer.body == b'{"success":false,"message":"Quota exceeded."}'


def test_no_fault_by_default() -> None:
    server = Server()
    assert server.fault is None
    assert all(bot_id.startswith("fault-") for bot_id in server.faults)


def test_bad_options() -> None:
    with pytest.raises(ValueError, match="flavor"):
        Server(flavor="9.9")
    with pytest.raises(ValueError, match="fault"):
        Server(fault="explode")
    with pytest.raises(ValueError, match="fault"):
        Server(faults={"x": "explode"})


# -- three ways to run it -----------------------------------------------------------


def test_sync_context_manager_binds_localhost_on_a_free_port() -> None:
    with Server() as one, Server() as two:
        assert one.port != two.port
        assert one.base_url == f"http://127.0.0.1:{one.port}"
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", one.port), timeout=5).close()
    with pytest.raises(RuntimeError):
        one.base_url  # noqa: B018


async def test_async_context_manager_in_a_running_loop() -> None:
    async with Server(flavor="3.6") as server:
        session_nonce = server.nonce
        async with AsyncClient(server.base_url, nonce=session_nonce) as client:
            chunks = [c async for c in client.stream([{"role": "user", "content": "Hi"}])]
            reply = await client.complete([{"role": "user", "content": "Hi"}])
    assert "".join(chunks) == reply.text


async def test_shutdown_ends_an_unfinished_answer() -> None:
    async with Server(delay=60.0, shutdown_timeout=0.1) as server:
        client = AsyncClient(server.base_url, nonce=server.nonce)
        stream = client.stream([{"role": "user", "content": "Hi"}])
        assert await stream.__anext__() == "Hello!"
        await server.close()
        with pytest.raises(IncompleteStreamError):
            await stream.__anext__()
        await client.aclose()
    assert server.records[-1].outcome == "cancelled"


def test_server_fixture(ai_engine_server: Server) -> None:
    with Client(ai_engine_server.base_url, nonce=ai_engine_server.nonce) as client:
        assert client.complete([{"role": "user", "content": "Hi"}]).text


@pytest.fixture
def ai_engine_server() -> Iterator[Server]:
    """The pytest fixture of the README: a server per test, in its own thread."""
    with Server() as server:
        yield server


async def test_serve_forever_and_stop() -> None:
    server = Server()
    seen = []

    def ready(running: Server) -> None:
        seen.append(running.base_url)
        running.stop()

    await server.serve_forever(ready)
    assert seen and seen[0].startswith("http://127.0.0.1:")
    assert repr(server) == "<Server AI Engine 2.0 stopped>"
