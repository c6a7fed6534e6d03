"""Value types shared by the core and both front ends."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import repeat
from typing import Any, Dict, Iterable, Iterator, List, NamedTuple, Optional

__all__ = ["Event", "Reply", "StatusEvent"]


class Event(NamedTuple):
    """One dispatched server-sent event (WHATWG HTML, "event stream")."""

    #: The data lines joined with ``"\\n"``.
    data: str
    #: The event type; ``"message"`` when the stream named none.
    event: str = "message"
    #: The last event ID in force when the event was dispatched.
    id: str = ""
    #: The ``retry`` value given inside this event, in milliseconds.
    retry: Optional[int] = None


def messages(datas: Iterable[str]) -> Iterator[Event]:
    """``map(Event, datas)``: events with the defaults (``message``, no ID, no retry).

    ``Event(data)`` runs the named tuple's ``__new__``, a Python function; this
    makes the same tuples in C, in half the time, for a run of plain events.
    """
    fields = zip(datas, *map(repeat, Event._field_defaults.values()))
    made: Iterator[Event] = map(tuple.__new__, repeat(Event), fields)
    return made


class StatusEvent(NamedTuple):
    """A ``live`` frame that is not reply text (AI Engine 2.8.3+ event logs)."""

    subtype: str
    text: str
    raw: Dict[str, Any]


@dataclass(frozen=True)
class Reply:
    """The whole answer of the site."""

    #: The whole reply: the ``end`` frame's ``reply``, else the joined chunks.
    text: str
    #: Token usage as the site reported it, or ``None``.
    usage: Optional[Dict[str, Any]] = None
    #: Image URLs, or ``None``.
    images: Optional[List[Any]] = None
    #: The whole decoded ``end`` object or JSON answer, for keys newer versions add.
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __str__(self) -> str:
        return self.text
