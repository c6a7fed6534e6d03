"""``serve``: the embedded AI Engine-compatible server, until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import logging
import os
import signal
from typing import TYPE_CHECKING, TextIO

from .args import EXIT_OK

if TYPE_CHECKING:
    from ..server import Server

__all__ = ["Failed", "run_serve"]


class Failed(Exception):
    """A failure of the command's own (``serve`` cannot listen): exit code 1."""


def run_serve(args: argparse.Namespace, stdout: TextIO) -> int:
    """Serve until SIGTERM (exit code 0) or Ctrl-C (``KeyboardInterrupt``).

    Raises:
        Failed: the address cannot be bound.
    """
    from ..server import Server

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
