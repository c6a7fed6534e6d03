"""Every answer recorded from real AI Engine sites, replayed byte for byte, through both clients.

One table: the recorded answer (fixtures/real/, README.md there) -> the chunks,
reply or error the client must give.  A raw loopback server writes the
recorded status line, headers and body (with its chunk framing, or the
recorded ``recv()`` pieces and pauses of an ``.arrivals.tsv``); the
``start_session`` answer and the chatbot page recorded on the same site are
served beside it, so the automatic nonce flow runs on real bytes too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple, Type

import pytest
from support.fault_server import LoopbackServer, Request, Writer
from support.recorded import NONCES, REAL, STALE_NONCE, VERSIONS, load, names, replay
from support.twin import Twin, both

from opchatgpts_compat import (
    HTTPStatusError,
    OpchatgptsError,
    RejectedError,
    ServerError,
)

SUBMIT = "/wp-json/mwai-ui/v1/chats/submit"
START_SESSION = "/wp-json/mwai/v1/start_session"
HELLO = ["Hello", " there", ",", " world"]
UNICODE = ["H\u00e9llo", " w\u00f6rld", " \U0001f30d", " a/b", ' "q"\n']
REJECTED = "Sorry, your query has been rejected."
USAGE_2 = {"prompt_tokens": 0, "completion_tokens": 6, "total_tokens": 6}
USAGE_2_JSON = {"prompt_tokens": 12, "completion_tokens": 4, "total_tokens": 16}
USAGE_3 = {**USAGE_2_JSON, "price": None, "queries": 1, "accuracy": "tokens"}
KEYS_2 = ["success", "reply", "images", "usage"]
KEYS_3 = ["success", "reply", "images", "actions", "shortcuts", "blocks", "usage", "responseId"]


def _site_message(version: str, name: str = "nonstream_upstream_error") -> str:
    message = json.loads((REAL / f"ai-engine-{version}" / f"{name}.body").read_bytes())["message"]
    assert isinstance(message, str)
    return message


@dataclass(frozen=True)
class Case:
    version: str
    name: str
    #: Replay the ``.arrivals.tsv`` pieces instead of headers + body.
    arrivals: bool = False
    #: Expected chunks and reply text (a success) ...
    chunks: Optional[List[str]] = None
    text: Optional[str] = None
    usage: Optional[Dict[str, Any]] = None
    raw_keys: Optional[List[str]] = None
    statuses: List[Tuple[str, str]] = field(default_factory=list)
    # ... or the error.
    error: Optional[Type[OpchatgptsError]] = None
    message: Optional[str] = None
    status_code: Optional[int] = None
    code: Optional[str] = None

    @property
    def id(self) -> str:
        return f"{self.version}/{self.name}" + (".arrivals" if self.arrivals else "")

    @property
    def nonce(self) -> Optional[str]:
        if self.name == "missing_nonce":
            return None
        return STALE_NONCE if self.name == "invalid_nonce" else NONCES[self.version]

    @property
    def stream(self) -> bool:
        return not self.name.startswith("nonstream")

    @property
    def text_sent(self) -> str:
        # What the recording sent; an empty message is refused before sending,
        # so "Hi" goes out and the recorded 403 comes back all the same.
        if self.name.startswith("long_message_"):
            return "A" * int(self.name.rsplit("_", 1)[1])
        if "upstream_error" in self.name:
            return "Please FAIL500 now"
        if self.name == "stream_success_unicode":
            return "Say UNICODE please"
        return "Hi"


def _ok(version: str, name: str, **kw: Any) -> Case:
    unicode = name.endswith("unicode")
    nonstream = name.startswith("nonstream")
    if version == "2.0.9":
        usage = USAGE_2_JSON if nonstream else dict(USAGE_2)
        if unicode:
            usage = {"prompt_tokens": 0, "completion_tokens": 9, "total_tokens": 9}
        keys = KEYS_2
    else:
        usage, keys = USAGE_3, KEYS_3
    text = 'H\u00e9llo w\u00f6rld \U0001f30d a/b "q"' if unicode else "Hello there, world"
    chunks = [text] if nonstream else UNICODE if unicode else HELLO
    return Case(version, name, chunks=chunks, text=text, usage=usage, raw_keys=keys, **kw)


def _rejected(version: str, name: str, status: int, message: str) -> Case:
    phrase = {403: "Forbidden", 500: "Internal Server Error"}[status]
    return Case(
        version,
        name,
        error=RejectedError,
        message=f"HTTP {status} {phrase}: {message}",
        status_code=status,
    )


def _server_error(version: str, name: str, message: str) -> Case:
    return Case(version, name, error=ServerError, message=message)


def _nonce_refused(version: str, name: str) -> Case:
    if name == "missing_nonce":
        message = "HTTP 401 Unauthorized: Sorry, you are not allowed to do that. (rest_forbidden)"
        return Case(
            version, name, error=HTTPStatusError, message=message, status_code=401,
            code="rest_forbidden",
        )  # fmt: skip
    message = "HTTP 403 Forbidden: Cookie check failed (rest_cookie_invalid_nonce)"
    return Case(
        version, name, error=HTTPStatusError, message=message, status_code=403,
        code="rest_cookie_invalid_nonce",
    )  # fmt: skip


_UPSTREAM = "The server had an error while processing your request. Sorry about that!"
UPSTREAM_2 = f"From OpenAI: Error : {_UPSTREAM}"
UPSTREAM_3 = f"OpenAI (Responses API): Error: {_UPSTREAM} (server_error)"

CASES = [
    # AI Engine 2.0.9
    _rejected("2.0.9", "empty_message", 403, REJECTED),
    _nonce_refused("2.0.9", "invalid_nonce"),
    _ok("2.0.9", "long_message_600"),
    _ok("2.0.9", "long_message_65536"),
    _rejected("2.0.9", "long_message_65537", 403, REJECTED),
    _rejected("2.0.9", "long_message_70000", 403, REJECTED),
    _nonce_refused("2.0.9", "missing_nonce"),
    _ok("2.0.9", "nonstream_success"),
    _ok("2.0.9", "nonstream_success_gzip"),
    _rejected("2.0.9", "nonstream_upstream_error", 500, _site_message("2.0.9")),
    _ok("2.0.9", "stream_success"),
    _ok("2.0.9", "stream_success", arrivals=True),
    _ok("2.0.9", "stream_success_gzip"),
    _ok("2.0.9", "stream_success_rawchunked"),
    _ok("2.0.9", "stream_success_unicode"),
    _server_error("2.0.9", "stream_upstream_error", UPSTREAM_2),
    _server_error("2.0.9", "unknown_botid", REJECTED),
    # AI Engine 3.6.2
    _rejected("3.6.2", "empty_message", 403, REJECTED),
    _nonce_refused("3.6.2", "invalid_nonce"),
    _server_error("3.6.2", "long_message_600", REJECTED),
    _server_error("3.6.2", "long_message_70000", REJECTED),
    _nonce_refused("3.6.2", "missing_nonce"),
    _ok("3.6.2", "nonstream_success"),
    _ok("3.6.2", "nonstream_success_gzip"),
    _ok("3.6.2", "nonstream_success_gzip_forced"),
    _rejected("3.6.2", "nonstream_upstream_error", 500, _site_message("3.6.2")),
    _ok("3.6.2", "stream_success"),
    _ok("3.6.2", "stream_success", arrivals=True),
    _ok("3.6.2", "stream_success_eventlogs", statuses=[("status", "Generating response...")]),
    _ok("3.6.2", "stream_success_gzip"),
    _ok("3.6.2", "stream_success_gzip_forced"),
    _ok("3.6.2", "stream_success_gzip_forced", arrivals=True),
    _ok("3.6.2", "stream_success_rawchunked"),
    _ok("3.6.2", "stream_success_unicode"),
    _server_error("3.6.2", "stream_upstream_error", UPSTREAM_3),
    _server_error("3.6.2", "stream_upstream_error_eventlogs", UPSTREAM_3),
    _ok("3.6.2", "unknown_botid"),
]


def test_every_recorded_answer_is_in_the_table() -> None:
    listed = {(case.version, case.name) for case in CASES}
    assert listed == {(version, name) for version in VERSIONS for name in names(version)}
    with_arrivals = {(c.version, c.name) for c in CASES if c.arrivals}
    assert with_arrivals == {
        (version, name) for version in VERSIONS for name in names(version)
        if load(version, name).arrivals
    }  # fmt: skip


def test_reframing_gives_the_recorded_chunk_framing() -> None:
    # The replay frames a transfer-decoded body one chunk per flush; curl --raw
    # shows that is what the site sent.
    for version in VERSIONS:
        decoded = load(version, "stream_success").wire()
        raw = load(version, "stream_success_rawchunked").wire()
        assert b"".join(decoded[1:]) == raw[1]


def recorded_site(case: Case) -> LoopbackServer:
    """The site as recorded: this case's answer to chats/submit, and the
    same site's recorded start_session answer and chatbot page."""
    answer = load(case.version, case.name)
    session = load(case.version, "start_session")
    page = load(case.version, "page")

    async def handler(request: Request, writer: Writer) -> bool:
        if request.path == START_SESSION:
            return await replay(session, writer)
        if request.method == "GET":
            return await replay(page, writer)
        assert request.path == SUBMIT
        return await replay(answer, writer, arrivals=case.arrivals)

    return LoopbackServer(handler)


def expected_requests(case: Case) -> List[Tuple[str, str, Optional[str]]]:
    """(method, path, X-WP-Nonce) of every request the client must make."""
    if case.name not in ("missing_nonce", "invalid_nonce"):
        return [("POST", SUBMIT, case.nonce)]
    found = NONCES[case.version]
    steps = [("POST", SUBMIT, case.nonce), ("POST", START_SESSION, None)]
    if case.version == "2.0.9":  # no start_session (404 rest_no_route): the Referer page
        steps.append(("GET", "/chatgpt-free-use/", None))
    return [*steps, ("POST", SUBMIT, found)]


@both
@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
async def test_recorded_answer(case: Case, twin: Twin) -> None:
    with recorded_site(case) as site:
        options: Dict[str, Any] = {"stream": case.stream}
        if case.nonce is not None:
            options["nonce"] = case.nonce
        client = twin.client(base_url=site.base_url, **options)
        try:
            messages = [{"role": "user", "content": case.text_sent}]
            outcome = await twin.stream(client, messages)
        finally:
            await twin.close(client)

    sent = [(r.method, r.path, r.header("X-WP-Nonce")) for r in site.requests]
    assert sent == expected_requests(case)
    submit = json.loads(site.requests[0].body)
    assert submit["stream"] is case.stream
    assert submit["newMessage"] == case.text_sent

    if case.error is None:
        reply = outcome.expect_ok()
        assert outcome.chunks == case.chunks
        assert reply.text == case.text
        assert reply.usage == case.usage
        assert reply.images is None
        assert list(reply.raw) == case.raw_keys  # newer keys kept, in order
        assert [(s.subtype, s.text) for s in outcome.statuses] == case.statuses
    else:
        error = outcome.error
        assert type(error) is case.error
        assert str(error) == case.message
        assert outcome.chunks == []
        assert outcome.reply is None
        if case.status_code is not None:
            assert isinstance(error, HTTPStatusError)
            assert error.status_code == case.status_code
            assert error.code == case.code
        if isinstance(error, ServerError) and case.status_code is None:
            assert error.message == case.message

    if case.arrivals:
        # Each token reached the caller while the site still held the rest back.
        sent_at = [at for at, _ in site.writers[-1].sent]
        assert outcome.times[0] < sent_at[-1]
        assert outcome.times[-2] < sent_at[-1]


@both
@pytest.mark.parametrize("version", VERSIONS)
async def test_recorded_nonce_flow_succeeds(version: str, twin: Twin) -> None:
    """No nonce given: the site's recorded refusal, session answer and page lead
    to the recorded success, as in the site's own chatbot."""
    good = NONCES[version]
    answers = {
        None: load(version, "missing_nonce"),
        good: load(version, "stream_success"),
    }
    session, page = load(version, "start_session"), load(version, "page")

    async def handler(request: Request, writer: Writer) -> bool:
        if request.path == START_SESSION:
            return await replay(session, writer)
        if request.method == "GET":
            return await replay(page, writer)
        nonce = request.header("X-WP-Nonce")
        return await replay(answers.get(nonce, load(version, "invalid_nonce")), writer)

    with LoopbackServer(handler) as site:
        client = twin.client(base_url=site.base_url)
        try:
            first = await twin.stream(client, [{"role": "user", "content": "Hi"}])
            second = await twin.stream(client, [{"role": "user", "content": "Hi"}])
        finally:
            await twin.close(client)
    assert first.expect_ok().text == second.expect_ok().text == "Hello there, world"
    assert first.chunks == second.chunks == HELLO
    sent = [(r.method, r.path, r.header("X-WP-Nonce")) for r in site.requests]
    session_steps = [("POST", START_SESSION, None)]
    if version == "2.0.9":
        session_steps.append(("GET", "/chatgpt-free-use/", None))
    assert sent == [
        ("POST", SUBMIT, None),
        *session_steps,
        ("POST", SUBMIT, good),
        ("POST", SUBMIT, good),  # the kept nonce goes up front
    ]
    if version == "3.6.2":  # start_session's cookies travel with the retried request
        cookies = site.requests[2].cookies
        assert cookies["mwai_session_id"] == "6b0506648288a"
        assert cookies["PHPSESSID"] == "u5dv833nf1ieg0uakklpogmrn7"


@both
@pytest.mark.parametrize("version", VERSIONS)
async def test_recorded_page(version: str, twin: Twin) -> None:
    """from_page on the recorded chatbot element sets the client up as the site's own chatbot."""
    page = load(version, "page")

    async def handler(request: Request, writer: Writer) -> bool:
        assert (request.method, request.path) == ("GET", "/chatbot/")
        assert request.header("X-WP-Nonce") is None
        return await replay(page, writer)

    port = {"2.0.9": 8082, "3.6.2": 8081}[version]
    with LoopbackServer(handler) as site:
        # Served here, the recorded restUrl names another origin (the recording
        # site's port): refused unless the caller names the site to talk to.
        with pytest.raises(OpchatgptsError) as refused:
            await twin.from_page(site.base_url + "/chatbot/")
        client = await twin.from_page(site.base_url + "/chatbot/", base_url=site.base_url)
        try:
            settings = client.settings
            conversation = client.conversation()
            nonce = client._site.nonce
        finally:
            await twin.close(client)
    assert str(refused.value) == (
        f"The chatbot on {site.base_url}/chatbot/ sends to http://127.0.0.1:{port}/wp-json, "
        f"another origin than {site.base_url}; pass base_url= to talk to it"
    )
    assert settings.base_url == site.base_url
    assert settings.url == f"{site.base_url}/wp-json/mwai-ui/v1/chats/submit"
    assert (settings.bot_id, settings.custom_id, settings.context_id) == ("default", None, 4)
    assert settings.stream is True
    assert settings.session_id == "N/A"
    assert nonce == {"2.0.9": "f75546e6d2", "3.6.2": None}[version]
    [start] = conversation.messages
    assert (start["role"], start["content"], start["who"]) == (
        "assistant",
        "Hi! How can I help you?",
        "AI: ",
    )
