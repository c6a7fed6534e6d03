"""What the command line writes: replies as they arrive, errors in its own words."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
from typing import Any, Dict, TextIO

from .._exceptions import HTTPStatusError, OpchatgptsError, ServerError
from .._failures import DEFAULT_SITE_HINT, _default_origin
from .._models import Reply, StatusEvent
from .args import PROG

__all__ = ["OutputClosed", "Printer", "in_cli_words", "report", "report_interrupt", "to_devnull"]


class OutputClosed(Exception):
    """stdout was closed by its reader (``... | head``): exit code 1, quietly."""


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


def report(printer: Printer, kind: str, message: str, command: str = "") -> None:
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


def in_cli_words(args: argparse.Namespace, error: OpchatgptsError) -> str:
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


def to_devnull(stream: TextIO) -> None:
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)


def report_interrupt(printer: Printer) -> None:
    with contextlib.suppress(BrokenPipeError):
        printer.err.write(f"{PROG}: interrupted\n")
        printer.err.flush()
    with contextlib.suppress(OutputClosed):
        printer.error("Interrupted", "interrupted (Ctrl-C)")
