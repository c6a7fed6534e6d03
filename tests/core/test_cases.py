"""The case table, four ways: core alone, ``responses``, ``aioresponses``, a real server."""

from __future__ import annotations

import asyncio
import random
import re

import pytest
import responses
from aioresponses import aioresponses
from support.cases import CASES, REAL_SKIPPED, Case, recorded_files
from support.helpers import MockedResponse, check, run_core
from support.live_server import SUBMIT, LiveServer
from support.twin import ASYNC, SYNC

from opchatgpts_compat import AsyncClient, Client
from opchatgpts_compat._protocol import ReplyParser

BASE = "http://site.test"
EVERY_URL = re.compile(r"^http://site\.test/.*$")
ids = [case.id for case in CASES]


@pytest.fixture(params=[True, False], ids=["fast", "slow"])
def fast_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Run a test with the decoder's runs of plain frames read together, and
    with every line and every frame read on its own (the reference)."""
    if not request.param:
        monkeypatch.setattr(ReplyParser, "_batch", False)
    return bool(request.param)


def test_the_table_covers_every_recorded_answer() -> None:
    covered = {case.id for case in CASES}
    for name in recorded_files():
        stem = name.rsplit("/", 1)[1]
        if stem in REAL_SKIPPED:
            continue
        assert name in covered, f"{name} is not in the case table"


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_core(case: Case, fast_path: bool) -> None:
    body = case.body
    check(case, run_core(case, [body]))
    check(case, run_core(case, [body[i : i + 1] for i in range(len(body))]))
    rng = random.Random(case.id)
    for _ in range(20):
        cuts = sorted(rng.sample(range(len(body) + 1), min(len(body) + 1, rng.randint(1, 6))))
        pieces = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)])]
        check(case, run_core(case, pieces))


@pytest.mark.parametrize("case", [c for c in CASES if len(c.body) <= 600], ids=lambda c: c.id)
def test_core_every_split_point(case: Case, fast_path: bool) -> None:
    body = case.body
    for i in range(len(body) + 1):
        check(case, run_core(case, [body[:i], body[i:]]))


@pytest.mark.parametrize("case", CASES, ids=ids)
@responses.activate
def test_sync_with_responses(case: Case) -> None:
    # The same answer to every request of the site: the nonce cases also
    # send start_session and fetch pages (and find no nonce).
    for method in (responses.POST, responses.GET):
        responses.add(
            method,
            EVERY_URL,
            body=case.wire_body,
            status=case.status,
            headers={k: v for k, v in case.headers.items() if k != "Content-Type"},
            content_type=case.content_type,
        )
    with Client(BASE) as client:
        check(case, asyncio.run(SYNC.stream(client)), front_end=True, url=BASE + SUBMIT)
    assert responses.calls[0].request.url == BASE + SUBMIT
    assert len(responses.calls) > 1 if case.nonce_rejection else len(responses.calls) == 1


@pytest.mark.parametrize("case", CASES, ids=ids)
async def test_async_with_aioresponses(case: Case) -> None:
    # aioresponses hands the body to aiohttp's reader as it is, skipping
    # content decoding, so it gets the decoded body: the HTTP layer is not the point.
    with aioresponses() as mocked:
        for add in (mocked.post, mocked.get):
            add(
                EVERY_URL,
                body=case.body,
                status=case.status,
                content_type=case.content_type,
                response_class=MockedResponse,
                repeat=True,
            )
        async with AsyncClient(BASE) as client:
            check(case, await ASYNC.stream(client), front_end=True, url=BASE + SUBMIT)


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_sync_on_a_real_server(case: Case, live_server: LiveServer, fast_path: bool) -> None:
    base = live_server.case_url(case)
    with Client(base) as client:
        check(case, asyncio.run(SYNC.stream(client)), front_end=True, url=base + SUBMIT)


@pytest.mark.parametrize("case", CASES, ids=ids)
async def test_async_on_a_real_server(case: Case, live_server: LiveServer, fast_path: bool) -> None:
    base = live_server.case_url(case)
    async with AsyncClient(base) as client:
        check(case, await ASYNC.stream(client), front_end=True, url=base + SUBMIT)
