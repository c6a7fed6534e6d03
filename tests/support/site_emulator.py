"""A loopback emulation of a WordPress site with AI Engine, in three flavours.

Only what the nonce, page and conversation flows need, with the status codes,
bodies and headers of the recorded answers (fixtures/real/):

* ``"1.x"`` (AI Engine 1.6.94-1.9.99): no nonce needed (the plugin checks
  none), no ``start_session``, ``restNonce: null``; a custom bot is named
  ``id`` (before 1.9.8); a trailing user item of the history is replaced by
  ``newMessage``;
* ``"2.0"`` (AI Engine 2.0.1-2.4.3): no ``start_session`` route (404
  ``rest_no_route``); the chatbot page embeds the guest nonce in ``data-system``;
* ``"3.6"`` (2.4.4+): ``start_session`` hands out the nonce with the
  ``mwai_session_id`` and ``PHPSESSID`` cookies; the page says ``restNonce: null``;
  with ``bind_cookie`` the nonce is only good with that cookie (as plugins
  hooking ``nonce_user_logged_out`` make it); 3.x status frames.

WordPress core checks any ``X-WP-Nonce`` sent (403 ``rest_cookie_invalid_nonce``);
the plugin (2.0+) refuses a request without one (401 ``rest_forbidden``).  The
bot answers from the conversation as the plugin assembles it (2.0+ appends
``newMessage`` after the history), so a test can see the history arrive.

The chatbot is on ``chatbot_paths`` (``/chatbot/`` and ``/chatgpt-free-use/``
unless told), the custom bot on ``/custom-bot/``; WordPress's search
(``/wp-json/wp/v2/search``) lists both, as it does for a guest.

The element, ``php_json``, WordPress's error bodies, the start sentence and the
status label are the embedded server's (``opchatgpts_compat.server``), so each
exists once.
"""

from __future__ import annotations

import itertools
import json
import secrets
from typing import Any, Dict, List, Optional, Tuple

from opchatgpts_compat.server import _pages
from opchatgpts_compat.server._constants import (
    DEFAULT_TEXT_INPUT_MAX_LENGTH,
    START_SENTENCE,
    STATUS_LABEL,
    wp_error_body,
)
from opchatgpts_compat.server._pages import php_json
from support.fault_server import LoopbackServer, Request, Writer, chunk, response_head

# The routes and the refusal text are spelled out, not the server's: those are
# the client's constants, and a site the client is tested against must not
# agree with it by construction.
REST = "/wp-json"
SUBMIT = REST + "/mwai-ui/v1/chats/submit"
START_SESSION = REST + "/mwai/v1/start_session"
SEARCH = REST + "/wp/v2/search"
CUSTOM_ID = "d605eabe133ba05cc4bf5f7248805475"
CUSTOM_PAGE = "/custom-bot/"

NO_NONCE = wp_error_body("rest_forbidden")
BAD_NONCE = wp_error_body("rest_cookie_invalid_nonce")
NO_ROUTE = wp_error_body("rest_no_route")
REJECTED = {"success": False, "message": "Sorry, your query has been rejected."}


def chatbot_element(system: Dict[str, Any], params: Dict[str, Any]) -> str:
    """The element AI Engine renders, with these ``data-system`` and ``data-params``."""
    return _pages.chatbot_element(params, system, {})


def page(*elements: str, title: str = "Chatbot") -> bytes:
    body = "\n".join(elements)
    return (
        "<!doctype html>\n<html lang='en'><head><meta charset='UTF-8'>"
        f"<title>{title}</title></head>\n<body><main>{body}</main></body></html>\n"
    ).encode()


class Site:
    """The state of one emulated site; :meth:`server` serves it."""

    def __init__(
        self,
        flavor: str,
        *,
        bind_cookie: bool = False,
        rotate_header: bool = False,
        rotate_token: bool = False,
        refuse_all: bool = False,
        stream: bool = True,
        pretty_permalinks: bool = True,
        chatbot_paths: Tuple[str, ...] = ("/chatbot/", "/chatgpt-free-use/"),
        searchable: bool = True,
    ) -> None:
        assert flavor in ("1.x", "2.0", "3.6")
        self.flavor = flavor
        self.bind_cookie = bind_cookie
        self.rotate_header = rotate_header
        self.rotate_token = rotate_token
        #: Refuse every nonce (a site whose nonces die at once).
        self.refuse_all = refuse_all
        self.stream = stream
        self.pretty_permalinks = pretty_permalinks
        self.chatbot_paths = chatbot_paths
        #: Whether the REST search answers (sites may close the REST API to guests).
        self.searchable = searchable
        self.nonce = self._new_nonce()
        #: mwai_session_id -> the nonce handed out with it (bind_cookie).
        self.sessions: Dict[str, str] = {}
        self.base_url = ""
        #: (chatId, messages, newMessage) of every accepted submit.
        self.turns: List[Tuple[str, List[Dict[str, Any]], str]] = []
        #: The body of every submit that passed the nonce check.
        self.sent_bodies: List[bytes] = []
        #: The (role, content) pairs the model was given, per accepted submit.
        self.seen: List[List[Tuple[str, str]]] = []
        self.extra_pages: Dict[str, bytes] = {}
        self._ids = itertools.count(1)

    @staticmethod
    def _new_nonce() -> str:
        return secrets.token_hex(5)

    def expire(self) -> None:
        """A new nonce tick: the ones handed out so far are refused."""
        self.nonce = self._new_nonce()
        self.sessions.clear()

    @property
    def rest_url(self) -> str:
        if self.pretty_permalinks:
            return self.base_url + REST
        return self.base_url + "/?rest_route="

    def system(self, **overrides: Any) -> Dict[str, Any]:
        legacy = self.flavor in ("1.x", "2.0")
        ids: Dict[str, Any] = {"botId": "default", "customId": None}
        if self.flavor == "1.x":
            ids = {"id": None, "botId": "default"}
        system: Dict[str, Any] = {
            **ids,
            "userData": None,
            "sessionId": "N/A" if legacy else None,
            "restNonce": self.nonce if self.flavor == "2.0" else None,
            "contextId": 4.0,
            "pluginUrl": self.base_url + "/wp-content/plugins/ai-engine",
            "restUrl": self.rest_url,
            "stream": self.stream,
        }
        system.update(overrides)
        return system

    def params(self, **overrides: Any) -> Dict[str, Any]:
        params = {
            "aiName": "AI: ",
            "userName": "User: ",
            "textInputMaxLength": DEFAULT_TEXT_INPUT_MAX_LENGTH,
            "startSentence": START_SENTENCE,
        }
        params.update(overrides)
        return params

    def chatbot_page(self) -> bytes:
        return page(chatbot_element(self.system(), self.params()))

    def custom_page(self) -> bytes:
        """The page of a shortcode-customised bot: ``customId``, or ``id`` before 1.9.8."""
        if self.flavor == "1.x":
            system = self.system(id=CUSTOM_ID, botId=None, contextId=5)
        else:
            system = self.system(customId=CUSTOM_ID, contextId=5)
        return page(chatbot_element(system, self.params(startSentence="Howdy")))

    def search(self) -> List[Dict[str, Any]]:
        """What ``wp/v2/search?search=mwai_chatbot&_fields=url`` lists."""
        paths = [p for p in self.chatbot_paths if p != "/chatgpt-free-use/"] + [CUSTOM_PAGE]
        return [{"url": self.base_url + path} for path in paths]

    # -- the HTTP side ---------------------------------------------------------

    def server(self) -> LoopbackServer:
        server = LoopbackServer(self.handle)
        original_start = server.start

        def start() -> LoopbackServer:
            original_start()
            self.base_url = server.base_url
            return server

        server.start = start  # type: ignore[method-assign]
        return server

    async def handle(self, request: Request, writer: Writer) -> bool:
        route = request.path
        if not self.pretty_permalinks and "rest_route" in request.query:
            route = REST + request.query["rest_route"][0]
        if request.method == "GET":
            if route == SEARCH and self.searchable:
                return await self._json(writer, "200 OK", self.search())  # type: ignore[arg-type]
            body = self.extra_pages.get(route)
            if body is None and route in self.chatbot_paths:
                body = self.chatbot_page()
            if body is None and route == CUSTOM_PAGE:
                body = self.custom_page()
            if body is None:
                return await self._send(
                    writer, "404 Not Found", page(title="Not found"), "text/html"
                )
            return await self._send(writer, "200 OK", body, "text/html; charset=UTF-8")
        if route == START_SESSION:
            return await self._start_session(request, writer)
        if route == SUBMIT:
            return await self._submit(request, writer)
        return await self._json(writer, "404 Not Found", NO_ROUTE)

    async def _start_session(self, request: Request, writer: Writer) -> bool:
        if request.header("X-WP-Nonce") is not None and not self._nonce_ok(request):
            return await self._json(writer, "403 Forbidden", BAD_NONCE)  # before routing
        if self.flavor != "3.6":
            return await self._json(writer, "404 Not Found", NO_ROUTE)
        session_id = f"{next(self._ids):013x}"
        self.sessions[session_id] = self.nonce
        answer = {"success": True, "sessionId": session_id, "restNonce": self.nonce}
        cookies = [
            ("Set-Cookie", f"PHPSESSID=php{session_id}; path=/"),
            ("Set-Cookie", f"mwai_session_id={session_id}; path=/; HttpOnly"),
        ]
        return await self._json(writer, "200 OK", answer, cookies)

    def _nonce_ok(self, request: Request) -> bool:
        nonce = request.header("X-WP-Nonce")
        if self.refuse_all or nonce != self.nonce:
            return False
        if self.bind_cookie:
            return self.sessions.get(request.cookies.get("mwai_session_id", "")) == nonce
        return True

    async def _submit(self, request: Request, writer: Writer) -> bool:
        nonce = request.header("X-WP-Nonce")
        if nonce is None and self.flavor != "1.x":
            return await self._json(writer, "401 Unauthorized", NO_NONCE)
        if nonce is not None and not self._nonce_ok(request):
            return await self._json(writer, "403 Forbidden", BAD_NONCE)
        self.sent_bodies.append(request.body)
        payload = json.loads(request.body)
        text = payload["newMessage"].strip()
        if not text:
            return await self._json(writer, "403 Forbidden", REJECTED)
        history = payload["messages"]
        self.turns.append((payload["chatId"], history, text))
        extra: List[Tuple[str, str]] = []
        if nonce is not None:
            if self.rotate_header:
                self.nonce = self._new_nonce()
            extra.append(("X-WP-Nonce", self.nonce))  # WordPress answers a good nonce with one
        seen = [(m["role"], m["content"]) for m in history]
        if self.flavor == "1.x" and seen and seen[-1][0] == "user":
            seen[-1] = ("user", text)  # 1.x replaces a trailing user item
        else:
            seen.append(("user", text))  # 2.0+ always appends
        self.seen.append(seen)
        turn = sum(1 for role, _ in seen if role == "user")
        custom = payload.get("id" if self.flavor == "1.x" else "customId") == CUSTOM_ID
        reply = f"{'Custom turn' if custom else 'Turn'} {turn}: you said {text}."
        end: Dict[str, Any] = {"success": True, "reply": reply, "images": None}
        if self.flavor == "3.6":
            end.update(actions=[], shortcuts=[], blocks=[])
        end["usage"] = {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8}
        if self.flavor == "3.6":
            end["responseId"] = f"resp_{turn}"
        if self.rotate_token:
            self.nonce = self._new_nonce()
            end["new_token"] = self.nonce
        session_id = request.cookies.get("mwai_session_id")
        if session_id in self.sessions:  # a rotated nonce stays bound to the same session
            self.sessions[session_id] = self.nonce
        fail = "FAIL" in text
        if not payload.get("stream"):
            if fail:
                return await self._json(writer, "500 Internal Server Error", REJECTED, extra)
            return await self._json(writer, "200 OK", end, extra)
        head = [
            ("X-Robots-Tag", "noindex"),
            *extra,
            ("Cache-Control", "no-cache"),
            ("X-Accel-Buffering", "no"),
            ("Transfer-Encoding", "chunked"),
            ("Content-Type", "text/event-stream;charset=UTF-8"),
        ]
        await writer.write(response_head("200 OK", head))
        frames: List[Dict[str, Any]] = []
        if self.flavor == "3.6":
            frames.append(
                {
                    "type": "live",
                    "data": STATUS_LABEL,
                    "timestamp": 1795491483.795379,
                    "subtype": "status",
                    "visibility": "collapsed",
                }
            )
        if fail:
            frames.append({"type": "live", "data": "Partial"})
            frames.append({"type": "error", "data": "The upstream failed."})
        else:
            words = reply.split(" ")
            tokens = [words[0]] + [" " + word for word in words[1:]]
            frames.extend({"type": "live", "data": token} for token in tokens)
            frames.append({"type": "end", "data": php_json(end)})
        for frame in frames:  # two flushes per frame, as PHP does
            await writer.write(chunk(b"data: " + php_json(frame).encode()))
            await writer.write(chunk(b"\n\n"))
        await writer.write(b"0\r\n\r\n")
        return True

    async def _json(
        self,
        writer: Writer,
        status: str,
        answer: Dict[str, Any],
        extra: Optional[List[Tuple[str, str]]] = None,
    ) -> bool:
        return await self._send(
            writer, status, php_json(answer).encode(), "application/json; charset=UTF-8", extra
        )

    async def _send(
        self,
        writer: Writer,
        status: str,
        body: bytes,
        content_type: str,
        extra: Optional[List[Tuple[str, str]]] = None,
    ) -> bool:
        head = [
            *(extra or []),
            ("Content-Length", str(len(body))),
            ("Content-Type", content_type),
        ]
        await writer.write(response_head(status, head) + body)
        return True
