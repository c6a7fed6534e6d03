"""What the load server sends and what every client must get back.

A scenario is a small dict; it travels to the server in the URL's path prefix
(``/b/n=100,size=4,.../wp-json/mwai-ui/v1/chats/submit``), so every client
reaches it through an ordinary ``base_url``.
"""

from __future__ import annotations

import json
from typing import Dict, List, Union

Value = Union[int, str]

ASCII = "abcdefghijklmnopqrstuvwxyz0123456789"
# Three UTF-8 bytes each: a 12-byte token is four of them.
MULTI = "\u65e5\u672c\u8a9e\u306e\u6587\u5b57\u5217\u3067\u3059\u306d\u30c6\u30b9\u30c8"

DEFAULTS: Dict[str, Value] = {
    "n": 1000,  # live frames
    "size": 4,  # bytes of UTF-8 per token
    "text": "ascii",  # or "multi"
    "framing": "coalesced",  # or "frame": one HTTP chunk per frame
    "delay": 0,  # microseconds between frames
    "stamp": 0,  # 1: each token is the server's time.monotonic_ns() at its write
    "reply": 0,  # bytes of the end frame's reply (0: a short one)
}

MESSAGES = [{"role": "user", "content": "Tell me a story"}]


def scenario(**values: Value) -> Dict[str, Value]:
    unknown = set(values) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown scenario keys: {sorted(unknown)}")
    return {**DEFAULTS, **values}


def encode(params: Dict[str, Value]) -> str:
    return "/b/" + ",".join(f"{k}={params[k]}" for k in DEFAULTS)


def decode(prefix: str) -> Dict[str, Value]:
    params: Dict[str, Value] = dict(DEFAULTS)
    for item in prefix.split(","):
        key, _, value = item.partition("=")
        if key in params:
            params[key] = int(value) if isinstance(DEFAULTS[key], int) else value
    return params


def tokens(params: Dict[str, Value]) -> List[str]:
    """The live tokens of a scenario, in order (not for ``stamp`` scenarios)."""
    n, size = int(params["n"]), int(params["size"])
    if params["text"] == "multi":
        alphabet, width = MULTI, 3
    else:
        alphabet, width = ASCII, 1
    chars = max(1, size // width)
    ring = alphabet * (chars // len(alphabet) + 2)
    pool = [ring[i : i + chars] for i in range(len(alphabet))]
    return [pool[i % len(alphabet)] for i in range(n)]


def reply_text(params: Dict[str, Value]) -> str:
    size = int(params["reply"])
    if not size:
        return "ok"
    return ("Once upon a time. " * (size // 18 + 1))[:size]


def live_frame(token: str) -> bytes:
    # The way PHP's json_encode(..., JSON_UNESCAPED_UNICODE) and AI Engine write it.
    data = json.dumps({"type": "live", "data": token}, ensure_ascii=False, separators=(",", ":"))
    return b"data: " + data.encode() + b"\n\n"


def end_frame(params: Dict[str, Value]) -> bytes:
    n = int(params["n"])
    inner = json.dumps(
        {
            "success": True,
            "reply": reply_text(params),
            "images": None,
            "usage": {"prompt_tokens": 5, "completion_tokens": n, "total_tokens": n + 5},
        },
        separators=(",", ":"),
    )
    return b"data: " + json.dumps({"type": "end", "data": inner}).encode() + b"\n\n"


def payload() -> bytes:
    return json.dumps(
        {
            "botId": "default",
            "customId": None,
            "session": "N/A",
            "chatId": "bench",
            "contextId": 28,
            "messages": MESSAGES,
            "newMessage": MESSAGES[-1]["content"],
            "newFileId": None,
            "stream": True,
        }
    ).encode()
