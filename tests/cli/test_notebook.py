"""The Jupyter display helper, and examples/quickstart.ipynb run in a real kernel."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, AsyncIterator, Dict, Iterator, List

import pytest

from opchatgpts_compat import AsyncClient, Client, Reply, notebook
from opchatgpts_compat.notebook import display_stream
from opchatgpts_compat.server import Server

NOTEBOOK = Path(__file__).resolve().parents[2] / "examples" / "quickstart.ipynb"


class FakeDisplay:
    """Stands in for ``IPython.display.display``: one call per output area."""

    def __init__(self) -> None:
        self.areas: List[List[str]] = []

    def __call__(self, obj: Any, *, display_id: Any = None) -> Any:
        assert display_id is True
        area = [obj.data]
        self.areas.append(area)
        fake = self

        class Handle:
            def update(self, obj: Any) -> None:
                area.append(obj.data)
                assert fake.areas[-1] is area

        return Handle()


@pytest.fixture
def fake_display(monkeypatch: pytest.MonkeyPatch) -> FakeDisplay:
    pytest.importorskip("IPython")
    import IPython.display

    fake = FakeDisplay()
    monkeypatch.setattr(IPython.display, "display", fake)
    return fake


def test_one_area_grows_with_each_chunk(fake_display: FakeDisplay) -> None:
    assert display_stream(iter(["Hel", "lo", "!"]), interval=0) == "Hello!"
    assert fake_display.areas == [["", "Hel", "Hello", "Hello!"]]


class Clock:
    """A clock the chunks move: ``notebook._now`` reads it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def chunks(self, chunks: List[str], step: float) -> Iterator[str]:
        for chunk in chunks:
            self.now += step
            yield chunk


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(notebook, "_now", clock)
    return clock


def test_5000_fast_chunks_make_a_bounded_number_of_updates(
    fake_display: FakeDisplay, clock: Clock
) -> None:
    # 5,000 chunks of 20 characters, 1 ms apart: 5 s of tokens.  Every chunk
    # sent the whole text before: 5,000 updates, 250 MB.
    chunks = [f"{i:019d} " for i in range(5000)]
    text = display_stream(clock.chunks(chunks, 0.001))
    assert text == "".join(chunks)
    (area,) = fake_display.areas
    updates = area[1:]
    assert len(updates) <= 2 + 5.0 / notebook.UPDATE_INTERVAL  # the first, ~10 a second, the last
    assert sum(map(len, updates)) < 3_000_000  # about 2.6 MB; one update per chunk: 250 MB
    assert updates[0] == chunks[0]  # the first chunk at once
    assert updates[-1] == text  # the final text always
    assert all(text.startswith(shown) for shown in updates)


def test_slow_chunks_are_each_shown(fake_display: FakeDisplay, clock: Clock) -> None:
    assert display_stream(clock.chunks(["a", "b", "c"], 1.0)) == "abc"
    assert fake_display.areas == [["", "a", "ab", "abc"]]


def test_the_reply_text_is_returned_and_shown(fake_display: FakeDisplay, clock: Clock) -> None:
    class Finished:  # a stream whose end frame's reply differs from its chunks
        reply = Reply("Hello, world!")

        def __iter__(self) -> Iterator[str]:
            return clock.chunks(["Hello", ", wor"], 0.0)

    assert display_stream(Finished()) == "Hello, world!"
    assert fake_display.areas == [["", "Hello", "Hello, world!"]]


@pytest.mark.parametrize(("interval", "error"), [(-1, ValueError), (float("nan"), ValueError)])
def test_a_bad_interval(fake_display: FakeDisplay, interval: float, error: type) -> None:
    with pytest.raises(error, match="interval"):
        display_stream(["x"], interval=interval)
    assert fake_display.areas == []  # checked before anything is shown


def test_a_sync_stream(fake_display: FakeDisplay) -> None:
    with Server() as server, Client(server.base_url, nonce=server.nonce) as client:
        with client.stream([{"role": "user", "content": "Hi"}]) as chunks:
            text = display_stream(chunks)
    assert chunks.reply is not None
    assert text == chunks.reply.text
    assert len(fake_display.areas) == 1
    assert fake_display.areas[0][-1] == text
    assert 2 <= len(fake_display.areas[0]) <= 1 + 12  # the empty start, then coalesced


async def test_an_async_stream(fake_display: FakeDisplay) -> None:
    async with Server() as server, AsyncClient(server.base_url, nonce=server.nonce) as client:
        async with client.stream([{"role": "user", "content": "Hi"}]) as chunks:
            text = await display_stream(chunks)
    assert chunks.reply is not None
    assert text == chunks.reply.text
    assert [area[-1] for area in fake_display.areas] == [text]


async def test_any_async_iterable(fake_display: FakeDisplay) -> None:
    async def chunks() -> AsyncIterator[str]:
        for chunk in ("a", "b"):
            yield chunk

    assert await display_stream(chunks(), markdown=True, interval=0) == "ab"
    assert fake_display.areas == [["", "a", "ab"]]


def test_without_ipython(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "IPython", None)
    monkeypatch.setitem(sys.modules, "IPython.display", None)
    with pytest.raises(ImportError, match=r"pip install 'opchatgpts-compat\[notebook\]'"):
        display_stream(["x"])


# -- the quickstart notebook, executed ---------------------------------------------


def outputs_of(cell: Dict[str, Any]) -> str:
    return "".join(output.get("text", "") for output in cell["outputs"])


async def test_quickstart_notebook_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # nbclient's async API, in the test's loop: its blocking API runs a loop
    # of its own that it leaves open.
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")  # no path-migration warning from jupyter_core
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    try:
        async with client.async_setup_kernel():
            for index, cell in enumerate(notebook.cells):
                await client.async_execute_cell(cell, index)
    except Exception as exc:
        if client.kc is None:  # no kernel spec, or the kernel did not start
            pytest.skip(f"a Jupyter kernel could not be started: {exc}")
        raise

    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    for cell in code:
        assert all(output["output_type"] != "error" for output in cell["outputs"])
    start, sync, async_, shown, shown_async, chat, stop = code

    (result,) = start["outputs"]
    assert result["data"]["text/plain"].startswith("<Server AI Engine 2.0 http://127.0.0.1:")
    assert outputs_of(sync).splitlines() == [
        'Hello! You said "Hello from a notebook". Tell me more, and I will remember it.',
        "{'prompt_tokens': 0, 'completion_tokens': 26, 'total_tokens': 26}",
    ]
    assert outputs_of(async_) == (
        'Hello! You said "Hello, asyncio". Tell me more, and I will remember it.\n'
    )
    # One output area each, updated in place, the whole reply left in it.
    for cell, message in ((shown, "Show me the tokens"), (shown_async, "And asynchronously")):
        (area,) = cell["outputs"]
        assert area["output_type"] == "display_data"
        assert area["data"]["text/plain"] == (
            f'Hello! You said "{message}". Tell me more, and I will remember it.'
        )
    assert outputs_of(chat) == (
        "> My name is Ada\n"
        'Hello! You said "My name is Ada". Tell me more, and I will remember it.\n'
        "> What is my name?\n"
        'You said "What is my name?". Earlier you said "My name is Ada". '
        "That makes 2 messages from you in this conversation.\n"
    )
    assert stop["outputs"] == []
