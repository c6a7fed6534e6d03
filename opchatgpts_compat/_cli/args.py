"""The command line's arguments: the parser, its checks, the exit codes."""

from __future__ import annotations

import argparse

from .._settings import DEFAULT_BASE_URL, DEFAULT_TIMEOUT
from .._version import __version__
from ..server import FLAVORS

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "FLAVORS",
    "PROG",
    "UsageError",
    "build_parser",
]

PROG = "opchatgpts-compat"

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

EXIT_CODES = (
    "Exit codes: 0 ok, 1 the site failed, the stream broke, stdout was closed or "
    "serve cannot listen, 2 usage error, 130 interrupted (Ctrl-C)."
)


class UsageError(Exception):
    """Bad input on the command line: exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Talk to a WordPress AI Engine chatbot, or run a compatible one locally.",
        epilog=f'Start with: {PROG} chat --local "Hello".  {EXIT_CODES}',
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    chat = commands.add_parser(
        "chat",
        help="send a message and stream the reply",
        epilog=EXIT_CODES,
        description=(
            "Send MESSAGE and print the reply as it arrives.  Without MESSAGE, read it "
            "from piped stdin, or chat interactively on a terminal: one conversation "
            "(history, chat id, cookies, nonce) for every turn; a turn that fails is "
            "reported and left out of the history, and the chat goes on.  Status lines "
            "go to stderr as [status] ..."
        ),
    )
    chat.add_argument("message", nargs="?", metavar="MESSAGE", help="the message to send")
    where = chat.add_mutually_exclusive_group()
    where.add_argument(
        "--base-url",
        metavar="URL",
        help=f"the WordPress site running AI Engine (default: {DEFAULT_BASE_URL}; "
        "with --page: the page's REST base by default)",
    )
    where.add_argument(
        "--local",
        action="store_true",
        help="start the embedded AI Engine server in-process and talk to it",
    )
    chat.add_argument(
        "--page",
        metavar="URL",
        help="a page showing the chatbot: talk to the site as that chatbot does "
        "(REST base, bot, nonce, ... from the page; --base-url and --nonce win; "
        "not with --local)",
    )
    chat.add_argument(
        "--flavor",
        choices=FLAVORS,
        help="with --local: the AI Engine version to behave as: 2.0.9, 3.6.2 or 1.6.94 "
        "(default: 2.0)",
    )
    chat.add_argument("--proxy", metavar="URL", help="http://[user:password@]host:port")
    chat.add_argument(
        "--timeout",
        type=_positive_float,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"for connecting and for each wait for bytes (default: {DEFAULT_TIMEOUT:g})",
    )
    chat.add_argument(
        "--bot-id",
        metavar="ID",
        help="payload botId (default: default; with --page: which of the page's "
        "chatbots, by bot id or custom id, the first by default; the embedded server "
        "also answers fault-error, fault-cut, fault-slow and fault-html, with that fault)",
    )
    chat.add_argument(
        "--nonce",
        metavar="NONCE",
        help="the first X-WP-Nonce to send (default: none, or the page's; a missing "
        "or stale nonce is fetched as the site's own chatbot does)",
    )
    chat.add_argument(
        "--json",
        action="store_true",
        help='print one JSON object per line: {"chunk": ...} per chunk, {"status": ..., '
        '"subtype": ...} per status line, then the reply',
    )
    chat.add_argument(
        "--async",
        dest="use_async",
        action="store_true",
        help="use the asyncio (aiohttp) client; the output is the same",
    )
    chat.add_argument("--debug", action="store_true", help="debug logging and tracebacks")

    serve = commands.add_parser(
        "serve",
        help="run the embedded AI Engine-compatible server",
        description=(
            "Serve an AI Engine-compatible chatbot site (built-in deterministic bot) "
            "until Ctrl-C (exit code 130) or SIGTERM (exit code 0), logging each request "
            "on one line to stderr."
        ),
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    serve.add_argument(
        "--port", type=_port, default=8080, help="port to bind, 0 for a free one (default: 8080)"
    )
    serve.add_argument(
        "--flavor",
        choices=FLAVORS,
        default="2.0",
        help="the AI Engine version to behave as: 2.0.9, 3.6.2 or 1.6.94 (default: 2.0)",
    )
    serve.add_argument(
        "--delay",
        type=_non_negative_float,
        default=0.05,
        metavar="SECONDS",
        help="between tokens (default: 0.05)",
    )
    serve.add_argument("--nonce", metavar="NONCE", help="the site's nonce (default: random)")
    serve.add_argument(
        "--no-nonce",
        dest="require_nonce",
        action="store_false",
        default=None,
        help="accept requests without X-WP-Nonce (as AI Engine before 2.0; "
        "the 1.6 flavour always does)",
    )
    serve.add_argument(
        "--event-logs", action="store_true", help="3.6: send the status frame before the reply"
    )
    serve.add_argument(
        "--fault",
        choices=("error", "cut", "slow", "html"),
        help="answer every request with this fault (default: none)",
    )
    serve.add_argument("--debug", action="store_true", help="debug logging and tracebacks")
    return parser


def _positive_float(text: str) -> float:
    # One rule and one message for -1, 0, inf and nan, as the library's.
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive, finite number of seconds: {text!r}")
    return value


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number, 0 or more: {text!r}")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}")
    return value
