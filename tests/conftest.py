from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterator

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from support.live_server import LiveServer


@pytest.fixture(scope="session")
def live_server() -> Iterator[LiveServer]:
    """A real HTTP server on 127.0.0.1, in its own thread, for the whole run."""
    server = LiveServer().start()
    yield server
    server.stop()
