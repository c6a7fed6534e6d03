"""An AI Engine-compatible chatbot server, for demos, notebooks and tests.

It answers as the WordPress plugin does, byte for byte where the recorded
answers in ``tests/fixtures/real/`` show it: ``POST
/wp-json/mwai-ui/v1/chats/submit`` (an event stream, or one JSON answer with
``"stream": false``), the session endpoint, the nonce check of WordPress core,
a chatbot page carrying the front end's parameters, and the plugin's
rejections.  Three flavours: ``"2.0"`` (AI Engine 2.0.9, the default),
``"3.6"`` (AI Engine 3.6.2) and ``"1.6"`` (AI Engine 1.6.94, what the sites
of the original provider ran: no nonce needed, a custom bot named ``id``).
tests/test_realsite_fidelity.py compares each with the real plugin.

Three ways to run it::

    with Server() as server:               # a thread with its own event loop
        Client(server.base_url, nonce=server.nonce).complete(...)

    async with Server() as server:         # inside a running event loop
        ...

    $ opchatgpts-compat serve --port 8080  # the command line

The built-in bot is deterministic: it answers from the conversation, word by
word, ``delay`` seconds apart.  Bots are callables taking the conversation as
the plugin assembles it (a list of role/content dicts: the history, then the
new message; 1.6 replaces a trailing user item instead) and returning the
tokens, or an :class:`Answer`; :class:`ScriptedBot` replays fixed tokens.

Fault modes (``"error"``, ``"cut"``, ``"slow"``, ``"html"``) are never on by
default: pick one for every request with ``fault=``, per bot id with
``faults={"some-bot": "cut"}``, or send one of the bot ids ``fault-error``,
``fault-cut``, ``fault-slow``, ``fault-html``.  A message containing
``FAIL500`` makes the "upstream" fail as in the recorded traces.

``aiohttp`` is imported here, so ``import opchatgpts_compat`` stays free of it.
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import json
import logging
import math
import re
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import (
    Any,
    Callable,
    Dict,
    Iterable,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    Type,
    Union,
)

from aiohttp import web

__all__ = [
    "FAULTS",
    "FLAVORS",
    "Answer",
    "RequestRecord",
    "ScriptedBot",
    "Server",
    "memory_bot",
    "php_json",
    "render_chatbot_element",
]

logger = logging.getLogger(__name__)

#: The first is the default.
FLAVORS = ("2.0", "3.6", "1.6")
FAULTS = ("error", "cut", "slow", "html")

SUBMIT_ROUTE = "/mwai-ui/v1/chats/submit"
SESSION_ROUTE = "/mwai/v1/start_session"
DEFAULT_PAGE_PATH = "/chatbot/"
#: opchatgpts.net's chatbot page, the Referer the original provider sent.
ORIGINAL_PAGE_PATH = "/chatgpt-free-use/"
#: The post id of the chatbot page on the recorded sites.
DEFAULT_CONTEXT_ID = 4
#: AI Engine's default ``textInputMaxLength`` (characters; 3.x enforces it).
DEFAULT_TEXT_INPUT_MAX_LENGTH = 512
#: AI Engine 1.9.1-2.5.9 refuse a message longer than this many bytes (4096 x 16).
MAX_MESSAGE_BYTES_2_0 = 65536
#: AI Engine 1.6.76-1.9.0 refuse a message longer than this many bytes (4096 - 512).
MAX_MESSAGE_BYTES_1_6 = 3584
#: What PHP's ``trim()`` strips (``str.strip()`` strips other characters, and not NUL).
PHP_TRIM = " \t\n\r\0\x0b"
#: A PHP session's cache headers (``session_start()``, cache limiter ``nocache``).
_SESSION_CACHE_HEADERS = {
    "Expires": "Thu, 19 Nov 1981 08:52:00 GMT",
    "Cache-Control": "no-store, no-cache, must-revalidate",
    "Pragma": "no-cache",
}
#: WordPress's ``nocache_headers()``.
_WP_NOCACHE_HEADERS = {
    "Expires": "Wed, 11 Jan 1984 05:00:00 GMT",
    "Cache-Control": "no-cache, must-revalidate, max-age=0",
}
#: Seconds between tokens for the ``slow`` fault.
DEFAULT_SLOW_DELAY = 1.0
#: Seconds a connection has to send its first request head (a slowloris guard;
#: Apache's mod_reqtimeout allows 20 to 40, nginx's client_header_timeout 60).
DEFAULT_HEADER_TIMEOUT = 20.0
#: Seconds an idle keep-alive connection is kept (nginx's default; it also bounds
#: the time to send the head of a later request on that connection).
KEEPALIVE_TIMEOUT = 75.0
#: PHP's ``json_decode`` depth: a deeper body is ``rest_invalid_json``.
JSON_MAX_DEPTH = 512

REJECTED = "Sorry, your query has been rejected."
START_SENTENCE = "Hi! How can I help you?"
STATUS_LABEL = "Generating response..."

#: What the recorded "upstream" failures said (the fake OpenAI answered 500).
_UPSTREAM_ERRORS = {
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

_JSON_TYPE = "application/json; charset=UTF-8"
#: PHP appends the charset without a space.
_STREAM_TYPE = "text/event-stream;charset=UTF-8"
_HTML_TYPE = "text/html; charset=UTF-8"

_WP_ERRORS = {
    "rest_forbidden": (401, "Sorry, you are not allowed to do that."),
    "rest_cookie_invalid_nonce": (403, "Cookie check failed"),
    "rest_no_route": (404, "No route was found matching the URL and request method."),
}

_WORDS = re.compile(r"\s*\S+")


def php_json(value: Any) -> str:
    """``value`` as PHP's ``json_encode`` writes it with default flags.

    Compact, ``/`` escaped as ``\\/``, every non-ASCII character as ``\\uXXXX``
    (surrogate pairs above U+FFFF).  A ``/`` can only occur inside a string in
    JSON text, so replacing it afterwards is safe.
    """
    return json.dumps(value, separators=(",", ":"), ensure_ascii=True).replace("/", "\\/")


# -- bots -------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """What a bot answers: the tokens, and optionally what the upstream reported."""

    tokens: Sequence[str]
    #: Replaces the server's usage estimate (3.6 adds ``price``, ``queries``,
    #: ``accuracy`` when missing).
    usage: Optional[Mapping[str, Any]] = None
    #: 3.6 only: the ``responseId``; derived from the conversation when ``None``.
    response_id: Optional[str] = None


Messages = List[Dict[str, str]]
Bot = Callable[[Messages], Union[Answer, Iterable[str]]]


def split_words(text: str) -> List[str]:
    """``text`` as word tokens, each with the white space before it (as LLMs stream)."""
    return _WORDS.findall(text)


def _quote(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def memory_bot(messages: Messages) -> Answer:
    """The built-in bot: a deterministic answer that shows it read the history."""
    said = [m["content"] for m in messages if m.get("role") == "user"]
    new = said[-1] if said else ""
    if len(said) < 2:
        text = f'Hello! You said "{_quote(new)}". Tell me more, and I will remember it.'
    else:
        text = (
            f'You said "{_quote(new)}". Earlier you said "{_quote(said[-2])}". '
            f"That makes {len(said)} messages from you in this conversation."
        )
    return Answer(split_words(text))


class ScriptedBot:
    """A bot that answers every message with the same tokens.

    >>> ScriptedBot(["Hello", " there", ",", " world"])  # the recorded traces' reply
    ScriptedBot(['Hello', ' there', ',', ' world'])
    """

    def __init__(
        self,
        tokens: Sequence[str],
        *,
        usage: Optional[Mapping[str, Any]] = None,
        response_id: Optional[str] = None,
    ) -> None:
        self.answer = Answer(tuple(tokens), usage, response_id)

    def __call__(self, messages: Messages) -> Answer:
        return self.answer

    def __repr__(self) -> str:
        return f"ScriptedBot({list(self.answer.tokens)!r})"


# -- the chatbot page --------------------------------------------------------------


def _params(flavor: str, max_length: int) -> Dict[str, Any]:
    # The data-params of the recorded pages, key order included (1.6.94's are 2.0.9's).
    if flavor in ("1.6", "2.0"):
        return {
            "aiName": "AI: ",
            "userName": "User: ",
            "guestName": "Guest: ",
            "textSend": "Send",
            "textClear": "Clear",
            "textInputPlaceholder": "Type your message...",
            "textInputMaxLength": max_length,
            "textCompliance": "",
            "startSentence": START_SENTENCE,
            "localMemory": True,
            "themeId": "chatgpt",
            "window": False,
            "icon": "",
            "iconText": "",
            "iconAlt": "AI Chatbot Avatar",
            "iconPosition": "bottom-right",
            "fullscreen": False,
            "copyButton": False,
        }
    return {
        "aiName": "AI: ",
        "userName": "User: ",
        "guestName": "Guest: ",
        "textSend": "Send",
        "textClear": "Clear",
        "imageUpload": False,
        "fileUpload": False,
        "multiUpload": False,
        "maxUploads": 1,
        "fileUploads": 0,
        "mode": "chat",
        "textInputPlaceholder": "Type your message...",
        "textInputMaxLength": max_length,
        "textCompliance": "",
        "startSentence": START_SENTENCE,
        "localMemory": True,
        "themeId": "chatgpt",
        "window": False,
        "icon": "",
        "iconText": "",
        "iconTextDelay": 1,
        "iconAlt": "AI Engine Chatbot",
        "iconPosition": "bottom-right",
        "centerOpen": False,
        "width": "",
        "openDelay": "",
        "iconBubble": False,
        "windowAnimation": "zoom",
        "fullscreen": False,
        "copyButton": False,
        "pdfButton": False,
        "headerSubtitle": "Discuss with",
        "containerType": "standard",
        "headerType": "standard",
        "messagesType": "standard",
        "inputType": "standard",
        "footerType": "standard",
    }


def render_chatbot_element(
    base_url: str,
    *,
    flavor: str = "2.0",
    nonce: Optional[str] = None,
    bot_id: str = "default",
    context_id: int = DEFAULT_CONTEXT_ID,
    text_input_max_length: int = DEFAULT_TEXT_INPUT_MAX_LENGTH,
    event_logs: bool = False,
) -> str:
    """The ``mwai-chatbot-container`` element, as AI Engine renders it for a guest.

    Attribute values are PHP ``json_encode`` output escaped with
    ``htmlspecialchars(..., ENT_QUOTES)``.  2.0 embeds the nonce; 3.6 renders
    ``restNonce`` and ``sessionId`` as ``null`` (its front end calls
    ``start_session``); 1.6 names the custom bot ``id`` and has no nonce.
    """
    _check_flavor(flavor)
    plugin_url = f"{base_url}/wp-content/plugins/ai-engine"
    system: Dict[str, Any]
    if flavor in ("1.6", "2.0"):
        ids: Dict[str, Any] = {"botId": bot_id, "customId": None}
        if flavor == "1.6":
            ids = {"id": None, "botId": bot_id}
        system = {
            **ids,
            "userData": None,
            "sessionId": "N/A",
            "restNonce": nonce if flavor == "2.0" else None,
            "contextId": context_id,
            "pluginUrl": plugin_url + "/",
            "restUrl": f"{base_url}/wp-json",
            "debugMode": True,
            "typewriter": False,
            "speech_recognition": False,
            "speech_synthesis": False,
            "stream": True,
        }
        theme: Dict[str, Any] = {
            "type": "internal",
            "name": "ChatGPT",
            "themeId": "chatgpt",
            "settings": [],
            "style": "",
        }
    else:
        system = {
            "botId": bot_id,
            "customId": None,
            "userData": None,
            "sessionId": None,
            "restNonce": None,
            "contextId": context_id,
            "pluginUrl": plugin_url,
            "restUrl": f"{base_url}/wp-json",
            "stream": True,
            "debugMode": False,
            "eventLogs": event_logs,
            "speech_recognition": False,
            "speech_synthesis": False,
            "typewriter": False,
            "crossSite": False,
            "actions": [],
            "blocks": [],
            "shortcuts": [],
        }
        theme = {
            "type": "internal",
            "name": "ChatGPT",
            "themeId": "chatgpt",
            "settings": [],
            "style": "",
            "cssUrl": f"{plugin_url}/themes/chatgpt.css",
        }

    def attr(value: Dict[str, Any]) -> str:
        return html.escape(php_json(value), quote=True).replace("&#x27;", "&#039;")

    params = _params(flavor, text_input_max_length)
    return (
        f"<div class='mwai-chatbot-container' data-params='{attr(params)}'"
        f" data-system='{attr(system)}' data-theme='{attr(theme)}'></div>"
    )


_PAGE = """<!DOCTYPE html>
<html lang="en-US">
<head>
<meta charset="UTF-8" />
<title>Chatbot &#8211; opchatgpts-compat</title>
<link rel="https://api.w.org/" href="{base}/wp-json/" />
</head>
<body class="page-template-default page page-id-{context_id}">
<main>
<h1>Chatbot</h1>
{element}
</main>
</body>
</html>
"""

_HTML_FAULT_PAGE = """<!DOCTYPE html>
<html lang="en-US">
<head><meta charset="UTF-8" /><title>Just a moment...</title></head>
<body><p>This page was served from a cache instead of the chatbot's answer.</p></body>
</html>
"""

_NOT_FOUND_PAGE = """<!DOCTYPE html>
<html lang="en-US">
<head><meta charset="UTF-8" /><title>Page not found</title></head>
<body><h1>Oops! That page can&#8217;t be found.</h1></body>
</html>
"""


# -- the server --------------------------------------------------------------------


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


class _Reject(Exception):
    """A refusal before any reply: send ``response``, with ``frame`` as its body if given."""

    def __init__(
        self, response: web.StreamResponse, frame: Optional[Dict[str, Any]] = None
    ) -> None:
        super().__init__()
        self.response = response
        self.frame = frame


class Server:
    """An AI Engine-compatible chatbot site on a free local port.

    Args:
        host: address to bind; ``127.0.0.1`` unless told otherwise.
        port: port to bind; ``0`` picks a free one (see :attr:`base_url`).
        flavor: ``"2.0"`` (AI Engine 2.0.9: nonce in the page, no
            ``start_session``, 64 KiB message cap, unknown bot refused),
            ``"3.6"`` (AI Engine 3.6.2: ``start_session``, per-bot
            ``textInputMaxLength``, unknown bot falls back to ``default``) or
            ``"1.6"`` (AI Engine 1.6.94: no nonce needed, a custom bot named
            ``id``, 3,584-byte message cap, a trailing user item of the history
            replaced by the new message).
        require_nonce: refuse a submit without a valid ``X-WP-Nonce`` (401
            ``rest_forbidden``), as AI Engine 2.0.0+ does; ``None``: as the
            flavour does (not 1.6).  A wrong nonce (``X-WP-Nonce`` or
            ``?_wpnonce=``) is refused on every route (403
            ``rest_cookie_invalid_nonce``), as WordPress does.
        nonce: the site's nonce (10 hex digits); random when ``None``.
        delay: seconds between tokens.
        bots: bot id -> bot; the default is ``{"default": memory_bot}``.
        fault: a fault mode for every request (see the module docstring).
        faults: bot id -> fault mode.
        slow_delay: seconds between tokens for the ``slow`` fault.
        event_logs: 3.6: send the ``Generating response...`` status frame first.
        split_frames: write ``data: {...}`` and ``\\n\\n`` as two flushes (two
            HTTP chunks), as PHP does; ``False`` writes each frame at once.
        page_path: where the chatbot page is (also served at ``/`` and at
            ``/chatgpt-free-use/``, opchatgpts.net's page, the client's Referer).
        context_id: the page's post id (``contextId``).
        text_input_max_length: the bot's ``textInputMaxLength``.
        clock: returns the event frames' timestamps (``time.time``).
        shutdown_timeout: seconds given to unfinished answers when closing.
        header_timeout: seconds a new connection has to send its request head
            (status line and headers) before it is closed.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        flavor: str = "2.0",
        require_nonce: Optional[bool] = None,
        nonce: Optional[str] = None,
        delay: float = 0.0,
        bots: Optional[Mapping[str, Bot]] = None,
        fault: Optional[str] = None,
        faults: Optional[Mapping[str, str]] = None,
        slow_delay: float = DEFAULT_SLOW_DELAY,
        event_logs: bool = False,
        split_frames: bool = True,
        page_path: str = DEFAULT_PAGE_PATH,
        context_id: int = DEFAULT_CONTEXT_ID,
        text_input_max_length: int = DEFAULT_TEXT_INPUT_MAX_LENGTH,
        clock: Callable[[], float] = time.time,
        shutdown_timeout: float = 1.0,
        header_timeout: float = DEFAULT_HEADER_TIMEOUT,
    ) -> None:
        _check_flavor(flavor)
        if not header_timeout > 0:
            raise ValueError("header_timeout must be a positive number of seconds")
        for mode in [fault, *(faults or {}).values()]:
            if mode is not None and mode not in FAULTS:
                raise ValueError(f"unknown fault mode {mode!r}; choose from {', '.join(FAULTS)}")
        if delay < 0 or slow_delay < 0:
            raise ValueError("delays must not be negative")
        if not page_path.startswith("/"):
            raise ValueError("page_path must start with '/'")
        self.host = host
        self.port = port
        self.flavor = flavor
        self.require_nonce = flavor != "1.6" if require_nonce is None else require_nonce
        self.nonce = nonce or secrets.token_hex(5)
        self.delay = delay
        self.bots: Dict[str, Bot] = dict(bots) if bots is not None else {"default": memory_bot}
        self.fault = fault
        self.faults: Dict[str, str] = {f"fault-{mode}": mode for mode in FAULTS}
        self.faults.update(faults or {})
        self.slow_delay = slow_delay
        self.event_logs = event_logs
        self.split_frames = split_frames
        self.page_path = page_path
        self.context_id = context_id
        self.text_input_max_length = text_input_max_length
        self.clock = clock
        self.shutdown_timeout = shutdown_timeout
        self.header_timeout = header_timeout
        #: Every request answered, oldest first.
        self.records: List[RequestRecord] = []
        self._changed = threading.Condition()
        self._runner: Optional[web.AppRunner] = None
        self._listener: Optional[asyncio.AbstractServer] = None
        self._thread: Optional[threading.Thread] = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._stop: Optional[asyncio.Event] = None
        self._closing = False

    # -- addresses ------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """``http://host:port`` of the running server (give it to a client)."""
        if self._runner is None:
            raise RuntimeError("the server is not running")
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        host = "[::1]" if host == "::" else f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"

    @property
    def page_url(self) -> str:
        """The chatbot page (for ``Client.from_page``)."""
        return self.base_url + self.page_path

    def rotate_nonce(self, nonce: Optional[str] = None) -> str:
        """Replace the site's nonce (the old one is refused from now on).

        Returns:
            The new nonce (random when ``nonce`` is ``None``).
        """
        self.nonce = nonce or secrets.token_hex(5)
        return self.nonce

    def wait_for(self, predicate: Callable[[List[RequestRecord]], bool], timeout: float) -> bool:
        """Block until ``predicate(records)`` holds, from another thread than the server's.

        Returns:
            Whether it holds (``False`` once ``timeout`` seconds passed).
        """
        with self._changed:
            return self._changed.wait_for(lambda: predicate(list(self.records)), timeout)

    # -- asyncio use ----------------------------------------------------------------

    async def start(self) -> None:
        """Start listening in the running event loop."""
        if self._runner is not None:
            raise RuntimeError("the server is already running")
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        # handler_cancellation: a client that goes away ends its answer at once,
        # even between two slow tokens (recorded as "disconnected").
        runner = web.AppRunner(
            app,
            access_log=None,
            shutdown_timeout=self.shutdown_timeout,
            handler_cancellation=True,
            keepalive_timeout=KEEPALIVE_TIMEOUT,
        )
        await runner.setup()
        try:
            sock = _listen(self.host, self.port)
        except BaseException:
            await runner.cleanup()
            raise
        self.port = sock.getsockname()[1]
        handlers = runner.server
        assert handlers is not None  # set up above
        timeout = self.header_timeout
        try:
            # Not web.SockSite: each connection's protocol is wrapped in the
            # header deadline, which aiohttp does not have.
            self._listener = await asyncio.get_running_loop().create_server(
                lambda: _HeadDeadline(handlers(), timeout), sock=sock
            )
        except BaseException:
            sock.close()
            await runner.cleanup()
            raise
        self._runner = runner
        self._closing = False
        logger.debug("AI Engine %s server on %s", self.flavor, self.base_url)

    async def close(self) -> None:
        """Stop listening and end every connection."""
        runner, self._runner = self._runner, None
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()  # no new connections; cleanup() ends the open ones
        if runner is not None:
            self._closing = True
            await runner.cleanup()

    async def serve_forever(self, ready: Optional[Callable[[Server], None]] = None) -> None:
        """Start, call ``ready(self)``, and serve until cancelled or :meth:`stop`."""
        self._stop = asyncio.Event()
        await self.start()
        try:
            if ready is not None:
                ready(self)
            await self._stop.wait()
        finally:
            await self.close()

    async def __aenter__(self) -> Server:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        await self.close()

    # -- blocking use: a thread with its own event loop --------------------------------

    def run_in_thread(self) -> Server:
        """Start the server in a thread of its own; returns ``self``.

        Works in plain scripts and in Jupyter alike (the kernel's loop is not used).
        Stop it with :meth:`shutdown`.
        """
        if self._thread is not None:
            raise RuntimeError("the server is already running")
        loop = asyncio.new_event_loop()
        started: List[BaseException] = []
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start())
            except BaseException as exc:
                started.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
                loop.run_until_complete(self.close())
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                loop.close()

        thread = threading.Thread(target=run, name=f"opchatgpts-server-{id(self):x}", daemon=True)
        thread.start()
        ready.wait()
        if started:
            thread.join()
            raise started[0]
        self._loop = loop
        self._thread = thread
        return self

    def shutdown(self) -> None:
        """Stop a server started by :meth:`run_in_thread` and wait for its thread."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        self._thread = self._loop = None
        loop.call_soon_threadsafe(loop.stop)
        thread.join()

    def stop(self) -> None:
        """Make :meth:`serve_forever` return (callable from the server's loop only)."""
        if self._stop is not None:
            self._stop.set()

    def __enter__(self) -> Server:
        return self.run_in_thread()

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.shutdown()

    def __repr__(self) -> str:
        where = self.base_url if self._runner is not None else "stopped"
        return f"<Server AI Engine {self.flavor} {where}>"

    # -- requests ---------------------------------------------------------------------

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        record = RequestRecord(
            request.method, request.path_qs, remote=request.remote or "", nonce=_nonce_of(request)
        )
        started = time.monotonic()
        try:
            response = await self._route(request, record)
        except asyncio.CancelledError:
            # aiohttp cancels the handler when its client disconnects.
            record.outcome = "cancelled" if self._closing else "disconnected"
            raise
        finally:
            record.seconds = time.monotonic() - started
            self._record(record)
        return response

    async def _route(self, request: web.Request, record: RequestRecord) -> web.StreamResponse:
        route = request.query.get("rest_route") if request.path == "/" else None
        if route is None and request.path.startswith("/wp-json/"):
            route = request.path[len("/wp-json") :]
        if route is not None:
            # WordPress core checks a nonce before routing: ?_wpnonce= first, then
            # the header; a valid one is answered with a fresh X-WP-Nonce.
            if request.method == "POST" and route in (SUBMIT_ROUTE, SESSION_ROUTE):
                record.kind = "submit" if route == SUBMIT_ROUTE else "session"
            nonce = request.query.get("_wpnonce") or record.nonce
            if nonce is not None and nonce != self.nonce:
                error = self._wp_error(request, "rest_cookie_invalid_nonce")
                return self._done(record, self._php_session(request, route, error))
            nonce_ok = nonce is not None
            if route == SUBMIT_ROUTE and request.method == "POST":
                return await self._submit(request, record, nonce_ok)
            if route == SESSION_ROUTE and request.method == "POST" and self.flavor == "3.6":
                return self._start_session(request, record, nonce_ok)
            error = self._wp_error(request, "rest_no_route", nonce_ok=nonce_ok)
            return self._done(record, self._php_session(request, route, error))
        if request.method in ("GET", "HEAD") and request.path in (
            "/",
            self.page_path,
            ORIGINAL_PAGE_PATH,
        ):
            record.kind = "page"
            base = f"{request.scheme}://{request.host}"
            element = render_chatbot_element(
                base,
                flavor=self.flavor,
                nonce=self.nonce,
                context_id=self.context_id,
                text_input_max_length=self.text_input_max_length,
                event_logs=self.event_logs,
            )
            page = _PAGE.format(base=base, context_id=self.context_id, element=element)
            return self._done(record, _html(page))
        return self._done(record, _html(_NOT_FOUND_PAGE, status=404))

    def _record(self, record: RequestRecord) -> None:
        with self._changed:
            self.records.append(record)
            self._changed.notify_all()
        logger.info("%s", record.line())

    @staticmethod
    def _done(record: RequestRecord, response: web.StreamResponse) -> web.StreamResponse:
        record.status = response.status
        return response

    def _rest_headers(self, request: web.Request, *, nonce_ok: bool) -> Dict[str, str]:
        # What WordPress sends with every REST answer, in its order.
        headers = {
            "X-Robots-Tag": "noindex",
            "Link": f'<{request.scheme}://{request.host}/wp-json/>; rel="https://api.w.org/"',
            "X-Content-Type-Options": "nosniff",
            "Access-Control-Expose-Headers": "X-WP-Total, X-WP-TotalPages, Link",
            "Access-Control-Allow-Headers": (
                "Authorization, X-WP-Nonce, Content-Disposition, Content-MD5, Content-Type"
            ),
        }
        if nonce_ok:
            headers["X-WP-Nonce"] = self.nonce
        return headers

    def _json(
        self,
        request: web.Request,
        value: Any,
        *,
        status: int = 200,
        nonce_ok: bool = False,
        extra: Optional[Mapping[str, str]] = None,
    ) -> web.Response:
        headers = self._rest_headers(request, nonce_ok=nonce_ok)
        headers.update(extra or {})
        headers["Content-Type"] = _JSON_TYPE
        return web.Response(status=status, body=php_json(value).encode(), headers=headers)

    def _wp_error(self, request: web.Request, code: str, *, nonce_ok: bool = False) -> web.Response:
        status, message = _WP_ERRORS[code]
        extra = _WP_NOCACHE_HEADERS if code == "rest_cookie_invalid_nonce" else None
        body = {"code": code, "message": message, "data": {"status": status}}
        return self._json(request, body, status=status, nonce_ok=nonce_ok, extra=extra)

    def _php_session(
        self, request: web.Request, route: str, response: web.Response
    ) -> web.Response:
        """``response`` as 3.6 sends it on its ``/mwai/`` routes, which start a PHP session.

        PHP adds its cookie (unless the request carried one) and cache headers;
        WordPress's own ``Expires`` and ``Cache-Control`` win where it sent them.
        """
        if self.flavor != "3.6" or not route.startswith("/mwai/"):
            return response
        for name, value in _SESSION_CACHE_HEADERS.items():
            response.headers.setdefault(name, value)
        if "PHPSESSID" not in request.cookies:
            # A PHP session id: 26 characters of [0-9a-v].
            session = "".join(secrets.choice("0123456789abcdefghijklmnopqrstuv") for _ in range(26))
            response.set_cookie("PHPSESSID", session, path="/")
        return response

    def _start_session(
        self, request: web.Request, record: RequestRecord, nonce_ok: bool
    ) -> web.StreamResponse:
        record.kind = "session"
        # The session id is a PHP uniqid(): 13 hex digits.
        session_id = request.cookies.get("mwai_session_id") or secrets.token_hex(7)[:13]
        response = self._json(
            request,
            {"success": True, "sessionId": session_id, "restNonce": self.nonce},
            nonce_ok=nonce_ok,
            extra={"Allow": "POST"},  # its permission callback is __return_true
        )
        self._php_session(request, SESSION_ROUTE, response)
        response.set_cookie("mwai_session_id", session_id, path="/", httponly=True)
        return self._done(record, response)

    async def _submit(
        self, request: web.Request, record: RequestRecord, nonce_ok: bool
    ) -> web.StreamResponse:
        record.kind = "submit"
        try:
            params = await self._check_submit(request, record, nonce_ok)
            stream = params.get("stream") is True
            record.kind = "stream" if stream else "json"
            conversation, answer, fault = self._converse(
                request, params, record, stream=stream, nonce_ok=nonce_ok
            )
        except _Reject as reject:
            response = self._done(record, reject.response)
            if reject.frame is not None:
                # One echo before any flush: one chunk, whatever split_frames says.
                await response.prepare(request)
                await response.write(b"".join(self._frame_bytes(reject.frame)))
                await response.write_eof()
            return response
        if fault == "html":
            return self._done(record, _html(_HTML_FAULT_PAGE))
        if not stream:
            return self._done(
                record, self._json_answer(request, conversation, answer, fault, nonce_ok)
            )
        response = web.StreamResponse(headers=self._rest_headers(request, nonce_ok=nonce_ok))
        response.headers["Cache-Control"] = "no-cache"
        response.headers["X-Accel-Buffering"] = "no"
        response.headers["Content-Type"] = _STREAM_TYPE
        response.enable_chunked_encoding()
        record.status = 200
        await response.prepare(request)
        try:
            await self._stream(
                request,
                response=response,
                conversation=conversation,
                answer=answer,
                fault=fault,
                record=record,
            )
        except ConnectionError:
            record.outcome = "disconnected"  # the client closed the connection
            return response
        if record.outcome == "ok":
            await response.write_eof()
        return response

    async def _check_submit(
        self, request: web.Request, record: RequestRecord, nonce_ok: bool
    ) -> Dict[str, Any]:
        # WordPress core checked the nonce sent, if any (_route).
        params: Any = {}
        if request.content_type == "application/json":
            raw = await request.read()
            if raw.strip():
                try:
                    params = json.loads(raw)
                    too_deep = _depth(params) > JSON_MAX_DEPTH
                except ValueError:
                    raise _Reject(self._invalid_json(request, nonce_ok)) from None
                except RecursionError:  # far deeper than PHP's limit
                    too_deep = True
                if too_deep:
                    raise _Reject(self._invalid_json(request, nonce_ok, depth=True))
        if not isinstance(params, dict):
            params = {}
        # Then the plugin's permission callback: the X-WP-Nonce header only.
        if self.require_nonce and record.nonce != self.nonce:
            raise _Reject(self._wp_error(request, "rest_forbidden", nonce_ok=nonce_ok))
        new_message = params.get("newMessage")
        new_message = new_message.strip(PHP_TRIM) if isinstance(new_message, str) else ""
        params["newMessage"] = new_message
        custom_key = "id" if self.flavor == "1.6" else "customId"
        if not new_message or not (params.get("botId") or params.get(custom_key)):
            raise _Reject(self._rejected(request, nonce_ok))
        size = len(new_message.encode("utf-8"))
        if self.flavor == "2.0" and size > MAX_MESSAGE_BYTES_2_0:
            raise _Reject(self._rejected(request, nonce_ok))
        if self.flavor == "1.6" and size > MAX_MESSAGE_BYTES_1_6:
            raise _Reject(self._rejected(request, nonce_ok))
        return params  # type: ignore[no-any-return]

    def _rejected(self, request: web.Request, nonce_ok: bool) -> web.Response:
        return self._json(
            request,
            {"success": False, "message": REJECTED},
            status=403,
            nonce_ok=nonce_ok,
            extra=self._allow(),
        )

    def _allow(self) -> Optional[Dict[str, str]]:
        # WordPress adds Allow when the permission callback returns true:
        # 1.6's __return_true, not 2.0+'s nonce check (it returns 1 or 2).
        return {"Allow": "POST"} if self.flavor == "1.6" and not self.require_nonce else None

    def _invalid_json(
        self, request: web.Request, nonce_ok: bool, *, depth: bool = False
    ) -> web.Response:
        # WP_REST_Request::parse_json_params reports json_last_error().
        code, error = (1, "Maximum stack depth exceeded") if depth else (4, "Syntax error")
        body = {
            "code": "rest_invalid_json",
            "message": "Invalid JSON body passed.",
            "data": {"status": 400, "json_error_code": code, "json_error_message": error},
        }
        return self._json(request, body, status=400, nonce_ok=nonce_ok)

    def _converse(
        self,
        request: web.Request,
        params: Dict[str, Any],
        record: RequestRecord,
        *,
        stream: bool,
        nonce_ok: bool,
    ) -> Tuple[Messages, Answer, Optional[str]]:
        bot_id = params.get("botId") if isinstance(params.get("botId"), str) else None
        custom = params.get("id" if self.flavor == "1.6" else "customId")
        custom_id = custom if isinstance(custom, str) else None
        key = custom_id or bot_id or "default"
        record.bot_id = key
        new_message: str = params["newMessage"]
        fault = self.fault or self.faults.get(key)
        bot = self.bots.get(key)
        if bot is None and key in self.faults:
            bot = self.bots.get("default", memory_bot)
        if bot is None:
            if self.flavor == "1.6":  # refused before the stream starts
                raise _Reject(self._rejected(request, nonce_ok))
            if self.flavor == "2.0":
                raise self._raised(request, REJECTED, stream=stream, nonce_ok=nonce_ok)
            bot = self.bots.get("default", memory_bot)  # 3.0.3+: the default chatbot
        if self.flavor == "3.6" and len(new_message) > self.text_input_max_length:
            raise self._raised(request, REJECTED, stream=stream, nonce_ok=nonce_ok)
        conversation = _conversation(
            params.get("messages"), new_message, replace_last_user=self.flavor == "1.6"
        )
        record.messages = conversation
        if "FAIL500" in new_message:  # the recorded traces' upstream failure
            return conversation, Answer(()), "upstream"
        try:
            result = bot(conversation)
            answer = result if isinstance(result, Answer) else Answer(tuple(result))
        except Exception as exc:  # as the plugin reports an exception of its engine
            logger.debug("bot %s failed", key, exc_info=True)
            raise self._raised(
                request, str(exc) or type(exc).__name__, stream=stream, nonce_ok=nonce_ok
            ) from exc
        return conversation, answer, fault

    def _raised(
        self, request: web.Request, message: str, *, stream: bool, nonce_ok: bool
    ) -> _Reject:
        # An exception inside the chatbot before it switched to streaming: a JSON
        # 500 answer, or, for a stream, one error frame under a JSON Content-Type.
        if not stream:
            body = {"success": False, "message": message}
            return _Reject(
                self._json(request, body, status=500, nonce_ok=nonce_ok, extra=self._allow())
            )
        response = web.StreamResponse(headers=self._rest_headers(request, nonce_ok=nonce_ok))
        response.headers["Content-Type"] = _JSON_TYPE
        response.enable_chunked_encoding()
        return _Reject(response, {"type": "error", "data": message})

    def _frame_bytes(self, frame: Dict[str, Any]) -> List[bytes]:
        line = b"data: " + php_json(frame).encode("ascii")
        return [line, b"\n\n"] if self.split_frames else [line + b"\n\n"]

    def _end_object(
        self, conversation: Messages, answer: Answer, *, stream: bool
    ) -> Dict[str, Any]:
        text = "".join(answer.tokens)
        usage: Dict[str, Any]
        if answer.usage is not None:
            usage = dict(answer.usage)
        elif self.flavor == "2.0" and stream:
            # 2.0.9 estimates a streamed reply's usage: no prompt tokens, and
            # about one token per three bytes of reply (6 for "Hello there, world").
            completion = math.ceil(len(text.encode("utf-8")) / 3)
            usage = {
                "prompt_tokens": 0,
                "completion_tokens": completion,
                "total_tokens": completion,
            }
        else:
            prompt = math.ceil(sum(len(m["content"].encode("utf-8")) for m in conversation) / 4)
            completion = len(answer.tokens)
            usage = {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            }
        end: Dict[str, Any] = {"success": True, "reply": text.strip(), "images": None}
        if self.flavor in ("1.6", "2.0"):
            end["usage"] = usage
            return end
        for key, value in (("price", None), ("queries", 1), ("accuracy", "tokens")):
            usage.setdefault(key, value)
        end.update(actions=[], shortcuts=[], blocks=[], usage=usage)
        end["responseId"] = answer.response_id or _response_id(conversation)
        return end

    def _json_answer(
        self,
        request: web.Request,
        conversation: Messages,
        answer: Answer,
        fault: Optional[str],
        nonce_ok: bool,
    ) -> web.Response:
        if fault in ("error", "upstream"):
            _, message = _UPSTREAM_ERRORS[self.flavor]
            body = {"success": False, "message": message}
            return self._json(request, body, status=500, nonce_ok=nonce_ok, extra=self._allow())
        body = self._end_object(conversation, answer, stream=False)
        return self._json(request, body, nonce_ok=nonce_ok, extra=self._allow())

    async def _stream(
        self,
        request: web.Request,
        *,
        response: web.StreamResponse,
        conversation: Messages,
        answer: Answer,
        fault: Optional[str],
        record: RequestRecord,
    ) -> None:
        tokens = list(answer.tokens)
        delay = self.slow_delay if fault == "slow" else self.delay
        if self.flavor == "3.6" and self.event_logs:
            status = {
                "type": "live",
                "data": STATUS_LABEL,
                "timestamp": self.clock(),
                "subtype": "status",
                "visibility": "collapsed",
            }
            await self._write(response, status)
        if fault in ("error", "cut"):
            tokens = tokens[: len(tokens) // 2]
        if self.flavor == "1.6" and fault == "upstream":
            # 1.6.94 swallows an upstream failure: an empty reply.
            fault, answer = None, Answer((), answer.usage, answer.response_id)
        elif self.flavor == "1.6":
            # 1.6.94 passes on every delta, the upstream's first (the role, no text) too.
            await self._write(response, {"type": "live", "data": ""})
        for index, token in enumerate(tokens):
            if index and delay:
                await asyncio.sleep(delay)
            await self._write(response, {"type": "live", "data": token})
            record.tokens += 1
        if fault in ("error", "upstream"):
            await self._write(response, {"type": "error", "data": _UPSTREAM_ERRORS[self.flavor][0]})
        elif fault == "cut":
            record.outcome = "cut"
            transport = request.transport
            if transport is not None:
                transport.close()  # no end frame, no last chunk
        else:
            end = self._end_object(conversation, answer, stream=True)
            await self._write(response, {"type": "end", "data": php_json(end)})

    async def _write(self, response: web.StreamResponse, frame: Dict[str, Any]) -> None:
        for piece in self._frame_bytes(frame):
            await response.write(piece)


def _html(text: str, *, status: int = 200) -> web.Response:
    return web.Response(
        status=status, body=text.encode("utf-8"), headers={"Content-Type": _HTML_TYPE}
    )


def _nonce_of(request: web.Request) -> Optional[str]:
    value = request.headers.get("X-WP-Nonce")
    return value if value else None


def _conversation(history: object, new_message: str, *, replace_last_user: bool) -> Messages:
    """The messages the bot sees, built as the plugin does.

    Only role and content are kept.  From 2.0.0 ``newMessage`` is always
    appended (a list that already ends with it has it twice, as the real
    plugin's upstream sees); 1.x replaces a trailing user message's content
    with it, else appends it (``replace_last_user``).
    """
    messages: Messages = []
    if isinstance(history, list):
        for item in history:
            if isinstance(item, dict):
                role, content = item.get("role"), item.get("content")
                if isinstance(role, str) and isinstance(content, str):
                    messages.append({"role": role, "content": content})
    if replace_last_user and messages and messages[-1]["role"] == "user":
        messages[-1]["content"] = new_message
    else:
        messages.append({"role": "user", "content": new_message})
    return messages


def _response_id(conversation: Messages) -> str:
    digest = hashlib.sha256(php_json(conversation).encode()).hexdigest()
    return f"resp_{digest[:24]}"


def _check_flavor(flavor: str) -> None:
    if flavor not in FLAVORS:
        raise ValueError(f"unknown flavor {flavor!r}; choose from {', '.join(FLAVORS)}")


def _depth(value: object) -> int:
    """How deep arrays and objects nest in decoded JSON (``[]`` is 1), without recursion."""
    deepest = 0
    todo: List[Tuple[object, int]] = [(value, 1)]
    while todo:
        item, depth = todo.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, depth)
            todo.extend((child, depth + 1) for child in item)
    return deepest


class _HeadDeadline(asyncio.Protocol):
    """A connection's protocol, closed unless its first request head arrives in time.

    A client that connects and sends nothing, or half a head, would otherwise
    hold a connection (and a file descriptor) for as long as it likes: aiohttp
    has no header timeout.  Heads of later requests on a kept-alive connection
    are bounded by ``keepalive_timeout``.
    """

    def __init__(self, inner: asyncio.Protocol, timeout: float) -> None:
        self._inner = inner
        self._timeout = timeout
        self._timer: Optional[asyncio.TimerHandle] = None
        self._transport: Optional[asyncio.BaseTransport] = None
        self._tail = b""  # the last bytes of the head so far: "\r\n\r\n" may be split
        self._started = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport
        self._timer = asyncio.get_running_loop().call_later(self._timeout, self._expire)
        self._inner.connection_made(transport)

    def _expire(self) -> None:
        self._timer = None
        logger.debug("no request head within %s s: closing the connection", self._timeout)
        assert self._transport is not None
        self._transport.close()

    def data_received(self, data: bytes) -> None:
        if self._timer is not None:
            seen = self._tail + data
            if not self._started:
                # RFC 9112 section 2.2: empty lines before the request line are ignored.
                seen = seen.lstrip(b"\r\n")
                self._started = bool(seen)
            if b"\r\n\r\n" in seen or b"\n\n" in seen:
                self._timer.cancel()
                self._timer = None
            self._tail = seen[-3:]
        self._inner.data_received(data)

    def eof_received(self) -> Optional[bool]:
        return self._inner.eof_received()

    def connection_lost(self, exc: Optional[Exception]) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (IPv4 or IPv6, as the host says)."""
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, _, _, _, address = infos[0]
    sock = socket.create_server(address[:2], family=family)
    sock.setblocking(False)
    return sock
