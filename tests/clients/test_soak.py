"""Soak: a frame every millisecond for a minute, through both front ends (slow)."""

from __future__ import annotations

from typing import Any, Iterator, List

import pytest
from support.fault_server import Pause, Script, ServerThread, Step, end_frame, live
from support.twin import BOTH, Twin

FRAMES = 60_000  # one a millisecond (asyncio sleeps at least that): a minute or more


@pytest.fixture(scope="module")
def server() -> Iterator[Any]:
    with ServerThread() as server:
        yield server


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("twin", BOTH, ids=str)
async def test_a_frame_every_millisecond_for_a_minute(server: Any, twin: Twin) -> None:
    body: List[Step] = []
    for i in range(FRAMES):
        body += [live(f"{i} "), Pause(0.001)]
    body.append(end_frame(None))
    outcome = await twin.run(server.route(f"soak-{twin}", Script(body=body)), timeout=5)
    assert outcome.error is None, outcome.error
    assert outcome.chunks == [f"{i} " for i in range(FRAMES)]
    assert outcome.reply is not None
    assert outcome.reply.text == "".join(outcome.chunks)
