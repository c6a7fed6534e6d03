"""The provider driven by a real g4f release, through g4f's own entry points.

g4f is not a dependency: .ci/run installs it with
``pip install --no-deps g4f==0.2.0.6`` (pip extras cannot say ``--no-deps``,
and its full dependency list is large); without it these tests are skipped.
The README's "Using it from g4f" code is run here as written, against a
loopback AI Engine 3.6 site.
"""

from __future__ import annotations

import contextlib
import io
import re
import textwrap
import warnings
from importlib.metadata import version
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest
from site_emulator import Site

import opchatgpts_compat

with warnings.catch_warnings():
    # g4f 0.2.0.6 subclasses aiohttp.ClientSession, which aiohttp warns about on import.
    warnings.simplefilter("ignore", DeprecationWarning)
    g4f = pytest.importorskip(
        "g4f", reason="g4f is not installed: pip install --no-deps g4f==0.2.0.6"
    )
from g4f.Provider import AsyncGeneratorProvider

README = Path(__file__).parents[1] / "README.rst"
MESSAGES = [{"role": "user", "content": "Hi"}]
REPLY = "Turn 1: you said Hi."
TOKENS = ["Turn", " 1:", " you", " said", " Hi."]


class Opchatgpts(opchatgpts_compat.Opchatgpts, AsyncGeneratorProvider):
    working = True  # g4f refuses providers marked not working


@pytest.fixture(autouse=True)
def _no_version_check(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(g4f.debug, "version_check", False)  # it would ask PyPI


@pytest.fixture
def site() -> Iterator[Dict[str, Any]]:
    emulated = Site("3.6", bind_cookie=True)
    with emulated.server():
        yield {"base_url": emulated.base_url}


def test_the_release_tested_is_0_2_0_6() -> None:
    assert version("g4f") == "0.2.0.6"


def test_create_blocking_and_streaming(site: Dict[str, Any]) -> None:
    text = g4f.ChatCompletion.create("gpt-3.5-turbo", MESSAGES, provider=Opchatgpts, **site)
    assert text == REPLY
    chunks = g4f.ChatCompletion.create(
        "gpt-3.5-turbo", MESSAGES, provider=Opchatgpts, stream=True, **site
    )
    assert list(chunks) == TOKENS  # status frames stay out


def test_create_with_the_plain_class_needs_ignore_working(site: Dict[str, Any]) -> None:
    plain = opchatgpts_compat.Opchatgpts
    with pytest.raises(g4f.errors.ProviderNotWorkingError):
        g4f.ChatCompletion.create("gpt-3.5-turbo", MESSAGES, provider=plain, **site)
    text = g4f.ChatCompletion.create(
        "gpt-3.5-turbo", MESSAGES, provider=plain, ignore_working=True, **site
    )
    assert text == REPLY


async def test_create_async_whole_and_streaming(site: Dict[str, Any]) -> None:
    text = await g4f.ChatCompletion.create_async(
        "gpt-3.5-turbo", MESSAGES, provider=Opchatgpts, **site
    )
    assert text == REPLY
    chunks: List[str] = []
    async for chunk in g4f.ChatCompletion.create_async(
        "gpt-3.5-turbo", MESSAGES, provider=Opchatgpts, stream=True, **site
    ):
        chunks.append(chunk)
    assert chunks == TOKENS


async def test_create_async_needs_the_subclass(site: Dict[str, Any]) -> None:
    with pytest.raises(g4f.errors.ProviderNotWorkingError):
        g4f.ChatCompletion.create_async(
            "gpt-3.5-turbo", MESSAGES, provider=opchatgpts_compat.Opchatgpts, **site
        )


def test_the_provider_errors_reach_g4f_callers(site: Dict[str, Any]) -> None:
    with pytest.raises(opchatgpts_compat.ServerError) as info:
        g4f.ChatCompletion.create(
            "gpt-3.5-turbo",
            [{"role": "user", "content": "Please FAIL"}],
            provider=Opchatgpts,
            **site,
        )
    assert isinstance(info.value, RuntimeError)  # what the original provider raised
    assert str(info.value) == "The upstream failed."


def _readme_g4f_code() -> str:
    text = README.read_text()
    section = text.split("Using it from g4f\n-----------------\n", 1)[1]
    section = re.split(r"\n\S[^\n]*\n-{3,}\n", section)[0]  # up to the next section
    blocks = re.findall(r"\.\. code-block:: python\n\n((?:(?: {4}[^\n]*)?\n)+)", section)
    assert len(blocks) == 2
    return "\n".join(textwrap.dedent(block) for block in blocks)


def test_the_readme_g4f_code_runs_as_written(site: Dict[str, Any]) -> None:
    code = _readme_g4f_code()
    assert '"https://example.org"' in code
    code = code.replace('"https://example.org"', repr(site["base_url"]))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(README), "exec"), {"__name__": "readme"})
    assert out.getvalue() == f"{REPLY}\n{REPLY}{REPLY}\n{REPLY}"
