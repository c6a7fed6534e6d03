"""The tests' own layout: test modules in subject folders, their helpers in ``support``.

pytest imports each test module by its file name (the default ``prepend``
import mode, with no ``__init__.py`` in the subject folders), so two test
modules of the same name in two folders would clash; and a helper imported by
its bare name (``import twin``) would be a second copy of ``support.twin``.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, List

TESTS = Path(__file__).resolve().parents[1]
SUPPORT = TESTS / "support"


def _test_modules() -> List[Path]:
    return sorted(p for p in TESTS.rglob("test_*.py") if "fixtures" not in p.parts)


def test_every_test_module_is_in_a_subject_folder() -> None:
    assert [p.name for p in TESTS.glob("test_*.py")] == []
    assert all(p.parent.parent == TESTS for p in _test_modules())


def test_test_module_names_are_unique() -> None:
    seen: Dict[str, List[str]] = {}
    for path in _test_modules():
        seen.setdefault(path.name, []).append(str(path.relative_to(TESTS)))
    assert {name: paths for name, paths in seen.items() if len(paths) > 1} == {}


def test_only_support_is_a_package() -> None:
    packages = sorted(p.parent.name for p in TESTS.glob("*/__init__.py"))
    assert packages == ["support"]
    assert not (TESTS / "__init__.py").exists()


def test_helpers_are_imported_from_support() -> None:
    helpers = {p.stem for p in SUPPORT.glob("*.py")} - {"__init__"}
    bare = []
    for path in sorted(TESTS.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            bare += [
                f"{path.relative_to(TESTS)}:{node.lineno}: {name}"
                for name in names
                if name.split(".")[0] in helpers
            ]
    assert helpers
    assert bare == []
