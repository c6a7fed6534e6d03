"""The bots, and what the plugin makes of their answers.

A bot is a callable taking the conversation as the plugin assembles it
(:func:`assemble_conversation`) and returning the tokens, or an :class:`Answer`;
:func:`end_object` is the ``end`` frame's object (or the JSON answer) the
plugin builds from it.  No aiohttp here.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Union

from ._pages import php_json

__all__ = [
    "Answer",
    "Bot",
    "Messages",
    "ScriptedBot",
    "assemble_conversation",
    "end_object",
    "memory_bot",
    "split_words",
]

_WORDS = re.compile(r"\s*\S+")


@dataclass(frozen=True)
class Answer:
    """What a bot answers: the tokens, and optionally what the upstream reported."""

    tokens: Sequence[str]
    #: Replaces the server's usage estimate (3.6 adds ``price``, ``queries``,
    #: ``accuracy`` when missing).
    usage: Optional[Mapping[str, Any]] = None
    #: 3.6 only: the ``responseId``; derived from the conversation when ``None``.
    response_id: Optional[str] = None


Messages = List[Dict[str, str]]
Bot = Callable[[Messages], Union[Answer, Iterable[str]]]


def split_words(text: str) -> List[str]:
    """``text`` as word tokens, each with the white space before it (as LLMs stream)."""
    return _WORDS.findall(text)


def _quote(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def memory_bot(messages: Messages) -> Answer:
    """The built-in bot: a deterministic answer that shows it read the history."""
    said = [m["content"] for m in messages if m.get("role") == "user"]
    new = said[-1] if said else ""
    if len(said) < 2:
        text = f'Hello! You said "{_quote(new)}". Tell me more, and I will remember it.'
    else:
        text = (
            f'You said "{_quote(new)}". Earlier you said "{_quote(said[-2])}". '
            f"That makes {len(said)} messages from you in this conversation."
        )
    return Answer(split_words(text))


class ScriptedBot:
    """A bot that answers every message with the same tokens.

    >>> ScriptedBot(["Hello", " there", ",", " world"])  # the recorded traces' reply
    ScriptedBot(['Hello', ' there', ',', ' world'])
    """

    def __init__(
        self,
        tokens: Sequence[str],
        *,
        usage: Optional[Mapping[str, Any]] = None,
        response_id: Optional[str] = None,
    ) -> None:
        self.answer = Answer(tuple(tokens), usage, response_id)

    def __call__(self, messages: Messages) -> Answer:
        return self.answer

    def __repr__(self) -> str:
        return f"ScriptedBot({list(self.answer.tokens)!r})"


def assemble_conversation(
    history: object, new_message: str, *, replace_last_user: bool
) -> Messages:
    """The messages the bot sees, built as the plugin does.

    Only role and content are kept.  From 2.0.0 ``newMessage`` is always
    appended (a list that already ends with it has it twice, as the real
    plugin's upstream sees); 1.x replaces a trailing user message's content
    with it, else appends it (``replace_last_user``).
    """
    messages: Messages = []
    if isinstance(history, list):
        for item in history:
            if isinstance(item, dict):
                role, content = item.get("role"), item.get("content")
                if isinstance(role, str) and isinstance(content, str):
                    messages.append({"role": role, "content": content})
    if replace_last_user and messages and messages[-1]["role"] == "user":
        messages[-1]["content"] = new_message
    else:
        messages.append({"role": "user", "content": new_message})
    return messages


def end_object(flavor: str, messages: Messages, answer: Answer, *, stream: bool) -> Dict[str, Any]:
    """The plugin's answer object: the ``end`` frame's data, or the JSON answer."""
    text = "".join(answer.tokens)
    usage: Dict[str, Any]
    if answer.usage is not None:
        usage = dict(answer.usage)
    elif flavor == "2.0" and stream:
        # 2.0.9 estimates a streamed reply's usage: no prompt tokens, and
        # about one token per three bytes of reply (6 for "Hello there, world").
        completion = math.ceil(len(text.encode("utf-8")) / 3)
        usage = {
            "prompt_tokens": 0,
            "completion_tokens": completion,
            "total_tokens": completion,
        }
    else:
        prompt = math.ceil(sum(len(m["content"].encode("utf-8")) for m in messages) / 4)
        completion = len(answer.tokens)
        usage = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }
    end: Dict[str, Any] = {"success": True, "reply": text.strip(), "images": None}
    if flavor in ("1.6", "2.0"):
        end["usage"] = usage
        return end
    for key, value in (("price", None), ("queries", 1), ("accuracy", "tokens")):
        usage.setdefault(key, value)
    end.update(actions=[], shortcuts=[], blocks=[], usage=usage)
    end["responseId"] = answer.response_id or _response_id(messages)
    return end


def _response_id(messages: Messages) -> str:
    digest = hashlib.sha256(php_json(messages).encode()).hexdigest()
    return f"resp_{digest[:24]}"
