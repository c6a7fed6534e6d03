from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterator

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from live_server import LiveServer

from opchatgpts_compat import _protocol, _sync


@pytest.fixture(params=[True, False], ids=["fast", "slow"])
def fast_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Run a test with the fast paths on, and forced off: the parser's batch
    of plain frames and the blocking client's chunk reader."""
    if not request.param:
        monkeypatch.setattr(_protocol, "FAST_PATH", False)
        monkeypatch.setattr(_sync._ChunkedBody, "of", classmethod(lambda cls, response: None))
    return bool(request.param)


@pytest.fixture(scope="session")
def live_server() -> Iterator[LiveServer]:
    """A real HTTP server on 127.0.0.1, in its own thread, for the whole run."""
    server = LiveServer().start()
    yield server
    server.stop()
