"""Regression tests, no sockets, for the core fixes found by the fault suite.

The outcome of an answer must not depend on how its bytes were split into
reads: the same chunks, then the same reply or error with the same partial.
"""

from __future__ import annotations

from typing import Any, List, Optional, Sequence, Tuple

import pytest
from support.fault_server import end_frame, error_frame, live
from support.helpers import feed_all

from opchatgpts_compat import (
    EventTooLargeError,
    HTTPStatusError,
    OpchatgptsError,
    ServerError,
)
from opchatgpts_compat.core import ReplyParser, SSEDecoder, build_settings

Outcome = Tuple[List[str], Optional[str], Optional[Tuple[type, str, str]]]


def run(
    pieces: Sequence[bytes], status: int = 200, **kwargs: Any
) -> Tuple[List[str], Optional[str], Optional[Tuple[type, str, str]]]:
    """Feed ``pieces`` as a front end does: chunks out, EOF, then the error."""
    parser = ReplyParser(status, "text/event-stream", **kwargs)
    chunks = feed_all(parser, pieces)
    error = parser.error
    if error is not None:
        return chunks, None, (type(error), str(error), error.partial)
    assert parser.reply is not None
    return chunks, parser.reply.text, None


def splits(body: bytes) -> List[List[bytes]]:
    return [[body], [body[i : i + 1] for i in range(len(body))]] + [
        [body[:i], body[i:]] for i in range(0, len(body), 7)
    ]


def test_chunks_before_an_error_in_the_same_read_are_delivered() -> None:
    body = live("a") + live("b") + error_frame("Boom") + live("never")
    expected = (["a", "b"], None, (ServerError, "Boom", "ab"))
    for pieces in splits(body):
        assert run(pieces) == expected


def test_the_chunks_come_out_and_the_error_waits() -> None:
    parser = ReplyParser(200)
    assert parser.feed(live("a") + error_frame("Boom")) == ["a"]
    assert parser.done
    assert isinstance(parser.error, ServerError)
    assert parser.error.partial == "a"
    assert parser.feed(live("b")) == []  # done: nothing more is read


def test_overflow_after_frames_in_the_same_read() -> None:
    big = b'data: {"type":"live","data":"' + b"x" * 300
    message = "An event grew past max_event_size (100 bytes)"
    expected = (["a", "b"], None, (EventTooLargeError, message, "ab"))
    for pieces in splits(live("a") + live("b") + big):
        assert run(pieces, max_event_size=100) == expected


def test_end_frame_before_an_overflow_wins() -> None:
    body = live("a") + end_frame("A") + b"data: " + b"x" * 400
    for pieces in splits(body):
        assert run(pieces, max_event_size=200) == (["a"], "A", None)


def test_decoder_hands_over_the_events_before_an_overflow() -> None:
    decoder = SSEDecoder(max_event_size=10)
    events = decoder.feed(b"data: 1\n\ndata: 2\n\ndata: 0123456789abc")
    assert [event.data for event in events] == ["1", "2"]
    with pytest.raises(EventTooLargeError):
        decoder.feed(b"def")  # owed to the next call, which reads none of its bytes
    events = decoder.feed(b"ghi\n\ndata: 3\n\n")  # the long line is dropped to its end
    assert [event.data for event in events] == ["3"]
    decoder = SSEDecoder(max_event_size=10)
    events = decoder.feed(b"data: 4\n\ndata: 0123456789abc\n\n")  # the one-line fast path
    assert [event.data for event in events] == ["4"]
    with pytest.raises(EventTooLargeError):
        decoder.close()


def test_json_answer_over_the_limit_in_one_read() -> None:
    body = b'{"success":true,"reply":"' + b"z" * 4000 + b'"}'
    message = "The JSON answer grew past max_event_size (1024 bytes)"
    for pieces in ([body], [body[:10], body[10:]]):
        assert run(pieces, max_event_size=1024) == ([], None, (EventTooLargeError, message, ""))


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirect_names_its_target(status: int) -> None:
    parser = ReplyParser(status, "", location="https://user:pw@example.org/new/")
    parser.feed(b"Moved")
    parser.feed_eof()
    error = parser.error
    assert isinstance(error, HTTPStatusError)
    assert str(error).endswith(": redirected to https://****@example.org/new/, not followed")
    assert "pw" not in str(error)
    assert error.status_code == status


def failure(parser: ReplyParser) -> OpchatgptsError:
    """The error of an answer whose body ends now."""
    parser.feed_eof()
    assert parser.error is not None
    return parser.error


def test_redirect_without_location() -> None:
    error = failure(ReplyParser(302))
    assert type(error) is HTTPStatusError
    assert str(error) == "HTTP 302 Found"


def test_407_through_a_proxy_is_the_proxys() -> None:
    proxy = "http://****@127.0.0.1:3128"
    error = failure(ReplyParser(407, "text/html", proxy=proxy))
    assert type(error) is HTTPStatusError
    assert str(error) == f"HTTP 407 Proxy Authentication Required from the proxy {proxy}"
    error = failure(ReplyParser(407))  # no proxy: the site's own 407
    assert str(error) == "HTTP 407 Proxy Authentication Required"


def test_verify_cannot_be_switched_off(tmp_path: Any) -> None:
    for off in (False, True, 0):
        with pytest.raises(TypeError, match="CA bundle"):
            build_settings(verify=off)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no CA bundle"):
        build_settings(verify=str(tmp_path / "missing.pem"))
    bundle = tmp_path / "ca.pem"
    bundle.write_text("")
    assert build_settings(verify=bundle).verify == str(bundle)
    assert build_settings().verify is None


def test_partial_survives_the_kept_blocks() -> None:
    parser = ReplyParser(200)
    body = b"".join(live(f"{i},") for i in range(5000))
    chunks = parser.feed(body)
    assert len(chunks) == 5000
    assert parser.partial == "".join(f"{i}," for i in range(5000))
    assert parser.feed(error_frame("late")) == []
    assert isinstance(parser.error, ServerError)
    assert parser.error.partial == parser.partial


def test_kept_text_costs_about_its_size() -> None:
    import tracemalloc

    body = b"".join(live(f"w{i % 100:02d} ") for i in range(100_000))  # 4-char tokens
    parser = ReplyParser(200)
    tracemalloc.start()
    try:
        for start in range(0, len(body), 65536):
            parser.feed(body[start : start + 65536])
        kept, _peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    text = len(parser.partial)
    assert text == 400_000
    # One str object per token would be ~57 bytes each: 5.7 MB for 0.4 MB of text.
    assert kept < 2 * text
