"""The real AI Engine sites that ``../shared/realsite/setup.sh`` starts.

The ``realsite`` tier runs the library against real WordPress + AI Engine
sites on 127.0.0.1.  It needs the manifest that ``setup.sh`` prints
(``sites.json``), named by ``$REALSITE_SITES``: only then does the tier run,
so a plain ``pytest`` never spends minutes on sites someone left running.
Without it, or when the manifest's fake upstream does not answer, every test
of the tier is skipped with one line saying how to start the sites.
"""

from __future__ import annotations

import json
import os
import urllib.request
from functools import cache
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

START_HINT = (
    "start them with: bash ../shared/realsite/setup.sh > sites.json; REALSITE_SITES=sites.json"
)


@cache
def _manifest() -> tuple[Optional[Dict[str, Any]], str]:
    named = os.environ.get("REALSITE_SITES")
    if not named:
        return None, f"no real AI Engine sites ($REALSITE_SITES is not set); {START_HINT}"
    path = Path(named)
    try:
        manifest: Dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None, f"no real AI Engine sites ({path} unreadable); {START_HINT}"
    try:
        with urllib.request.urlopen(manifest["upstream"] + "/_health", timeout=2):
            pass
    except (OSError, KeyError, ValueError):
        return None, f"the real AI Engine sites of {path} are not running; {START_HINT}"
    return manifest, ""


def manifest() -> Dict[str, Any]:
    """The running sites' manifest, or skip the calling test."""
    found, reason = _manifest()
    if found is None:
        pytest.skip(reason)
    return found


def site_names() -> List[str]:
    """Names to parametrize over: the manifest's sites, or one placeholder
    (whose test then skips) so that collection never needs the sites."""
    found, _ = _manifest()
    if found is None:
        return ["no-sites"]
    return [site["name"] for site in found["sites"]]


def site(name: str) -> Dict[str, Any]:
    """One site of the manifest by name, or skip."""
    for entry in manifest()["sites"]:
        if entry["name"] == name:
            return dict(entry)
    pytest.skip(f"realsite {name!r} is not in the manifest")
