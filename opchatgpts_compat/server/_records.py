"""What the server remembers of each request: :class:`RequestRecord`.  No aiohttp here."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from ._bots import Messages

__all__ = ["RequestRecord"]


@dataclass
class RequestRecord:
    """One request the server answered, for tests and the ``serve`` log."""

    method: str
    path: str
    #: The client's address.
    remote: str = ""
    status: int = 0
    #: ``stream``, ``json`` (a submit answered as such), ``submit`` (one
    #: refused before that), ``page``, ``session`` or ``other``.
    kind: str = "other"
    bot_id: Optional[str] = None
    #: The nonce the request carried (``X-WP-Nonce``), if any.
    nonce: Optional[str] = None
    #: The conversation the bot saw (submit only).
    messages: Messages = field(default_factory=list)
    #: ``live`` text frames written.
    tokens: int = 0
    #: ``ok``; ``disconnected`` (the client went away mid-answer);
    #: ``cut`` (the ``cut`` fault); ``cancelled`` (the server shut down).
    outcome: str = "ok"
    seconds: float = 0.0

    def line(self) -> str:
        """The one-line log entry of this request."""
        extra = (
            f" bot={self.bot_id} tokens={self.tokens}" if self.kind in ("stream", "json") else ""
        )
        return (
            f'{self.remote} "{self.method} {self.path}" {self.status} {self.kind}{extra} '
            f"{self.outcome} {self.seconds:.3f}s"
        )
