"""The sdist ships the whole repository, so README's test command passes in it.

The sdist is built the way ``pip`` and ``python -m build`` build it: by calling
the PEP 517 ``build_sdist`` hook of the backend ``pyproject.toml`` names
(setuptools), in a subprocess, without ``build``'s isolated environment (which
would fetch setuptools from the network).  It is built from a copy of the files
git tracks (or would track: new files not yet added), as from a fresh clone: in
the working tree, setuptools would also ship whatever an old
``*.egg-info/SOURCES.txt`` lists.  Its file list must be exactly those files,
plus the metadata setuptools writes.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Set

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: Written by setuptools into every sdist.
GENERATED = {"PKG-INFO"}
#: What README's test command needs beside the test files themselves.
NEEDED = {
    ".ci/run",
    "README.rst",
    "examples/quickstart.ipynb",
    "tests/conftest.py",
    "tests/support/cases.py",
    "tests/support/helpers.py",
    "tests/support/twin.py",
    "tests/fixtures/README.md",
    "tests/fixtures/real/README.md",
    "tests/fixtures/wire/README.md",
    "tests/fixtures/wire/live-end-basic.sse",
}


def _git_files() -> Set[str]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout (an unpacked sdist): nothing to compare with")
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split("\0")
    return {name for name in listed if name and (ROOT / name).is_file()}


def _build_sdist(files: Set[str], tmp: Path) -> Path:
    tree, out = tmp / "tree", tmp / "dist"
    for name in files:
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, tree / name)
    hook = "import sys, setuptools.build_meta as b; print(b.build_sdist(sys.argv[1]))"
    done = subprocess.run(
        [sys.executable, "-c", hook, str(out)],
        cwd=tree,
        check=True,
        capture_output=True,
        text=True,
        timeout=100,
    )
    return out / done.stdout.strip().splitlines()[-1]


def test_the_sdist_ships_every_tracked_file(tmp_path: Path) -> None:
    tracked = _git_files()
    with tarfile.open(_build_sdist(tracked, tmp_path)) as sdist:
        members = [m.name.split("/", 1) for m in sdist.getmembers() if m.isfile()]
    top = {parts[0] for parts in members}
    assert len(top) == 1, top
    shipped = {parts[1] for parts in members}
    shipped = {n for n in shipped if not n.startswith("opchatgpts_compat.egg-info/")}
    assert sorted(NEEDED - shipped) == []
    assert sorted(tracked - shipped) == []
    assert sorted(shipped - tracked - GENERATED) == []
