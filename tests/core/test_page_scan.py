"""Reading chatbot pages: linear in the page's size, whatever the markup (issue 11, class 2).

``html.parser`` took ~7 s on 100 KB of ``"<a" * 50_000`` after the chatbot
element and grew with the square of the size.  The scanner in ``_page`` must
find what ``html.parser`` found on sane pages, what the HTML tokenizer finds
where the two differ, and do work proportional to the page on hostile ones.
"""

from __future__ import annotations

import asyncio
import re
import threading
from html.parser import HTMLParser
from typing import Any, Callable, Dict, List, Optional, Tuple

import pytest
from support.fault_server import LoopbackServer, Request, Writer, response_head
from support.site_emulator import Site, chatbot_element, page
from support.twin import Twin, both

from opchatgpts_compat import _aiohttp_glue, _page
from opchatgpts_compat._page import find_chatbot_elements, parse_page

SYSTEM = {"botId": "b1", "restNonce": "0a1b2c3d4e", "contextId": 7}
PARAMS = {"startSentence": 'It\'s <b>"fine"</b> & caf\u00e9'}
ELEMENT = chatbot_element(SYSTEM, PARAMS)
CLASS = "mwai-chatbot-container"


class _Reference(HTMLParser):
    """What the library did before: html.parser, the last of two equal attributes winning."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: List[Dict[str, Optional[str]]] = []

    def handle_starttag(self, tag: str, attrs: List[Tuple[str, Optional[str]]]) -> None:
        values = dict(attrs)
        if CLASS in (values.get("class") or "").split():
            self.found.append(values)

    handle_startendtag = handle_starttag


def reference(html: str) -> List[Dict[str, Optional[str]]]:
    parser = _Reference()
    parser.feed(html)
    parser.close()
    return parser.found


#: Pages on which the scanner and html.parser agree.
SAME_AS_HTML_PARSER = [
    ELEMENT,
    page(ELEMENT).decode(),
    ELEMENT.replace("class='mwai-chatbot-container'", 'class="mwai-theme mwai-chatbot-container"'),
    ELEMENT.replace("class='mwai-chatbot-container'", "class=mwai-chatbot-container"),
    ELEMENT.replace("<div class=", "<DIV CLASS="),
    ELEMENT.replace("<div class=", "<div\n\tclass ="),
    f"<p class='{CLASS}-ish'>not this</p>{ELEMENT}",
    f"<!-- {ELEMENT} -->{ELEMENT}",
    f'<script>var x = "{ELEMENT}";</script>{ELEMENT}',
    f"<style>/* {ELEMENT} */</style>{ELEMENT}",
    f"<a title='a>b' href=\"x\">link</a>{ELEMENT}",
    f"<div class={CLASS} data-system='{{}}' />",
    f"<div class={CLASS} hidden data-system='{{&quot;botId&quot;:&quot;x&quot;}}'></div>",
    f"<div class='{CLASS}' data-params='&#123;&#x7d;' data-system='{{}}'>",
    f"<!doctype html><?xml x?><!bogus>{ELEMENT}</div></p>",
    f"{ELEMENT}<div class='{CLASS}' data-system='{{&quot;botId&quot;:&quot;b2&quot;}}'></div>",
    f"text with a < sign and a <3 {ELEMENT}",
    f"<<<{ELEMENT}",
    f"a <= b <<!-- x --> {ELEMENT}",
    f"</div class='{CLASS}'>{ELEMENT}",
]

#: Where html.parser strays from the HTML tokenizer, the tokenizer wins.
PER_SPEC: List[Tuple[str, str, List[Dict[str, Optional[str]]]]] = [
    (
        "the first of two equal attributes wins",
        f"<div class='{CLASS}' data-system='{{}}' data-system='x'>",
        [{"class": CLASS, "data-system": "{}"}],
    ),
    (
        "a title is text",
        f"<title><div class='{CLASS}'></title><div class='{CLASS}' id=real>",
        [{"class": CLASS, "id": "real"}],
    ),
    (
        "a textarea is text",
        f"<textarea><div class='{CLASS}'></TEXTAREA ><div class='{CLASS}' id=real>",
        [{"class": CLASS, "id": "real"}],
    ),
    (
        "a tag cut by the end of the page is no tag",
        f"<div class='{CLASS}' data-system='{{}}'",
        [],
    ),
    ("a quote left open runs to the end", f"<div class='{CLASS}' data-system='{{}}>", []),
    (
        "a comment closed by --!>",
        f"<!-- <div class='{CLASS}' id=no> --!><div class='{CLASS}' id=yes>",
        [{"class": CLASS, "id": "yes"}],
    ),
    ("an unclosed comment hides the rest", f"<!-- <div class='{CLASS}'>", []),
    ("an unclosed script hides the rest", f"<script><div class='{CLASS}'>", []),
    ("plaintext hides the rest", f"<plaintext><div class='{CLASS}'>", []),
    (
        "a leading = is part of the attribute name",
        f"<div =x class='{CLASS}'>",
        [{"=x": None, "class": CLASS}],
    ),
    (
        "no space needed after a quoted value",
        f"<div class='{CLASS}'id=a>",
        [{"class": CLASS, "id": "a"}],
    ),
]


@pytest.mark.parametrize("html", SAME_AS_HTML_PARSER)
def test_the_scanner_finds_what_html_parser_found(html: str) -> None:
    expected = reference(html)
    assert expected, "every page here has a chatbot"
    assert find_chatbot_elements(html) == expected


@pytest.mark.parametrize(("why", "html", "expected"), PER_SPEC, ids=[c[0] for c in PER_SPEC])
def test_the_scanner_follows_the_html_tokenizer(
    why: str, html: str, expected: List[Dict[str, Optional[str]]]
) -> None:
    assert find_chatbot_elements(html) == expected


def test_the_element_is_decoded_as_before() -> None:
    [bot] = parse_page(page(ELEMENT).decode(), "https://example.org/")
    assert (bot.bot_id, bot.nonce, bot.context_id) == ("b1", "0a1b2c3d4e", 7)
    assert bot.start_sentence == PARAMS["startSentence"]


# -- linear work ---------------------------------------------------------------


class _Counting:
    """A compiled pattern that counts its calls and the characters its matches span."""

    def __init__(self, pattern: re.Pattern[str], work: List[int]) -> None:
        self._pattern = pattern
        self._work = work

    def _count(self, match: Optional[re.Match[str]], pos: int) -> Optional[re.Match[str]]:
        self._work[0] += 1
        if match is not None:
            self._work[1] += match.end() - pos
        return match

    def match(self, text: str, pos: int = 0) -> Optional[re.Match[str]]:
        return self._count(self._pattern.match(text, pos), pos)

    def search(self, text: str, pos: int = 0) -> Optional[re.Match[str]]:
        return self._count(self._pattern.search(text, pos), pos)


def _work(monkeypatch: pytest.MonkeyPatch, html: str) -> Tuple[int, int, int]:
    """(pattern calls, characters spanned, chatbots found) for one page."""
    work = [0, 0]
    with monkeypatch.context() as patch:
        patch.setattr(_page, "_TOKEN", _Counting(_page._TOKEN, work))
        patch.setattr(_page, "_ATTRIBUTE", _Counting(_page._ATTRIBUTE, work))
        raw = {name: _Counting(pattern, work) for name, pattern in _page._RAW_TEXT.items()}
        patch.setattr(_page, "_RAW_TEXT", raw)
        found = len(find_chatbot_elements(html))
    return work[0], work[1], found


#: Hostile markup of about ``n`` characters, with chatbots where the scanner
#: has to get through it to find them.
HOSTILE: Dict[str, Callable[[int], str]] = {
    "a-after-element": lambda n: ELEMENT + "<a" * (n // 2) + ">" + ELEMENT,
    "open-tags": lambda n: "<a" * (n // 2) + ">" + ELEMENT,
    "many-tags": lambda n: "<a>" * (n // 3) + ELEMENT,
    "many-attributes": lambda n: "<a " + "b " * (n // 2) + ">" + ELEMENT,
    "many-values": lambda n: "<a " + "b=c " * (n // 4) + ">" + ELEMENT,
    "quoted-values": lambda n: "<a " + "b='<a' " * (n // 7) + ">" + ELEMENT,
    "open-quotes": lambda n: "<a b='" * (n // 6) + ELEMENT,
    "comment-starts": lambda n: "<!--" * (n // 4) + "-->" + ELEMENT,
    "bogus-comments": lambda n: "<!" * (n // 2) + ">" + ELEMENT,
    "lone-less-than": lambda n: "<" * n + ELEMENT,
    "spaced-less-than": lambda n: "< " * (n // 2) + ELEMENT,
    "end-tags": lambda n: "</" * (n // 2) + ">" + ELEMENT,
    "script-ends": lambda n: "<script>" + "</scrip" * (n // 7) + "</script>" + ELEMENT,
    "entities": lambda n: ELEMENT.replace("data-theme='{}'", "data-theme='" + "&" * n + "'"),
    "many-elements": lambda n: ELEMENT * (n // len(ELEMENT)),
    "class-in-text": lambda n: (CLASS + " ") * (n // 23) + ELEMENT,
}


@pytest.mark.parametrize("name", HOSTILE)
def test_the_work_grows_with_the_page_not_its_square(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    make = HOSTILE[name]
    small, large = make(100_000), make(1_000_000)
    calls_small, spanned_small, found_small = _work(monkeypatch, small)
    calls_large, spanned_large, found_large = _work(monkeypatch, large)
    assert found_small >= 1 and found_large >= 1
    # Each character is matched about once: the tokens follow one another.
    assert spanned_large <= 2 * len(large) + 1_000
    # Ten times the page, about ten times the work (a square would be a hundred).
    assert calls_large <= 11 * calls_small + 100
    assert spanned_large <= 11 * spanned_small + 1_000


# -- the event loop ------------------------------------------------------------


def _hostile_page(element: str, size: int) -> bytes:
    """``element`` between two runs of ``"<a"`` (the second one took html.parser minutes)."""
    return page("<a" * (size // 4) + ">", element, "<a" * (size // 4))


@both
async def test_from_page_reads_a_big_hostile_page(
    twin: Twin, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 1 MB hostile page is read (and, in AsyncClient, not on the event loop's thread)."""
    body = _hostile_page(ELEMENT, 1_000_000)
    threads: List[threading.Thread] = []
    scan = _page.find_chatbot_elements

    def recording(html: str) -> Any:
        threads.append(threading.current_thread())
        return scan(html)

    monkeypatch.setattr(_page, "find_chatbot_elements", recording)

    async def handler(request: Request, writer: Writer) -> bool:
        head = [("Content-Length", str(len(body))), ("Content-Type", "text/html")]
        await writer.write(response_head("200 OK", head) + body)
        return True

    with LoopbackServer(handler) as server:
        client = await twin.from_page(server.base_url + "/chatbot/")
        await twin.close(client)
    assert client.settings.bot_id == "b1"
    assert client._site.nonce == "0a1b2c3d4e"
    [thread] = threads
    assert (thread is threading.main_thread()) is not twin.is_async


@both
async def test_the_nonce_hunt_reads_a_big_hostile_page_off_the_loop(
    twin: Twin, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = Site("2.0")
    threads: List[threading.Thread] = []
    scan = _page.find_chatbot_elements

    def recording(html: str) -> Any:
        threads.append(threading.current_thread())
        return scan(html)

    monkeypatch.setattr(_page, "find_chatbot_elements", recording)
    with site.server():
        element = chatbot_element(site.system(), site.params())
        site.extra_pages["/chatgpt-free-use/"] = _hostile_page(element, 1_000_000)
        client = twin.client(base_url=site.base_url)
        try:
            (await twin.stream(client)).expect_ok()
        finally:
            await twin.close(client)
    [thread] = threads
    assert (thread is threading.main_thread()) is not twin.is_async


async def test_small_pages_stay_on_the_loop() -> None:
    """Below the threshold a thread costs more than the scan."""
    ran: List[threading.Thread] = []
    result = await _aiohttp_glue.off_loop(
        _aiohttp_glue.PAGE_THREAD_SIZE, lambda: ran.append(threading.current_thread())
    )
    assert result is None and ran == [threading.main_thread()]
    await _aiohttp_glue.off_loop(
        _aiohttp_glue.PAGE_THREAD_SIZE + 1, lambda: ran.append(threading.current_thread())
    )
    assert ran[-1] is not threading.main_thread()
    assert asyncio.get_running_loop().is_running()
