"""A conversation's history, kept as the site's own chatbot keeps it: no I/O.

The AI Engine front end holds a list of messages ``{id, role, content, who,
timestamp}`` and one ``chatId``; each turn sends that list (the history,
without the new message) and the new text in ``newMessage``, and appends the
user's message and the ``end`` frame's ``reply`` once the answer is complete.
The list starts with the bot's start sentence when the page gives one.
"""

from __future__ import annotations

import json
import random
import string
import time
from dataclasses import replace
from typing import Any, Dict, List, Optional

from ._models import Reply
from ._request import PreparedRequest, build_turn_request, random_chat_id, without_lone_surrogates
from ._settings import Settings

__all__ = ["ConversationView", "Transcript", "Turn"]

#: ``to_json`` writes this format; ``from_json`` refuses other versions.
FORMAT_VERSION = 1
DEFAULT_AI_NAME = "AI: "
DEFAULT_USER_NAME = "User: "
_ID_ALPHABET = string.ascii_lowercase + string.digits
_ROLES = ("user", "assistant", "system")


def _message(role: str, content: str, who: str) -> Dict[str, Any]:
    """A message as the real front end makes one (a random id, a millisecond timestamp)."""
    return {
        "id": "".join(random.choices(_ID_ALPHABET, k=8)),
        "role": role,
        "content": content,
        "who": who,
        "timestamp": int(time.time() * 1000),
    }


class Turn:
    """One turn in flight: its request, and the user's message to keep if it succeeds."""

    def __init__(self, transcript: Transcript, request: PreparedRequest, text: str) -> None:
        self.transcript = transcript
        self.request = request
        self.text = text

    def commit(self, reply: Reply) -> None:
        """The answer is complete: keep the user's message and the reply."""
        self.transcript.append(self.text, reply)


class Transcript:
    """The messages and chat id of one conversation.

    Args:
        chat_id: the ``chatId`` of every turn; a fresh random one when ``None``.
        start_sentence: the bot's greeting, the first message when given.
        ai_name, user_name: the ``who`` labels (the page's ``aiName``/``userName``).
    """

    def __init__(
        self,
        *,
        chat_id: Optional[str] = None,
        start_sentence: Optional[str] = None,
        ai_name: str = DEFAULT_AI_NAME,
        user_name: str = DEFAULT_USER_NAME,
    ) -> None:
        self.chat_id = chat_id or random_chat_id()
        self.ai_name = ai_name
        self.user_name = user_name
        self.messages: List[Dict[str, Any]] = []
        if start_sentence:
            self.messages.append(_message("assistant", start_sentence, ai_name))

    def begin(self, text: object, settings: Settings) -> Turn:
        """The request of the next turn; nothing changes until :meth:`Turn.commit`.

        Raises:
            TypeError, ValueError: ``text`` is not a non-blank string.
        """
        request = build_turn_request(self.messages, text, replace(settings, chat_id=self.chat_id))
        assert isinstance(text, str)
        return Turn(self, request, without_lone_surrogates(text))  # kept as it was sent

    def append(self, text: str, reply: Reply) -> None:
        """Keep a finished turn: the user's message, then the reply."""
        self.messages.append(_message("user", text, self.user_name))
        self.messages.append(_message("assistant", reply.text, self.ai_name))

    def to_json(self) -> str:
        """The conversation as a JSON document (:meth:`from_json` reads it back)."""
        return json.dumps(
            {
                "version": FORMAT_VERSION,
                "chatId": self.chat_id,
                "aiName": self.ai_name,
                "userName": self.user_name,
                "messages": self.messages,
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, text: str) -> Transcript:
        """Read a conversation written by :meth:`to_json`.

        Raises:
            ValueError: ``text`` is not such a document.
        """
        try:
            data = json.loads(text)
        except (TypeError, ValueError, RecursionError):
            raise ValueError("not a saved conversation: not JSON") from None
        if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION:
            raise ValueError(f"not a saved conversation (version {FORMAT_VERSION})")
        chat_id = data.get("chatId")
        messages = data.get("messages")
        if not isinstance(chat_id, str) or not chat_id or not isinstance(messages, list):
            raise ValueError("a saved conversation needs a chatId and a list of messages")
        for index, message in enumerate(messages):
            if (
                not isinstance(message, dict)
                or message.get("role") not in _ROLES
                or not isinstance(message.get("content"), str)
            ):
                raise ValueError(f"messages[{index}] is not a role/content message")
        ai_name = data.get("aiName")
        user_name = data.get("userName")
        transcript = cls(
            chat_id=chat_id,
            ai_name=ai_name if isinstance(ai_name, str) else DEFAULT_AI_NAME,
            user_name=user_name if isinstance(user_name, str) else DEFAULT_USER_NAME,
        )
        transcript.messages = [dict(message) for message in messages]
        return transcript

    def __repr__(self) -> str:
        return f"<Transcript chat_id={self.chat_id!r} messages={len(self.messages)}>"


class ConversationView:
    """What both front ends' conversations show of their :class:`Transcript`."""

    _NAME = "Conversation"
    _transcript: Transcript

    @property
    def chat_id(self) -> str:
        """The ``chatId`` of every turn."""
        return self._transcript.chat_id

    @property
    def messages(self) -> List[Dict[str, Any]]:
        """The history sent so far, replies included (copies: edit the JSON to change it)."""
        return [dict(message) for message in self._transcript.messages]

    def to_json(self) -> str:
        """The conversation as JSON, for the client's ``conversation_from_json``."""
        return self._transcript.to_json()

    def __repr__(self) -> str:
        return f"<{self._NAME} {self.chat_id} messages={len(self._transcript.messages)}>"
