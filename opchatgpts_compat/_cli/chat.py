"""``chat``: one conversation with a site, sent from the command line or a terminal."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from typing import (
    TYPE_CHECKING,
    Any,
    Coroutine,
    Dict,
    Iterator,
    NamedTuple,
    Optional,
    TextIO,
    TypeVar,
)

from .._exceptions import OpchatgptsError
from .._models import Reply
from .._settings import DEFAULT_BASE_URL
from .._sync import Client, Conversation
from .args import EXIT_OK, FLAVORS, UsageError
from .output import Printer, in_cli_words, report

if TYPE_CHECKING:
    from .._async import AsyncClient, AsyncConversation

__all__ = ["AsyncChat", "Chat", "SyncChat", "run_chat"]

#: Seconds between the tokens of the embedded server started by ``--local``:
#: enough to see the reply stream, short enough not to wait.
LOCAL_DELAY = 0.02

T = TypeVar("T")


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
        from .._async import AsyncClient

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
    from ..server import Server

    # No nonce is passed: the client fetches it as from any site (3.6:
    # start_session; 2.0: the chatbot page).
    with Server(flavor=args.flavor or FLAVORS[0], delay=LOCAL_DELAY) as server:
        options["base_url"] = server.base_url
        yield Target(options)


def run_chat(args: argparse.Namespace, stdin: TextIO, printer: Printer) -> int:
    """Send the message (an argument, or piped to stdin), or chat on a terminal: the exit code."""
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
            report(chat.printer, "UsageError", "that line is not UTF-8 text; type it again")
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
            report(chat.printer, type(exc).__name__, in_cli_words(args, exc))
