"""Secrets out of the exceptions a front end chains to its own: no I/O.

aiohttp's exceptions carry what the request carried: a refused CONNECT
(``ClientHttpProxyError``) holds the proxy URL with its password and the
request's headers with ``Proxy-Authorization``; a connection error holds the
connection key with the proxy URL.  ``traceback.format_exc()`` of the
contract's error prints them as its cause.  :func:`scrub_chain` masks them in
place, in every exception of the chain (causes, contexts, and exceptions held
in ``args`` or attributes), before the front end raises its error from it.
"""

from __future__ import annotations

import base64
import re
from typing import Any, Iterator, List, Mapping, Sequence
from urllib.parse import unquote, urlsplit

from ._request import SECRET_HEADERS
from ._settings import Settings
from ._urls import MASK

__all__ = ["scrub_chain", "secrets_of"]

#: The userinfo of a URL in text.
_USERINFO = re.compile(r"(?<=//)[^/?#\s'\"@]*@")
#: How deep a value is searched (exceptions hold small structures).
_DEPTH = 6


def secrets_of(settings: Settings) -> List[str]:
    """The strings of ``settings`` no error may show: proxy password and token,
    nonce, the values of secret headers."""
    found: List[str] = []
    if settings.proxy is not None:
        try:
            parts = urlsplit(settings.proxy)
            user, password = parts.username, parts.password
        except ValueError:
            user = password = None
        if password:
            found += [password, unquote(password)]
        if user is not None or password is not None:
            pair = f"{unquote(user or '')}:{unquote(password or '')}"
            found.append(base64.b64encode(pair.encode("latin-1", "replace")).decode())
            found.append(base64.b64encode(pair.encode("utf-8")).decode())
    if settings.nonce:
        found.append(settings.nonce)
    for name, value in settings.headers:
        if name.lower() in SECRET_HEADERS and value:
            found.append(value)
            found.append(value.partition(" ")[2])  # the token of "Basic <token>"
    return sorted({secret for secret in found if len(secret) >= 3}, key=len, reverse=True)


def scrub_chain(exc: BaseException, secrets: Sequence[str]) -> None:
    """Mask ``secrets``, URL userinfo and secret headers in ``exc`` and every
    exception chained to it or held by it, in place."""
    for link in list(_chain(exc)):
        try:
            for name, value in list(vars(link).items()):
                fixed = _masked(value, secrets, _DEPTH)
                if fixed is not value:
                    setattr(link, name, fixed)
            link.args = tuple(_masked(arg, secrets, _DEPTH) for arg in link.args)
        except Exception:  # an exception that refuses new attributes
            link.args = (_text(repr(link), secrets),)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen = set()
    stack = [exc]
    while stack:
        link = stack.pop()
        if id(link) in seen:
            continue
        seen.add(id(link))
        yield link
        held = [link.__cause__, link.__context__, *link.args]
        held += list(getattr(link, "__dict__", {}).values())
        stack += [item for item in held if isinstance(item, BaseException)]


def _text(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, MASK)
    return _USERINFO.sub(f"{MASK}@", text)


def _masked(value: Any, secrets: Sequence[str], depth: int) -> Any:
    """``value``, or a copy of it without the secrets (the same object if clean)."""
    if isinstance(value, (BaseException, bool, int, float)) or value is None:
        return value
    if isinstance(value, str):
        fixed = _text(value, secrets)
        return value if fixed == value else fixed
    if depth <= 0:
        return value
    try:
        shown = repr(value)
    except Exception:
        return value
    if _text(shown, secrets) == shown and not _has_secret_header(value):
        return value
    if isinstance(value, tuple) and hasattr(value, "_replace"):  # a NamedTuple
        fields = {
            name: _masked(getattr(value, name), secrets, depth - 1)
            for name in value._fields  # type: ignore[attr-defined]
        }
        return value._replace(**fields)
    if isinstance(value, (list, tuple)):
        return type(value)(_masked(item, secrets, depth - 1) for item in value)
    if isinstance(value, Mapping) and hasattr(value, "items"):
        return _masked_headers(value, secrets, depth)
    try:  # a URL object (yarl.URL): the same type, from the masked text
        return type(value)(_text(str(value), secrets))
    except Exception:
        return _text(shown, secrets)


def _has_secret_header(value: Any) -> bool:
    if not isinstance(value, Mapping):
        return False
    return any(isinstance(key, str) and key.lower() in SECRET_HEADERS for key in value)


def _masked_headers(value: Mapping[Any, Any], secrets: Sequence[str], depth: int) -> Any:
    items = [
        (
            key,
            MASK
            if isinstance(key, str) and key.lower() in SECRET_HEADERS
            else _masked(item, secrets, depth - 1),
        )
        for key, item in value.items()
    ]
    try:  # multidict's CIMultiDict(Proxy) keeps repeated names, in order
        import multidict

        if isinstance(value, (multidict.CIMultiDictProxy, multidict.CIMultiDict)):
            fresh = multidict.CIMultiDict(items)
            if isinstance(value, multidict.CIMultiDictProxy):
                return multidict.CIMultiDictProxy(fresh)
            return fresh
    except ImportError:  # pragma: no cover - aiohttp brings multidict
        pass
    return dict(items)
