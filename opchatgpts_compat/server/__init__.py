"""An AI Engine-compatible chatbot server, for demos, notebooks and tests.

It answers as the WordPress plugin does, byte for byte where the recorded
answers in ``tests/fixtures/real/`` show it: ``POST
/wp-json/mwai-ui/v1/chats/submit`` (an event stream, or one JSON answer with
``"stream": false``), the session endpoint, the nonce check of WordPress core,
a chatbot page carrying the front end's parameters, and the plugin's
rejections.  Three flavours: ``"2.0"`` (AI Engine 2.0.9, the default),
``"3.6"`` (AI Engine 3.6.2) and ``"1.6"`` (AI Engine 1.6.94, what the sites
of the original provider ran: no nonce needed, a custom bot named ``id``).
tests/realsite/test_realsite_fidelity.py compares each with the real plugin.

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

The package, by subject: ``_runner`` (the socket, the loop, the connections),
``_app`` (routing, WordPress's nonce check, the AI Engine routes),
``_wordpress`` (REST headers and errors), ``_bots`` (the bots and the answer
object), ``_pages`` (the chatbot page, ``php_json``), ``_records`` (the
request log), ``_constants``.  Only
:class:`Server` needs ``aiohttp``, and it is imported when first used: the
command line reads :data:`FLAVORS` without it, and ``import opchatgpts_compat``
stays free of it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._bots import Answer, ScriptedBot, memory_bot
from ._constants import CHATBOT_PAGE_ID as CHATBOT_PAGE_ID
from ._constants import DEFAULT_HEADER_TIMEOUT as DEFAULT_HEADER_TIMEOUT
from ._constants import FAULTS, FLAVORS
from ._constants import JSON_MAX_DEPTH as JSON_MAX_DEPTH
from ._constants import STATUS_LABEL as STATUS_LABEL
from ._pages import php_json, render_chatbot_element
from ._records import RequestRecord

if TYPE_CHECKING:
    from ._runner import Server

# The ``X as X`` imports above are importable from here too, as before the
# split (the tests use them), but are not part of the API.
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


def __getattr__(name: str) -> Any:
    # PEP 562: Server, and with it aiohttp, is imported on first use.
    if name == "Server":
        from ._runner import Server

        return Server
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
