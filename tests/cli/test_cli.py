"""The command line, run as a subprocess against the embedded server."""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, List, Sequence, Tuple

import pytest
from support.site_emulator import START_SENTENCE, SUBMIT, Site, page

from opchatgpts_compat import __version__
from opchatgpts_compat.server import STATUS_LABEL, Server

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
PROMPT = "Chatting; an empty line or Ctrl-D ends the conversation, Ctrl-C cancels a reply.\n> "
STATUS_LINE = f"[status] {STATUS_LABEL}\n"
HELLO = 'Hello! You said "Hello". Tell me more, and I will remember it.\n'


def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], input=stdin, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with Server(slow_delay=60.0) as server:
        yield server


@pytest.fixture(scope="module")
def server_3_6() -> Iterator[Server]:
    """AI Engine 3.6 with event logs (a status frame first), a short message cap."""
    with Server(flavor="3.6", event_logs=True, text_input_max_length=30) as server:
        yield server


def site(server: Server) -> List[str]:
    return ["--base-url", server.base_url, "--nonce", server.nonce]


def front_end(use_async: bool) -> List[str]:
    return ["--async"] if use_async else []


def new_records(server: Server, before: int, count: int) -> List[Any]:
    """The ``count`` requests the server answered after the first ``before``."""
    assert server.wait_for(lambda records: len(records) >= before + count, timeout=30)
    return server.records[before:]


@contextmanager
def typing_into(command: Sequence[str], *, text: bool = True) -> Iterator[Tuple[Any, int]]:
    """``command`` with a terminal as stdin and its stdout and stderr piped:
    the process, and the terminal's end to type into (closed afterwards)."""
    pty = pytest.importorskip("pty")
    master, slave = pty.openpty()
    try:
        process = subprocess.Popen(
            list(command),
            stdin=slave,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=text,
        )
    finally:
        os.close(slave)
    try:
        yield process, master
    finally:
        os.close(master)


def chat_on_a_terminal(*args: str, lines: Sequence[str]) -> subprocess.CompletedProcess[str]:
    """``chat`` with a terminal as stdin, typing ``lines`` and then Ctrl-D.

    A terminal gives one line per read, so the lines can be typed at once.
    """
    with typing_into([*CLI, "chat", *args]) as (process, master):
        os.write(master, "".join(f"{line}\n" for line in lines).encode() + b"\x04")
        out, err = process.communicate(timeout=60)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


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
@pytest.mark.parametrize(
    "flavor", [[], ["--flavor", "2.0"], ["--flavor", "3.6"], ["--flavor", "1.6"]]
)
def test_local_starts_its_own_server(use_async: bool, flavor: List[str]) -> None:
    result = run("chat", "--local", *flavor, *front_end(use_async), "Hello")
    assert result.returncode == 0, result.stderr
    assert result.stdout == HELLO
    assert result.stderr == ""


@pytest.mark.parametrize("use_async", [False, True])
@pytest.mark.parametrize("flavor", ["2.0", "3.6"])
def test_local_fetches_the_nonce_as_from_any_site(use_async: bool, flavor: str) -> None:
    # No nonce is handed over: 401, then start_session (3.6) or, on its 404,
    # the chatbot page (2.0), then the request again.
    result = run("chat", "--local", "--flavor", flavor, "--debug", *front_end(use_async), "Hi")
    assert result.returncode == 0, result.stderr
    log = [line for line in result.stderr.splitlines() if "opchatgpts_compat.server" in line]
    asked = [re.search(r'"(\w+ \S+)" (\d+)', line) for line in log]
    requests = [f"{match.group(1)} {match.group(2)}" for match in asked if match]
    submit = "POST /wp-json/mwai-ui/v1/chats/submit"
    session = "POST /wp-json/mwai/v1/start_session"
    if flavor == "3.6":
        assert requests == [f"{submit} 401", f"{session} 200", f"{submit} 200"]
    else:
        assert requests == [
            f"{submit} 401",
            f"{session} 404",
            "GET /chatgpt-free-use/ 200",
            f"{submit} 200",
        ]


# -- status lines ----------------------------------------------------------------------


@pytest.mark.parametrize("use_async", [False, True])
def test_status_frames_are_a_line_on_stderr(server_3_6: Server, use_async: bool) -> None:
    result = run("chat", "--base-url", server_3_6.base_url, *front_end(use_async), "Hello")
    assert result.returncode == 0, result.stderr
    assert result.stdout == HELLO
    assert result.stderr == STATUS_LINE


@pytest.mark.parametrize("use_async", [False, True])
def test_status_frames_with_json_are_objects_on_stdout(server_3_6: Server, use_async: bool) -> None:
    result = run(
        "chat", "--base-url", server_3_6.base_url, "--json", *front_end(use_async), "Hello"
    )
    assert result.returncode == 0, result.stderr
    status, *chunks, final = [json.loads(line) for line in result.stdout.splitlines()]
    assert status == {"status": STATUS_LABEL, "subtype": "status"}
    assert [list(line) for line in chunks] == [["chunk"]] * 12
    assert "".join(line["chunk"] for line in chunks) + "\n" == HELLO
    assert final["reply"] + "\n" == HELLO
    assert result.stderr == ""


def test_status_frames_sync_and_async_print_the_same(server_3_6: Server) -> None:
    for extra in ([], ["--json"]):
        sync = run("chat", "--base-url", server_3_6.base_url, *extra, "Same?")
        async_ = run("chat", "--base-url", server_3_6.base_url, *extra, "--async", "Same?")
        assert (sync.returncode, async_.returncode) == (0, 0)
        # The status frame's timestamp is not printed: the outputs are equal.
        assert (sync.stdout, sync.stderr) == (async_.stdout, async_.stderr)


# -- --page: a site as its own chatbot talks to it ---------------------------------------


@pytest.mark.parametrize("use_async", [False, True])
@pytest.mark.parametrize("flavor", ["2.0", "3.6"])
def test_page_sets_the_client_up(
    server: Server, server_3_6: Server, use_async: bool, flavor: str
) -> None:
    site_ = server if flavor == "2.0" else server_3_6
    before = len(site_.records)
    result = run("chat", "--page", site_.page_url, *front_end(use_async), "Hello")
    assert result.returncode == 0, result.stderr
    assert result.stdout == HELLO
    assert result.stderr == ("" if flavor == "2.0" else STATUS_LINE)
    if flavor == "2.0":  # the nonce comes from the page
        records = new_records(site_, before, 2)
        asked = [(r.kind, r.status, r.nonce) for r in records]
        assert asked == [("page", 200, None), ("stream", 200, site_.nonce)]
    else:  # the page says restNonce: null; start_session gives it
        records = new_records(site_, before, 4)
        asked = [(r.kind, r.status, r.nonce) for r in records]
        assert asked == [
            ("page", 200, None),
            ("submit", 401, None),
            ("session", 200, None),
            ("stream", 200, site_.nonce),
        ]
    # The start sentence of the page's chatbot opens the conversation.
    assert records[-1].messages[0]["role"] == "assistant"


@pytest.mark.parametrize("use_async", [False, True])
def test_page_with_an_explicit_nonce_sends_it_first(server: Server, use_async: bool) -> None:
    before = len(server.records)
    result = run(
        "chat", "--page", server.page_url, "--nonce", "0123456789", *front_end(use_async), "Hi"
    )
    assert result.returncode == 0, result.stderr
    records = new_records(server, before, 3)
    submits = [(r.status, r.nonce) for r in records if r.kind in ("submit", "stream")]
    # Refused as stale, then the page's nonce: the one from_page read.
    assert submits == [(403, "0123456789"), (200, server.nonce)]


@pytest.mark.parametrize("use_async", [False, True])
def test_page_with_an_explicit_base_url_sends_there(use_async: bool) -> None:
    with Server(nonce="fedcba9876") as page_site, Server(nonce="0a1b2c3d4e") as other:
        result = run(
            "chat",
            "--page",
            page_site.page_url,
            "--base-url",
            other.base_url,
            *front_end(use_async),
            "Hello",
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout == HELLO
        assert other.wait_for(lambda records: len(records) == 4, timeout=30)
        assert [r.kind for r in page_site.records] == ["page"]
        # The page's nonce is its own origin's: the other site gets its own.
        assert [(r.kind, r.nonce) for r in other.records] == [
            ("submit", None),
            ("session", None),  # start_session: no such route before AI Engine 2.4.4
            ("page", None),
            ("stream", "0a1b2c3d4e"),
        ]


@pytest.mark.parametrize("use_async", [False, True])
def test_base_url_of_a_site_whose_chatbot_is_on_an_inner_page(use_async: bool) -> None:
    # AI Engine 2.0.1-2.4.3: the nonce only in the chatbot's page, found by search.
    site_ = Site("2.0", chatbot_paths=("/help/ask/",))
    with site_.server() as emulated:
        result = run("chat", "--base-url", emulated.base_url, *front_end(use_async), "Hi")
        paths = [r.path for r in emulated.requests]
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Turn 1: you said Hi.\n"
    assert paths[-3:] == ["/wp-json/wp/v2/search", "/help/ask/", SUBMIT]


@pytest.mark.parametrize("use_async", [False, True])
def test_page_failures_exit_1(server: Server, use_async: bool) -> None:
    site_ = Site("2.0")
    site_.extra_pages["/about/"] = page(title="About")
    with site_.server() as emulated:
        about = emulated.base_url + "/about/"
        results = {
            "no chatbot": run("chat", "--page", about, *front_end(use_async), "Hi"),
            "no such bot": run(
                "chat", "--page", server.page_url, "--bot-id", "other", *front_end(use_async), "Hi"
            ),
            "no page": run(
                "chat", "--page", server.base_url + "/gone/", *front_end(use_async), "Hi"
            ),
        }
    expected = {
        "no chatbot": f"No AI Engine chatbot (mwai-chatbot-container) on {about}",
        "no such bot": f"No chatbot 'other' on {server.page_url}; it has 'default'",
        "no page": f"HTTP 404 for the page {server.base_url}/gone/",
    }
    for name, result in results.items():
        assert (result.returncode, result.stdout) == (1, ""), name
        assert result.stderr == f"opchatgpts-compat: error: {expected[name]}\n", name


def test_serve_and_chat_with_its_page() -> None:
    # The README's way to try --page and status lines without a WordPress site.
    process, _base_url, banner = start_serve("--flavor", "3.6", "--event-logs")
    try:
        match = re.search(r"chatbot page (http://\S+/chatbot/),", banner)
        assert match, banner
        results = [run("chat", "--page", match.group(1), *front_end(a), "Hello") for a in (0, 1)]
    finally:
        process.terminate()
        process.communicate(timeout=30)
    for result in results:
        assert (result.returncode, result.stdout, result.stderr) == (0, HELLO, STATUS_LINE)


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
    assert result.stderr == (
        f"opchatgpts-compat: error: Cannot connect to {base_url}: "
        "connection refused (nothing listens on that port)\n"
    )


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
        (["chat", "--page", "ftp://example.org/", "Hi"], "", "page must be an http"),
        (["chat", "--page", "example.org", "Hi"], "", "page must be an http"),
        (["chat", "--local", "--page", "http://x/", "Hi"], "", "not allowed with"),
        (["chat", "--flavor", "3.6", "Hi"], "", "--flavor: only with --local"),
        (["chat", "--local", "--flavor", "4.0", "Hi"], "", "invalid choice"),
        (["chat", "--async", "--page", "ftp://example.org/", "Hi"], "", "page must be"),
        (["serve", "--flavor", "1.0"], "", "invalid choice"),
        (["serve", "--port", "70000"], "", "not a port number"),
    ],
)
def test_usage_errors_exit_2(args: List[str], stdin: str, message: str) -> None:
    result = run(*args, stdin=stdin)
    assert result.returncode == 2
    assert result.stdout == ""
    assert message in result.stderr


def test_serve_on_a_taken_port_exits_1(server: Server) -> None:
    # Not a usage error: the same command works once the port is free.
    result = run("serve", "--port", str(server.port))
    assert result.returncode == 1
    assert result.stderr == (
        f"opchatgpts-compat serve: error: cannot listen on 127.0.0.1:{server.port}: "
        "address already in use; is another server on it?  --port 0 takes a free port\n"
    )


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
    extra = ["--async"] if use_async else []
    with typing_into([*CLI, "chat", *site(server), *extra]) as (process, master):
        assert process.stdout is not None
        os.write(master, b"My name is Ada\n")
        first = process.stdout.readline()
        os.write(master, b"What is my name?\n")
        second = process.stdout.readline()
        os.write(master, b"\x04")  # Ctrl-D: end of input
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert first == 'Hello! You said "My name is Ada". Tell me more, and I will remember it.\n'
    assert second == (
        'You said "What is my name?". Earlier you said "My name is Ada". '
        "That makes 2 messages from you in this conversation.\n"
    )
    assert out == ""
    assert err.startswith("Chatting;")


@pytest.mark.parametrize("use_async", [False, True])
def test_interactive_chat_keeps_the_nonce_and_survives_a_failed_turn(
    server_3_6: Server, use_async: bool
) -> None:
    before = len(server_3_6.records)
    result = chat_on_a_terminal(
        "--base-url",
        server_3_6.base_url,
        *front_end(use_async),
        lines=["My name is Ada", "This message is longer than 30 characters", "What is my name?"],
    )
    assert result.returncode == 0, result.stderr
    # The refused turn is not in the history: "2 messages from you".
    assert result.stdout == (
        'Hello! You said "My name is Ada". Tell me more, and I will remember it.\n'
        'You said "What is my name?". Earlier you said "My name is Ada". '
        "That makes 2 messages from you in this conversation.\n"
    )
    assert result.stderr == (
        f"{PROMPT}{STATUS_LINE}"
        "> opchatgpts-compat: error: Sorry, your query has been rejected.\n"
        f"> {STATUS_LINE}> \n"
    )
    # One nonce fetched for the whole chat, in both front ends.
    records = new_records(server_3_6, before, 5)
    asked = [(r.kind, r.status, r.nonce) for r in records]
    nonce = server_3_6.nonce
    assert asked == [
        ("submit", 401, None),
        ("session", 200, None),
        ("stream", 200, nonce),
        ("stream", 200, nonce),  # refused by an error frame under a 200
        ("stream", 200, nonce),
    ]


@pytest.mark.parametrize("use_async", [False, True])
def test_interactive_chat_keeps_chat_id_and_cookies(use_async: bool) -> None:
    # The emulated 3.6 site takes a nonce only with the session cookie it came with.
    site_ = Site("3.6", bind_cookie=True)
    with site_.server() as emulated:
        result = chat_on_a_terminal(
            "--page", emulated.base_url + "/chatbot/", *front_end(use_async), lines=["a", "b", "c"]
        )
    assert result.returncode == 0, result.stderr
    assert result.stdout == ("Turn 1: you said a.\nTurn 2: you said b.\nTurn 3: you said c.\n")
    assert result.stderr == PROMPT + "[status] Generating response...\n> " * 3 + "\n"
    assert len(site_.sessions) == 1  # one start_session for the three turns
    assert len({chat_id for chat_id, _, _ in site_.turns}) == 1
    histories = [[m["content"] for m in history] for _, history, _ in site_.turns]
    assert histories == [
        [START_SENTENCE],
        [START_SENTENCE, "a", "Turn 1: you said a."],
        [START_SENTENCE, "a", "Turn 1: you said a.", "b", "Turn 2: you said b."],
    ]


@pytest.mark.parametrize("use_async", [False, True])
@pytest.mark.parametrize("typed", [[], ["Hi"]])
def test_ctrl_c_at_the_prompt_exits_130(server: Server, use_async: bool, typed: List[str]) -> None:
    # After a turn, the client holds a session (and, --async, an event loop) to close.
    with typing_into(
        [*CLI_WITH_SIGINT, "chat", *site(server), *front_end(use_async)], text=False
    ) as (process, master):
        assert process.stdout is not None and process.stderr is not None
        for line in typed:
            os.write(master, f"{line}\n".encode())
        replies = [process.stdout.readline() for _ in typed]
        seen = b""
        while seen.count(b"> ") <= len(typed):  # the prompt: it waits for a line now
            piece = os.read(process.stderr.fileno(), 1024)
            assert piece, seen
            seen += piece
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 130
    assert [reply[:6] for reply in replies] == [b"Hello!"] * len(typed)
    assert out == b""
    assert err == b"\nopchatgpts-compat: interrupted\n"  # from a new line


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


@pytest.mark.parametrize("page", [False, True])
def test_the_sync_command_line_does_not_need_aiohttp(server: Server, page: bool) -> None:
    code = (
        "import sys; sys.modules['aiohttp'] = None; "  # importing it now fails
        "import opchatgpts_compat.notebook; "
        "from opchatgpts_compat.__main__ import main; sys.exit(main(sys.argv[1:]))"
    )
    where = ["--page", server.page_url] if page else site(server)
    result = subprocess.run(
        [sys.executable, "-c", code, "chat", *where, "Hi"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Hello!")


def test_the_flavors_are_the_servers() -> None:
    # Repeated in the CLI so that --help does not import aiohttp.
    from opchatgpts_compat import server
    from opchatgpts_compat._cli import args

    assert args.FLAVORS == server.FLAVORS


# -- a closed stdout, bad stdin, every error without a traceback (issue 10) ------------

#: 20,000 tokens of 10 characters: more than a pipe holds, so the command is
#: still writing when the reader leaves, whatever the timing.
LONG_REPLY = ["0123456789"] * 20_000


@pytest.fixture(scope="module")
def long_site() -> Iterator[Server]:
    with Server(bots={"default": lambda messages: LONG_REPLY}) as server:
        yield server


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("head", [["-1"], ["-c", "5"]], ids=["lines", "bytes"])
def test_a_closed_pipe_ends_quietly(long_site: Server, use_async: bool, head: List[str]) -> None:
    # chat ... --json | head -1, and chat ... | head -c 5
    if shutil.which("head") is None:
        pytest.skip("no head command")
    as_json = ["--json"] if head == ["-1"] else []
    chat = subprocess.Popen(
        [*CLI, "chat", *site(long_site), *front_end(use_async), *as_json, "Hi"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert chat.stdout is not None and chat.stderr is not None
    with chat, chat.stderr:
        reader = subprocess.Popen(["head", *head], stdin=chat.stdout, stdout=subprocess.PIPE)
        chat.stdout.close()  # head holds the only reading end
        shown, _ = reader.communicate(timeout=60)
        err = chat.stderr.read()
        assert chat.wait(timeout=60) == 1
    assert err == b""
    assert shown == (b'{"chunk": "0123456789"}\n' if as_json else b"01234")


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_stdin_that_is_not_utf8_is_a_usage_error(use_async: bool) -> None:
    result = subprocess.run(
        [*CLI, "chat", "--local", *front_end(use_async)],
        input=b"Hi \xff there",
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stdout == b""
    assert result.stderr == (
        b"opchatgpts-compat chat: error: stdin is not UTF-8 text (byte 0xff at offset 3)\n"
    )


@pytest.mark.parametrize("value", ["-1", "0", "inf", "nan"])
def test_one_timeout_rule(value: str) -> None:
    result = run("chat", "--local", "--timeout", value, "Hi")
    assert result.returncode == 2
    assert result.stderr.endswith(
        "opchatgpts-compat chat: error: argument --timeout: "
        f"must be a positive, finite number of seconds: {value!r}\n"
    )


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize(
    ("bot_id", "kind", "message"),
    [
        ("fault-error", "ServerError", "From OpenAI: Error : The server had an error"),
        ("fault-html", "IncompleteStreamError", "The answer has no events"),
    ],
)
def test_json_errors_are_a_line_on_stdout_too(
    server: Server, use_async: bool, bot_id: str, kind: str, message: str
) -> None:
    result = run("chat", *site(server), *front_end(use_async), "--json", "--bot-id", bot_id, "Hi")
    assert result.returncode == 1
    *_, last = result.stdout.splitlines()
    error = json.loads(last)["error"]
    assert error["type"] == kind
    assert error["message"].startswith(message)
    assert result.stderr == f"opchatgpts-compat: error: {error['message']}\n"


def test_json_usage_errors_are_a_line_on_stdout_too() -> None:
    result = run("chat", "--local", "--json", stdin="   ")
    assert result.returncode == 2
    assert json.loads(result.stdout) == {
        "error": {"type": "UsageError", "message": "the message is empty"}
    }


#: The command line with its default site moved to ``sys.argv[1]``.
CLI_WITH_DEFAULT = [
    sys.executable,
    "-c",
    "import sys; from opchatgpts_compat import __main__ as cli, _failures; "
    "from opchatgpts_compat._cli import chat; "
    "chat.DEFAULT_BASE_URL = _failures.DEFAULT_BASE_URL = sys.argv[1]; "
    "sys.exit(cli.main(sys.argv[2:]))",
]


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_the_dead_default_site_says_what_to_use(use_async: bool) -> None:
    with Server() as gone:
        dead = gone.base_url
    result = subprocess.run(
        [*CLI_WITH_DEFAULT, dead, "chat", *front_end(use_async), "Hi"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr == (
        f"opchatgpts-compat: error: Cannot connect to {dead}: connection refused (nothing "
        f"listens on that port); {dead}, the default site, is no longer online: try --local "
        "(a built-in site), --page URL (a page showing an AI Engine chatbot) or --base-url "
        "URL (a WordPress site running AI Engine)\n"
    )


def test_an_unexpected_error_is_one_line_without_its_text() -> None:
    # Its text could hold a secret: --debug shows it, with the traceback.
    code = (
        "import sys; from opchatgpts_compat import __main__ as cli\n"
        "from opchatgpts_compat._cli.chat import SyncChat\n"
        "def send(self, text): raise ValueError('hunter2')\n"
        "SyncChat.send = send\n"
        "sys.exit(cli.main(sys.argv[1:]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, "chat", "--base-url", "http://127.0.0.1:9", "Hi"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr == (
        "opchatgpts-compat: error: unexpected ValueError; --debug shows the traceback\n"
    )


# -- a chat tool at a terminal: line editing, history, Ctrl-C (issue 10) ------------------

#: The command on a terminal of its own: it becomes the terminal's controlling
#: process, so Ctrl-C typed on the terminal is a SIGINT to it, as for a user.
CLI_ON_A_TERMINAL = [
    sys.executable,
    "-c",
    "import fcntl, signal, sys, termios; fcntl.ioctl(0, termios.TIOCSCTTY, 0); "
    "signal.signal(signal.SIGINT, signal.default_int_handler); "
    "from opchatgpts_compat.__main__ import main; sys.exit(main(sys.argv[1:]))",
]


class Terminal:
    """A command with a pseudo-terminal as stdin, stdout and stderr; typed into,
    and read until some text appears (a bounded wait, never a sleep)."""

    def __init__(self, *args: str) -> None:
        pty = pytest.importorskip("pty")
        pytest.importorskip("readline")
        master, slave = pty.openpty()
        self.process = subprocess.Popen(
            [*CLI_ON_A_TERMINAL, *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
            env={**os.environ, "TERM": "xterm"},
        )
        os.close(slave)
        self.master = master
        self.pending = b""

    def type(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    def expect(self, text: str, bound: float = 30.0) -> str:
        """What the terminal shows up to ``text``, which is consumed too."""
        wanted = text.encode()
        deadline = time.monotonic() + bound
        while wanted not in self.pending:
            left = deadline - time.monotonic()
            assert left > 0, f"{text!r} never came: {self.pending!r}"
            if select.select([self.master], [], [], left)[0]:
                try:
                    data = os.read(self.master, 4096)
                except OSError:  # EIO: the command closed the terminal
                    data = b""
                assert data, f"{text!r} never came: {self.pending!r}"
                self.pending += data
        before, _, self.pending = self.pending.partition(wanted)
        return before.decode(errors="replace")

    def wait(self) -> int:
        """The exit code; a command still running (a test failed) is killed."""
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise
        finally:
            os.close(self.master)


LEFT, UP = "\x1b[D", "\x1b[A"


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_a_terminal_edits_lines_and_recalls_them(server: Server, use_async: bool) -> None:
    terminal = Terminal("chat", *site(server), *front_end(use_async))
    try:
        terminal.expect("Chatting;")
        terminal.expect("> ")
        terminal.type(f"Helo{LEFT}l\r")  # the arrow key moves the cursor, not into the text
        terminal.expect('Hello! You said "Hello". Tell me more, and I will remember it.')
        terminal.expect("> ")
        terminal.type(f"{UP}\r")  # the last line again, from the history
        terminal.expect('You said "Hello". Earlier you said "Hello".')
        terminal.expect("> ")
        terminal.type("\x04")  # Ctrl-D at an empty prompt leaves
    finally:
        code = terminal.wait()
    assert code == 0


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_ctrl_c_cancels_the_reply_and_the_chat_goes_on(server: Server, use_async: bool) -> None:
    before = len(server.records)
    # fault-slow: the second token of every reply comes 60 s after the first.
    terminal = Terminal("chat", *site(server), *front_end(use_async), "--bot-id", "fault-slow")
    try:
        terminal.expect("> ")
        terminal.type("My name is Ada\r")
        terminal.expect("Hello!")
        terminal.type("\x03")  # Ctrl-C during the reply
        terminal.expect("[cancelled]")
        assert server.wait_for(lambda records: len(records) > before, timeout=30)
        terminal.expect("> ")
        terminal.type("What is my name?\r")
        terminal.expect("Hello!")
        terminal.type("\x03")
        terminal.expect("[cancelled]")
        records = new_records(server, before, 2)
        terminal.expect("> ")
        # Ctrl-D to leave: a Ctrl-C typed the instant the prompt shows can reach
        # CPython's readline before it waits for input, and then waits for a key
        # (test_ctrl_c_at_the_prompt_exits_130 covers Ctrl-C at the prompt).
        terminal.type("\x04")
    finally:
        code = terminal.wait()
    assert code == 0
    # The first reply's connection was closed, and its turn is not in the history.
    assert (records[0].tokens, records[0].outcome) == (1, "disconnected")
    assert [m["content"] for m in records[1].messages] == ["What is my name?"]


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_a_typed_line_that_is_not_utf8_is_refused_and_the_chat_goes_on(
    server: Server, use_async: bool
) -> None:
    with typing_into([*CLI, "chat", *site(server), *front_end(use_async)], text=False) as (
        process,
        master,
    ):
        os.write(master, b"caf\xe9\nHi\n\x04")
        out, err = process.communicate(timeout=60)
    assert process.returncode == 0
    assert out == b'Hello! You said "Hi". Tell me more, and I will remember it.\n'
    assert err == (
        PROMPT.encode() + b"opchatgpts-compat: error: that line is not UTF-8 text; type it again\n"
        b"> > \n"
    )


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize(
    ("where", "message"),
    [
        (
            ["--base-url", "{base}/chatbot"],
            "HTTP 404 Not Found from {base}/chatbot/wp-json/mwai-ui/v1/chats/submit; is "
            "--base-url the WordPress site's root, with the path it lives under (e.g. "
            "https://example.org/blog), and not a page?  For a page showing the chatbot, "
            "use --page URL",
        ),
        (
            ["--base-url", "{base}", "--bot-id", "nope"],
            "Sorry, your query has been rejected. (AI Engine answers this to an unknown "
            "bot id, or a message it refuses: is the bot id 'nope' right?  --page URL "
            "takes it from the page)",
        ),
    ],
    ids=["page-url-as-base-url", "unknown-bot-id"],
)
def test_hints_are_in_the_words_of_the_command_line(
    server: Server, use_async: bool, where: List[str], message: str
) -> None:
    base = server.base_url
    where = [arg.format(base=base) for arg in where]
    result = run("chat", *where, "--nonce", server.nonce, *front_end(use_async), "Hi")
    assert result.returncode == 1
    assert result.stderr == f"opchatgpts-compat: error: {message.format(base=base)}\n"


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_json_tells_a_cancelled_reply_and_the_chat_goes_on(server: Server, use_async: bool) -> None:
    args = [*site(server), *front_end(use_async), "--json", "--bot-id", "fault-slow"]
    with typing_into([*CLI_WITH_SIGINT, "chat", *args]) as (process, master):
        assert process.stdout is not None
        os.write(master, b"Hi\n")
        first = process.stdout.readline()  # the first token; the next is 60 s away
        process.send_signal(signal.SIGINT)
        second = process.stdout.readline()
        os.write(master, b"\x04")  # Ctrl-D at the prompt: the chat was still on
        out, err = process.communicate(timeout=60)
    assert process.returncode == 0
    assert first == '{"chunk": "Hello!"}\n'
    assert json.loads(second) == {
        "error": {"type": "Cancelled", "message": "the reply was cancelled (Ctrl-C)"}
    }
    assert out == ""
    assert err == f"{PROMPT}[cancelled]\n> \n"


@pytest.mark.parametrize("use_async", [False, True])
def test_a_lone_surrogate_in_a_reply_is_printed_and_the_chat_goes_on(use_async: bool) -> None:
    # "\ud800" is valid JSON but no text: it becomes U+FFFD (issue 11, class 9),
    # so it neither kills the CLI when printed nor the next turn when sent back.
    from support.fault_server import Script, ServerThread, end_frame, live

    answer = Script(body=[live("x\ud800y"), end_frame("x\ud800y")])
    with ServerThread() as faults:
        base_url = faults.route("surrogate", answer)
        done = chat_on_a_terminal(
            "--base-url", base_url, "--nonce", "n", *front_end(use_async), lines=["a", "b"]
        )
        requests = [r for c in faults.connections_for("surrogate") for r in c.requests]
    assert done.returncode == 0, done.stderr
    assert done.stdout == "x\ufffdy\n" * 2
    assert [r.json()["newMessage"] for r in requests] == ["a", "b"]
    assert requests[1].json()["messages"][-1]["content"] == "x\ufffdy"
