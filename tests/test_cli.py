"""The command line, run as a subprocess against the embedded server."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator, List

import pytest

from opchatgpts_compat import __version__
from opchatgpts_compat.server import Server

CLI = [sys.executable, "-m", "opchatgpts_compat"]

# A subprocess started from a shell job without a terminal inherits SIGINT
# ignored, and Python then leaves it ignored: Ctrl-C is simulated with a CLI
# whose SIGINT handler is set back to Python's default first.
CLI_WITH_SIGINT = [
    sys.executable,
    "-c",
    "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "from opchatgpts_compat.__main__ import main; sys.exit(main(sys.argv[1:]))",
]

ERROR_LINE = re.compile(r"opchatgpts-compat( chat| serve)?: error: [^\n]+\n")


def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], input=stdin, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with Server(slow_delay=60.0) as server:
        yield server


def site(server: Server) -> List[str]:
    return ["--base-url", server.base_url, "--nonce", server.nonce]


# -- chat ---------------------------------------------------------------------------


@pytest.mark.parametrize("use_async", [False, True])
def test_chat_prints_the_streamed_reply(server: Server, use_async: bool) -> None:
    extra = ["--async"] if use_async else []
    result = run("chat", *site(server), *extra, "Hello there")
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        'Hello! You said "Hello there". Tell me more, and I will remember it.\n'
    )
    assert result.stderr == ""


@pytest.mark.parametrize("json_output", [False, True])
def test_sync_and_async_print_the_same(server: Server, json_output: bool) -> None:
    extra = ["--json"] if json_output else []
    sync = run("chat", *site(server), *extra, "Same output?")
    async_ = run("chat", *site(server), *extra, "--async", "Same output?")
    assert (sync.returncode, async_.returncode) == (0, 0)
    assert sync.stdout == async_.stdout


def test_json_lines(server: Server) -> None:
    result = run("chat", *site(server), "--json", "Hi there")
    assert result.returncode == 0
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    *chunks, final = lines
    assert [list(line) for line in chunks] == [["chunk"]] * len(chunks)
    assert len(chunks) == 13
    assert "".join(line["chunk"] for line in chunks) == final["reply"]
    assert final["usage"]["completion_tokens"] > 0
    assert final["images"] is None


def test_message_from_piped_stdin(server: Server) -> None:
    result = run("chat", *site(server), stdin="Hello from a pipe\n")
    assert result.returncode == 0
    assert result.stdout.startswith('Hello! You said "Hello from a pipe".')


@pytest.mark.parametrize("use_async", [False, True])
def test_local_starts_its_own_server(use_async: bool) -> None:
    result = run("chat", "--local", *(["--async"] if use_async else []), "Hello")
    assert result.returncode == 0, result.stderr
    assert result.stdout == 'Hello! You said "Hello". Tell me more, and I will remember it.\n'


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).with_name("opchatgpts-compat")
    if not script.exists():
        pytest.skip("the package is not installed with its console script")
    result = subprocess.run(
        [str(script), "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    assert (result.returncode, result.stdout) == (0, f"opchatgpts-compat {__version__}\n")


# -- exit code 1: the site failed or the stream broke -------------------------------


@pytest.mark.parametrize("use_async", [False, True])
@pytest.mark.parametrize(
    ("bot_id", "stdout", "message"),
    [
        ("fault-cut", 'Hello! You said "Hi". Tell me\n', "was lost before the end frame"),
        ("fault-error", 'Hello! You said "Hi". Tell me\n', "The server had an error"),
        ("fault-html", "", "The answer has no events (text/html; charset=UTF-8)"),
        ("no-such-bot", "", "Sorry, your query has been rejected."),
    ],
)
def test_site_failures_exit_1(
    server: Server, use_async: bool, bot_id: str, stdout: str, message: str
) -> None:
    extra = ["--async"] if use_async else []
    result = run("chat", *site(server), *extra, "--bot-id", bot_id, "Hi")
    assert result.returncode == 1
    assert result.stdout == stdout
    assert ERROR_LINE.fullmatch(result.stderr), result.stderr
    assert message in result.stderr


def test_http_error_exits_1(server: Server) -> None:
    # AI Engine 2.0 refuses a message over 64 KiB with 403 and a JSON message.
    result = run("chat", *site(server), stdin="A" * 65537)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (
        "opchatgpts-compat: error: HTTP 403 Forbidden: Sorry, your query has been rejected.\n"
    )


def test_connection_refused_exits_1() -> None:
    with Server() as gone:
        base_url = gone.base_url
    result = run("chat", "--base-url", base_url, "Hi")
    assert result.returncode == 1
    assert result.stderr == f"opchatgpts-compat: error: Cannot connect to {base_url}\n"


def test_debug_shows_the_traceback(server: Server) -> None:
    result = run("chat", *site(server), "--debug", "--bot-id", "fault-html", "Hi")
    assert result.returncode == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert "DEBUG" in result.stderr or "POST " in result.stderr
    assert result.stderr.rstrip().endswith("(text/html; charset=UTF-8)")


# -- exit code 2: usage ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        ([], "", "usage: opchatgpts-compat"),
        (["frobnicate"], "", "invalid choice"),
        (["chat", "--local", "--base-url", "http://x", "Hi"], "", "not allowed with"),
        (["chat", "--timeout", "-1", "Hi"], "", "--timeout"),
        (["chat", "--base-url", "ftp://example.org", "Hi"], "", "base_url must be"),
        (["chat", "--local", "   "], "", "the message is empty"),
        (["chat", "--local"], "", "the message is empty"),
        (["serve", "--flavor", "1.0"], "", "invalid choice"),
        (["serve", "--port", "70000"], "", "not a port number"),
    ],
)
def test_usage_errors_exit_2(args: List[str], stdin: str, message: str) -> None:
    result = run(*args, stdin=stdin)
    assert result.returncode == 2
    assert result.stdout == ""
    assert message in result.stderr


def test_serve_on_a_taken_port_exits_2(server: Server) -> None:
    result = run("serve", "--port", str(server.port))
    assert result.returncode == 2
    assert ERROR_LINE.fullmatch(result.stderr), result.stderr


@pytest.mark.parametrize("command", [[], ["chat"], ["serve"]])
def test_help_everywhere(command: List[str]) -> None:
    result = run(*command, "--help")
    assert result.returncode == 0
    assert result.stdout.startswith(f"usage: opchatgpts-compat {' '.join(command)}".rstrip())


def test_version() -> None:
    result = run("--version")
    assert (result.returncode, result.stdout) == (0, f"opchatgpts-compat {__version__}\n")


# -- exit code 130: Ctrl-C -------------------------------------------------------------


@pytest.mark.parametrize("use_async", [False, True])
def test_ctrl_c_mid_stream_closes_the_connection_and_exits_130(
    server: Server, use_async: bool
) -> None:
    before = len(server.records)
    extra = ["--async"] if use_async else []
    # fault-slow: the second token comes 60 s after the first.
    process = subprocess.Popen(
        [*CLI_WITH_SIGINT, "chat", *site(server), *extra, "--bot-id", "fault-slow", "Hi"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None
    first = os.read(process.stdout.fileno(), 1024)  # blocks until the first token
    assert first == b"Hello!"
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 130
    assert out == b"\n"
    assert err == b"opchatgpts-compat: interrupted\n"
    assert server.wait_for(lambda records: len(records) > before, timeout=30)
    record = server.records[before]
    assert (record.bot_id, record.tokens, record.outcome) == ("fault-slow", 1, "disconnected")


# -- interactive ---------------------------------------------------------------------


@pytest.mark.parametrize("use_async", [False, True])
def test_interactive_chat_keeps_the_history(server: Server, use_async: bool) -> None:
    pty = pytest.importorskip("pty")
    master, slave = pty.openpty()
    extra = ["--async"] if use_async else []
    process = subprocess.Popen(
        [*CLI, "chat", *site(server), *extra],
        stdin=slave,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    os.close(slave)
    try:
        assert process.stdout is not None
        os.write(master, b"My name is Ada\n")
        first = process.stdout.readline()
        os.write(master, b"What is my name?\n")
        second = process.stdout.readline()
        os.write(master, b"\x04")  # Ctrl-D: end of input
        out, err = process.communicate(timeout=30)
    finally:
        os.close(master)
    assert process.returncode == 0, err
    assert first == 'Hello! You said "My name is Ada". Tell me more, and I will remember it.\n'
    assert second == (
        'You said "What is my name?". Earlier you said "My name is Ada". '
        "That makes 2 messages from you in this conversation.\n"
    )
    assert out == ""
    assert err.startswith("Chatting;")


def test_ctrl_c_at_the_prompt_exits_130(server: Server) -> None:
    pty = pytest.importorskip("pty")
    master, slave = pty.openpty()
    process = subprocess.Popen(
        [*CLI_WITH_SIGINT, "chat", *site(server)],
        stdin=slave,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    os.close(slave)
    try:
        assert process.stderr is not None
        seen = b""
        while not seen.endswith(b"> "):  # the prompt: it waits for a line now
            piece = os.read(process.stderr.fileno(), 1024)
            assert piece, seen
            seen += piece
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    finally:
        os.close(master)
    assert process.returncode == 130
    assert out == b""
    assert err == b"opchatgpts-compat: interrupted\n"


# -- serve -----------------------------------------------------------------------------


def start_serve(*args: str) -> Any:
    process = subprocess.Popen(
        [*CLI_WITH_SIGINT, "serve", "--port", "0", "--delay", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    match = re.match(r"AI Engine (2\.0|3\.6) server on (http://127\.0\.0\.1:\d+) ", line)
    assert match, line
    return process, match.group(2), line


def test_serve_logs_each_request_and_stops_on_ctrl_c() -> None:
    process, base_url, banner = start_serve("--nonce", "0a1b2c3d4e")
    try:
        assert "nonce 0a1b2c3d4e" in banner
        ok = run("chat", "--base-url", base_url, "--nonce", "0a1b2c3d4e", "Hi")
        refused = run("chat", "--base-url", base_url, "--nonce", "0a1b2c3d4e", stdin="A" * 65537)
    finally:
        process.send_signal(signal.SIGINT)
        _out, err = process.communicate(timeout=30)
    assert (ok.returncode, refused.returncode) == (0, 1)
    assert process.returncode == 130
    log = [line for line in err.splitlines() if "/wp-json/" in line]
    assert len(log) == 2
    assert '"POST /wp-json/mwai-ui/v1/chats/submit" 200 stream bot=default tokens=12 ok' in log[0]
    assert '"POST /wp-json/mwai-ui/v1/chats/submit" 403 submit' in log[1]
    assert err.endswith("opchatgpts-compat: interrupted\n")


def test_serve_3_6_without_nonce_stops_on_sigterm() -> None:
    process, base_url, banner = start_serve("--flavor", "3.6", "--no-nonce")
    try:
        assert "no nonce needed" in banner
        result = run("chat", "--base-url", base_url, "--json", "Hi")
    finally:
        process.terminate()
        process.communicate(timeout=30)
    assert result.returncode == 0
    final = json.loads(result.stdout.splitlines()[-1])
    assert final["usage"]["accuracy"] == "tokens"
    assert process.returncode == 0


# -- aiohttp only where needed -----------------------------------------------------------


def test_the_sync_command_line_does_not_need_aiohttp(server: Server) -> None:
    code = (
        "import sys; sys.modules['aiohttp'] = None; "  # importing it now fails
        "import opchatgpts_compat.notebook; "
        "from opchatgpts_compat.__main__ import main; sys.exit(main(sys.argv[1:]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, "chat", *site(server), "Hi"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Hello!")
