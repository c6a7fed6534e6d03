"""What the emulated site says and where: flavours, routes, limits, texts, headers.

No aiohttp here: the command line reads :data:`FLAVORS` for its ``--help``.
The routes and the refusal text are the client's (one home for each).
"""

from __future__ import annotations

from typing import Any, Dict, Tuple

from .._failures import REJECTED_MESSAGE as REJECTED
from .._settings import START_SESSION_ROUTE, SUBMIT_ROUTE

__all__ = [
    "CHATBOT_PAGE_ID",
    "DEFAULT_HEADER_TIMEOUT",
    "DEFAULT_PAGE_PATH",
    "DEFAULT_SLOW_DELAY",
    "DEFAULT_TEXT_INPUT_MAX_LENGTH",
    "FAULTS",
    "FLAVORS",
    "HTML_TYPE",
    "JSON_MAX_DEPTH",
    "JSON_TYPE",
    "KEEPALIVE_TIMEOUT",
    "MAX_MESSAGE_BYTES_1_6",
    "MAX_MESSAGE_BYTES_2_0",
    "ORIGINAL_PAGE_PATH",
    "PHP_TRIM",
    "REJECTED",
    "SESSION_CACHE_HEADERS",
    "START_SENTENCE",
    "START_SESSION_ROUTE",
    "STATUS_LABEL",
    "STREAM_TYPE",
    "SUBMIT_ROUTE",
    "UPSTREAM_ERRORS",
    "WP_ERRORS",
    "WP_NOCACHE_HEADERS",
    "check_flavor",
    "wp_error_body",
]

#: The AI Engine versions the server can behave as; the first is the default.
FLAVORS = ("2.0", "3.6", "1.6")
FAULTS = ("error", "cut", "slow", "html")

DEFAULT_PAGE_PATH = "/chatbot/"
#: opchatgpts.net's chatbot page, the Referer the original provider sent.
ORIGINAL_PAGE_PATH = "/chatgpt-free-use/"
#: The post id of the chatbot page on the recorded sites: the page's
#: ``contextId``.  Not the client's ``DEFAULT_CONTEXT_ID`` (28, what the
#: original provider sent).
CHATBOT_PAGE_ID = 4
#: AI Engine's default ``textInputMaxLength`` (characters; 3.x enforces it).
DEFAULT_TEXT_INPUT_MAX_LENGTH = 512
#: AI Engine 1.9.1-2.5.9 refuse a message longer than this many bytes (4096 x 16).
MAX_MESSAGE_BYTES_2_0 = 65536
#: AI Engine 1.6.76-1.9.0 refuse a message longer than this many bytes (4096 - 512).
MAX_MESSAGE_BYTES_1_6 = 3584
#: What PHP's ``trim()`` strips (``str.strip()`` strips other characters, and not NUL).
PHP_TRIM = " \t\n\r\0\x0b"
#: PHP's ``json_decode`` depth: a deeper body is ``rest_invalid_json``.
JSON_MAX_DEPTH = 512

#: Seconds between tokens for the ``slow`` fault.
DEFAULT_SLOW_DELAY = 1.0
#: Seconds a connection has to send its first request head (a slowloris guard;
#: Apache's mod_reqtimeout allows 20 to 40, nginx's client_header_timeout 60).
DEFAULT_HEADER_TIMEOUT = 20.0
#: Seconds an idle keep-alive connection is kept (nginx's default; it also bounds
#: the time to send the head of a later request on that connection).
KEEPALIVE_TIMEOUT = 75.0

START_SENTENCE = "Hi! How can I help you?"
STATUS_LABEL = "Generating response..."

#: What the recorded "upstream" failures said (the fake OpenAI answered 500):
#: in a stream's ``error`` frame, then in a JSON answer.
UPSTREAM_ERRORS: Dict[str, Tuple[str, str]] = {
    "2.0": (
        "From OpenAI: Error : The server had an error while processing your request. "
        "Sorry about that!",
        "From OpenAI: The server had an error while processing your request. Sorry about that!",
    ),
    "3.6": (
        "OpenAI (Responses API): Error: The server had an error while processing your "
        "request. Sorry about that! (server_error)",
        'OpenAI (Responses API): {"error": {"message": "The server had an error while '
        'processing your request. Sorry about that!", "type": "server_error", "param": null, '
        '"code": null}}',
    ),
    # 1.6.94 ends a stream whose upstream failed with an empty reply (no error frame).
    "1.6": (
        "",
        "Error while calling OpenAI: The server had an error while processing your request. "
        "Sorry about that!",
    ),
}

#: WordPress's REST errors: code -> (status, message).
WP_ERRORS: Dict[str, Tuple[int, str]] = {
    "rest_forbidden": (401, "Sorry, you are not allowed to do that."),
    "rest_cookie_invalid_nonce": (403, "Cookie check failed"),
    "rest_no_route": (404, "No route was found matching the URL and request method."),
}

#: A PHP session's cache headers (``session_start()``, cache limiter ``nocache``).
SESSION_CACHE_HEADERS = {
    "Expires": "Thu, 19 Nov 1981 08:52:00 GMT",
    "Cache-Control": "no-store, no-cache, must-revalidate",
    "Pragma": "no-cache",
}
#: WordPress's ``nocache_headers()``.
WP_NOCACHE_HEADERS = {
    "Expires": "Wed, 11 Jan 1984 05:00:00 GMT",
    "Cache-Control": "no-cache, must-revalidate, max-age=0",
}

JSON_TYPE = "application/json; charset=UTF-8"
#: PHP appends the charset without a space.
STREAM_TYPE = "text/event-stream;charset=UTF-8"
HTML_TYPE = "text/html; charset=UTF-8"


def check_flavor(flavor: str) -> None:
    if flavor not in FLAVORS:
        raise ValueError(f"unknown flavor {flavor!r}; choose from {', '.join(FLAVORS)}")


def wp_error_body(code: str) -> Dict[str, Any]:
    """The body of WordPress's REST error ``code`` (one of :data:`WP_ERRORS`)."""
    status, message = WP_ERRORS[code]
    return {"code": code, "message": message, "data": {"status": status}}
