"""The ``opchatgpts-compat`` command (also ``python -m opchatgpts_compat``).

::

    opchatgpts-compat chat --local "Hello"          # a streamed reply from the embedded server
    opchatgpts-compat chat --base-url https://example.org "Hello"
    echo "Hello" | opchatgpts-compat chat --local --json
    opchatgpts-compat serve --port 8080

Exit codes: 0 ok, 1 the site failed or the stream broke, 2 usage error, 130
interrupted (Ctrl-C; the connection is closed first).  Errors are one line on
stderr; ``--debug`` adds the traceback and the library's debug log.

This module is the only one that prints.  ``aiohttp`` is imported only for
``--async``, ``--local`` and ``serve``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
import traceback
from typing import Any, Dict, Iterator, List, Optional, Sequence, TextIO

from ._exceptions import OpchatgptsError
from ._models import Reply
from ._request import DEFAULT_BASE_URL, DEFAULT_TIMEOUT, build_settings
from ._sync import Client
from ._version import __version__

__all__ = ["main"]

PROG = "opchatgpts-compat"

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

EXIT_CODES = (
    "Exit codes: 0 ok, 1 the site failed or the stream broke, 2 usage error, "
    "130 interrupted (Ctrl-C)."
)

#: Seconds between the tokens of the embedded server started by ``--local``:
#: enough to see the reply stream, short enough not to wait.
LOCAL_DELAY = 0.02

Messages = List[Dict[str, str]]


class UsageError(Exception):
    """Bad input on the command line: exit code 2."""


# -- arguments -----------------------------------------------------------------------


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
            "from piped stdin, or chat interactively on a terminal (the conversation's "
            "history is kept)."
        ),
    )
    chat.add_argument("message", nargs="?", metavar="MESSAGE", help="the message to send")
    where = chat.add_mutually_exclusive_group()
    where.add_argument(
        "--base-url",
        metavar="URL",
        help=f"the WordPress site running AI Engine (default: {DEFAULT_BASE_URL})",
    )
    where.add_argument(
        "--local",
        action="store_true",
        help="start the embedded AI Engine server in-process and talk to it",
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
        default="default",
        metavar="ID",
        help="payload botId (default: default; the embedded server also answers "
        "fault-error, fault-cut, fault-slow and fault-html, with that fault)",
    )
    chat.add_argument(
        "--nonce",
        metavar="NONCE",
        help="sent as X-WP-Nonce (with --local: the embedded server's, by default)",
    )
    chat.add_argument(
        "--json",
        action="store_true",
        help='print one JSON object per line: {"chunk": ...} per chunk, then the reply',
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
        choices=("2.0", "3.6"),
        default="2.0",
        help="the AI Engine version to behave as (default: 2.0)",
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
        help="accept requests without X-WP-Nonce (as AI Engine before 2.0)",
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
    value = _non_negative_float(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"must be more than 0: {text!r}")
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


# -- output ----------------------------------------------------------------------------


class Printer:
    """Writes a reply as it arrives: plain text, or JSON lines with ``--json``."""

    def __init__(self, out: TextIO, *, as_json: bool) -> None:
        self.out = out
        self.as_json = as_json
        self.open_line = False

    def chunk(self, text: str) -> None:
        if self.as_json:
            self._line({"chunk": text})
        else:
            # Set first: a Ctrl-C during the write still ends the line.
            self.open_line = not text.endswith("\n")
            self.out.write(text)
            self.out.flush()

    def reply(self, reply: Reply) -> None:
        if self.as_json:
            self._line({"reply": reply.text, "usage": reply.usage, "images": reply.images})
        else:
            self.end_line()

    def end_line(self) -> None:
        """End a reply cut short, so what follows starts on its own line."""
        if self.open_line:
            self.out.write("\n")
            self.out.flush()
            self.open_line = False

    def _line(self, value: Dict[str, Any]) -> None:
        self.out.write(json.dumps(value, ensure_ascii=False) + "\n")
        self.out.flush()


# -- chat ------------------------------------------------------------------------------


class Chat:
    """One conversation with a site, over the sync or the async client."""

    def __init__(self, options: Dict[str, Any], printer: Printer, *, use_async: bool) -> None:
        self.options = options
        self.printer = printer
        self.use_async = use_async
        self.messages: Messages = []
        self._client: Optional[Client] = None
        if use_async:
            build_settings(**options)  # the clients' option checks, before anything is sent
        else:
            self._client = Client(**options)

    def __enter__(self) -> Chat:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._client is not None:
            self._client.close()

    def send(self, text: str) -> Reply:
        """Send ``text`` with the history, print the reply; the history keeps both."""
        messages = [*self.messages, {"role": "user", "content": text}]
        if self._client is not None:
            reply = self._turn(self._client, messages)
        else:
            # The command line runs no event loop of its own, so each turn is
            # one asyncio.run (a fresh AsyncClient per loop).
            reply = asyncio.run(self._async_turn(messages))
        self.messages = [*messages, {"role": "assistant", "content": reply.text}]
        return reply

    def _turn(self, client: Client, messages: Messages) -> Reply:
        # twin: _async_turn
        with client.stream(messages) as chunks:
            for chunk in chunks:
                self.printer.chunk(chunk)
        assert chunks.reply is not None
        self.printer.reply(chunks.reply)
        return chunks.reply

    async def _async_turn(self, messages: Messages) -> Reply:
        # twin: _turn
        from ._async import AsyncClient

        async with AsyncClient(**self.options) as client, client.stream(messages) as chunks:
            async for chunk in chunks:
                self.printer.chunk(chunk)
        assert chunks.reply is not None
        self.printer.reply(chunks.reply)
        return chunks.reply


@contextlib.contextmanager
def _site(args: argparse.Namespace) -> Iterator[Dict[str, Any]]:
    """The client options; with ``--local``, while the embedded server runs."""
    options: Dict[str, Any] = {
        "base_url": args.base_url or DEFAULT_BASE_URL,
        "proxy": args.proxy,
        "timeout": args.timeout,
        "bot_id": args.bot_id,
        "nonce": args.nonce,
    }
    if not args.local:
        yield options
        return
    from .server import Server

    with Server(delay=LOCAL_DELAY) as server:
        options["base_url"] = server.base_url
        if options["nonce"] is None:
            options["nonce"] = server.nonce
        yield options


def run_chat(args: argparse.Namespace, stdin: TextIO, stdout: TextIO, stderr: TextIO) -> int:
    message = args.message
    interactive = False
    if message is None:
        if stdin.isatty():
            interactive = True
        else:
            message = stdin.read()
    if not interactive and not (message or "").strip():
        raise UsageError("the message is empty")
    printer = Printer(stdout, as_json=args.json)
    try:
        with _site(args) as options:
            try:
                chat = Chat(options, printer, use_async=args.use_async)
            except (TypeError, ValueError) as exc:
                raise UsageError(str(exc)) from exc
            with chat:
                if not interactive:
                    chat.send(message)
                    return EXIT_OK
                return _interactive(chat, stdin, stderr)
    finally:
        printer.end_line()


def _interactive(chat: Chat, stdin: TextIO, stderr: TextIO) -> int:
    stderr.write("Chatting; an empty line or Ctrl-D ends the conversation.\n")
    while True:
        stderr.write("> ")
        stderr.flush()
        line = stdin.readline()
        if not line or not line.strip():
            stderr.write("\n" if not line else "")
            return EXIT_OK
        try:
            chat.send(line.strip())
        except OpchatgptsError as exc:  # the conversation goes on without this turn
            chat.printer.end_line()
            _error(stderr, exc)


# -- serve -----------------------------------------------------------------------------


def run_serve(args: argparse.Namespace, stdout: TextIO) -> int:
    from .server import Server

    logging.getLogger("opchatgpts_compat.server").setLevel(logging.INFO)
    server = Server(
        host=args.host,
        port=args.port,
        flavor=args.flavor,
        delay=args.delay,
        nonce=args.nonce,
        require_nonce=args.require_nonce,
        event_logs=args.event_logs,
        fault=args.fault,
    )

    def ready(server: Server) -> None:
        nonce = f"nonce {server.nonce}" if server.require_nonce else "no nonce needed"
        stdout.write(
            f"AI Engine {server.flavor} server on {server.base_url} "
            f"(chatbot page {server.page_url}, {nonce})\n"
            "Stop it with Ctrl-C.\n"
        )
        stdout.flush()

    async def serve() -> None:
        with contextlib.suppress(NotImplementedError):  # no signal handlers on Windows loops
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, server.stop)
        await server.serve_forever(ready)

    try:
        asyncio.run(serve())
    except OSError as exc:  # the address is taken, or cannot be bound
        raise UsageError(
            f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}"
        ) from exc
    return EXIT_OK


# -- main ------------------------------------------------------------------------------


def _error(stderr: TextIO, error: BaseException) -> None:
    stderr.write(f"{PROG}: error: {error}\n")
    stderr.flush()


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line; returns the exit code (the console script exits with it)."""
    stdin, stdout, stderr = sys.stdin, sys.stdout, sys.stderr
    parser = build_parser()
    args = parser.parse_args(argv)  # exits 2 on a usage error, 0 for --help/--version
    if args.command is None:
        parser.print_help(stderr)
        return EXIT_USAGE
    debug = args.debug
    handler = logging.StreamHandler(stderr)
    shown = "%(asctime)s %(name)s %(levelname)s %(message)s" if debug else "%(asctime)s %(message)s"
    handler.setFormatter(logging.Formatter(shown))
    package = logging.getLogger("opchatgpts_compat")
    package.addHandler(handler)
    if debug:
        package.setLevel(logging.DEBUG)
    try:
        if args.command == "serve":
            return run_serve(args, stdout)
        return run_chat(args, stdin, stdout, stderr)
    except UsageError as exc:
        if debug:
            traceback.print_exc(file=stderr)
        stderr.write(f"{PROG} {args.command}: error: {exc}\n")
        return EXIT_USAGE
    except OpchatgptsError as exc:
        if debug:
            traceback.print_exc(file=stderr)
        _error(stderr, exc)
        return EXIT_FAILED
    except KeyboardInterrupt:
        if debug:
            traceback.print_exc(file=stderr)
        stderr.write(f"{PROG}: interrupted\n")
        return EXIT_INTERRUPTED
    finally:
        package.removeHandler(handler)


if __name__ == "__main__":
    sys.exit(main())
