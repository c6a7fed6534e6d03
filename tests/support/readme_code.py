"""Run the README's code blocks as written, against a loopback site."""

from __future__ import annotations

import contextlib
import io
import re
import textwrap
from pathlib import Path
from typing import Any, Dict

README = Path(__file__).parents[2] / "README.rst"


def from_g4f_code(heading: str) -> str:
    """The Python code blocks of one subsection of README's "From g4f", joined."""
    text = README.read_text(encoding="utf-8")
    section = text.split("From g4f\n--------\n", 1)[1]
    section = re.split(r"\n\S[^\n]*\n-{3,}\n", section)[0]  # up to the next section
    section = section.split(f"\n{heading}\n{'~' * len(heading)}\n", 1)[1]
    section = re.split(r"\n\S[^\n]*\n~{3,}\n", section)[0]  # up to the next subsection
    blocks = re.findall(r"\.\. code-block:: python\n\n((?:(?: {4}[^\n]*)?\n)+)", section)
    assert blocks, heading
    return "\n".join(textwrap.dedent(block) for block in blocks)


def run(code: str, sites: Dict[str, str]) -> str:
    """Run ``code`` with each example site URL replaced; what it printed."""
    for example, url in sites.items():
        quoted = f'"{example}"'
        assert quoted in code, example
        code = code.replace(quoted, repr(url))
    out = io.StringIO()
    namespace: Dict[str, Any] = {"__name__": "readme"}
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(README), "exec"), namespace)
    return out.getvalue()
