"""From answer bytes to chunks, a :class:`Reply` or an error: no I/O.

A front end makes one :class:`ReplyParser` per answer, from its status code and
Content-Type, feeds it every piece of the body as it arrives, yields the chunks
each :meth:`~ReplyParser.feed` returns, and stops reading once
:attr:`~ReplyParser.done` is true; at the end of the body it calls
:meth:`~ReplyParser.feed_eof`.  Once the chunks are out it calls
:meth:`~ReplyParser.check`, which raises a failure that came after them in the
same piece of the body.  Every decision about what the bytes mean is made
here, so both front ends give the same chunks and the same errors.

The rules (API.md section 5, PROTOCOL.md section 3):

* not 2xx: :class:`HTTPStatusError` (:class:`RejectedError` when the JSON body
  says ``"success": false``), raised once the body is read;
* 2xx: the body decides, not the Content-Type: one whose first character is
  ``{`` is a JSON answer (a reply, or an error); anything else is an event
  stream, where ``live`` frames are chunks, ``end`` is the reply, ``error``
  is a :class:`ServerError` and other types are skipped;
* the body ending before an ``end`` frame: :class:`IncompleteStreamError`.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any, Dict, List, NoReturn, Optional

from ._exceptions import (
    BrokenLineError,
    EventTooLargeError,
    HTTPStatusError,
    IncompleteStreamError,
    OpchatgptsError,
    RejectedError,
    ServerError,
    StreamTimeoutError,
    TransportError,
)
from ._models import Reply, StatusEvent
from ._request import redact_url
from ._sse import DEFAULT_MAX_EVENT_SIZE, SSEDecoder

__all__ = ["ReplyParser", "Failure", "transport_error", "proxy_status_error", "ERROR_BODY_LIMIT"]

#: ``HTTPStatusError.body`` keeps at most this many bytes of the body.
ERROR_BODY_LIMIT = 1024
#: An error body is read up to this size, to find the site's JSON message.
ERROR_READ_LIMIT = 64 * 1024
#: The message of an ``error`` frame with empty data that nothing followed.
GENERIC_SERVER_ERROR = "The site reported an error without a message"

#: Chunks kept for ``.partial`` are joined this many at a time.
_KEEP_BLOCK = 1024
#: How much of a redirect's ``Location`` an error message quotes.
_LOCATION_LIMIT = 200
_WHITESPACE = b" \t\r\n"
_BOM = b"\xef\xbb\xbf"

_SNIFF, _EVENTS, _JSON, _STATUS = range(4)


class ReplyParser:
    """Interpret one answer of ``chats/submit``.

    Attributes:
        done: the answer is complete (or failed): read no more of it.
        reply: the :class:`Reply`, once the answer is complete.
        statuses: ``live`` frames that are not reply text (progress lines).
        new_nonce: a replacement nonce the site sent (``new_token``), if any.
    """

    def __init__(
        self,
        status_code: int,
        content_type: str = "",
        *,
        max_event_size: Optional[int] = DEFAULT_MAX_EVENT_SIZE,
        location: Optional[str] = None,
        proxy: Optional[str] = None,
    ) -> None:
        """Args:
        status_code, content_type: of the answer.
        max_event_size: largest event or JSON answer, in bytes; ``None``: no limit.
        location: the ``Location`` header, named in the error for a redirect.
        proxy: the proxy URL, already redacted: a 407 is then the proxy's refusal.
        """
        self.status_code = status_code
        self.content_type = content_type
        self.max_event_size = max_event_size
        self.location = location
        self.proxy = proxy
        self.done = False
        self.reply: Optional[Reply] = None
        self.statuses: List[StatusEvent] = []
        self.new_nonce: Optional[str] = None
        self._chunks: List[str] = []  # the latest chunks, for .partial
        self._blocks: List[str] = []  # the earlier ones, joined
        self._mode = _SNIFF if 200 <= status_code < 300 else _STATUS
        self._body: List[bytes] = []
        self._body_len = 0
        self._decoder: Optional[SSEDecoder] = None
        self._empty_error = False
        self._seen_event = False
        self._failure: Optional[OpchatgptsError] = None

    @property
    def partial(self) -> str:
        """The reply text received so far."""
        if self._blocks:
            return "".join([*self._blocks, *self._chunks])
        return "".join(self._chunks)

    def feed(self, data: bytes) -> List[str]:
        """Feed the next piece of the (content-decoded) body.

        Returns:
            The new chunks of reply text, in order.

        Raises:
            OpchatgptsError: the answer is a failure (see the module docstring).
        """
        if self.done or not data:
            return []
        if self._mode == _EVENTS:
            return self._decode(data)
        self._body.append(data)
        self._body_len += len(data)
        if self._mode == _SNIFF:
            return self._sniff()
        if self._mode == _STATUS:
            if self._body_len >= ERROR_READ_LIMIT:
                self._raise_status()
        else:
            self._check_json_size()
        return []

    def _check_json_size(self) -> None:
        if self.max_event_size is not None and self._body_len > self.max_event_size:
            self._fail(
                EventTooLargeError(
                    f"The JSON answer grew past max_event_size ({self.max_event_size} bytes)"
                )
            )

    def feed_eof(self) -> List[str]:
        """The body has ended.

        Returns:
            The last chunks (a JSON answer's reply comes out here).

        Raises:
            OpchatgptsError: the answer was a failure or ended early.
        """
        if self.done:
            return []
        mode = self._mode
        if mode == _STATUS:
            self._raise_status()
        if mode == _JSON:
            return self._json_answer()
        if self._decoder is not None:
            self._decoder.close()
        if self._empty_error:
            self._fail(ServerError(GENERIC_SERVER_ERROR))
        if mode == _SNIFF and not self._body_len:
            self._fail(IncompleteStreamError("The answer was empty"))
        if mode == _SNIFF or not self._seen_event:
            kind = self.content_type or "no Content-Type"
            self._fail(IncompleteStreamError(f"The answer has no events ({kind})"))
        self._fail(IncompleteStreamError("The stream ended before its end frame"))

    # -- the body's first bytes decide what it is ---------------------------------

    def _sniff(self) -> List[str]:
        head = b"".join(self._body)
        if len(head) < 3 and _BOM.startswith(head):
            return []
        body = head[3:] if head[:3] == _BOM else head
        start = body.lstrip(_WHITESPACE)[:1]
        if not start:
            self._body = [head]
            if self.max_event_size is not None and self._body_len > self.max_event_size:
                self._fail(EventTooLargeError("The answer began with too much white space"))
            return []
        if start == b"{":
            self._mode = _JSON
            self._body = [body]
            self._check_json_size()  # the first piece may hold all of it
            return []
        self._mode = _EVENTS
        self._body = []
        self._decoder = SSEDecoder(self.max_event_size)
        return self._decode(head)

    # -- event streams ------------------------------------------------------------

    def _decode(self, data: bytes) -> List[str]:
        assert self._decoder is not None
        try:
            events = self._decoder.feed(data)
        except EventTooLargeError as error:
            # The frames before the overflow count: an end frame among them
            # completes the answer; their chunks come out before the error.
            out = self._events(list(error.events))
            error.events = ()
            if not self.done:
                if not out:
                    self._fail(error)
                self.done = True
                error.partial = self.partial
                self._failure = error
            return out
        return self._events(events)

    def _events(self, events: List[Any]) -> List[str]:
        out: List[str] = []
        try:
            for event in events:
                self._seen_event = True
                self._frame(event.data, out)
                if self.done:
                    break
        except OpchatgptsError as error:
            if not out:
                raise
            # Frames that came before the failure in the same piece of the body
            # are delivered first, so the chunks a caller sees do not depend on
            # how the bytes were split; check() raises the failure after them.
            self._failure = error
        return out

    def check(self) -> None:
        """Raise the failure that ended the answer after the last chunks were returned.

        :meth:`feed` returns the chunks of the frames before a failing one, and
        sets :attr:`done`; the caller yields them and then calls this.

        Raises:
            OpchatgptsError: the answer failed (raised once).
        """
        failure, self._failure = self._failure, None
        if failure is not None:
            raise failure

    def _frame(self, data: str, out: List[str]) -> None:
        try:
            frame = json.loads(data)
        except ValueError:
            frame = None
        if type(frame) is not dict or "type" not in frame:
            self._fail(BrokenLineError(data))
        kind = frame["type"]
        if kind == "live":
            text = frame.get("data")
            subtype = frame.get("subtype")
            if subtype is None or subtype == "content":
                if isinstance(text, str):
                    if text:
                        out.append(text)
                        self._keep(text)
                elif text is not None:
                    self._fail(BrokenLineError(data))
            else:
                shown = text if isinstance(text, str) else ""
                self.statuses.append(StatusEvent(str(subtype), shown, frame))
        elif kind == "end":
            self._end(frame.get("data"), data)
        elif kind == "error":
            message = frame.get("data")
            if message is None or message == "":
                self._empty_error = True  # AI Engine 3.x: the real error follows
                return
            if not isinstance(message, str):
                message = json.dumps(message, ensure_ascii=False)
            self._fail(ServerError(message))

    def _keep(self, text: str) -> None:
        # A str object costs ~50 bytes besides its text: kept one per token,
        # the chunks of a long reply of 4-character tokens took 15x the text.
        # Joined in blocks, the whole reply costs about its text, in O(n).
        chunks = self._chunks
        chunks.append(text)
        if len(chunks) >= _KEEP_BLOCK:
            self._blocks.append("".join(chunks))
            chunks.clear()

    def _end(self, payload: object, data: str) -> None:
        if isinstance(payload, str):
            try:
                payload = json.loads(payload)
            except ValueError:
                payload = None
        if not isinstance(payload, dict):
            self._fail(BrokenLineError(data))
        self._accept(payload)

    # -- the reply, from an end frame or a JSON answer ----------------------------

    def _accept(self, answer: Dict[str, Any]) -> None:
        if answer.get("success") is False or ("code" in answer and "reply" not in answer):
            message = answer.get("message")
            if not isinstance(message, str) or not message:
                message = GENERIC_SERVER_ERROR
            self._fail(ServerError(message))
        reply = answer.get("reply")
        usage = answer.get("usage")
        images = answer.get("images")
        token = answer.get("new_token")
        if isinstance(token, str) and token:
            self.new_nonce = token
        self.reply = Reply(
            text=reply if isinstance(reply, str) else self.partial,
            usage=usage if isinstance(usage, dict) else None,
            images=images if isinstance(images, list) else None,
            raw=answer,
        )
        self.done = True

    def _json_answer(self) -> List[str]:
        body = b"".join(self._body)
        try:
            answer = json.loads(body)
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            self._fail(
                IncompleteStreamError(
                    "The answer is neither an event stream nor a whole JSON object"
                )
            )
        self._accept(answer)
        assert self.reply is not None
        text = self.reply.text
        if text:
            self._chunks.append(text)
            return [text]
        return []

    # -- failures -----------------------------------------------------------------

    def _raise_status(self) -> NoReturn:
        status = self.status_code
        body = b"".join(self._body)
        message = _status_line(status)
        shown = body[:ERROR_BODY_LIMIT].decode("utf-8", "replace")
        if status == 407 and self.proxy:
            # Plain http:// through a proxy: the 407 is the proxy's, as a refused
            # CONNECT tunnel is for https://; both give the same error.
            error = proxy_status_error(status, self.proxy)
            error.body = shown
            self._fail(error)
        if 300 <= status < 400 and self.location:
            # Redirects are never followed: requests and aiohttp would turn a
            # 301/302/303 POST into a GET without the message.  Name the target
            # so the user can fix base_url.
            message = f"{message}: redirected to {_shown_location(self.location)}, not followed"
        try:
            answer = json.loads(body)
        except ValueError:
            answer = None
        site_message: Optional[str] = None
        code: Optional[str] = None
        if isinstance(answer, dict):
            if isinstance(answer.get("message"), str) and answer["message"]:
                site_message = answer["message"]
            if isinstance(answer.get("code"), str):
                code = answer["code"]
            if answer.get("success") is False and site_message:
                self._fail(
                    RejectedError(
                        f"{message}: {site_message}",
                        site_message=site_message,
                        status_code=status,
                        body=shown,
                    )
                )
        if site_message:
            message = f"{message}: {site_message}"
        if code:
            message = f"{message} ({code})"
        self._fail(HTTPStatusError(message, status_code=status, body=shown, code=code))

    def _fail(self, error: OpchatgptsError) -> NoReturn:
        self.done = True
        self._body = []
        error.partial = self.partial
        raise error


# -- transport failures, described the same way for both front ends ---------------


class Failure:
    """Kinds of transport failure a front end can report."""

    CONNECT = "connect"
    PROXY = "proxy"
    TLS = "tls"
    CONNECT_TIMEOUT = "connect_timeout"
    READ_TIMEOUT = "read_timeout"
    LOST = "lost"


def transport_error(
    kind: str,
    *,
    origin: str,
    timeout: float,
    proxy: Optional[str] = None,
    started: bool = False,
    partial: str = "",
) -> OpchatgptsError:
    """The contract's exception for a transport failure.

    Args:
        kind: one of the :class:`Failure` constants.
        origin: ``scheme://host:port`` of the site.
        timeout: the timeout in force, in seconds.
        proxy: the proxy URL, already redacted.
        started: the answer's headers had arrived (a cut is then an
            :class:`IncompleteStreamError`).
        partial: the reply text received so far.
    """
    via = f" through the proxy {proxy}" if proxy else ""
    error: OpchatgptsError
    if kind == Failure.READ_TIMEOUT:
        error = StreamTimeoutError(f"No new bytes from {origin} for {timeout:g} s")
    elif kind == Failure.CONNECT_TIMEOUT:
        error = StreamTimeoutError(f"Connecting to {origin}{via} took more than {timeout:g} s")
    elif kind == Failure.LOST and started:
        error = IncompleteStreamError(f"The connection to {origin} was lost before the end frame")
    elif kind == Failure.LOST:
        error = TransportError(f"The connection to {origin}{via} was closed before an answer")
    elif kind == Failure.PROXY:
        error = TransportError(f"The proxy {proxy} failed to connect to {origin}")
    elif kind == Failure.TLS:
        error = TransportError(f"TLS with {origin}{via} failed")
    else:
        error = TransportError(f"Cannot connect to {origin}{via}")
    error.partial = partial
    return error


def _shown_location(location: str) -> str:
    location = redact_url(location.strip())
    return location if len(location) <= _LOCATION_LIMIT else location[:_LOCATION_LIMIT] + "..."


def _status_line(status: int) -> str:
    # The standard phrase, not the server's: both front ends must agree.
    try:
        return f"HTTP {status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"HTTP {status}"


def proxy_status_error(status: int, proxy: Optional[str]) -> HTTPStatusError:
    """The error for a proxy that refused the tunnel (e.g. 407, a wrong password).

    Args:
        status: the proxy's status code.
        proxy: the proxy URL, already redacted.
    """
    return HTTPStatusError(f"{_status_line(status)} from the proxy {proxy}", status_code=status)
