"""What belongs to the site goes only to its origin (issue 11, class 4).

Two loopback servers are two origins (two ports; ``localhost`` for the cookie
case): the site, an AI Engine 2.0 emulation, and another one that records
what reaches it.  The caller's headers (``Authorization``, ``Cookie``, a
custom one), the nonce and the site's cookies must never reach the other
origin, a nonce from the other origin must never be sent to the site, and both
front ends must end the same way.  One table, both twins.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple, Type

import pytest
from support.fault_server import LoopbackServer, Request, Writer, response_head
from support.site_emulator import SUBMIT, Site, chatbot_element, page
from support.twin import BOTH, MESSAGES, Twin

from opchatgpts_compat import HTTPStatusError, OpchatgptsError
from opchatgpts_compat._urls import on_origin_of

SECRETS = {
    "Authorization": "Bearer s3cret-bearer",
    "Cookie": "wordpress_logged_in=s3cret-cookie",
    "X-Api-Key": "s3cret-key",
}
#: The other origin's nonce: the site refuses it (it is not the site's).
OTHER_NONCE = "0abcdef123"
JAR_COOKIE = "s3cret-jar"

Route = Tuple[str, List[Tuple[str, str]], bytes]


def other_page(rest: str = "{other}") -> bytes:
    system = {"botId": "default", "restNonce": OTHER_NONCE, "restUrl": rest + "/wp-json"}
    return page(chatbot_element(system, {}))


def redirect(location: str, *extra: Tuple[str, str]) -> Route:
    return ("302 Found", [("Location", location), *extra], b"")


@dataclass
class Case:
    name: str
    #: ``from_page`` of this path of the site, or a stream on a client of the site.
    page: Optional[str] = None
    options: Dict[str, Any] = field(default_factory=dict)
    #: Routes of the site (over the emulation) and of the other origin.
    site_routes: Dict[str, Route] = field(default_factory=dict)
    other_routes: Dict[str, Route] = field(default_factory=dict)
    #: The site's own chatbot page names the other origin as its restUrl.
    rest_elsewhere: bool = False
    #: The paths the other origin may see (none of them with a secret).
    other_paths: List[str] = field(default_factory=list)
    #: Paths of the site that must carry the caller's headers.
    with_headers: List[str] = field(default_factory=list)
    error: Optional[Type[OpchatgptsError]] = None
    message: str = ""
    #: Address the other origin as ``localhost`` (another host for cookies).
    other_host: str = "127.0.0.1"

    def __str__(self) -> str:
        return self.name


CASES = [
    Case(
        "rest-url-elsewhere",
        page="/chatbot/",
        rest_elsewhere=True,
        error=OpchatgptsError,
        message="The chatbot on {site}/chatbot/ sends to {other}/wp-json, another origin "
        "than {site}; pass base_url= to talk to it",
    ),
    Case(
        "referer-elsewhere",
        options={"headers": {"Referer": "{other}/talk/"}},
        other_routes={"/talk/": ("200 OK", [], other_page())},
        with_headers=[SUBMIT, "/"],
    ),
    Case(
        "page-redirect-elsewhere",
        page="/old/",
        site_routes={"/old/": redirect("{other}/chatbot/")},
        other_routes={"/chatbot/": ("200 OK", [], other_page())},
        other_paths=["/chatbot/"],
        error=OpchatgptsError,
        message="The chatbot on {other}/chatbot/ sends to {other}/wp-json, another origin "
        "than {site}; pass base_url= to talk to it",
    ),
    Case(
        "page-redirect-same-origin",
        page="/old/",
        site_routes={"/old/": ("301 Moved Permanently", [("Location", "/chatbot/")], b"")},
        with_headers=["/old/", "/chatbot/", SUBMIT],
    ),
    Case(
        "page-redirect-elsewhere-and-back",
        page="/old/",
        site_routes={"/old/": redirect("{other}/hop/")},
        other_routes={"/hop/": redirect("{site}/chatbot/")},
        other_paths=["/hop/"],
        with_headers=["/old/", "/chatbot/", SUBMIT],
    ),
    Case(
        "nonce-hunt-redirect-elsewhere",
        site_routes={
            "/": redirect("{other}/"),
            "/chatgpt-free-use/": ("404 Not Found", [], b""),
            # (no search either: else it finds the site's own chatbot page)
            "/wp-json/wp/v2/search": ("404 Not Found", [], b""),
        },
        other_routes={"/": ("200 OK", [], other_page())},
        other_paths=["/"],
        error=HTTPStatusError,
        message="HTTP 401 Unauthorized: Sorry, you are not allowed to do that. "
        "(rest_forbidden); no nonce from start_session or {site}/chatgpt-free-use/ or {other}/",
    ),
    Case(
        "site-cookie-on-redirect-elsewhere",
        page="/old/",
        site_routes={
            "/old/": redirect(
                "{other}/chatbot/", ("Set-Cookie", f"sid={JAR_COOKIE}; Path=/; HttpOnly")
            )
        },
        other_routes={"/chatbot/": ("200 OK", [], page())},
        other_paths=["/chatbot/"],
        other_host="localhost",
        error=OpchatgptsError,
        message="No AI Engine chatbot (mwai-chatbot-container) on {site}/old/",
    ),
    Case(
        "redirect-loop",
        page="/loop/",
        site_routes={"/loop/": redirect("/loop/")},
        error=HTTPStatusError,
        message="HTTP 302 for the page {site}/loop/: more than 10 redirects",
    ),
    *(
        Case(
            f"redirect-to-{label}",
            page="/bad/",
            site_routes={"/bad/": redirect(location)},
            error=HTTPStatusError,
            message="HTTP 302 for the page {site}/bad/: redirected to an invalid URL",
        )
        for label, location in [
            ("bad-port", "http://127.0.0.1:99999/"),
            ("bad-ipv6", "http://[::1/"),
            ("ftp", "ftp://user:s3cret-bearer@example.org/"),
        ]
    ),
]


class Origin:
    """A loopback server answering ``routes`` first, then the site emulation if any."""

    def __init__(self, site: Optional[Site] = None) -> None:
        self.site = site
        self.routes: Dict[str, Route] = {}
        self.server = LoopbackServer(self.handle)
        self.host = "127.0.0.1"

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.server.port}"

    async def handle(self, request: Request, writer: Writer) -> bool:
        route = self.routes.get(request.path)
        if route is None and self.site is not None:
            return await self.site.handle(request, writer)
        status, headers, body = route or ("404 Not Found", [], b"")
        head = [*headers, ("Content-Length", str(len(body))), ("Content-Type", "text/html")]
        await writer.write(response_head(status, head) + body)
        return True


def _fill(value: Any, names: Dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format(**names)
    if isinstance(value, bytes):
        return value.replace(b"{other}", names["other"].encode())
    if isinstance(value, dict):
        return {k: _fill(v, names) for k, v in value.items()}
    if isinstance(value, tuple):
        return tuple(_fill(v, names) for v in value)
    if isinstance(value, list):
        return [_fill(v, names) for v in value]
    return value


async def _run(case: Case, twin: Twin) -> Tuple[Any, Origin, Origin, Site, Dict[str, str]]:
    site = Site("2.0")
    ours, theirs = Origin(site), Origin()
    theirs.host = case.other_host
    with ours.server, theirs.server:
        site.base_url = ours.base_url
        names = {"site": site.base_url, "other": theirs.base_url}
        site.extra_pages["/"] = site.chatbot_page()
        if case.rest_elsewhere:
            site.extra_pages["/chatbot/"] = page(
                chatbot_element(site.system(restUrl=names["other"] + "/wp-json"), site.params())
            )
        ours.routes = _fill(case.site_routes, names)
        theirs.routes = _fill(case.other_routes, names)
        options = _fill(case.options, names)
        headers = {**SECRETS, **options.pop("headers", {})}
        outcome: Any
        try:
            if case.page is not None:
                client = await twin.from_page(site.base_url + case.page, headers=headers, **options)
            else:
                client = twin.client(headers=headers, **{"base_url": site.base_url, **options})
        except OpchatgptsError as exc:
            outcome = exc
        else:
            try:
                outcome = await twin.stream(client, MESSAGES)
            finally:
                await twin.close(client)
        return outcome, ours, theirs, site, names


@pytest.mark.parametrize("case", CASES, ids=str)
@pytest.mark.parametrize("twin", BOTH, ids=str)
async def test_what_belongs_to_the_site_goes_only_to_its_origin(case: Case, twin: Twin) -> None:
    outcome, ours, theirs, site, names = await _run(case, twin)
    if case.error is not None:
        error = outcome if isinstance(outcome, OpchatgptsError) else outcome.error
        assert type(error) is case.error, error
        assert str(error) == case.message.format(**names)
        for secret in [*SECRETS.values(), site.nonce, JAR_COOKIE]:
            assert secret not in str(error)
    else:
        assert not isinstance(outcome, OpchatgptsError), outcome
        outcome.expect_ok()
    seen = theirs.server.requests
    assert [r.path for r in seen] == case.other_paths
    site_nonce_sent = False
    for request in seen:
        sent = " ".join(value for _, value in request.headers)
        for secret in [*SECRETS.values(), JAR_COOKIE]:
            assert secret not in sent, (request.path, secret)
        if request.header("X-WP-Nonce") == site.nonce:
            site_nonce_sent = True
    assert not site_nonce_sent
    for request in ours.server.requests:
        assert request.header("X-WP-Nonce") != OTHER_NONCE  # never the other origin's nonce
        if request.path in case.with_headers:
            assert request.header("X-Api-Key") == SECRETS["X-Api-Key"], request.path


@pytest.mark.parametrize(
    ("url", "owner", "expected"),
    [
        ("https://example.org/wp-json", "https://example.org", True),
        ("https://EXAMPLE.org:443/x", "https://example.org/blog", True),
        ("http://example.org:80/", "http://example.org", True),
        ("https://user:pw@example.org/", "https://example.org", True),
        ("http://[::1]:8080/", "http://[::1]:8080", True),
        # an upgrade to https at the default ports keeps the site (as requests does)
        ("https://example.org/", "http://example.org/", True),
        ("http://example.org/", "https://example.org/", False),  # never a downgrade
        ("https://example.org:8443/", "http://example.org/", False),
        ("http://example.org:8080/", "http://example.org/", False),
        ("http://www.example.org/", "http://example.org/", False),
        ("http://example.org.evil.test/", "http://example.org/", False),
        ("http://127.0.0.1:99999/", "http://127.0.0.1/", False),
        ("http:///path", "http://example.org/", False),
    ],
)
def test_the_origin_rule(url: str, owner: str, expected: bool) -> None:
    assert on_origin_of(url, owner) is expected


@pytest.mark.parametrize("twin", BOTH, ids=str)
async def test_a_page_of_another_origin_than_base_url_gives_no_nonce_and_no_headers(
    twin: Twin,
) -> None:
    """``from_page(page, base_url=other)``: the caller names where messages go.

    The page is then another origin: it gets none of the caller's headers, and
    its nonce (its own site's) is not sent to ``base_url``, which is asked for
    its own nonce instead.
    """
    page_site, target = Site("2.0"), Site("2.0")
    with page_site.server() as pages, target.server() as server:
        target.extra_pages["/"] = target.chatbot_page()
        client = await twin.from_page(
            page_site.base_url + "/chatbot/", base_url=target.base_url, headers=SECRETS
        )
        try:
            (await twin.stream(client, MESSAGES)).expect_ok()
        finally:
            await twin.close(client)
    [page_fetch] = pages.requests
    for secret in SECRETS.values():
        assert secret not in " ".join(value for _, value in page_fetch.headers)
    sent = [(r.path, r.header("X-WP-Nonce")) for r in server.requests]
    assert sent[0] == (SUBMIT, None)  # not the page's nonce: it is another site's
    assert sent[-1] == (SUBMIT, target.nonce)
    assert page_site.nonce not in str(sent)
    assert all(r.header("X-Api-Key") == SECRETS["X-Api-Key"] for r in server.requests)
