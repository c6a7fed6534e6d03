"""The sans-I/O core: build requests and read answers with no sockets at all.

For tools, tests and benchmarks; the two front ends are thin shells over it::

    from opchatgpts_compat.core import SSEDecoder, ReplyParser, build_request, build_settings
"""

from ._failures import ERROR_BODY_LIMIT, Failure, transport_error
from ._models import Event, Reply, StatusEvent
from ._protocol import ReplyParser
from ._request import PreparedRequest, build_headers, build_payload, build_request, check_messages
from ._settings import Settings, build_settings
from ._sse import DEFAULT_MAX_EVENT_SIZE, SSEDecoder
from ._urls import redact_url

__all__ = [
    "DEFAULT_MAX_EVENT_SIZE",
    "ERROR_BODY_LIMIT",
    "Event",
    "Failure",
    "PreparedRequest",
    "Reply",
    "ReplyParser",
    "SSEDecoder",
    "Settings",
    "StatusEvent",
    "build_headers",
    "build_payload",
    "build_request",
    "build_settings",
    "check_messages",
    "redact_url",
    "transport_error",
]
