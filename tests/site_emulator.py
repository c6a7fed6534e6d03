"""A loopback emulation of a WordPress site with AI Engine, in two flavours.

Only what the nonce, page and conversation flows need, with the status codes,
bodies and headers of the recorded answers (fixtures/real/):

* ``"2.0"`` (AI Engine 2.0.1-2.4.3): no ``start_session`` route (404
  ``rest_no_route``); the chatbot page embeds the guest nonce in ``data-system``;
* ``"3.6"`` (2.4.4+): ``start_session`` hands out the nonce with the
  ``mwai_session_id`` and ``PHPSESSID`` cookies; the page says ``restNonce: null``;
  with ``bind_cookie`` the nonce is only good with that cookie (as plugins
  hooking ``nonce_user_logged_out`` make it); 3.x status frames.

WordPress core checks any ``X-WP-Nonce`` sent (403 ``rest_cookie_invalid_nonce``);
the plugin refuses a request without one (401 ``rest_forbidden``).  The bot
answers from the conversation, so a test can see the history arrive.
"""

from __future__ import annotations

import html
import itertools
import json
import secrets
from typing import Any, Dict, List, Optional, Tuple

from loopback import LoopbackServer, Request, Writer, chunk, response_head

REST = "/wp-json"
SUBMIT = REST + "/mwai-ui/v1/chats/submit"
START_SESSION = REST + "/mwai/v1/start_session"
START_SENTENCE = "Hi! How can I help you?"

NO_NONCE = {
    "code": "rest_forbidden",
    "message": "Sorry, you are not allowed to do that.",
    "data": {"status": 401},
}
BAD_NONCE = {
    "code": "rest_cookie_invalid_nonce",
    "message": "Cookie check failed",
    "data": {"status": 403},
}
NO_ROUTE = {
    "code": "rest_no_route",
    "message": "No route was found matching the URL and request method.",
    "data": {"status": 404},
}
REJECTED = {"success": False, "message": "Sorry, your query has been rejected."}


def php_json(value: Any) -> str:
    """JSON as PHP's ``json_encode`` writes it: compact, ``\\/``, ``\\uXXXX``."""
    return json.dumps(value, separators=(",", ":")).replace("/", "\\/")


def chatbot_element(system: Dict[str, Any], params: Dict[str, Any]) -> str:
    """The element AI Engine renders: JSON escaped with ENT_QUOTES in single-quoted attributes."""

    def attribute(value: Dict[str, Any]) -> str:
        return html.escape(php_json(value), quote=True).replace("&#x27;", "&#039;")

    return (
        f"<div class='mwai-chatbot-container' data-params='{attribute(params)}' "
        f"data-system='{attribute(system)}' data-theme='{{}}'></div>"
    )


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
    ) -> None:
        assert flavor in ("2.0", "3.6")
        self.flavor = flavor
        self.bind_cookie = bind_cookie
        self.rotate_header = rotate_header
        self.rotate_token = rotate_token
        #: Refuse every nonce (a site whose nonces die at once).
        self.refuse_all = refuse_all
        self.stream = stream
        self.pretty_permalinks = pretty_permalinks
        self.nonce = self._new_nonce()
        #: mwai_session_id -> the nonce handed out with it (bind_cookie).
        self.sessions: Dict[str, str] = {}
        self.base_url = ""
        #: (chatId, messages, newMessage) of every accepted submit.
        self.turns: List[Tuple[str, List[Dict[str, Any]], str]] = []
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
        legacy = self.flavor == "2.0"
        system: Dict[str, Any] = {
            "botId": "default",
            "customId": None,
            "userData": None,
            "sessionId": "N/A" if legacy else None,
            "restNonce": self.nonce if legacy else None,
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
            "textInputMaxLength": 512,
            "startSentence": START_SENTENCE,
        }
        params.update(overrides)
        return params

    def chatbot_page(self) -> bytes:
        return page(chatbot_element(self.system(), self.params()))

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
            body = self.extra_pages.get(route)
            if body is None and route in ("/chatbot/", "/chatgpt-free-use/"):
                body = self.chatbot_page()
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
        if self.flavor == "2.0":
            return await self._json(writer, "404 Not Found", NO_ROUTE)
        if request.header("X-WP-Nonce") is not None and not self._nonce_ok(request):
            return await self._json(writer, "403 Forbidden", BAD_NONCE)
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
        if request.header("X-WP-Nonce") is None:
            return await self._json(writer, "401 Unauthorized", NO_NONCE)
        if not self._nonce_ok(request):
            return await self._json(writer, "403 Forbidden", BAD_NONCE)
        payload = json.loads(request.body)
        text = payload["newMessage"].strip()
        if not text:
            return await self._json(writer, "403 Forbidden", REJECTED)
        history = payload["messages"]
        self.turns.append((payload["chatId"], history, text))
        extra: List[Tuple[str, str]] = []
        if self.rotate_header:
            self.nonce = self._new_nonce()
        extra.append(("X-WP-Nonce", self.nonce))  # WordPress answers a good nonce with one
        if history and history[-1]["role"] == "user":  # g4f style: the new message is in it
            history = history[:-1]
        turn = 1 + sum(1 for message in history if message["role"] == "user")
        reply = f"Turn {turn}: you said {text}."
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
                    "data": "Generating response...",
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
