"""README.rst renders without a docutils warning, and its Quickstart is what CI runs."""

from __future__ import annotations

import io
import re
from pathlib import Path

import docutils.core

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.rst").read_text(encoding="utf-8")


def test_readme_renders_cleanly() -> None:
    warnings = io.StringIO()
    docutils.core.publish_doctree(
        README,
        settings_overrides={"report_level": 1, "halt_level": 5, "warning_stream": warnings},
    )
    assert warnings.getvalue() == ""


def test_the_quickstart_has_the_two_commands_ci_runs() -> None:
    quickstart = README.split("Quickstart\n----------\n", 1)[1].split("\n\nInstallation\n", 1)[0]
    commands = re.findall(r"^    (python3 -m venv .+)$", quickstart, re.M)
    assert len(commands) == 2
    demo, tests = commands
    assert "pip install . " in demo and "chat --local" in demo
    assert "pip install -e '.[test]'" in tests and tests.endswith("-m pytest")
    assert f'TEST_COMMAND="{tests}"' in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
