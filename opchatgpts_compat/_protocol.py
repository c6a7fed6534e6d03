"""From answer bytes to chunks, a :class:`Reply` or an error: no I/O.

A front end makes one :class:`ReplyParser` per answer, from its status code and
Content-Type, feeds it every piece of the body as it arrives, yields the chunks
each :meth:`~ReplyParser.feed` returns, and stops reading once
:attr:`~ReplyParser.done` is true; at the end of the body it calls
:meth:`~ReplyParser.feed_eof`.  Every decision about what the bytes mean is made
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
from ._sse import DEFAULT_MAX_EVENT_SIZE, SSEDecoder

__all__ = ["ReplyParser", "Failure", "transport_error", "proxy_status_error", "ERROR_BODY_LIMIT"]

#: ``HTTPStatusError.body`` keeps at most this many bytes of the body.
ERROR_BODY_LIMIT = 1024
#: An error body is read up to this size, to find the site's JSON message.
ERROR_READ_LIMIT = 64 * 1024
#: The message of an ``error`` frame with empty data that nothing followed.
GENERIC_SERVER_ERROR = "The site reported an error without a message"

_WHITESPACE = b" \t\r\n"
_BOM = b"\xef\xbb\xbf"

_SNIFF, _EVENTS, _JSON, _STATUS = range(4)

#: Interpret the plain frames of each read together (see ``ReplyParser._plain``).
#: Only a switch for tests and benchmarks: the result is the same either way.
FAST_PATH = True

# The plain shape every AI Engine version writes: one ``data: {...}`` line and a
# blank line per frame, LF line ends.
_PLAIN_HEAD = b"data: {"
_PLAIN_SEP = b"}\n\ndata: {"


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
        fast_path: Optional[bool] = None,
    ) -> None:
        """Args:
        status_code: the answer's HTTP status.
        content_type: its Content-Type header, for error messages.
        max_event_size: largest event or JSON answer, in bytes; ``None`` for
            no limit.
        fast_path: decode the plain frames of one read together (the
            default, :data:`FAST_PATH`); ``False`` sends every byte through
            the WHATWG decoder and every frame through its own ``json.loads``.
            The chunks, the reply and the errors are the same either way.
        """
        self.status_code = status_code
        self.content_type = content_type
        self.max_event_size = max_event_size
        self.done = False
        self.reply: Optional[Reply] = None
        self.statuses: List[StatusEvent] = []
        self.new_nonce: Optional[str] = None
        self._chunks: List[str] = []
        self._mode = _SNIFF if 200 <= status_code < 300 else _STATUS
        self._body: List[bytes] = []
        self._body_len = 0
        self._decoder: Optional[SSEDecoder] = None
        self._empty_error = False
        self._seen_event = False
        self._fast = FAST_PATH if fast_path is None else fast_path

    @property
    def partial(self) -> str:
        """The reply text received so far."""
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
            assert self._decoder is not None
            if self._fast:
                return self._feed_fast(data)
            return self._events(self._decoder.feed(data))
        self._body.append(data)
        self._body_len += len(data)
        if self._mode == _SNIFF:
            return self._sniff()
        if self._mode == _STATUS:
            if self._body_len >= ERROR_READ_LIMIT:
                self._raise_status()
        elif self.max_event_size is not None and self._body_len > self.max_event_size:
            self._fail(
                EventTooLargeError(
                    f"The JSON answer grew past max_event_size ({self.max_event_size} bytes)"
                )
            )
        return []

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
            return []
        self._mode = _EVENTS
        self._body = []
        self._decoder = SSEDecoder(self.max_event_size)
        if self._fast:
            return self._feed_fast(head)
        return self._events(self._decoder.feed(head))

    # -- event streams ------------------------------------------------------------

    def _events(self, events: List[Any]) -> List[str]:
        out: List[str] = []
        for event in events:
            self._seen_event = True
            self._frame(event.data, out)
            if self.done:
                break
        return out

    def _feed_fast(self, data: bytes) -> List[str]:
        # The same result as ``self._events(self._decoder.feed(data))``: an
        # unfinished line is taken back from the decoder and read again with
        # ``data``, an event in progress is finished by the decoder, the plain block
        # goes through ``_plain``, what follows it through the decoder again.
        # The decoder is split-invariant, so feeding it in pieces changes
        # nothing; the size check makes sure it cannot raise EventTooLargeError
        # part way (the one error it raises, which would else come earlier).
        decoder = self._decoder
        assert decoder is not None
        limit = self.max_event_size
        if limit is not None and decoder.held + len(data) > limit:
            return self._events(decoder.feed(data))
        out: List[str] = []
        if not decoder.at_boundary and b"\n\n" in data:
            # The head of the first frame came in the last read.  Taken back
            # only when this read ends its line, so no byte is copied twice.
            line = decoder.take_line()
            if line is not None:
                data = line + data
        if not decoder.at_boundary:
            cut = data.find(b"\n\n") + 2
            if cut < 2:
                return self._events(decoder.feed(data))
            out = self._events(decoder.feed(data[:cut]))
            data = data[cut:]
            if self.done or not data:
                return out
            if not decoder.at_boundary:
                out += self._events(decoder.feed(data))
                return out
        end = data.rfind(b"\n\n")
        if end > 0 and self._plain(data[:end], out):
            data = data[end + 2 :]
            if not data or self.done:
                return out
        out += self._events(decoder.feed(data))
        return out

    def _plain(self, block: bytes, out: List[str]) -> bool:
        """Interpret ``block``, whole events in the plain shape, with one ``json.loads``.

        ``block`` is ``data: {F1}\\n\\ndata: {F2} ... data: {Fn}``, no CR, no
        other LF, no ``[`` anywhere.  Then ``[{F1}\\n\\n,{F2} ... {Fn}]``
        is a JSON array of n objects exactly when every ``{Fi}`` is one JSON
        object alone, and its items are those objects:

        * no inserted comma is inside a string: the raw LF before it would be
          (strict JSON refuses control characters in strings);
        * none separates object members: a member name would follow, not ``{``;
        * so each separates items of an array, and the only array is the outer
          one, since no frame holds a ``[``; n items then means no other comma
          separates them.

        Returns:
            ``False``, having done nothing, when ``block`` is not in that
            shape or is not such an array: the caller then hands it to the
            decoder, which gives the same chunks or raises the same error.
        """
        if block[:7] != _PLAIN_HEAD or block[-1:] != b"}" or b"\r" in block or b"[" in block:
            return False
        count = block.count(_PLAIN_SEP) + 1
        if block.count(b"\n") != 2 * (count - 1):
            return False
        # Decoding the whole block at once gives the same text as decoding each
        # frame (the split points are ASCII, which never continues a sequence).
        text = block[6:].decode("utf-8", "replace")
        try:
            frames = json.loads("[" + text.replace("\n\ndata: ", "\n\n,") + "]")
        except (ValueError, RecursionError):
            return False
        if len(frames) != count:
            return False
        self._seen_event = True
        texts: Optional[List[str]] = None
        append = out.append
        start = len(out)  # out[start:] are not in self._chunks yet
        for index, frame in enumerate(frames):
            if frame.get("type") == "live" and frame.get("subtype") is None:
                token = frame.get("data")
                if type(token) is str:
                    if token:
                        append(token)
                    continue
            # Any other frame: the general code, with ``partial`` up to date.
            self._chunks += out[start:]
            if texts is None:
                texts = text.split("\n\ndata: ")
            self._object(frame, texts[index], out)
            start = len(out)
            if self.done:
                break
        self._chunks += out[start:]
        return True

    def _frame(self, data: str, out: List[str]) -> None:
        try:
            frame = json.loads(data)
        except ValueError:
            frame = None
        self._object(frame, data, out)

    def _object(self, frame: Any, data: str, out: List[str]) -> None:
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
                        self._chunks.append(text)
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
