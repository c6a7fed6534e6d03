"""The core exchange on its own, no socket: what both front ends leave to it.

Every behaviour here also runs through both twins on real sockets (the case
table, ``test_faults.py``, ``test_connections.py``); these pin the core's own
contract: chunks before the error, statuses as they come, the turn kept only
after the whole reply, nonces observed, the ``from_page`` steps.
"""

from __future__ import annotations

import json
from typing import List, Optional

import pytest
from support.twin import Twin, both

from opchatgpts_compat import HTTPStatusError, IncompleteStreamError, ServerError
from opchatgpts_compat._conversation import Transcript
from opchatgpts_compat._exchange import Exchange, Head, PageSetup, check_open, reusable
from opchatgpts_compat._models import StatusEvent
from opchatgpts_compat._request import build_request
from opchatgpts_compat._settings import build_settings
from opchatgpts_compat._site import SiteState

SSE = "text/event-stream"
MESSAGES = [{"role": "user", "content": "Hi"}]


def frame(obj: object) -> bytes:
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


def live(text: str) -> bytes:
    return frame({"type": "live", "data": text})


def end(reply: str, **extra: object) -> bytes:
    return frame({"type": "end", "data": json.dumps({"success": True, "reply": reply, **extra})})


def head(status: int = 200, content_type: str = SSE) -> Head:
    return Head(status, content_type, None, [])


def exchange(
    site: Optional[SiteState] = None,
    statuses: Optional[List[StatusEvent]] = None,
    turn: bool = False,
) -> Exchange:
    settings = build_settings(base_url="https://example.org")
    reported = statuses.append if statuses is not None else None
    if turn:
        begun = Transcript(chat_id="c1").begin("Hi", settings)
        return Exchange(
            site or SiteState(), settings, begun.request, on_status=reported, turn=begun
        )
    request = build_request(MESSAGES, settings)
    return Exchange(site or SiteState(), settings, request, on_status=reported)


def drain(ex: Exchange) -> List[str]:
    out = []
    while True:
        chunk = ex.next_chunk()
        if chunk is None:
            return out
        out.append(chunk)


def test_chunks_then_the_error_then_over() -> None:
    ex = exchange()
    ex.start(head())
    assert drain(ex) == []  # nothing yet: feed bytes
    assert not ex.over
    assert ex.feed(live("a") + live("b") + frame({"type": "error", "data": "Boom"}))
    assert [ex.next_chunk(), ex.next_chunk()] == ["a", "b"]
    with pytest.raises(ServerError, match="Boom") as caught:
        ex.next_chunk()
    assert caught.value.partial == "ab"
    assert ex.next_chunk() is None and ex.over  # raised once


def test_the_end_of_the_body_before_the_end_frame() -> None:
    ex = exchange()
    ex.start(head())
    assert not ex.feed(live("a"))
    assert ex.feed(b"")  # b"": the body ended
    assert ex.next_chunk() == "a"
    with pytest.raises(IncompleteStreamError):
        ex.next_chunk()


def test_statuses_are_reported_as_they_come() -> None:
    seen: List[StatusEvent] = []
    ex = exchange(statuses=seen)
    ex.start(head())
    ex.feed(frame({"type": "live", "subtype": "status", "data": "Thinking"}))
    assert [s.text for s in seen] == ["Thinking"]
    ex.feed(live("a") + end("a"))
    assert drain(ex) == ["a"] and ex.over
    assert ex.reply is not None and ex.reply.text == "a"


def test_the_turn_is_kept_only_once_the_whole_reply_was_handed_over() -> None:
    ex = exchange(turn=True)
    transcript = ex._turn.transcript  # type: ignore[union-attr]
    ex.start(head())
    ex.feed(live("a") + end("a"))
    assert ex.next_chunk() == "a"
    assert transcript.messages == []  # the caller has not seen the end yet
    assert ex.next_chunk() is None and ex.over
    assert [m["content"] for m in transcript.messages] == ["Hi", "a"]


def test_a_turn_left_early_is_dropped() -> None:
    ex = exchange(turn=True)
    transcript = ex._turn.transcript  # type: ignore[union-attr]
    ex.start(head())
    ex.feed(live("a") + end("a"))
    assert ex.next_chunk() == "a"
    ex.leave()
    assert ex.next_chunk() is None
    assert transcript.messages == []


def test_nonces_are_observed() -> None:
    site = SiteState("0123456789")
    ex = exchange(site)
    ex.head(head(), {"X-WP-Nonce": "abcdef0123"})
    assert site.nonce == "abcdef0123"
    ex.start(head())
    ex.feed(end("a", new_token="fedcba9876"))
    assert site.nonce == "fedcba9876"


def test_an_encoding_neither_front_end_reads_is_refused() -> None:
    with pytest.raises(IncompleteStreamError, match="br"):
        exchange().start(Head(200, SSE, None, ["br"]))


def test_the_parser_is_built_from_the_head() -> None:
    ex = exchange()
    parser = ex.start(Head(302, "text/html", "https://example.org/login", []))
    assert (parser.status_code, parser.location) == (302, "https://example.org/login")
    ex.feed(b"")
    with pytest.raises(HTTPStatusError, match="login"):
        ex.next_chunk()


def test_the_closed_check_and_the_policy() -> None:
    check_open(False, "Client")
    with pytest.raises(RuntimeError, match="this AsyncClient is closed"):
        check_open(True, "AsyncClient")
    assert reusable(True) and not reusable(False)


PAGE = (
    b'<div class="mwai-chatbot-container" data-params=\'{"botId":"b1"}\' '
    b'data-system=\'{"botId":"b1","restUrl":"https://example.org/wp-json","restNonce":'
    b'"0a1b2c3d4e","sessionId":"s1","stream":true}\'></div>'
)


def test_the_from_page_steps() -> None:
    setup = PageSetup("Client", "https://example.org/chat/", None, {})
    assert setup.client_options == {"base_url": "https://example.org"}
    settings = build_settings(**setup.client_options)
    fetch = setup.fetch(settings)
    assert (fetch.method, fetch.url) == ("GET", "https://example.org/chat/")
    setup.read(fetch, 200, "text/html", PAGE)
    site = SiteState()
    settings = setup.settings(settings, site)
    assert (settings.bot_id, settings.session_id) == ("b1", "s1")
    assert site.nonce == "0a1b2c3d4e" and site.page_url == "https://example.org/chat/"


def test_from_page_refuses_bad_options_before_anything_is_sent() -> None:
    with pytest.raises(TypeError, match=r"AsyncClient\.from_page\(\)"):
        PageSetup("AsyncClient", "https://example.org/chat/", None, {"temperature": 1})


@both
async def test_a_closed_client_refuses_before_sending(twin: Twin) -> None:
    client = twin.client("http://127.0.0.1:9")
    conversation = client.conversation()
    await twin.close(client)
    name = "AsyncClient" if twin.is_async else "Client"
    with pytest.raises(RuntimeError, match=f"^this {name} is closed$"):
        client.stream(MESSAGES)
    with pytest.raises(RuntimeError, match=f"^this {name} is closed$"):
        conversation.stream("Hi")
    assert repr(client) == f"<{name} http://127.0.0.1:9>"
