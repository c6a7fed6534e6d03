"""The ``opchatgpts-compat`` command (also ``python -m opchatgpts_compat``).

::

    opchatgpts-compat chat --local "Hello"          # a streamed reply from the embedded server
    opchatgpts-compat chat --page https://example.org/chatbot/ "Hello"
    echo "Hello" | opchatgpts-compat chat --local --json
    opchatgpts-compat serve --port 8080

Exit codes: 0 ok, 1 the site failed, the stream broke, stdout was closed (piped
into ``head``) or ``serve`` cannot listen, 2 usage error, 130 interrupted (Ctrl-C;
the connection is closed first).  Errors are one line on stderr (and, with
``--json``, a ``{"error": ...}`` line on stdout); ``--debug`` adds the traceback
and the library's debug log.  No input ends in a traceback without ``--debug``.

Interactive chat (a terminal, no MESSAGE) edits lines and keeps their history
with ``readline`` where the platform has it.  Ctrl-C during a reply cancels it
(its connection is closed, the turn is left out of the conversation) and
returns to the prompt; Ctrl-C or Ctrl-D at the prompt leaves.

This module is the only one that prints.  ``aiohttp`` is imported only for
``--async``, ``--local`` and ``serve``.  Status lines (``live`` frames that are
not reply text) go to stderr as ``[subtype] text``; with ``--json`` they are
``{"status": ..., "subtype": ...}`` lines on stdout, in arrival order.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import json
import logging
import os
import signal
import sys
import traceback
from typing import (
    TYPE_CHECKING,
    Any,
    Coroutine,
    Dict,
    Iterator,
    NamedTuple,
    Optional,
    Sequence,
    TextIO,
    TypeVar,
)

from ._exceptions import HTTPStatusError, OpchatgptsError, ServerError
from ._failures import DEFAULT_SITE_HINT, _default_origin
from ._models import Reply, StatusEvent
from ._request import DEFAULT_BASE_URL, DEFAULT_TIMEOUT
from ._sync import Client, Conversation
from ._version import __version__

if TYPE_CHECKING:
    from ._async import AsyncClient, AsyncConversation

__all__ = ["main"]

PROG = "opchatgpts-compat"

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

EXIT_CODES = (
    "Exit codes: 0 ok, 1 the site failed, the stream broke, stdout was closed or "
    "serve cannot listen, 2 usage error, 130 interrupted (Ctrl-C)."
)

#: Seconds between the tokens of the embedded server started by ``--local``:
#: enough to see the reply stream, short enough not to wait.
LOCAL_DELAY = 0.02

#: The AI Engine versions the embedded server can behave as (``server.FLAVORS``,
#: repeated so that ``--help`` does not import aiohttp).
FLAVORS = ("2.0", "3.6", "1.6")

T = TypeVar("T")


class UsageError(Exception):
    """Bad input on the command line: exit code 2."""


class Failed(Exception):
    """A failure of the command's own (``serve`` cannot listen): exit code 1."""


class OutputClosed(Exception):
    """stdout was closed by its reader (``... | head``): exit code 1, quietly."""


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


# -- output ----------------------------------------------------------------------------


class Printer:
    """Writes a reply as it arrives: plain text, or JSON lines with ``--json``.

    Status lines (``live`` frames that are not reply text, e.g. AI Engine 3.x's
    "Generating response...") go to ``err`` as ``[subtype] text``, never into
    the reply on ``out``; with ``--json`` they are objects on ``out``, in order.
    Once ``out`` is closed by its reader, every write raises :class:`OutputClosed`
    and nothing more is written to it.
    """

    def __init__(self, out: TextIO, err: TextIO, *, as_json: bool) -> None:
        self.out = out
        self.err = err
        self.as_json = as_json
        self.open_line = False
        self.closed = False

    def chunk(self, text: str) -> None:
        if self.as_json:
            self._line({"chunk": text})
        else:
            # Set first: a Ctrl-C during the write still ends the line.
            self.open_line = not text.endswith("\n")
            self._write(text)

    def status(self, event: StatusEvent) -> None:
        if self.as_json:
            self._line({"status": event.text, "subtype": event.subtype})
        else:
            self.err.write(f"[{event.subtype}] {event.text}\n")
            self.err.flush()

    def reply(self, reply: Reply) -> None:
        if self.as_json:
            self._line({"reply": reply.text, "usage": reply.usage, "images": reply.images})
        else:
            self.end_line()

    def error(self, kind: str, message: str) -> None:
        """With ``--json``: the error as a line on ``out`` too, for its reader."""
        if self.as_json and not self.closed:
            self._line({"error": {"type": kind, "message": message}})

    def end_line(self) -> None:
        """End a reply cut short, so what follows starts on its own line."""
        if self.open_line and not self.closed:
            self.open_line = False
            self._write("\n")

    def _line(self, value: Dict[str, Any]) -> None:
        self._write(json.dumps(value, ensure_ascii=False) + "\n")

    def _write(self, text: str) -> None:
        if self.closed:
            raise OutputClosed
        try:
            self.out.write(text)
            self.out.flush()
        except BrokenPipeError:
            self.closed = True
            raise OutputClosed from None


# -- chat ------------------------------------------------------------------------------


class Target(NamedTuple):
    """Where a chat goes: the client's options, and the chatbot page to read first."""

    options: Dict[str, Any]
    #: With ``--page``: the page, and which of its chatbots (``None``: the first).
    page: Optional[str] = None
    bot_id: Optional[str] = None


class Chat:
    """One conversation with a site, over the sync or the async client.

    Every turn goes through the library's conversation, so the history, the
    ``chatId``, the cookies and a fetched nonce carry over from turn to turn.
    A turn that fails leaves the history as it was.
    """

    def __init__(self, printer: Printer) -> None:
        self.printer = printer

    def send(self, text: str) -> Reply:
        """Send ``text`` as the next turn and print the reply as it arrives."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Chat:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class SyncChat(Chat):
    """A :class:`Chat` over :class:`Client` (requests)."""

    def __init__(self, target: Target, printer: Printer) -> None:
        super().__init__(printer)
        if target.page is None:
            self._client = Client(**target.options)
        else:
            self._client = Client.from_page(target.page, bot_id=target.bot_id, **target.options)
        self._conversation: Conversation = self._client.conversation()

    def send(self, text: str) -> Reply:
        # twin: AsyncChat._send
        with self._conversation.stream(text, on_status=self.printer.status) as chunks:
            for chunk in chunks:
                self.printer.chunk(chunk)
        assert chunks.reply is not None
        self.printer.reply(chunks.reply)
        return chunks.reply

    def close(self) -> None:
        self._client.close()


class AsyncChat(Chat):
    """A :class:`Chat` over :class:`AsyncClient` (aiohttp).

    The client's session (its cookies, the fetched nonce, open connections)
    belongs to the event loop it was made in, so every turn runs in one loop
    that lives as long as the chat: an ``asyncio.run`` per turn would lose them.
    """

    def __init__(self, target: Target, printer: Printer) -> None:
        super().__init__(printer)
        self._loop = EventLoop()
        try:
            self._client = self._loop.run(self._open(target))
        except BaseException:
            self._loop.close()
            raise
        self._conversation: AsyncConversation = self._client.conversation()

    @staticmethod
    async def _open(target: Target) -> AsyncClient:
        from ._async import AsyncClient

        if target.page is None:
            return AsyncClient(**target.options)
        return await AsyncClient.from_page(target.page, bot_id=target.bot_id, **target.options)

    def send(self, text: str) -> Reply:
        return self._loop.run(self._send(text))

    async def _send(self, text: str) -> Reply:
        # twin: SyncChat.send
        async with self._conversation.stream(text, on_status=self.printer.status) as chunks:
            async for chunk in chunks:
                self.printer.chunk(chunk)
        assert chunks.reply is not None
        self.printer.reply(chunks.reply)
        return chunks.reply

    def close(self) -> None:
        try:
            self._loop.run(self._client.aclose())
        finally:
            self._loop.close()


class EventLoop:
    """An event loop that runs one coroutine after another, as ``asyncio.run`` does
    for one (``asyncio.Runner`` is Python 3.11+)."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run ``coroutine`` to its end and return its result.

        A Ctrl-C that stops the loop cancels the coroutine and lets it unwind
        (its ``async with`` blocks close their connections) before it propagates.
        """
        task = self._loop.create_task(coroutine)
        try:
            return self._loop.run_until_complete(task)
        except BaseException:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    self._loop.run_until_complete(task)
            elif not task.cancelled():
                task.exception()  # retrieved: no "exception was never retrieved" log
            # A transport closes its socket on the loop's next turn: take it
            # now (the Ctrl-C may have ended the task itself, the loop with it),
            # not at the next turn of an interactive chat.
            self._loop.run_until_complete(asyncio.sleep(0))
            raise

    def close(self) -> None:
        try:
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.run_until_complete(self._loop.shutdown_default_executor())
        finally:
            self._loop.close()


def _check_chat_args(args: argparse.Namespace) -> None:
    # The rules argparse cannot say (--base-url and --local are its exclusive group).
    if args.page is not None and args.local:
        raise UsageError("argument --page: not allowed with argument --local")
    if args.flavor is not None and not args.local:
        raise UsageError("argument --flavor: only with --local")


@contextlib.contextmanager
def _target(args: argparse.Namespace) -> Iterator[Target]:
    """Where to chat; with ``--local``, while the embedded server runs.

    Only the options given on the command line are passed, so that with
    ``--page`` the page decides the rest, and the client's defaults otherwise.
    """
    options: Dict[str, Any] = {"proxy": args.proxy, "timeout": args.timeout}
    if args.base_url is not None:
        options["base_url"] = args.base_url
    if args.nonce is not None:
        options["nonce"] = args.nonce
    if args.page is not None:
        yield Target(options, args.page, args.bot_id)
        return
    if args.bot_id is not None:
        options["bot_id"] = args.bot_id
    if not args.local:
        options.setdefault("base_url", DEFAULT_BASE_URL)
        yield Target(options)
        return
    from .server import Server

    # No nonce is passed: the client fetches it as from any site (3.6:
    # start_session; 2.0: the chatbot page).
    with Server(flavor=args.flavor or FLAVORS[0], delay=LOCAL_DELAY) as server:
        options["base_url"] = server.base_url
        yield Target(options)


def run_chat(args: argparse.Namespace, stdin: TextIO, printer: Printer) -> int:
    _check_chat_args(args)
    message = args.message
    interactive = False
    if message is None:
        if stdin.isatty():
            interactive = True
        else:
            message = _read_all(stdin)
    if not interactive and not (message or "").strip():
        raise UsageError("the message is empty")
    try:
        with _target(args) as target:
            kind = AsyncChat if args.use_async else SyncChat
            try:
                chat = kind(target, printer)
            except (TypeError, ValueError) as exc:  # bad options or page URL
                raise UsageError(str(exc)) from exc
            with chat:
                if not interactive:
                    chat.send(message)
                    return EXIT_OK
                return _interactive(chat, Prompt(stdin, printer.out, printer.err), args)
    finally:
        printer.end_line()


def _read_all(stdin: TextIO) -> str:
    """The message piped to stdin, which must be UTF-8 (whatever the locale says)."""
    data = stdin.buffer.read() if hasattr(stdin, "buffer") else stdin.read().encode()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"stdin is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})"
        ) from None


class Prompt:
    """Reads the lines typed at an interactive chat.

    With a terminal on both stdin and stdout, ``input()`` reads them, so that
    ``readline`` (imported when the platform has it) edits lines and recalls
    earlier ones with the arrow keys.  Otherwise the prompt goes to stderr and
    stdout keeps only the replies.
    """

    def __init__(self, stdin: TextIO, stdout: TextIO, stderr: TextIO) -> None:
        self.stdin = stdin
        self.stderr = stderr
        self.edited = stdin.isatty() and stdout.isatty()
        if self.edited:
            with contextlib.suppress(ImportError):  # not on Windows, nor every build
                import readline  # noqa: F401  (input() uses it once imported)

    def read(self, prompt: str) -> str:
        """The next line, without its newline.

        Raises:
            EOFError: Ctrl-D (the end of input).
            KeyboardInterrupt: Ctrl-C.
            UnicodeDecodeError: the line is not text in the terminal's encoding.
        """
        if self.edited:
            return input(prompt)
        self.stderr.write(prompt)
        self.stderr.flush()
        stdin = self.stdin
        # Bytes, decoded here: a bad line is consumed, never read again.
        line = stdin.buffer.readline() if hasattr(stdin, "buffer") else stdin.readline().encode()
        if not line:
            raise EOFError
        return line.decode("utf-8").rstrip("\r\n")


def _interactive(chat: Chat, prompt: Prompt, args: argparse.Namespace) -> int:
    stderr = chat.printer.err
    stderr.write(
        "Chatting; an empty line or Ctrl-D ends the conversation, Ctrl-C cancels a reply.\n"
    )
    while True:
        try:
            line = prompt.read("> ")
        except EOFError:
            stderr.write("\n")
            return EXIT_OK
        except KeyboardInterrupt:
            stderr.write("\n")  # the message that follows gets its own line
            raise
        except UnicodeDecodeError:
            _report(chat.printer, "UsageError", "that line is not UTF-8 text; type it again")
            continue
        if not line.strip():
            return EXIT_OK
        try:
            chat.send(line.strip())
        except KeyboardInterrupt:  # the reply is cancelled, the chat goes on
            chat.printer.end_line()
            stderr.write("[cancelled]\n")
            chat.printer.error("Cancelled", "the reply was cancelled (Ctrl-C)")
        except OpchatgptsError as exc:  # the conversation goes on without this turn
            chat.printer.end_line()
            _report(chat.printer, type(exc).__name__, _in_cli_words(args, exc))


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
    except OSError as exc:  # the address is taken, or cannot be bound: not a usage error
        hint = "; is another server on it?  --port 0 takes a free port" if _in_use(exc) else ""
        # asyncio's strerror repeats the address: the errno's own text is enough.
        reason = os.strerror(exc.errno) if exc.errno else type(exc).__name__
        reason = reason[:1].lower() + reason[1:]
        raise Failed(f"cannot listen on {args.host}:{args.port}: {reason}{hint}") from exc
    return EXIT_OK


def _in_use(exc: OSError) -> bool:
    return exc.errno in (errno.EADDRINUSE, getattr(errno, "WSAEADDRINUSE", None))


# -- main ------------------------------------------------------------------------------


def _report(printer: Printer, kind: str, message: str, command: str = "") -> None:
    """An error: a line on stderr and, with ``--json``, an ``{"error": ...}`` line on stdout."""
    with contextlib.suppress(BrokenPipeError):  # stderr's reader may be gone too
        printer.err.write(f"{PROG}{command}: error: {message}\n")
        printer.err.flush()
    with contextlib.suppress(OutputClosed):
        printer.error(kind, message)


#: The library's hints, said in options of the command line.
_CLI_WORDS = (
    ("is base_url the WordPress", "is --base-url the WordPress"),
    ("use Client.from_page(url)", "use --page URL"),
    ("Client.from_page(url) takes it", "--page URL takes it"),
)


def _in_cli_words(args: argparse.Namespace, error: OpchatgptsError) -> str:
    """The error's message, its hints said in options of the command line."""
    message = _default_site_hint(args, error)
    if isinstance(error, (HTTPStatusError, ServerError)):
        for library, cli in _CLI_WORDS:
            message = message.replace(library, cli)
    return message


def _default_site_hint(args: argparse.Namespace, error: OpchatgptsError) -> str:
    """The library's hint for the dead default site, said in options of the command line."""
    message = str(error)
    origin = _default_origin()
    library = DEFAULT_SITE_HINT.format(origin=origin)
    if args.base_url is None and not args.local and message.endswith(library):
        return message[: -len(library)] + (
            f"; {origin}, the default site, is no longer online: try --local (a "
            "built-in site), --page URL (a page showing an AI Engine chatbot) or "
            "--base-url URL (a WordPress site running AI Engine)"
        )
    return message


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
    printer = Printer(stdout, stderr, as_json=getattr(args, "json", False))
    try:
        if args.command == "serve":
            return run_serve(args, stdout)
        return run_chat(args, stdin, printer)
    except (OutputClosed, BrokenPipeError):
        # The reader of stdout (or of stderr, with 2>&1) left: the connection
        # is closed already; say nothing more.  Python's advice for SIGPIPE:
        # point the stream at devnull, so that flushing it at exit raises
        # nothing either.
        for stream in (stdout, stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                _to_devnull(stream)
        return EXIT_FAILED
    except (Exception, KeyboardInterrupt) as exc:
        if debug:
            traceback.print_exc(file=stderr)
        if isinstance(exc, UsageError):
            _report(printer, "UsageError", str(exc), f" {args.command}")
            return EXIT_USAGE
        if isinstance(exc, OpchatgptsError):
            _report(printer, type(exc).__name__, _in_cli_words(args, exc))
            return EXIT_FAILED
        if isinstance(exc, Failed):
            _report(printer, "Failed", str(exc), f" {args.command}")
            return EXIT_FAILED
        if isinstance(exc, KeyboardInterrupt):
            _report_interrupt(printer)
            return EXIT_INTERRUPTED
        # A bug of ours, or of a library: one line (its text could hold a
        # secret), the traceback with --debug.
        _report(
            printer,
            type(exc).__name__,
            f"unexpected {type(exc).__name__}; --debug shows the traceback",
        )
        return EXIT_FAILED
    finally:
        package.removeHandler(handler)


def _to_devnull(stream: TextIO) -> None:
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)


def _report_interrupt(printer: Printer) -> None:
    with contextlib.suppress(BrokenPipeError):
        printer.err.write(f"{PROG}: interrupted\n")
        printer.err.flush()
    with contextlib.suppress(OutputClosed):
        printer.error("Interrupted", "interrupted (Ctrl-C)")


if __name__ == "__main__":
    sys.exit(main())
