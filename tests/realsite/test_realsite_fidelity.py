"""The embedded server next to the real plugin: the same requests, the same answers.

Each case sends the same raw HTTP request to a real AI Engine site started by
``../shared/realsite/setup.sh`` (tests/support/realsite.py reads its manifest) and to
the embedded server's matching flavour: 1.6.94 and ``"1.6"``, 2.0.9 and
``"2.0"``, 3.6.2 and ``"3.6"``.  It compares what a client can notice: the
status, the significant headers, the frame sequence, the JSON keys (in order)
and the error texts; dates, nonces, ids and usage figures aside.  The
embedded bot answers as the real sites' fake upstream does (``Hello there,
world [u=U a=A last=TEXT]``, counting the user and assistant messages it was
given), so the reply also shows that both assembled the same conversation.

Marked ``realsite``: skipped with one line when the sites are not running.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Tuple
from urllib.parse import urlsplit

import pytest
from support.realsite import site
from support.server_helpers import RawAnswer, raw_request

from opchatgpts_compat.server import Answer, Server

pytestmark = pytest.mark.realsite

#: Real site name -> the embedded server's flavour.
PAIRS = {"v1-6-94": "1.6", "v2-0-9": "2.0", "v3-6-2": "3.6"}
SUBMIT = "/wp-json/mwai-ui/v1/chats/submit"
START_SESSION = "/wp-json/mwai/v1/start_session"
STALE = "0123456789"
START = {"role": "assistant", "content": "Hi! How can I help you?"}
#: Headers compared by value; X-WP-Nonce by presence, Set-Cookie by cookie names.
HEADERS = ("content-type", "cache-control", "pragma", "expires", "x-accel-buffering", "allow")
_FRAME = re.compile(rb"data: (.*?)\n\n", re.DOTALL)
_SYSTEM = re.compile(r"data-system='([^']*)'")
_PARAMS = re.compile(r"data-params='([^']*)'")


def upstream_bot(messages: List[Dict[str, str]]) -> Answer:
    """What ../shared/realsite/upstream.py answers, from the conversation given."""
    users = [m["content"] for m in messages if m["role"] == "user"]
    assistants = sum(1 for m in messages if m["role"] == "assistant")
    last = " ".join((users[-1] if users else "").split())[:40]
    tail = f" [u={len(users)} a={assistants} last={last}]"
    return Answer(["Hello", " there", ",", " world", tail])


# -- raw HTTP, chunk boundaries kept ------------------------------------------------------


def http(
    base_url: str,
    method: str,
    target: str,
    body: Optional[bytes] = None,
    headers: Optional[Dict[str, str]] = None,
) -> RawAnswer:
    """One request on a fresh connection, read to its close."""
    return raw_request(urlsplit(base_url).port or 80, method, target, body, headers, timeout=30)


# -- one side of the comparison -----------------------------------------------------------


@dataclass
class Side:
    """A site (real or embedded) and what a guest gets from it to talk to it."""

    base_url: str
    page_url: str
    flavor: str
    nonce: Optional[str] = None
    cookies: Dict[str, str] = field(default_factory=dict)
    #: How the site's own chatbot names the custom bot: {"botId": ..., "customId"
    #: or (1.x) "id": ...}, from the real site's /custom-bot/ page.
    custom: Dict[str, Any] = field(default_factory=dict)

    def get_nonce(self) -> None:
        if self.flavor == "3.6":
            reply = http(self.base_url, "POST", START_SESSION)
            self.nonce = json.loads(reply.body)["restNonce"]
            for name, value in reply.header_list:
                if name == "set-cookie":
                    key, _, rest = value.partition("=")
                    self.cookies[key] = rest.split(";")[0]
        elif self.flavor == "2.0":
            page = http(self.base_url, "GET", urlsplit(self.page_url).path).body.decode()
            match = _SYSTEM.search(page)
            assert match is not None
            self.nonce = json.loads(html.unescape(match.group(1)))["restNonce"]


@pytest.fixture(scope="module")
def servers() -> Iterator[Dict[str, Server]]:
    """The embedded servers, one per flavour, started when first needed."""
    started: Dict[str, Server] = {}
    yield started
    for server in started.values():
        server.shutdown()


_CUSTOM: Dict[str, Dict[str, Any]] = {}


def custom_bot(real: Dict[str, Any], flavor: str) -> Dict[str, Any]:
    """The botId and custom id the real /custom-bot/ page gives (read once per site)."""
    if real["name"] not in _CUSTOM:
        page = http(real["base_url"], "GET", urlsplit(real["custom_page_url"]).path)
        system = _attribute(_SYSTEM, page.body.decode())
        key = "id" if flavor == "1.6" else "customId"
        _CUSTOM[real["name"]] = {"botId": system["botId"], key: system[key]}
    return _CUSTOM[real["name"]]


def sides(name: str, servers: Dict[str, Server]) -> Tuple[Side, Side]:
    real = site(name)
    flavor = PAIRS[name]
    custom = custom_bot(real, flavor)
    if flavor not in servers:
        servers[flavor] = Server(flavor=flavor, bots={"default": upstream_bot}).run_in_thread()
    embedded = servers[flavor]
    embedded.bots[custom["id" if flavor == "1.6" else "customId"]] = upstream_bot
    pair = (
        Side(real["base_url"], real["page_url"], flavor, custom=custom),
        Side(embedded.base_url, embedded.base_url + "/chatbot/", flavor, custom=custom),
    )
    for side in pair:
        side.get_nonce()
    return pair


# -- the cases ------------------------------------------------------------------------------


def submit_body(text: str, *, stream: bool = True, **over: Any) -> bytes:
    body: Dict[str, Any] = {
        "botId": "default",
        "customId": None,
        "session": "N/A",
        "chatId": "fidelity01",
        "contextId": 4,
        "messages": [START, {"role": "user", "content": "Earlier"}, START],
        "newMessage": text,
        "newFileId": None,
        "stream": stream,
    }
    body.update(over)
    return json.dumps(body, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Case:
    name: str
    method: str = "POST"
    route: str = SUBMIT
    body: Optional[bytes] = None
    #: ``"header"``: the side's nonce as X-WP-Nonce; ``"query"``: as ?_wpnonce=;
    #: ``"stale"``: a wrong one; ``None``: none.
    nonce: Optional[str] = "header"
    cookies: bool = True
    #: Name the custom bot as the site's own chatbot does.
    custom: bool = False


CASES = [
    Case("page", "GET", "page", nonce=None, cookies=False),
    Case("stream", body=submit_body("Mark one, streamed")),
    Case("json", body=submit_body("Mark two, as JSON", stream=False)),
    Case(
        "history ending with a user item",
        body=submit_body("Mark three", messages=[START, {"role": "user", "content": "Dup"}]),
    ),
    Case("no nonce", body=submit_body("Mark four"), nonce=None),
    Case("stale nonce", body=submit_body("Mark five"), nonce="stale"),
    Case("nonce as ?_wpnonce=", body=submit_body("Mark six"), nonce="query"),
    Case("NUL-only message", body=submit_body("\u0000")),
    Case("blank message", body=submit_body(" \n\t ")),
    Case("unknown bot", body=submit_body("Mark seven", botId="no-such-bot")),
    Case("custom bot", body=submit_body("Mark eight", customId=None), custom=True),
    Case("600 characters", body=submit_body("A" * 600)),
    Case("upstream failure, stream", body=submit_body("Mark FAIL500")),
    Case("upstream failure, JSON", body=submit_body("Mark FAIL500", stream=False)),
    Case("start_session", route=START_SESSION, nonce=None, cookies=False),
    Case("start_session, stale nonce", route=START_SESSION, nonce="stale", cookies=False),
]


def send(side: Side, case: Case) -> RawAnswer:
    headers: Dict[str, str] = {}
    target = urlsplit(side.page_url).path if case.route == "page" else case.route
    if case.body is not None:
        headers["Content-Type"] = "application/json"
    if case.nonce == "header" and side.nonce:
        headers["X-WP-Nonce"] = side.nonce
    elif case.nonce == "stale":
        headers["X-WP-Nonce"] = STALE
    elif case.nonce == "query" and side.nonce:
        target += f"?_wpnonce={side.nonce}"
    if case.custom and case.body is not None:
        body = {**json.loads(case.body), **side.custom}
        case = Case(case.name, case.method, case.route, json.dumps(body).encode(), case.nonce)
    if case.cookies and side.cookies:
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in side.cookies.items())
    return http(side.base_url, case.method, target, case.body, headers)


# -- what is compared -------------------------------------------------------------------------

#: Values that differ between any two answers: compared by type only.
_VOLATILE = {"sessionId", "restNonce", "usage", "responseId", "timestamp", "pluginUrl", "restUrl"}


def shape(value: Any) -> Any:
    """Keys in order and the values that matter; volatile values by type, usage by keys."""
    if isinstance(value, dict):
        pairs: List[Tuple[str, Any]] = []
        for key, item in value.items():
            if key == "usage" and isinstance(item, dict):
                pairs.append((key, list(item)))
            elif key in _VOLATILE:
                pairs.append((key, type(item).__name__))
            else:
                pairs.append((key, shape(item)))
        return pairs
    if isinstance(value, list):
        return [shape(item) for item in value]
    return value


def summary(reply: RawAnswer, case: Case) -> Dict[str, Any]:
    found: Dict[str, Any] = {"status": reply.status}
    for name in HEADERS:
        found[name] = reply.header(name)
    found["x-wp-nonce"] = reply.header("x-wp-nonce") is not None
    found["cookies"] = sorted(v.split("=", 1)[0] for k, v in reply.header_list if k == "set-cookie")
    content_type = reply.header("content-type") or ""
    if case.route == "page":  # (Apache chunks a page, aiohttp gives its length)
        text = reply.body.decode("utf-8", "replace")
        found["data-system"] = shape(_attribute(_SYSTEM, text))
        found["data-params keys"] = list(_attribute(_PARAMS, text))
        return found
    found["framing"] = "chunked" if reply.header("transfer-encoding") == "chunked" else "length"
    frames = _FRAME.findall(reply.body)
    if frames:
        found["frames"] = [_frame(raw) for raw in frames]
        if content_type.startswith("application/json"):
            found["chunks"] = len(reply.chunks)  # one echo: one chunk
    else:
        found["json"] = shape(json.loads(reply.body))
    return found


def _attribute(pattern: re.Pattern[str], text: str) -> Dict[str, Any]:
    match = pattern.search(text)
    assert match is not None
    value: Dict[str, Any] = json.loads(html.unescape(match.group(1)))
    return value


def _frame(raw: bytes) -> Any:
    frame = json.loads(raw)
    if isinstance(frame, dict) and frame.get("type") == "end":
        frame["data"] = json.loads(frame["data"])
    return shape(frame)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
@pytest.mark.parametrize("name", list(PAIRS))
def test_the_embedded_server_answers_as_the_real_plugin(
    name: str, case: Case, servers: Dict[str, Server]
) -> None:
    real, embedded = sides(name, servers)
    expected = summary(send(real, case), case)
    got = summary(send(embedded, case), case)
    assert got == expected
