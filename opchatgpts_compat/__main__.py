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

The command line (``_cli``) is the only code of the package that prints.
``aiohttp`` is imported only for ``--async``, ``--local`` and ``serve``.
Status lines (``live`` frames that are not reply text) go to stderr as
``[subtype] text``; with ``--json`` they are ``{"status": ..., "subtype": ...}``
lines on stdout, in arrival order.
"""

from __future__ import annotations

import logging
import sys
import traceback
from typing import Optional, Sequence

from ._cli.args import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, UsageError, build_parser
from ._cli.chat import run_chat
from ._cli.output import OutputClosed, Printer, in_cli_words, report, report_interrupt, to_devnull
from ._cli.serve import Failed, run_serve
from ._exceptions import OpchatgptsError

__all__ = ["main"]


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
                to_devnull(stream)
        return EXIT_FAILED
    except (Exception, KeyboardInterrupt) as exc:
        if debug:
            traceback.print_exc(file=stderr)
        if isinstance(exc, UsageError):
            report(printer, "UsageError", str(exc), f" {args.command}")
            return EXIT_USAGE
        if isinstance(exc, OpchatgptsError):
            report(printer, type(exc).__name__, in_cli_words(args, exc))
            return EXIT_FAILED
        if isinstance(exc, Failed):
            report(printer, "Failed", str(exc), f" {args.command}")
            return EXIT_FAILED
        if isinstance(exc, KeyboardInterrupt):
            report_interrupt(printer)
            return EXIT_INTERRUPTED
        # A bug of ours, or of a library: one line (its text could hold a
        # secret), the traceback with --debug.
        report(
            printer,
            type(exc).__name__,
            f"unexpected {type(exc).__name__}; --debug shows the traceback",
        )
        return EXIT_FAILED
    finally:
        package.removeHandler(handler)


if __name__ == "__main__":
    sys.exit(main())
