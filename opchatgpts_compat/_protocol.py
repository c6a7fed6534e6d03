"""From answer bytes to chunks, a :class:`Reply` or an error: no I/O.

A front end makes one :class:`ReplyParser` per answer, from its status code and
Content-Type, feeds it every piece of the body as it arrives, yields the chunks
each :meth:`~ReplyParser.feed` returns, and stops reading once
:attr:`~ReplyParser.done` is true; at the end of the body it calls
:meth:`~ReplyParser.feed_eof`.  A failure never interrupts the chunks before
it: ``feed`` returns them and sets :attr:`~ReplyParser.error`, which the front
end raises after handing them over.  Every decision about what the bytes mean
is made here, so both front ends give the same chunks and the same errors,
however the bytes were split.

The rules (API.md section 5, PROTOCOL.md section 3):

* not 2xx: :class:`HTTPStatusError` (:class:`RejectedError` when the JSON body
  says ``"success": false``), once the body is read;
* 2xx: the body decides, not the Content-Type: one whose first character is
  ``{`` is a JSON answer (a reply, or an error); anything else is an event
  stream, where ``live`` frames are chunks, ``end`` is the reply, ``error``
  is a :class:`ServerError` and other types are skipped;
* the body ending before an ``end`` frame: :class:`IncompleteStreamError`.
"""

from __future__ import annotations

import json
import re
from typing import Any, Callable, Dict, List, NoReturn, Optional

from ._exceptions import (
    BrokenLineError,
    EventTooLargeError,
    IncompleteStreamError,
    OpchatgptsError,
    ServerError,
)
from ._failures import ERROR_BODY_LIMIT, server_error, status_error
from ._json import loads
from ._models import Reply, StatusEvent
from ._sse import DEFAULT_MAX_EVENT_SIZE, RUN_SEPARATOR, SSEDecoder

__all__ = ["ReplyParser", "ERROR_BODY_LIMIT", "ERROR_READ_LIMIT"]

#: An error body is read up to this size, to find the site's JSON message.
ERROR_READ_LIMIT = 64 * 1024
#: The message of an ``error`` frame with empty data that nothing followed.
GENERIC_SERVER_ERROR = "The site reported an error without a message"

#: Chunks kept for ``.partial`` are joined this many at a time.
_KEEP_BLOCK = 1024
_WHITESPACE = b" \t\r\n"
_BOM = b"\xef\xbb\xbf"

_SNIFF, _EVENTS, _JSON, _STATUS = range(4)

#: Where one frame of a run ends and the next begins (see ``ReplyParser._run_of``),
#: and what it becomes in the JSON array: a comma, padded with JSON white space
#: to the same length, which ``bytes.replace`` writes in one pass.
_FRAME_SEPARATOR = b"}" + RUN_SEPARATOR.encode() + b"{"
_FRAME_COMMA = b"}\n\n,".ljust(len(_FRAME_SEPARATOR) - 1) + b"{"
#: ``SURROGATE_ESCAPE`` of ``_json``, for a run still in bytes.
_SURROGATE_ESCAPE_BYTES = re.compile(rb"\\u[dD][89a-fA-F]")


class ReplyParser:
    """Interpret one answer of ``chats/submit``.

    Attributes:
        done: the answer is complete (or failed): read no more of it.
        error: the failure, when the answer is one: raise it after the chunks.
        reply: the :class:`Reply`, once the answer is complete.
        statuses: ``live`` frames that are not reply text (progress lines).
        new_nonce: a replacement nonce the site sent (``new_token``), if any.
    """

    #: Let the decoder hand over runs of plain frames, each read with one
    #: ``json.loads``; ``False``: every line and every frame on its own (the
    #: reference the tests compare with).  The result is the same either way.
    _batch = True

    def __init__(
        self,
        status_code: int,
        content_type: str = "",
        *,
        max_event_size: Optional[int] = DEFAULT_MAX_EVENT_SIZE,
        location: Optional[str] = None,
        proxy: Optional[str] = None,
        url: Optional[str] = None,
        bot_id: Optional[str] = None,
    ) -> None:
        """Args:
        status_code, content_type: of the answer.
        max_event_size: largest event or JSON answer, in bytes; ``None``: no limit.
        location: the ``Location`` header, named in the error for a redirect.
        proxy: the proxy URL, already redacted: a 407 is then the proxy's refusal.
        url: the URL the request went to, already redacted: named in a 404's error.
        bot_id: the bot id (or custom id) sent when it is not the default:
            AI Engine's "Sorry, your query has been rejected." then names it.
        """
        self.status_code = status_code
        self.content_type = content_type
        self.max_event_size = max_event_size
        self.location = location
        self.proxy = proxy
        self.url = url
        self.bot_id = bot_id
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
        self._out: List[str] = []
        #: The failure, once the answer turned out to be one (see :meth:`feed`).
        self.error: Optional[OpchatgptsError] = None
        self._statuses_taken = 0

    @property
    def partial(self) -> str:
        """The reply text received so far."""
        if self._blocks:
            return "".join([*self._blocks, *self._chunks])
        return "".join(self._chunks)

    def take_statuses(self) -> List[StatusEvent]:
        """The status frames parsed since the last call, for a front end to report."""
        fresh = self.statuses[self._statuses_taken :]
        self._statuses_taken = len(self.statuses)
        return fresh

    def feed(self, data: bytes) -> List[str]:
        """Feed the next piece of the (content-decoded) body.

        Returns:
            The new chunks of reply text, in order.  When the bytes also hold a
            failure, the chunks before it are returned, :attr:`error` is set
            and :attr:`done` is true: deliver the chunks, then raise the error.
        """
        if self.done or not data:
            return []
        return self._run(self._feed, data)

    def feed_eof(self) -> List[str]:
        """The body has ended.

        Returns:
            The last chunks (a JSON answer's reply comes out here); when the
            answer failed or ended early, :attr:`error` is set.
        """
        if self.done:
            return []
        return self._run(self._feed_eof, b"")

    def _run(self, step: Callable[[bytes], None], data: bytes) -> List[str]:
        out = self._out = []
        try:
            step(data)
        except OpchatgptsError as error:
            error.partial = self.partial
            self.error = error
            self.done = True
            self._body = []
        return out

    def _feed(self, data: bytes) -> None:
        if self._mode == _EVENTS:
            assert self._decoder is not None
            self._decode(data)
            return
        self._body.append(data)
        self._body_len += len(data)
        if self._mode == _SNIFF:
            self._sniff()
        elif self._mode == _STATUS:
            if self._body_len >= ERROR_READ_LIMIT:
                self._raise_status()
        else:
            self._check_json_size()

    def _check_json_size(self) -> None:
        if self.max_event_size is not None and self._body_len > self.max_event_size:
            raise EventTooLargeError(
                f"The JSON answer grew past max_event_size ({self.max_event_size} bytes)"
            )

    def _feed_eof(self, _: bytes) -> None:
        mode = self._mode
        if mode == _STATUS:
            self._raise_status()
        if mode == _JSON:
            self._json_answer()
            return
        if self._decoder is not None:
            self._decoder.close()
        if self._empty_error:
            raise ServerError(GENERIC_SERVER_ERROR)
        if mode == _SNIFF and not self._body_len:
            raise IncompleteStreamError("The answer was empty")
        if mode == _SNIFF or not self._seen_event:
            kind = self.content_type or "no Content-Type"
            raise IncompleteStreamError(f"The answer has no events ({kind})")
        raise IncompleteStreamError("The stream ended before its end frame")

    # -- the body's first bytes decide what it is ---------------------------------

    def _sniff(self) -> None:
        head = b"".join(self._body)
        if len(head) < 3 and _BOM.startswith(head):
            return
        body = head[3:] if head[:3] == _BOM else head
        start = body.lstrip(_WHITESPACE)[:1]
        if not start:
            self._body = [head]
            if self.max_event_size is not None and self._body_len > self.max_event_size:
                raise EventTooLargeError("The answer began with too much white space")
            return
        if start == b"{":
            self._mode = _JSON
            self._body = [body]
            self._check_json_size()  # the first piece may hold all of it
            return
        self._mode = _EVENTS
        self._body = []
        self._decoder = SSEDecoder(self.max_event_size)
        self._decoder._batch = self._batch
        self._decode(head)

    # -- event streams ------------------------------------------------------------

    def _decode(self, data: bytes) -> None:
        decoder = self._decoder
        assert decoder is not None
        for item in decoder._feed(data):
            self._seen_event = True
            if type(item) is tuple:  # a run (an Event's type is Event)
                self._run_of(*item)
            else:
                self._frame(item.data)  # type: ignore[union-attr]
            if self.done:
                return

    def _run_of(self, run: bytes, count: int) -> None:
        """Interpret a run of plain events (see ``SSEDecoder._feed``), in one ``json.loads``.

        ``run`` is ``F1\\n\\ndata: F2 ... \\n\\ndata: Fn``, the data of n events
        (no LF inside any), as it came (checked as bytes, decoded once), and
        ``count`` is n, as the decoder counted them.  Each separator that
        stands between a ``}`` and a ``{`` becomes a comma (:data:`_FRAME_COMMA`);
        when the run starts with ``{``, ends with ``}`` and holds no ``[``,
        ``[`` + that + ``]`` is a JSON array of n items exactly when every
        ``Fi`` is one JSON object alone, and its items are those objects:

        * a separator left as it was is not JSON: its raw LF cannot be inside
          a string (strict JSON refuses control characters there), and
          ``data`` outside one is no JSON value;
        * no inserted comma is inside a string, for the same raw LF;
        * none separates object members: a member name would follow, not ``{``;
        * so each separates items of an array, and the only array is the outer
          one, since no frame holds a ``[``; n items then means no other comma
          separates them.

        Otherwise each frame goes through :meth:`_frame`, which gives the same
        chunks or raises the same error.
        """
        frames = self._frames(run, count)
        if frames is None:
            for data in run.decode("utf-8", "replace").split(RUN_SEPARATOR):
                self._frame(data)
                if self.done:
                    return
            return
        texts: Optional[List[str]] = None
        out = self._out
        start = len(out)  # out[start:] are not kept for .partial yet
        for index, frame in enumerate(frames):
            # {"type": "live", "data": ...} and nothing else: a token.
            if len(frame) == 2 and frame.get("type") == "live":
                token = frame.get("data")
                if type(token) is str:
                    if token:
                        out.append(token)
                    continue
            # Any other frame: the general code, with ``partial`` up to date.
            self._keep_all(out[start:])
            if texts is None:
                texts = run.decode("utf-8", "replace").split(RUN_SEPARATOR)
            self._object(frame, texts[index])
            start = len(out)
            if self.done:
                break
        self._keep_all(out[start:])

    @staticmethod
    def _frames(run: bytes, count: int) -> Optional[List[Any]]:
        # The frames of ``run`` as one JSON array, or None (see _run_of).
        if run[:1] != b"{" or run[-1:] != b"}" or b"[" in run:
            return None
        if b"\\" in run and _SURROGATE_ESCAPE_BYTES.search(run) is not None:
            return None  # the frames one by one, through loads
        # Decoding the run at once gives the same text as frame by frame:
        # the separators are ASCII, which never continues a sequence.
        text = run.replace(_FRAME_SEPARATOR, _FRAME_COMMA).decode("utf-8", "replace")
        try:
            frames: List[Any] = json.loads("[" + text + "]")
        except (ValueError, RecursionError):
            return None
        return frames if len(frames) == count else None

    def _frame(self, data: str) -> None:
        try:
            frame = loads(data)
        except (ValueError, RecursionError):  # RecursionError: deep nesting
            frame = None
        self._object(frame, data)

    def _object(self, frame: Any, data: str) -> None:
        if type(frame) is not dict or "type" not in frame:
            raise BrokenLineError(data)
        kind = frame["type"]
        if kind == "live":
            text = frame.get("data")
            subtype = frame.get("subtype")
            if subtype is None or subtype == "content":
                if isinstance(text, str):
                    if text:
                        self._out.append(text)
                        self._keep(text)
                elif text is not None:
                    raise BrokenLineError(data)
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
            raise self._server_error(message)

    def _keep_all(self, texts: List[str]) -> None:
        chunks = self._chunks
        chunks += texts
        if len(chunks) >= _KEEP_BLOCK:
            self._blocks.append("".join(chunks))
            chunks.clear()

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
                payload = loads(payload)
            except (ValueError, RecursionError):
                payload = None
        if not isinstance(payload, dict):
            raise BrokenLineError(data)
        self._accept(payload)

    # -- the reply, from an end frame or a JSON answer ----------------------------

    def _accept(self, answer: Dict[str, Any]) -> None:
        if answer.get("success") is False or ("code" in answer and "reply" not in answer):
            message = answer.get("message")
            if not isinstance(message, str) or not message:
                message = GENERIC_SERVER_ERROR
            raise self._server_error(message)
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

    def _json_answer(self) -> None:
        body = b"".join(self._body)
        try:
            answer = loads(body)
        except (ValueError, RecursionError):
            answer = None
        if not isinstance(answer, dict):
            raise IncompleteStreamError(
                "The answer is neither an event stream nor a whole JSON object"
            )
        self._accept(answer)
        assert self.reply is not None
        text = self.reply.text
        if text:
            self._out.append(text)
            self._keep(text)

    # -- failures -----------------------------------------------------------------

    def _server_error(self, message: str) -> ServerError:
        return server_error(message, self.bot_id)

    def _raise_status(self) -> NoReturn:
        raise status_error(
            self.status_code,
            b"".join(self._body),
            url=self.url,
            proxy=self.proxy,
            location=self.location,
            bot_id=self.bot_id,
        )
