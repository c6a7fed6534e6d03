"""How the site answers a request: routing, WordPress's nonce check, the AI Engine routes.

:class:`ChatbotSite` holds the handlers; :class:`~._runner.Server` (its
subclass) sets the attributes they read and runs them on a socket.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import threading
import time
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from aiohttp import web

from ._bots import Answer, Bot, Messages, assemble_conversation, end_object, memory_bot
from ._constants import (
    JSON_MAX_DEPTH,
    JSON_TYPE,
    MAX_MESSAGE_BYTES_1_6,
    MAX_MESSAGE_BYTES_2_0,
    ORIGINAL_PAGE_PATH,
    PHP_TRIM,
    REJECTED,
    START_SESSION_ROUTE,
    STATUS_LABEL,
    STREAM_TYPE,
    SUBMIT_ROUTE,
    UPSTREAM_ERRORS,
)
from ._pages import HTML_FAULT_PAGE, NOT_FOUND_PAGE, chatbot_page, php_json
from ._records import RequestRecord
from ._wordpress import (
    Reject,
    html_response,
    json_depth,
    json_response,
    nonce_of,
    php_session,
    rest_headers,
    wp_error,
)

__all__ = ["ChatbotSite"]

#: The package's logger, the name README documents (``serve`` prints its lines).
logger = logging.getLogger(__package__)


class ChatbotSite:
    """The request handlers of a WordPress site with the AI Engine chatbot.

    No sockets here: the attributes below are the site's settings and state
    (documented on :class:`~._runner.Server`, which sets them).
    """

    flavor: str
    require_nonce: bool
    nonce: str
    delay: float
    bots: Dict[str, Bot]
    fault: Optional[str]
    faults: Dict[str, str]
    slow_delay: float
    event_logs: bool
    split_frames: bool
    page_path: str
    context_id: int
    text_input_max_length: int
    clock: Callable[[], float]
    records: List[RequestRecord]
    _changed: threading.Condition
    #: Set while closing: an answer cut short then was ``cancelled``.
    _closing: bool

    # -- requests ---------------------------------------------------------------------

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        record = RequestRecord(
            request.method, request.path_qs, remote=request.remote or "", nonce=nonce_of(request)
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
            if request.method == "POST" and route in (SUBMIT_ROUTE, START_SESSION_ROUTE):
                record.kind = "submit" if route == SUBMIT_ROUTE else "session"
            nonce = request.query.get("_wpnonce") or record.nonce
            if nonce is not None and nonce != self.nonce:
                error = self._wp_error(request, "rest_cookie_invalid_nonce")
                return self._done(record, self._php_session(request, route, error))
            nonce_ok = nonce is not None
            if route == SUBMIT_ROUTE and request.method == "POST":
                return await self._submit(request, record, nonce_ok)
            if route == START_SESSION_ROUTE and request.method == "POST" and self.flavor == "3.6":
                return self._start_session(request, record, nonce_ok)
            error = self._wp_error(request, "rest_no_route", nonce_ok=nonce_ok)
            return self._done(record, self._php_session(request, route, error))
        if request.method in ("GET", "HEAD") and request.path in (
            "/",
            self.page_path,
            ORIGINAL_PAGE_PATH,
        ):
            record.kind = "page"
            page = chatbot_page(
                f"{request.scheme}://{request.host}",
                flavor=self.flavor,
                nonce=self.nonce,
                context_id=self.context_id,
                text_input_max_length=self.text_input_max_length,
                event_logs=self.event_logs,
            )
            return self._done(record, html_response(page))
        return self._done(record, html_response(NOT_FOUND_PAGE, status=404))

    def _record(self, record: RequestRecord) -> None:
        with self._changed:
            self.records.append(record)
            self._changed.notify_all()
        logger.info("%s", record.line())

    @staticmethod
    def _done(record: RequestRecord, response: web.StreamResponse) -> web.StreamResponse:
        record.status = response.status
        return response

    def _echo(self, nonce_ok: bool) -> Optional[str]:
        # WordPress answers a valid nonce with the current one (X-WP-Nonce).
        return self.nonce if nonce_ok else None

    def _json(
        self,
        request: web.Request,
        value: Any,
        *,
        status: int = 200,
        nonce_ok: bool = False,
        extra: Optional[Mapping[str, str]] = None,
    ) -> web.Response:
        nonce = self._echo(nonce_ok)
        return json_response(request, value, status=status, nonce=nonce, extra=extra)

    def _wp_error(self, request: web.Request, code: str, *, nonce_ok: bool = False) -> web.Response:
        return wp_error(request, code, nonce=self._echo(nonce_ok))

    def _php_session(
        self, request: web.Request, route: str, response: web.StreamResponse
    ) -> web.StreamResponse:
        # 3.6's /mwai/ routes start a PHP session.
        if self.flavor != "3.6" or not route.startswith("/mwai/"):
            return response
        return php_session(request, response)

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
        self._php_session(request, START_SESSION_ROUTE, response)
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
        except Reject as reject:
            response = self._done(record, reject.response)
            if reject.frame is not None:
                # One echo before any flush: one chunk, whatever split_frames says.
                await response.prepare(request)
                await response.write(b"".join(self._frame_bytes(reject.frame)))
                await response.write_eof()
            return response
        if fault == "html":
            return self._done(record, html_response(HTML_FAULT_PAGE))
        if not stream:
            return self._done(
                record, self._json_answer(request, conversation, answer, fault, nonce_ok)
            )
        response = web.StreamResponse(headers=rest_headers(request, nonce=self._echo(nonce_ok)))
        response.headers["Cache-Control"] = "no-cache"
        response.headers["X-Accel-Buffering"] = "no"
        response.headers["Content-Type"] = STREAM_TYPE
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
                    too_deep = json_depth(params) > JSON_MAX_DEPTH
                except ValueError:
                    raise Reject(self._invalid_json(request, nonce_ok)) from None
                except RecursionError:  # far deeper than PHP's limit
                    too_deep = True
                if too_deep:
                    raise Reject(self._invalid_json(request, nonce_ok, depth=True))
        if not isinstance(params, dict):
            params = {}
        # Then the plugin's permission callback: the X-WP-Nonce header only.
        if self.require_nonce and record.nonce != self.nonce:
            raise Reject(self._wp_error(request, "rest_forbidden", nonce_ok=nonce_ok))
        new_message = params.get("newMessage")
        new_message = new_message.strip(PHP_TRIM) if isinstance(new_message, str) else ""
        params["newMessage"] = new_message
        custom_key = "id" if self.flavor == "1.6" else "customId"
        if not new_message or not (params.get("botId") or params.get(custom_key)):
            raise Reject(self._rejected(request, nonce_ok))
        size = len(new_message.encode("utf-8"))
        if self.flavor == "2.0" and size > MAX_MESSAGE_BYTES_2_0:
            raise Reject(self._rejected(request, nonce_ok))
        if self.flavor == "1.6" and size > MAX_MESSAGE_BYTES_1_6:
            raise Reject(self._rejected(request, nonce_ok))
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
                raise Reject(self._rejected(request, nonce_ok))
            if self.flavor == "2.0":
                raise self._raised(request, REJECTED, stream=stream, nonce_ok=nonce_ok)
            bot = self.bots.get("default", memory_bot)  # 3.0.3+: the default chatbot
        if self.flavor == "3.6" and len(new_message) > self.text_input_max_length:
            raise self._raised(request, REJECTED, stream=stream, nonce_ok=nonce_ok)
        conversation = assemble_conversation(
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
    ) -> Reject:
        # An exception inside the chatbot before it switched to streaming: a JSON
        # 500 answer, or, for a stream, one error frame under a JSON Content-Type.
        if not stream:
            body = {"success": False, "message": message}
            return Reject(
                self._json(request, body, status=500, nonce_ok=nonce_ok, extra=self._allow())
            )
        response = web.StreamResponse(headers=rest_headers(request, nonce=self._echo(nonce_ok)))
        response.headers["Content-Type"] = JSON_TYPE
        response.enable_chunked_encoding()
        return Reject(response, {"type": "error", "data": message})

    def _frame_bytes(self, frame: Dict[str, Any]) -> List[bytes]:
        line = b"data: " + php_json(frame).encode("ascii")
        return [line, b"\n\n"] if self.split_frames else [line + b"\n\n"]

    def _json_answer(
        self,
        request: web.Request,
        conversation: Messages,
        answer: Answer,
        fault: Optional[str],
        nonce_ok: bool,
    ) -> web.Response:
        if fault in ("error", "upstream"):
            _, message = UPSTREAM_ERRORS[self.flavor]
            body = {"success": False, "message": message}
            return self._json(request, body, status=500, nonce_ok=nonce_ok, extra=self._allow())
        body = end_object(self.flavor, conversation, answer, stream=False)
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
            await self._write(response, {"type": "error", "data": UPSTREAM_ERRORS[self.flavor][0]})
        elif fault == "cut":
            record.outcome = "cut"
            transport = request.transport
            if transport is not None:
                transport.close()  # no end frame, no last chunk
        else:
            end = end_object(self.flavor, conversation, answer, stream=True)
            await self._write(response, {"type": "end", "data": php_json(end)})

    async def _write(self, response: web.StreamResponse, frame: Dict[str, Any]) -> None:
        for piece in self._frame_bytes(frame):
            await response.write(piece)
