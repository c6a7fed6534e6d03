"""TLS verification, proxies (absolute form and CONNECT) and secrets, both front ends.

A local HTTPS server with a certificate from a CA the test makes (trustme),
a small proxy with and without Basic credentials, and every str/repr and
log record (DEBUG, every logger: ours, urllib3's, aiohttp's, asyncio's)
searched for the proxy password, the nonce and the cookie.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import logging
import socket
import sys
import traceback
from typing import Any, Iterator, List

import pytest
import trustme
from support.fault_server import (
    Abort,
    Cut,
    FaultServer,
    Freeze,
    Raw,
    Script,
    ServerThread,
    end_frame,
    live,
)
from support.proxy_server import ProxyServer
from support.twin import BOTH, MESSAGES, Twin

from opchatgpts_compat import HTTPStatusError, TransportError

PASSWORD = "pr0xy-s3cret-PW"
NONCE = "n0nce-s3cret-1a2b"
COOKIE = "c00kie-s3cret-VALUE"
SECRETS = (PASSWORD, NONCE, COOKIE)

OK = Script(
    headers=(
        ("Content-Type", "text/event-stream"),
        ("Set-Cookie", f"wordpress_sec_x={COOKIE}; Path=/; HttpOnly"),
    ),
    body=[live("secure "), live("hello"), end_frame(None)],
)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def ca_file(ca: trustme.CA, tmp_path_factory: Any) -> str:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture(scope="module")
def tls_server(ca: trustme.CA) -> Iterator[Any]:
    import ssl

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    with ServerThread(FaultServer(ssl_context=context)) as server:
        yield server


@pytest.fixture(scope="module")
def server() -> Iterator[Any]:
    with ServerThread() as server:
        yield server


@pytest.fixture(scope="module")
def proxy() -> Iterator[ProxyServer]:
    with ServerThread(ProxyServer()) as proxy:
        yield proxy


@pytest.fixture(scope="module")
def auth_proxy() -> Iterator[ProxyServer]:
    with ServerThread(ProxyServer(credentials=("user", PASSWORD))) as proxy:
        yield proxy


@pytest.fixture(params=BOTH, ids=str)
def twin(request: pytest.FixtureRequest) -> Twin:
    return request.param  # type: ignore[no-any-return]


def name(request: Any, suffix: str = "") -> str:
    return request.node.name.replace("[", "-").replace("]", "") + suffix


# -- TLS --------------------------------------------------------------------------------


async def test_tls_is_verified_by_default(tls_server: Any, twin: Twin, request: Any) -> None:
    outcome = await twin.run(tls_server.route(name(request), OK), timeout=5)
    error = outcome.error
    assert type(error) is TransportError
    assert str(error) == f"TLS with {tls_server.origin} failed"
    assert error.__cause__ is not None
    assert tls_server.connections_for(name(request)) == [] or all(
        not c.requests for c in tls_server.connections_for(name(request))
    )  # nothing was sent


async def test_tls_with_the_ca_bundle(
    tls_server: Any, twin: Twin, request: Any, ca_file: str
) -> None:
    outcome = await twin.run(tls_server.route(name(request), OK), timeout=5, verify=ca_file)
    assert outcome.error is None
    assert outcome.chunks == ["secure ", "hello"]


async def test_tls_with_another_ca_fails(
    tls_server: Any, twin: Twin, request: Any, tmp_path: Any
) -> None:
    other = tmp_path / "other.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    outcome = await twin.run(tls_server.route(name(request), OK), timeout=5, verify=other)
    assert type(outcome.error) is TransportError
    assert str(outcome.error) == f"TLS with {tls_server.origin} failed"


async def test_tls_name_mismatch_fails(ca: trustme.CA, twin: Twin, ca_file: str) -> None:
    import ssl

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("not-this-host.example").configure_cert(context)
    with ServerThread(FaultServer(ssl_context=context)) as server:
        outcome = await twin.run(server.route("x", OK), timeout=5, verify=ca_file)
        assert type(outcome.error) is TransportError
        assert str(outcome.error) == f"TLS with {server.origin} failed"


#: The server reads nothing once it sends the body (a TLS close_notify from the
#: client goes unanswered), and holds back the chunked body's last chunk.
FROZEN = Script(body=[Freeze(), live("secure "), live("hello"), end_frame(None)])
#: What the client gets, by how the exchange ends.
ENDINGS = {"whole": ["secure ", "hello"], "left-early": ["secure "], "page": "b7"}


@pytest.mark.parametrize("ending", sorted(ENDINGS))
def test_no_socket_outlives_its_event_loop(
    *, tls_server: Any, twin: Twin, ca_file: str, request: Any, ending: str, monkeypatch: Any
) -> None:
    """A connection the client does not keep is closed at once, TLS ones too:
    not left waiting for the server's close_notify, to be closed by a loop that
    is gone (the ResourceWarning of a flaky CI run).  The exchange runs in a
    fresh event loop closed right after; the garbage collector finds no socket."""
    from support.site_emulator import chatbot_element, page

    route = name(request)
    rest = f"{tls_server.origin}/{route}/wp-json"
    system = {"botId": "b7", "restUrl": rest, "restNonce": "a1b2c3d4e5", "stream": True}
    html = page(chatbot_element(system, {}))
    html_type = (("Content-Type", "text/html; charset=UTF-8"),)
    tls_server.route(route, Script(200, html_type, [Freeze(), html], "length"))
    base_url = tls_server.route(f"{route}-answer", FROZEN)

    async def exchange() -> Any:
        if ending == "page":
            found = await twin.from_page(f"{rest[: -len('/wp-json')]}/chat/", verify=ca_file)
            await twin.close(found)
            return found.settings.bot_id
        client = twin.client(base_url, verify=ca_file, timeout=5)
        try:
            stream = client.stream(MESSAGES)
            if ending == "whole":
                return await twin.drain(stream)
            first = await twin.next(stream)
            await twin.close(stream)
            return [first]
        finally:
            await twin.close(client)

    gc.collect()  # what earlier tests left is theirs
    lost: List[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", lost.append)
    loop = asyncio.new_event_loop()
    try:
        got = loop.run_until_complete(exchange())
    finally:
        loop.close()
    gc.collect()
    assert [str(unraisable.exc_value) for unraisable in lost] == []
    assert got == ENDINGS[ending]


@pytest.mark.parametrize("off", [False, 0, True])
def test_verify_false_is_refused_by_both(twin: Twin, off: Any) -> None:
    with pytest.raises(TypeError, match="cannot be switched off"):
        twin.client("https://127.0.0.1:9", verify=off)


# -- proxies ------------------------------------------------------------------------------


async def test_http_through_a_proxy(server: Any, proxy: Any, twin: Twin, request: Any) -> None:
    base_url = server.route(name(request), OK)
    outcome = await twin.run(base_url, proxy=proxy.url(), timeout=5)
    assert outcome.chunks == ["secure ", "hello"]
    target = f"{base_url}/wp-json/mwai-ui/v1/chats/submit"
    assert [(s.method, s.target) for s in proxy.seen if s.target == target] == [("POST", target)]


async def test_http_through_a_proxy_with_credentials(
    server: Any, auth_proxy: Any, twin: Twin, request: Any
) -> None:
    base_url = server.route(name(request), OK)
    outcome = await twin.run(base_url, proxy=auth_proxy.url("user", PASSWORD), timeout=5)
    assert outcome.error is None, outcome.error
    assert outcome.chunks == ["secure ", "hello"]
    assert auth_proxy.seen[-1].authorized
    (conn,) = server.connections_for(name(request))
    assert "proxy-authorization" not in conn.requests[0].headers


async def test_https_through_a_connect_tunnel(
    tls_server: Any, auth_proxy: Any, twin: Twin, request: Any, ca_file: str
) -> None:
    base_url = tls_server.route(name(request), OK)
    outcome = await twin.run(
        base_url, proxy=auth_proxy.url("user", PASSWORD), timeout=5, verify=ca_file
    )
    assert outcome.error is None, outcome.error
    assert outcome.chunks == ["secure ", "hello"]
    seen = auth_proxy.seen[-1]
    assert (seen.method, seen.target, seen.authorized) == (
        "CONNECT",
        f"127.0.0.1:{tls_server.port}",
        True,
    )


async def test_https_through_a_proxy_still_verifies(
    tls_server: Any, proxy: Any, twin: Twin, request: Any
) -> None:
    outcome = await twin.run(tls_server.route(name(request), OK), proxy=proxy.url(), timeout=5)
    assert type(outcome.error) is TransportError
    assert str(outcome.error) == f"TLS with {tls_server.origin} via {proxy.url()} failed" or str(
        outcome.error
    ) == (f"TLS with {tls_server.origin} through the proxy {proxy.url()} failed")


@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
@pytest.mark.parametrize("password", ["wrong", None], ids=["wrong-password", "no-credentials"])
async def test_proxy_refusal_is_407_for_both(
    *,
    server: Any,
    tls_server: Any,
    auth_proxy: Any,
    twin: Twin,
    request: Any,
    tls: bool,
    password: Any,
    ca_file: str,
) -> None:
    target = tls_server if tls else server
    proxy_url = auth_proxy.url("user", password) if password else auth_proxy.url()
    outcome = await twin.run(
        target.route(name(request), OK), proxy=proxy_url, timeout=5, verify=ca_file
    )
    error = outcome.error
    assert type(error) is HTTPStatusError
    assert error.status_code == 407
    shown = f"http://****@127.0.0.1:{auth_proxy.port}" if password else auth_proxy.url()
    assert str(error) == f"HTTP 407 Proxy Authentication Required from the proxy {shown}"
    assert "wrong" not in str(error) and "wrong" not in repr(error)
    assert target.connections_for(name(request)) == []  # the site never saw it


async def test_unreachable_proxy(server: Any, twin: Twin, request: Any) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proxy_url = f"http://user:{PASSWORD}@127.0.0.1:{port}"
    outcome = await twin.run(server.route(name(request), OK), proxy=proxy_url, timeout=5)
    assert isinstance(outcome.error, TransportError)
    assert PASSWORD not in str(outcome.error)
    assert f"127.0.0.1:{port}" in str(outcome.error)


# -- secrets ----------------------------------------------------------------------------


def leaks(text: str) -> List[str]:
    return [secret for secret in SECRETS if secret in text]


async def test_no_secret_in_reprs_errors_or_logs(
    *,
    server: Any,
    tls_server: Any,
    auth_proxy: Any,
    twin: Twin,
    request: Any,
    ca_file: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # the root logger: urllib3, aiohttp, asyncio, ours
    for logger_name in ("urllib3", "aiohttp", "asyncio", "opchatgpts_compat"):
        logging.getLogger(logger_name).setLevel(logging.DEBUG)
    proxy_url = auth_proxy.url("user", PASSWORD)
    seen: List[str] = []
    failing = Script(
        403, (("Content-Type", "application/json"),), [b'{"code":"rest_cookie_invalid_nonce"}']
    )
    for target in (server, tls_server):
        for script in (OK, failing):
            # localhost: aiohttp's cookie jar ignores cookies from IP addresses
            base_url = target.route(name(request, f"-{id(script)}"), script)
            base_url = base_url.replace("127.0.0.1", "localhost")
            client = twin.client(base_url, proxy=proxy_url, nonce=NONCE, verify=ca_file, timeout=5)
            seen += [repr(client), str(client), repr(client.settings)]
            for _ in range(2):  # the second request sends the cookie back
                chunks = client.stream(MESSAGES)
                seen.append(repr(chunks))
                outcome = await twin.collect(chunks)
                seen.append(repr(chunks))
                if outcome.error is not None:
                    error = outcome.error
                    seen += [str(error), repr(error), repr(error.__cause__), str(error.__cause__)]
                    seen.append(getattr(error, "body", ""))
            await twin.close(client)
    # a wrong password, and a proxy that is not there
    for proxy in (auth_proxy.url("user", PASSWORD + "x"), "http://u:" + PASSWORD + "@127.0.0.1:9"):
        outcome = await twin.run(server.route(name(request), OK), proxy=proxy, timeout=5)
        assert outcome.error is not None
        seen += [str(outcome.error), repr(outcome.error)]
    (conn,) = [c for c in server.connections_for(name(request, f"-{id(OK)}"))][-1:]
    assert COOKIE in conn.requests[-1].headers.get("cookie", "")  # the cookie was really sent
    assert conn.requests[-1].headers["x-wp-nonce"] == NONCE  # and the nonce
    assert caplog.records, "no log record captured: the test would prove nothing"
    for record in caplog.records:
        seen.append(record.getMessage())
        seen.append(repr(record.args))
    found = {secret for text in seen for secret in leaks(str(text))}
    assert found == set()
    names = {record.name for record in caplog.records}
    assert "opchatgpts_compat._async" in names or "opchatgpts_compat._sync" in names
    if not twin.is_async:
        assert "urllib3.connectionpool" in names  # urllib3's own DEBUG lines were searched


async def test_provider_methods_take_verify(tls_server: Any, request: Any, ca_file: str) -> None:
    from opchatgpts_compat import Opchatgpts

    base_url = tls_server.route(name(request), OK)
    assert list(Opchatgpts.create_completion("m", MESSAGES, base_url=base_url, verify=ca_file)) == [
        "secure ",
        "hello",
    ]
    text = await Opchatgpts.create_async("m", MESSAGES, base_url=base_url, verify=ca_file)
    assert text == "secure hello"
    with pytest.raises(TransportError):
        await Opchatgpts.create_async("m", MESSAGES, base_url=base_url)


# -- issue 11: no secret in an error's chain ---------------------------------------------

#: A proxy that answers CONNECT (or anything) with these bytes: the fault
#: server routes a CONNECT by its target, ``127.0.0.1:<port>``.
PROXY_ANSWERS = {
    "407": Script(407, (("Proxy-Authenticate", 'Basic realm="x"'),), [], "length"),
    "502": Script(502, (("Content-Type", "text/html"),), [b"<h1>Bad Gateway</h1>"], "length"),
    "garbage": Script(headers=(), body=[Raw(b"garbage\r\n\r\n"), Cut()], framing="raw"),
    "cut": Script(before_head=Abort()),
    "bad-status-line": Script(
        headers=(), body=[Raw(b"HTTP/1.1 99999 x\r\n\r\n"), Cut()], framing="raw"
    ),
}
TOKEN = base64.b64encode(f"user:{PASSWORD}".encode()).decode()


def chain_text(error: BaseException) -> str:
    """Everything an error and the exceptions it holds can show."""
    shown = ["".join(traceback.format_exception(type(error), error, error.__traceback__))]
    stack, seen = [error], set()
    while stack:
        link = stack.pop()
        if id(link) in seen:
            continue
        seen.add(id(link))
        held = [link.__cause__, link.__context__, *link.args, *vars(link).values()]
        shown += [str(link), repr(link), repr(link.args), repr(vars(link))]
        stack += [item for item in held if isinstance(item, BaseException)]
    return "\n".join(shown)


@pytest.mark.parametrize("answer", sorted(PROXY_ANSWERS))
@pytest.mark.parametrize("tls", [True, False], ids=["https", "http"])
async def test_no_proxy_secret_in_the_chain_of_an_error(
    server: Any, twin: Twin, answer: str, tls: bool
) -> None:
    with socket.socket() as s:  # a target nobody listens on: the proxy answers first
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    script = PROXY_ANSWERS[answer]
    server.route(f"127.0.0.1:{port}", script)  # CONNECT 127.0.0.1:port
    server.route(f"x-{answer}-{tls}-{twin.kind}", script)  # POST http://127.0.0.1:port/x-...
    scheme = "https" if tls else "http"
    base_url = f"{scheme}://127.0.0.1:{port}/x-{answer}-{tls}-{twin.kind}"
    proxy = f"http://user:{PASSWORD}@127.0.0.1:{server.port}"
    outcome = await twin.run(base_url, proxy=proxy, nonce=NONCE, timeout=5)
    error = outcome.error
    assert error is not None
    text = chain_text(error)
    assert error.__cause__ is not None or answer in ("407", "502")
    for secret in (PASSWORD, TOKEN, NONCE):
        assert secret not in text, (secret, text)
    assert f"127.0.0.1:{server.port}" in str(error) or answer in ("cut", "garbage") or not tls
