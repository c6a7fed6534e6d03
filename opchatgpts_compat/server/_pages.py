"""The site's HTML: the chatbot element as AI Engine renders it, and the pages around it.

``php_json`` lives here too: the element's attributes are its output.  No
aiohttp here; tests/support/site_emulator.py renders its pages with these functions.
"""

from __future__ import annotations

import html
import json
from typing import Any, Dict, Mapping, Optional

from ._constants import CHATBOT_PAGE_ID, DEFAULT_TEXT_INPUT_MAX_LENGTH, START_SENTENCE, check_flavor

__all__ = [
    "HTML_FAULT_PAGE",
    "NOT_FOUND_PAGE",
    "chatbot_element",
    "chatbot_page",
    "php_json",
    "render_chatbot_element",
]


def php_json(value: Any) -> str:
    """``value`` as PHP's ``json_encode`` writes it with default flags.

    Compact, ``/`` escaped as ``\\/``, every non-ASCII character as ``\\uXXXX``
    (surrogate pairs above U+FFFF).  A ``/`` can only occur inside a string in
    JSON text, so replacing it afterwards is safe.
    """
    return json.dumps(value, separators=(",", ":"), ensure_ascii=True).replace("/", "\\/")


def chatbot_element(
    params: Mapping[str, Any], system: Mapping[str, Any], theme: Mapping[str, Any]
) -> str:
    """The ``mwai-chatbot-container`` element carrying these three data attributes.

    Each value is PHP ``json_encode`` output escaped with
    ``htmlspecialchars(..., ENT_QUOTES)``, in a single-quoted attribute.
    """

    def attr(value: Mapping[str, Any]) -> str:
        return html.escape(php_json(value), quote=True).replace("&#x27;", "&#039;")

    return (
        f"<div class='mwai-chatbot-container' data-params='{attr(params)}'"
        f" data-system='{attr(system)}' data-theme='{attr(theme)}'></div>"
    )


def _params(flavor: str, max_length: int) -> Dict[str, Any]:
    # The data-params of the recorded pages, key order included (1.6.94's are 2.0.9's).
    if flavor in ("1.6", "2.0"):
        return {
            "aiName": "AI: ",
            "userName": "User: ",
            "guestName": "Guest: ",
            "textSend": "Send",
            "textClear": "Clear",
            "textInputPlaceholder": "Type your message...",
            "textInputMaxLength": max_length,
            "textCompliance": "",
            "startSentence": START_SENTENCE,
            "localMemory": True,
            "themeId": "chatgpt",
            "window": False,
            "icon": "",
            "iconText": "",
            "iconAlt": "AI Chatbot Avatar",
            "iconPosition": "bottom-right",
            "fullscreen": False,
            "copyButton": False,
        }
    return {
        "aiName": "AI: ",
        "userName": "User: ",
        "guestName": "Guest: ",
        "textSend": "Send",
        "textClear": "Clear",
        "imageUpload": False,
        "fileUpload": False,
        "multiUpload": False,
        "maxUploads": 1,
        "fileUploads": 0,
        "mode": "chat",
        "textInputPlaceholder": "Type your message...",
        "textInputMaxLength": max_length,
        "textCompliance": "",
        "startSentence": START_SENTENCE,
        "localMemory": True,
        "themeId": "chatgpt",
        "window": False,
        "icon": "",
        "iconText": "",
        "iconTextDelay": 1,
        "iconAlt": "AI Engine Chatbot",
        "iconPosition": "bottom-right",
        "centerOpen": False,
        "width": "",
        "openDelay": "",
        "iconBubble": False,
        "windowAnimation": "zoom",
        "fullscreen": False,
        "copyButton": False,
        "pdfButton": False,
        "headerSubtitle": "Discuss with",
        "containerType": "standard",
        "headerType": "standard",
        "messagesType": "standard",
        "inputType": "standard",
        "footerType": "standard",
    }


def render_chatbot_element(
    base_url: str,
    *,
    flavor: str = "2.0",
    nonce: Optional[str] = None,
    bot_id: str = "default",
    context_id: int = CHATBOT_PAGE_ID,
    text_input_max_length: int = DEFAULT_TEXT_INPUT_MAX_LENGTH,
    event_logs: bool = False,
) -> str:
    """The ``mwai-chatbot-container`` element, as AI Engine renders it for a guest.

    Attribute values are PHP ``json_encode`` output escaped with
    ``htmlspecialchars(..., ENT_QUOTES)``.  2.0 embeds the nonce; 3.6 renders
    ``restNonce`` and ``sessionId`` as ``null`` (its front end calls
    ``start_session``); 1.6 names the custom bot ``id`` and has no nonce.
    """
    check_flavor(flavor)
    plugin_url = f"{base_url}/wp-content/plugins/ai-engine"
    system: Dict[str, Any]
    if flavor in ("1.6", "2.0"):
        ids: Dict[str, Any] = {"botId": bot_id, "customId": None}
        if flavor == "1.6":
            ids = {"id": None, "botId": bot_id}
        system = {
            **ids,
            "userData": None,
            "sessionId": "N/A",
            "restNonce": nonce if flavor == "2.0" else None,
            "contextId": context_id,
            "pluginUrl": plugin_url + "/",
            "restUrl": f"{base_url}/wp-json",
            "debugMode": True,
            "typewriter": False,
            "speech_recognition": False,
            "speech_synthesis": False,
            "stream": True,
        }
        theme: Dict[str, Any] = {
            "type": "internal",
            "name": "ChatGPT",
            "themeId": "chatgpt",
            "settings": [],
            "style": "",
        }
    else:
        system = {
            "botId": bot_id,
            "customId": None,
            "userData": None,
            "sessionId": None,
            "restNonce": None,
            "contextId": context_id,
            "pluginUrl": plugin_url,
            "restUrl": f"{base_url}/wp-json",
            "stream": True,
            "debugMode": False,
            "eventLogs": event_logs,
            "speech_recognition": False,
            "speech_synthesis": False,
            "typewriter": False,
            "crossSite": False,
            "actions": [],
            "blocks": [],
            "shortcuts": [],
        }
        theme = {
            "type": "internal",
            "name": "ChatGPT",
            "themeId": "chatgpt",
            "settings": [],
            "style": "",
            "cssUrl": f"{plugin_url}/themes/chatgpt.css",
        }
    return chatbot_element(_params(flavor, text_input_max_length), system, theme)


_PAGE = """<!DOCTYPE html>
<html lang="en-US">
<head>
<meta charset="UTF-8" />
<title>Chatbot &#8211; opchatgpts-compat</title>
<link rel="https://api.w.org/" href="{base}/wp-json/" />
</head>
<body class="page-template-default page page-id-{context_id}">
<main>
<h1>Chatbot</h1>
{element}
</main>
</body>
</html>
"""

HTML_FAULT_PAGE = """<!DOCTYPE html>
<html lang="en-US">
<head><meta charset="UTF-8" /><title>Just a moment...</title></head>
<body><p>This page was served from a cache instead of the chatbot's answer.</p></body>
</html>
"""

NOT_FOUND_PAGE = """<!DOCTYPE html>
<html lang="en-US">
<head><meta charset="UTF-8" /><title>Page not found</title></head>
<body><h1>Oops! That page can&#8217;t be found.</h1></body>
</html>
"""


def chatbot_page(
    base_url: str,
    *,
    flavor: str,
    nonce: str,
    context_id: int,
    text_input_max_length: int,
    event_logs: bool,
) -> str:
    """The page showing the chatbot: a WordPress page (post ``context_id``) around its element."""
    element = render_chatbot_element(
        base_url,
        flavor=flavor,
        nonce=nonce,
        context_id=context_id,
        text_input_max_length=text_input_max_length,
        event_logs=event_logs,
    )
    return _PAGE.format(base=base_url, context_id=context_id, element=element)
