"""Run one answer through the core, and compare a run (core or front end) with its case."""

from __future__ import annotations

import inspect
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Iterable, List
from unittest import mock

import pytest
from aiohttp import ClientResponse

from opchatgpts_compat._failures import NOT_FOUND_HINT
from opchatgpts_compat.core import ReplyParser
from support.cases import Case
from support.twin import Outcome


def g4f_tier(release: str, series: str, install: str) -> str:
    """The installed g4f's version; the calling test module is skipped (one
    line, with the ``install`` command) unless it is of ``series``."""
    try:
        installed = version("g4f")
    except PackageNotFoundError:
        pytest.skip(f"g4f {release} is not installed: {install}", allow_module_level=True)
    if not installed.startswith(series):
        pytest.skip(
            f"g4f {installed} is installed, this tier wants {release}: {install}",
            allow_module_level=True,
        )
    return installed


def feed_all(parser: ReplyParser, pieces: Iterable[bytes]) -> List[str]:
    """Feed ``pieces`` as a front end does (stop once done, then EOF); the chunks.

    The parser is then done, with its ``reply`` or its ``error``.
    """
    chunks: List[str] = []
    for piece in pieces:
        chunks += parser.feed(piece)
        if parser.done:
            break
    chunks += parser.feed_eof()
    assert parser.done
    return chunks


def run_core(case: Case, pieces: Iterable[bytes]) -> Outcome:
    parser = ReplyParser(case.status, case.content_type)
    chunks = feed_all(parser, pieces)
    return Outcome(chunks, parser.reply, parser.error, list(parser.statuses))


def check(case: Case, outcome: Outcome, *, front_end: bool = False, url: str = "") -> None:
    """Assert ``outcome`` is exactly what ``case`` says.

    Args:
        front_end: the run went through a front end, so an error must chain
            nothing (protocol errors come from the core, not from a library).
        url: the submit URL the front end posted to: a 404 names it.
    """
    assert outcome.chunks == list(case.chunks)
    assert len(outcome.statuses) == case.statuses
    if case.error is None:
        assert outcome.error is None, f"unexpected {outcome.error!r}"
        assert outcome.reply is not None
        assert outcome.reply.text == case.text
        assert outcome.reply.usage == case.usage
        assert isinstance(outcome.reply.raw, dict)
        return
    error = outcome.error
    assert type(error) is case.error, f"{type(error).__name__}: {error}"
    if front_end and case.nonce_rejection:
        assert str(error).startswith(f"{case.message}; no nonce from start_session or ")
    elif front_end and case.status == 404:
        status = "HTTP 404 Not Found"
        message = case.message.replace(status, f"{status} from {url}", 1)
        assert str(error) == message + NOT_FOUND_HINT
    else:
        assert str(error) == case.message
    assert error.partial == "".join(case.chunks)
    for name, value in case.error_attrs.items():
        assert getattr(error, name) == value, name
    assert outcome.reply is None
    if front_end:
        assert error.__cause__ is None


class MockedResponse(ClientResponse):
    """A ClientResponse aioresponses can build under aiohttp 3.14.

    aiohttp 3.14 added a required ``stream_writer`` argument that aioresponses
    0.7.9 does not pass (https://github.com/pnuckowski/aioresponses/issues/289);
    aiohttp only reads its ``output_size``.  Pass ``response_class=MockedResponse``.
    """

    def __init__(self, method: str, url: Any, **kwargs: Any) -> None:
        if "stream_writer" in inspect.signature(ClientResponse.__init__).parameters:
            kwargs.setdefault("stream_writer", mock.Mock(output_size=0))
        super().__init__(method, url, **kwargs)
