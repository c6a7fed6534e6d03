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
import socket
from http import HTTPStatus
from typing import Any, Callable, Dict, List, NoReturn, Optional, Union
from urllib.parse import urlsplit

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
from ._models import Event, Reply, StatusEvent
from ._request import DEFAULT_BASE_URL, DEFAULT_BOT_ID, redact_url
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
#: A JSON escape that may stand for half a surrogate pair (``"\\ud800"``).
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE_ESCAPE_BYTES = re.compile(rb"\\u[dD][89a-fA-F]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
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
        error: the failure, when the answer is one: raise it after the chunks.
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
        fast_path: Optional[bool] = None,
        url: Optional[str] = None,
        bot_id: Optional[str] = None,
    ) -> None:
        """Args:
        status_code, content_type: of the answer.
        max_event_size: largest event or JSON answer, in bytes; ``None``: no limit.
        location: the ``Location`` header, named in the error for a redirect.
        proxy: the proxy URL, already redacted: a 407 is then the proxy's refusal.
        fast_path: decode the plain frames of one read together (the default,
            :data:`FAST_PATH`); ``False`` sends every byte through the WHATWG
            decoder and every frame through its own ``json.loads``.  The
            chunks, the reply and the errors are the same either way.
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
        self._fast = FAST_PATH if fast_path is None else fast_path

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
        self._decode(head)

    # -- event streams ------------------------------------------------------------

    def _events(self, events: List[Event]) -> None:
        for event in events:
            self._seen_event = True
            self._frame(event.data)
            if self.done:
                break

    def _decode(self, data: bytes) -> None:
        # The same result as ``self._events(self._decoder.feed(data))``: an
        # unfinished line is taken back from the decoder and read again with
        # ``data``, an event in progress is finished by the decoder, the plain
        # block goes through ``_plain``, what follows it through the decoder
        # again.  The decoder is split-invariant, so feeding it in pieces
        # changes nothing; the size check keeps it from owing an
        # EventTooLargeError part way (which would else come earlier).
        decoder = self._decoder
        assert decoder is not None
        limit = self.max_event_size
        if not self._fast or (limit is not None and decoder.held + len(data) > limit):
            self._events(decoder.feed(data))
            return
        if not decoder.at_boundary and b"\n\n" in data:
            # The head of the first frame came in the last read.  Taken back
            # only when this read ends its line, so no byte is copied twice.
            line = decoder.take_line()
            if line is not None:
                data = line + data
        if not decoder.at_boundary:
            cut = data.find(b"\n\n") + 2
            if cut < 2:
                self._events(decoder.feed(data))
                return
            self._events(decoder.feed(data[:cut]))
            data = data[cut:]
            if self.done or not data:
                return
            if not decoder.at_boundary:
                self._events(decoder.feed(data))
                return
        end = data.rfind(b"\n\n")
        if end > 0 and self._plain(data[:end]):
            data = data[end + 2 :]
            if not data or self.done:
                return
        self._events(decoder.feed(data))

    def _plain(self, block: bytes) -> bool:
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
        if _SURROGATE_ESCAPE_BYTES.search(block) is not None:
            return False  # the frames one by one, through _loads
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
        out = self._out
        start = len(out)  # out[start:] are not kept for .partial yet
        for index, frame in enumerate(frames):
            if frame.get("type") == "live" and frame.get("subtype") is None:
                token = frame.get("data")
                if type(token) is str:
                    if token:
                        out.append(token)
                    continue
            # Any other frame: the general code, with ``partial`` up to date.
            self._keep_all(out[start:])
            if texts is None:
                texts = text.split("\n\ndata: ")
            self._object(frame, texts[index])
            start = len(out)
            if self.done:
                break
        self._keep_all(out[start:])
        return True

    def _frame(self, data: str) -> None:
        try:
            frame = _loads(data)
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
                payload = _loads(payload)
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
            answer = _loads(body)
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

    def _hint(self, site_message: str) -> str:
        if site_message == REJECTED_MESSAGE and self.bot_id not in (None, DEFAULT_BOT_ID):
            return REJECTED_HINT.format(bot_id=self.bot_id)
        return ""

    def _server_error(self, message: str) -> ServerError:
        error = ServerError(message + self._hint(message))
        error.message = message
        return error

    def _raise_status(self) -> NoReturn:
        status = self.status_code
        body = b"".join(self._body)
        message = _status_line(status)
        if status == 404 and self.url:
            message = f"{message} from {self.url}"
        shown = body[:ERROR_BODY_LIMIT].decode("utf-8", "replace")
        if status == 407 and self.proxy:
            # Plain http:// through a proxy: the 407 is the proxy's, as a refused
            # CONNECT tunnel is for https://; both give the same error.
            error = proxy_status_error(status, self.proxy)
            error.body = shown
            raise error
        if 300 <= status < 400 and self.location:
            # Redirects are never followed: requests and aiohttp would turn a
            # 301/302/303 POST into a GET without the message.  Name the target
            # so the user can fix base_url.
            message = f"{message}: redirected to {_shown_location(self.location)}, not followed"
        try:
            answer = _loads(body)
        except (ValueError, RecursionError):
            answer = None
        site_message: Optional[str] = None
        code: Optional[str] = None
        if isinstance(answer, dict):
            if isinstance(answer.get("message"), str) and answer["message"]:
                site_message = answer["message"]
            if isinstance(answer.get("code"), str):
                code = answer["code"]
            if answer.get("success") is False and site_message:
                raise RejectedError(
                    f"{message}: {site_message}{self._hint(site_message)}",
                    site_message=site_message,
                    status_code=status,
                    body=shown,
                )
        if site_message:
            message = f"{message}: {site_message}"
        if code:
            message = f"{message} ({code})"
        if status == 404 and self.url:
            message += NOT_FOUND_HINT
        raise HTTPStatusError(message, status_code=status, body=shown, code=code)


def _loads(text: Union[str, bytes]) -> Any:
    """``json.loads``, with every lone surrogate replaced by U+FFFD.

    ``"\\ud800"`` is valid JSON but no text: a browser's ``JSON.parse`` keeps
    it, and its UTF-8 encoder makes it U+FFFD when the text is shown or sent
    back.  The same here, so a reply never holds a lone surrogate, which
    could not be printed or sent again (the next turn of a conversation).

    Raises:
        ValueError, RecursionError: as ``json.loads``.
    """
    value = json.loads(text)
    if isinstance(text, str) and _SURROGATE_ESCAPE.search(text) is None:
        return value  # the common case, a frame: nothing to scrub
    return _scrubbed(value)  # bytes may also hold surrogates (UTF-16, or UTF-8 'surrogatepass')


def _scrubbed(value: Any) -> Any:
    # Without recursion: a frame may nest as deep as json.loads allows.
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if not isinstance(value, (dict, list)):
        return value
    root: List[Any] = [value]
    stack: List[Any] = [(root, 0)]
    while stack:
        container, key = stack.pop()
        item = container[key]
        if isinstance(item, str):
            container[key] = _LONE_SURROGATE.sub("\ufffd", item)
        elif isinstance(item, list):
            stack.extend((item, index) for index in range(len(item)))
        elif isinstance(item, dict):
            for name in list(item):
                fixed = _LONE_SURROGATE.sub("\ufffd", name)
                if fixed != name:
                    item[fixed] = item.pop(name)
                stack.append((item, fixed))
    return root[0]


# -- transport failures, described the same way for both front ends ---------------


class Failure:
    """Kinds of transport failure a front end can report."""

    CONNECT = "connect"
    PROXY = "proxy"
    TLS = "tls"
    CONNECT_TIMEOUT = "connect_timeout"
    READ_TIMEOUT = "read_timeout"
    LOST = "lost"


class Cause:
    """Why connecting failed, when the front end can tell (to the site or the proxy)."""

    REFUSED = "refused"
    UNRESOLVED = "unresolved"


def connect_cause(exc: BaseException) -> Optional[str]:
    """The :class:`Cause` of a failure to connect, found in ``exc``'s chain, if any.

    Both front ends' errors wrap the socket's (``ConnectionRefusedError``,
    ``socket.gaierror``) in their causes, arguments, ``reason`` or ``os_error``.
    """
    stack: List[object] = [exc]
    seen = set()
    while stack:
        current = stack.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ConnectionRefusedError):
            return Cause.REFUSED
        if isinstance(current, socket.gaierror):
            return Cause.UNRESOLVED
        stack.extend(current.args)
        for name in ("reason", "os_error", "__cause__", "__context__"):
            stack.append(getattr(current, name, None))
    return None


#: What the connect errors to the default site (opchatgpts.net, gone) add.
DEFAULT_SITE_HINT = (
    "; {origin}, the default site, is no longer online: pass base_url= (a WordPress "
    "site running AI Engine) or use Client.from_page(url) with a page showing its chatbot"
)
#: What a 404 from the endpoint adds.
NOT_FOUND_HINT = (
    "; is base_url the WordPress site's root, with the path it lives under (e.g. "
    "https://example.org/blog), and not a page?  For a page showing the chatbot, "
    "use Client.from_page(url)"
)
#: AI Engine's answer to an unknown bot id (2.x), and to a message it refuses.
REJECTED_MESSAGE = "Sorry, your query has been rejected."
#: What that answer adds when a bot id other than the default was sent.
REJECTED_HINT = (
    " (AI Engine answers this to an unknown bot id, or a message it refuses: "
    "is the bot id {bot_id!r} right?  Client.from_page(url) takes it from the page)"
)


def transport_error(
    kind: str,
    *,
    origin: str,
    timeout: float,
    proxy: Optional[str] = None,
    started: bool = False,
    partial: str = "",
    cause: Optional[str] = None,
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
        cause: a :class:`Cause` of a ``CONNECT`` or ``PROXY`` failure, if known.
    """
    via = f" through the proxy {proxy}" if proxy else ""
    hint = ""
    if kind in _CONNECT_KINDS and not proxy and origin == _default_origin():
        hint = DEFAULT_SITE_HINT.format(origin=origin)
    error: OpchatgptsError
    if kind == Failure.READ_TIMEOUT:
        error = StreamTimeoutError(f"No new bytes from {origin} for {timeout:g} s")
    elif kind == Failure.CONNECT_TIMEOUT:
        error = StreamTimeoutError(
            f"Connecting to {origin}{via} took more than {timeout:g} s{hint}"
        )
    elif kind == Failure.LOST and started:
        error = IncompleteStreamError(f"The connection to {origin} was lost before the end frame")
    elif kind == Failure.LOST:
        error = TransportError(f"The connection to {origin}{via} was closed before an answer")
    elif kind == Failure.PROXY:
        # The proxy itself cannot be reached; a proxy that cannot reach the
        # site answers the tunnel with a status (see proxy_status_error).
        error = TransportError(f"Cannot connect to the proxy {proxy}{_cause(cause, proxy)}")
    elif kind == Failure.TLS:
        error = TransportError(f"TLS with {origin}{via} failed{hint}")
    else:
        error = TransportError(f"Cannot connect to {origin}{via}{_cause(cause, origin)}{hint}")
    error.partial = partial
    return error


_CONNECT_KINDS = (Failure.CONNECT, Failure.CONNECT_TIMEOUT, Failure.TLS)


def _default_origin() -> str:
    parts = urlsplit(DEFAULT_BASE_URL)
    return f"{parts.scheme}://{parts.netloc}"


def _cause(cause: Optional[str], url: Optional[str]) -> str:
    if cause == Cause.REFUSED:
        return ": connection refused (nothing listens on that port)"
    if cause == Cause.UNRESOLVED:
        host = urlsplit(url or "").hostname or url
        return f": the name {host} does not resolve (DNS)"
    return ""


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
