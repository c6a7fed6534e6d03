"""The normalized diff of the two front ends: ``python tools/twin_diff.py [--count]``.

``_sync.py`` and ``_async.py`` mirror each other.  This prints what still
differs once the differences that must be there are taken out: docstrings
and comments, ``async``/``await``, and the async names (``AsyncClient`` ->
``Client``, ``aclose`` -> ``close``, ``__anext__`` -> ``__next__`` ...).
What remains should be the per-library glue (requests/urllib3 vs aiohttp)
and nothing else; ``tests/clients/test_twins.py`` keeps it small.
"""

from __future__ import annotations

import ast
import difflib
import io
import re
import sys
import tokenize
from pathlib import Path
from typing import List, Set

PACKAGE = Path(__file__).resolve().parent.parent / "opchatgpts_compat"

#: Async names and their blocking twins, longest first.
NAMES = {
    "AsyncConversation": "Conversation",
    "AsyncClient": "Client",
    "AsyncStream": "Stream",
    "StopAsyncIteration": "StopIteration",
    "__aenter__": "__enter__",
    "__aexit__": "__exit__",
    "__anext__": "__next__",
    "__aiter__": "__iter__",
    "aclose": "close",
}
_NAME = re.compile(r"\b(" + "|".join(map(re.escape, NAMES)) + r")\b")
_ASYNC = re.compile(r"\b(?:async|await)\s+")


def _docstring_lines(source: str) -> Set[int]:
    """The line numbers (1-based) of every string that stands as a statement."""
    lines: Set[int] = set()
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            end = node.end_lineno or node.lineno
            lines.update(range(node.lineno, end + 1))
    return lines


def _without_comments(source: str) -> List[str]:
    """``source``'s lines with every comment cut off."""
    lines = source.splitlines()
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    for token in tokens:
        if token.type == tokenize.COMMENT:
            row, col = token.start
            lines[row - 1] = lines[row - 1][:col]
    return lines


def normalize(source: str) -> List[str]:
    """``source`` without docstrings, comments, blank lines, async keywords and names."""
    skipped = _docstring_lines(source)
    out = []
    for number, text in enumerate(_without_comments(source), 1):
        if number in skipped or not text.strip():
            continue
        bare = _ASYNC.sub("", text.rstrip())
        out.append(_NAME.sub(lambda match: NAMES[match.group(1)], bare))
    return out


def twin_diff(package: Path = PACKAGE) -> List[str]:
    """The lines of the unified diff (no context) of the normalized twins."""
    sync = normalize((package / "_sync.py").read_text(encoding="utf-8"))
    async_ = normalize((package / "_async.py").read_text(encoding="utf-8"))
    return list(difflib.unified_diff(sync, async_, "_sync.py", "_async.py", n=0, lineterm=""))


def changed(diff: List[str]) -> int:
    """How many lines differ: the ``-`` and ``+`` lines, without the file names."""
    return sum(1 for line in diff if line[:1] in "+-" and not line.startswith(("---", "+++")))


def main(argv: List[str]) -> int:
    diff = twin_diff()
    try:
        if "--count" not in argv:
            print("\n".join(diff))
        print(f"{changed(diff)} lines differ")
    except BrokenPipeError:  # | head: the reader has what it wanted
        sys.stdout = None  # nothing left to flush at exit
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
