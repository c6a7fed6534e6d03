"""The two front ends stay mirrors: their normalized diff is glue only.

``tools/twin_diff.py`` strips docstrings, comments, ``async``/``await`` and
the async names from ``_sync.py`` and ``_async.py``; what still differs is
the per-library glue (requests/urllib3 vs aiohttp), which must stay small.
A decision made in one twin and not the other belongs in the core instead.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
#: The most lines the normalized diff may show (issue 13).
MAX_LINES = 120


def load_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("twin_diff", ROOT / "tools" / "twin_diff.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("twin_diff", module)
    spec.loader.exec_module(module)
    return module


def test_the_twins_differ_only_in_glue() -> None:
    tool = load_tool()
    diff = tool.twin_diff()
    count = tool.changed(diff)
    assert count <= MAX_LINES, "\n".join(diff)


def test_the_normalization_maps_async_names() -> None:
    tool = load_tool()
    source = '''async def aclose(self) -> AsyncStream:
    """Docstring."""
    await self._client.aclose()  # a comment
    raise StopAsyncIteration
'''
    assert tool.normalize(source) == [
        "def close(self) -> Stream:",
        "    self._client.close()",
        "    raise StopIteration",
    ]


def test_a_real_difference_counts() -> None:
    tool = load_tool()
    diff = list(tool.difflib.unified_diff(["a", "b"], ["a", "c"], n=0, lineterm=""))
    assert tool.changed(diff) == 2
