"""Pure helpers flows run with ``do:``: they read slots and return slot updates.

A helper may return ``_next`` to choose the following step. Helpers do no I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.i18n import LOCALES
from bot.session import Session

Helper = Callable[[dict[str, Any], Session], dict[str, Any]]
HELPERS: dict[str, Helper] = {}


def helper(fn: Helper) -> Helper:
    """Register ``fn`` under its name for ``do:`` steps."""
    HELPERS[fn.__name__] = fn
    return fn


@helper
def set_locale(slots: dict[str, Any], session: Session) -> dict[str, Any]:
    """Switch the conversation to the chosen locale at once."""
    chosen = slots.get("chosen_locale")
    if chosen in LOCALES:
        session.locale = chosen
    return {}
