"""Memory: peak RSS while streaming large answers, measured in a subprocess.

The subprocess streams a small answer first (its baseline: imports, sessions,
buffers warmed up), then the large one, and reports ``VmHWM`` (the peak
resident set) after each.  The growth is a memory bound, not a timing: the
library keeps the reply text once (for ``.partial`` and ``Reply.text``) and
nothing that grows with the bytes on the wire.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import Any, Dict, Iterator

import pytest
from support.fault_server import Repeat, Script, ServerThread, end_frame, live

MiB = 1024 * 1024

CHILD = textwrap.dedent(
    """
    import asyncio, json, sys
    from opchatgpts_compat import AsyncClient, Client

    def hwm():
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        raise RuntimeError("no VmHWM")

    kind, small, large = sys.argv[1:4]
    messages = [{"role": "user", "content": "Hi"}]
    result = {}

    def run_sync():
        with Client(small, timeout=60) as client:
            for _ in client.stream(messages):
                pass
        result["baseline"] = hwm()
        with Client(large, timeout=60) as client:
            n = 0
            with client.stream(messages) as chunks:
                for chunk in chunks:
                    n += len(chunk)
            result["text"] = n
            result["reply"] = len(chunks.reply.text)
            result["peak"] = hwm()

    async def run_async():
        async with AsyncClient(small, timeout=60) as client:
            async for _ in client.stream(messages):
                pass
        result["baseline"] = hwm()
        async with AsyncClient(large, timeout=60) as client:
            n = 0
            async with client.stream(messages) as chunks:
                async for chunk in chunks:
                    n += len(chunk)
            result["text"] = n
            result["reply"] = len(chunks.reply.text)
            result["peak"] = hwm()

    if kind == "sync":
        run_sync()
    else:
        asyncio.run(run_async())
    print(json.dumps(result))
    """
)

#: Normal tokens: a few characters each, as a model streams them.
TOKENS = b"".join(live(f"w{i % 1000} ") for i in range(2000))


def token_stream(megabytes: int) -> Script:
    return Script(body=[Repeat(TOKENS, megabytes * MiB // len(TOKENS)), end_frame(None)])


def padding_stream(megabytes: int) -> Script:
    """Mostly bytes that carry no text (comment lines), and a few tokens."""
    comment = b": " + b"p" * 1021 + b"\n"
    block = live("a") + comment * 60 + live("b")
    return Script(body=[Repeat(block, megabytes * MiB // len(block)), end_frame(None)])


@pytest.fixture(scope="module")
def server() -> Iterator[Any]:
    with ServerThread() as server:
        yield server


def measure(kind: str, small: str, large: str) -> Dict[str, int]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, kind, small, large],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def check(result: Dict[str, int], kind: str, what: str, wire: int) -> int:
    growth = result["peak"] - result["baseline"]
    text = result["text"]
    print(
        f"{kind}: {what}, {wire // MiB} MiB on the wire, {text / MiB:.1f} MiB of text: "
        f"peak RSS {result['baseline'] / MiB:.1f} -> {result['peak'] / MiB:.1f} MiB "
        f"(+{growth / MiB:.1f} MiB)"
    )
    assert result["reply"] == text
    # The text is held once, and once more while Reply.text joins it; nothing
    # grows with the wire bytes or the number of frames.
    assert growth <= 2 * text + 16 * MiB
    return growth


@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize(
    "megabytes", [pytest.param(100, marks=pytest.mark.slow), 20], ids=lambda m: f"{m}MB"
)
def test_peak_rss_streaming_tokens(server: Any, kind: str, megabytes: int) -> None:
    small = server.route(f"small-{kind}-{megabytes}", token_stream(1))
    large = server.route(f"tokens-{kind}-{megabytes}", token_stream(megabytes))
    result = measure(kind, small, large)
    check(result, kind, "normal tokens", megabytes * MiB)
    assert result["text"] > megabytes * MiB // 10  # it really streamed that much


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_peak_rss_flat_when_bytes_carry_no_text(server: Any, kind: str) -> None:
    megabytes = 100
    small = server.route(f"small-pad-{kind}", padding_stream(1))
    large = server.route(f"padding-{kind}", padding_stream(megabytes))
    result = measure(kind, small, large)
    growth = check(result, kind, "comment padding", megabytes * MiB)
    assert growth <= 16 * MiB
