"""README.rst and docs/*.rst render cleanly, and every code block that claims to run does.

The rules, stated for readers under "Your first chat in Python" in README.rst:

- ``code-block:: python`` blocks run in order, one namespace per section, as a
  reader following the section would run them.  A section with top-level
  ``await``, ``async with`` or ``async for`` runs in a Jupyter kernel, each
  block a cell, as ``tests/cli/test_notebook.py`` runs the example notebook.  A
  block that raises fails its section's test, with the document's own line
  numbers in the traceback (or the block's line, from a kernel).
- ``https://example.org`` stands for the reader's site: each section gets a
  fresh embedded server (:class:`opchatgpts_compat.server.Server`) and the
  address is replaced by the server's.
- A block whose first line is ``# Not run: <why>`` is only compiled.
- A section whose blocks import g4f is skipped when g4f is not installed.
- ``code-block:: console`` blocks run each ``$`` line with bash (the same
  replacement; the ``opchatgpts-compat`` of this environment first on
  ``PATH``), and each output line shown under it, unless it holds ``...``,
  must be a line of what the command printed.  A ``serve`` line runs in the
  background on a free port (its ``http://127.0.0.1:8080`` in the lines after
  it becomes the port it took) and is stopped with SIGTERM when the block ends.
"""

from __future__ import annotations

import ast
import asyncio
import importlib
import importlib.metadata
import inspect
import io
import os
import re
import selectors
import signal
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import docutils.core
import docutils.nodes
import pytest

from opchatgpts_compat.server import Server

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.rst").read_text(encoding="utf-8")
DOCUMENTS = [ROOT / "README.rst", *sorted((ROOT / "docs").glob("*.rst"))]

#: The stand-in for the reader's site in the examples.
EXAMPLE_SITE = "https://example.org"
#: What ``opchatgpts-compat serve`` listens on in the examples.
EXAMPLE_SERVE = "http://127.0.0.1:8080"
G4F_MISSING = "g4f is not installed (.ci/run installs g4f==0.2.0.6)"
NOT_RUN = re.compile(r"# Not run: \S")
IMPORTS_G4F = re.compile(r"^\s*(?:import|from)\s+g4f\b", re.M)
#: The g4f release a section is for, by its title ("g4f 8.x").
G4F_RELEASE = re.compile(r"\bg4f (\d+)\.")
#: Sections other branches rewrite, known not to run yet.  Strict: once a
#: section runs, its entry must go.
KNOWN_BROKEN: Dict[Tuple[str, str], str] = {}


@dataclass(frozen=True)
class Block:
    document: str
    section: str
    #: The line of the document on which the code starts.
    line: int
    language: str
    code: str

    @property
    def not_run(self) -> bool:
        return NOT_RUN.match(self.code) is not None


def _section(node: docutils.nodes.Node) -> str:
    parent = node.parent
    while parent is not None and not isinstance(parent, docutils.nodes.section):
        parent = parent.parent
    if parent is None:
        return "(top)"
    return parent.next_node(docutils.nodes.title).astext()


def code_blocks(path: Path) -> List[Block]:
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    tree = docutils.core.publish_doctree(
        text, settings_overrides={"report_level": 5, "syntax_highlight": "none"}
    )
    blocks = []
    for node in tree.findall(docutils.nodes.literal_block):
        classes = [c for c in node.get("classes", []) if c != "code"]
        if "code" not in node.get("classes", []) or not classes:
            continue  # a plain ``::`` block: shown, not claimed to run
        code = node.astext()
        first = code.splitlines()[0].strip()
        # docutils gives a line inside or just after the block: go back to its directive.
        end = min(node.line or len(lines), len(lines))
        directive = max(i for i in range(end) if lines[i].lstrip().startswith(".. code-block::"))
        start = next(i for i in range(directive + 1, len(lines)) if lines[i].strip() == first)
        blocks.append(Block(path.name, _section(node), start + 1, classes[0], code))
    return blocks


def _sections() -> Iterator[Any]:
    grouped: Dict[Tuple[str, str], List[Block]] = {}
    for path in DOCUMENTS:
        for block in code_blocks(path):
            grouped.setdefault((block.document, block.section), []).append(block)
    for (document, section), blocks in grouped.items():
        reason = KNOWN_BROKEN.get((document, section))
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        yield pytest.param(blocks, id=f"{document}: {section}", marks=marks)


SECTIONS = list(_sections())


def test_readme_renders_cleanly() -> None:
    for path in DOCUMENTS:
        warnings = io.StringIO()
        docutils.core.publish_doctree(
            path.read_text(encoding="utf-8"),
            settings_overrides={"report_level": 1, "halt_level": 5, "warning_stream": warnings},
        )
        assert warnings.getvalue() == "", path.name


def test_the_quickstart_has_the_two_commands_ci_runs() -> None:
    quickstart = README.split("Quickstart\n----------\n", 1)[1].split("\n\nYour first chat", 1)[0]
    commands = re.findall(r"^    (python3 -m venv .+)$", quickstart, re.M)
    assert len(commands) == 2
    demo, tests = commands
    assert "pip install . " in demo and "chat --local" in demo
    assert "pip install -e '.[test]'" in tests and tests.endswith("-m pytest")
    assert f'TEST_COMMAND="{tests}"' in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_the_harness_finds_the_blocks() -> None:
    blocks = [b for path in DOCUMENTS for b in code_blocks(path)]
    readme = [b for b in blocks if b.document == "README.rst"]
    assert {b.language for b in readme} == {"python", "console"}
    assert len([b for b in readme if b.language == "python"]) >= 10
    first = next(b for b in readme if b.section == "Your first chat in Python")
    assert README.splitlines()[first.line - 1].strip() == first.code.splitlines()[0]
    assert {"benchmarks.rst", "reliability.rst"} <= {p.name for p in DOCUMENTS}


def test_every_block_is_run_or_says_why_not() -> None:
    for path in DOCUMENTS:
        for block in code_blocks(path):
            assert block.language in ("python", "console"), (block.document, block.line)
            if block.code.startswith("# Not run"):
                assert block.not_run, f"{block.document}:{block.line}: '# Not run: <why>'"


@pytest.mark.parametrize("blocks", SECTIONS)
def test_the_code_blocks_run(
    blocks: List[Block], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")  # no path-migration warning from jupyter_core
    _import_g4f(blocks)
    with Server() as site:
        python = [b for b in blocks if b.language == "python"]
        if python:
            _run_python(python, site.base_url)
        for block in blocks:
            if block.language == "console" and not block.not_run:
                _run_console(block, site.base_url, tmp_path)


def _import_g4f(blocks: List[Block]) -> None:
    """Import g4f first, if installed (``for_site`` imports it too), with the
    warning g4f 0.2.0.6 raises on import ignored; skip a section that needs
    g4f, or another release of it than the one installed (a section named
    "g4f 8.x" runs in the g4f8 tier, tests/provider/test_g4f8.py)."""
    try:
        installed: Optional[str] = importlib.metadata.version("g4f")
    except importlib.metadata.PackageNotFoundError:
        installed = None
    if any(IMPORTS_G4F.search(b.code) for b in blocks):
        if installed is None:
            pytest.skip(G4F_MISSING)
        wanted = G4F_RELEASE.search(blocks[0].section)
        if wanted and not installed.startswith(wanted.group(1) + "."):
            pytest.skip(
                f"needs g4f {wanted.group(1)}.x, {installed} is installed "
                "(tests/provider/test_g4f8.py runs it in the g4f8 tier)"
            )
    if installed is not None:
        with warnings.catch_warnings():
            # g4f 0.2.0.6 subclasses aiohttp.ClientSession, which aiohttp warns about on import.
            warnings.simplefilter("ignore", DeprecationWarning)
            importlib.import_module("g4f.Provider")


def _run_python(blocks: List[Block], site: str) -> None:
    compiled = []
    for block in blocks:
        source = "\n" * (block.line - 1) + block.code.replace(EXAMPLE_SITE, site)
        flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
        code = compile(source, block.document, "exec", flags=flags, dont_inherit=True)
        if not block.not_run:
            compiled.append((block, code))
    if any(code.co_flags & inspect.CO_COROUTINE for _, code in compiled):
        asyncio.run(_run_in_kernel([(b, b.code.replace(EXAMPLE_SITE, site)) for b, _ in compiled]))
        return
    namespace: Dict[str, Any] = {"__name__": "__main__"}
    for _, code in compiled:
        exec(code, namespace)


async def _run_in_kernel(cells: List[Tuple[Block, str]]) -> None:
    """Run the blocks as the cells of a notebook, in a real kernel."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for _, c in cells])
    client = nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3")
    try:
        async with client.async_setup_kernel():
            for index, (block, _) in enumerate(cells):
                try:
                    await client.async_execute_cell(notebook.cells[index], index)
                except nbclient.exceptions.CellExecutionError as exc:
                    pytest.fail(f"{block.document}:{block.line}: the block raised\n{exc}")
    except Exception as exc:
        if client.kc is None:  # no kernel spec, or the kernel did not start
            pytest.skip(f"a Jupyter kernel could not be started: {exc}")
        raise


def _commands(block: Block) -> Iterator[Tuple[str, List[str]]]:
    """Each ``$`` line of a console block, with the output lines shown under it."""
    command: Optional[str] = None
    shown: List[str] = []
    for line in block.code.splitlines():
        if line.startswith("$ "):
            if command is not None:
                yield command, shown
            command, shown = line[2:], []
        elif command is not None and line.strip():
            shown.append(line)
    if command is not None:
        yield command, shown


def _run_console(block: Block, site: str, cwd: Path) -> None:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    background: List[subprocess.Popen[str]] = []
    serving = EXAMPLE_SERVE
    try:
        for written, shown in _commands(block):
            command = written.replace(EXAMPLE_SITE, site).replace(EXAMPLE_SERVE, serving)
            where = f"{block.document}:{block.line}: $ {command}"
            if re.search(r"\bopchatgpts-compat serve\b", command):
                server = _serve(command, env, cwd)
                background.append(server[0])
                serving = server[1]
                continue
            done = subprocess.run(
                ["bash", "-c", command],
                check=False,
                cwd=cwd,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert done.returncode == 0, f"{where}\nexit {done.returncode}\n{done.stderr}"
            printed = (done.stdout + done.stderr).splitlines()
            for line in shown:
                if "..." not in line:
                    assert line in printed, f"{where}\nshown: {line}\nprinted: {printed}"
    finally:
        for process in background:
            process.send_signal(signal.SIGTERM)
            code = process.wait(timeout=30)
            if process.stdout is not None:
                process.stdout.close()
            assert code == 0, f"{block.document}:{block.line}: serve exited {code} on SIGTERM"


def _serve(command: str, env: Dict[str, str], cwd: Path) -> Tuple[subprocess.Popen[str], str]:
    """Start a ``serve`` line on a free port; return it and the address it took."""
    command = command.rstrip(" &")
    if re.search(r"--port \d+", command):
        command = re.sub(r"--port \d+", "--port 0", command)
    else:
        command += " --port 0"
    process = subprocess.Popen(
        ["bash", "-c", f"exec {command}"], cwd=cwd, env=env, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + 30
        while not selector.select(max(0.0, deadline - time.monotonic())):
            if time.monotonic() >= deadline:
                process.kill()
                process.wait()
                pytest.fail(f"$ {command}: printed nothing in 30 s")
    first = process.stdout.readline()
    found = re.search(r"http://127\.0\.0\.1:\d+", first)
    assert found, f"$ {command}: {first!r}"
    return process, found.group(0)


# -- the harness itself --------------------------------------------------------------


def test_a_block_that_raises_fails_with_the_documents_line() -> None:
    block = Block("X.rst", "S", 7, "python", "x = 1\nprint(undefined)")
    with pytest.raises(NameError) as caught:
        _run_python([block], "http://127.0.0.1:9")
    assert str(caught.traceback[-1].path) == "X.rst"
    assert caught.traceback[-1].lineno + 1 == 8


def test_a_not_run_block_is_still_compiled() -> None:
    skipped = Block("X.rst", "S", 1, "python", "# Not run: needs a real site\nprint(undefined)")
    _run_python([skipped], "http://127.0.0.1:9")
    broken = Block("X.rst", "S", 1, "python", "# Not run: needs a real site\nprint(")
    with pytest.raises(SyntaxError):
        _run_python([broken], "http://127.0.0.1:9")


def test_a_section_shares_one_namespace_and_the_site_is_replaced() -> None:
    first = Block("X.rst", "S", 1, "python", 'url = "https://example.org/chatbot/"')
    second = Block("X.rst", "S", 5, "python", 'assert url == "http://127.0.0.1:9/chatbot/", url')
    _run_python([first, second], "http://127.0.0.1:9")


def test_console_output_must_match(tmp_path: Path) -> None:
    good = Block("X.rst", "S", 1, "console", "$ echo https://example.org\nhttp://127.0.0.1:9")
    _run_console(good, "http://127.0.0.1:9", tmp_path)
    wrong = Block("X.rst", "S", 1, "console", "$ echo hello\ngoodbye")
    with pytest.raises(AssertionError, match="shown: goodbye"):
        _run_console(wrong, "http://127.0.0.1:9", tmp_path)
    failing = Block("X.rst", "S", 1, "console", "$ exit 3")
    with pytest.raises(AssertionError, match="exit 3"):
        _run_console(failing, "http://127.0.0.1:9", tmp_path)
