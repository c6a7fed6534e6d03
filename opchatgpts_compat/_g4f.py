"""What ``Opchatgpts.for_site`` borrows from g4f, when g4f is installed.

Nothing here runs unless ``for_site`` is called, and without g4f nothing of
it is imported: the class is then an ``Opchatgpts`` subclass and no more.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Optional, Tuple

__all__ = ["provider_bases", "usage_type"]

logger = logging.getLogger(__name__)


def provider_bases() -> Tuple[type, ...]:
    """g4f's ``AsyncGeneratorProvider``, to inherit from; ``()`` without g4f.

    g4f 0.2.x streams ``ChatCompletion.create_async`` only from subclasses of
    it; g4f 8 reads the attributes it defines (``get_dict``, ``live``, ...).
    """
    try:
        from g4f.providers.base_provider import AsyncGeneratorProvider  # g4f 8.x
    except ImportError:
        try:
            from g4f.Provider.base_provider import AsyncGeneratorProvider  # g4f 0.2.x
        except ImportError:
            logger.debug("g4f is not importable: for_site classes stand alone")
            return ()
    return (AsyncGeneratorProvider,)


def usage_type() -> Optional[Callable[..., Any]]:
    """g4f's ``Usage`` response object (g4f 8.x), else ``None``."""
    try:
        from g4f.providers.response import Usage
    except ImportError:
        return None
    return Usage  # type: ignore[no-any-return]
