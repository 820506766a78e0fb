"""The conversation state between two turns, serialised as compact JSON.

Only ids and small values live here (never API payloads beyond what a step needs), so
a session stays well under 1 KB for a citizen mid-complaint.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

import orjson

from bot.channel_kinds import channel_kinds

SESSION_VERSION = 1

# Short keys on the wire; long names in code.
_WIRE = {
    "flow": "f", "step": "s", "slots": "d", "stack": "k", "locale": "l", "user_id": "u",
    "name": "n", "employee": "e", "retries": "r", "last_at": "t", "shown": "o",
    "resume": "z", "opted_out": "x", "back": "b", "tenant": "c", "channel": "h",
    "pending": "p", "loaded": "w",
}
_FROM_WIRE = {short: long for long, short in _WIRE.items()}


@dataclass
class Session:
    """Where a person is in the dialog and what they entered so far."""

    flow: str | None = None
    step: str | None = None
    slots: dict[str, Any] = field(default_factory=dict)
    stack: list[list[Any]] = field(default_factory=list)  # [flow, step, slots] to return to
    locale: str | None = None
    user_id: int | None = None
    name: str | None = None
    employee: bool = False
    tenant: str | None = None
    channel: str | None = None
    retries: int = 0
    last_at: float = 0.0
    shown: list[str] = field(default_factory=list)  # option ids of the last prompt, in order
    resume: bool = False  # waiting for "continue or start over"
    opted_out: bool = False
    back: list[list[Any]] = field(default_factory=list)  # earlier questions (bot.history)
    loaded: dict[str, list[Any]] = field(default_factory=dict)  # how big slots were loaded
    pending: str | None = None  # a first message's request, answered once onboarding is done

    def dumps(self) -> bytes:
        """Compact JSON with defaults left out."""
        data: dict[str, Any] = {"v": SESSION_VERSION}
        for f in fields(self):
            value = getattr(self, f.name)
            if value in (None, False, 0, 0.0, [], {}):
                continue
            data[_WIRE[f.name]] = round(value, 1) if isinstance(value, float) else value
        return orjson.dumps(data)

    @classmethod
    def loads(cls, raw: bytes | None) -> Session | None:
        """The session, or None when there is none or it is from an unknown version."""
        if not raw:
            return None
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(data, dict) or data.get("v") != SESSION_VERSION:
            return None
        values = {_FROM_WIRE[k]: v for k, v in data.items() if k in _FROM_WIRE}
        if values.get("channel") not in (None, *channel_kinds()):
            return None  # kept on a channel kind no longer registered: start afresh
        try:
            return cls(**values)
        except TypeError:
            return None
