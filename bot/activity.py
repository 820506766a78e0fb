"""Chat activity counters for the dashboard, kept in memory and flushed to the core API.

Counting costs no I/O on the chat's hot path: ``record`` adds to a dict after the turn
was saved. A background loop (``run``) posts the deltas every few seconds to
``POST /api/v1/dashboard/chat-activity`` with the service credential; the core API adds
them to its ``chat_activity`` table, so any number of workers report into the same rows.
A failed post keeps the deltas for the next attempt; a worker that dies loses at most
one interval of counts (these are operational figures, not accounts).

What a turn counts, by IST day, the session's tenant, channel, locale, flow and step:
- ``conversations``: the first turn of a conversation (no session, or idle > 30 min);
- ``turns``: every answered message, at the step it answered;
- ``entered``: the person arrived at a new question (flow, step) in this turn;
- ``completed``: a flow ran to its own end (step ``""`` of that flow).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import structlog

from bot.engine import IDLE_SECONDS, Turn
from bot.services import ServiceError
from bot.session import Session

log = structlog.get_logger(__name__)

ACTIVITY_PATH = "/api/v1/dashboard/chat-activity"
FIELDS = ("conversations", "turns", "entered", "completed")
IST = timedelta(hours=5, minutes=30)
MAX_ROWS = 5000  # deltas kept while the core API is unreachable (oldest days dropped first)

Key = tuple[str, str, str, str, str, str]  # day, tenant, channel, locale, flow, step


class Position(NamedTuple):
    """Where a session stood before a turn (the engine changes the session in place)."""

    flow: str | None
    step: str | None
    last_at: float

    @classmethod
    def of(cls, session: Session | None) -> Position | None:
        return None if session is None else cls(session.flow, session.step, session.last_at)


def _day(moment: float) -> str:
    return (datetime.fromtimestamp(moment, UTC) + IST).date().isoformat()


class ChatActivity:
    """Per-process counters of conversation activity, flushed as deltas."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.counts: dict[Key, Counter[str]] = {}

    def _add(self, key: Key, field: str) -> None:
        self.counts.setdefault(key, Counter())[field] += 1

    def record(self, before: Position | None, turn: Turn, channel: str) -> None:
        """Count one committed turn (``before``: where the session was when it started)."""
        now = self.clock()
        after = turn.session
        base = (_day(now), after.tenant or "", channel, after.locale or "")
        if before is None or not before.last_at or now - before.last_at > IDLE_SECONDS:
            self._add((*base, after.flow or "", after.step or ""), "conversations")
        if before is not None and before.flow:
            self._add((*base, before.flow, before.step or ""), "turns")
        if after.flow and (before is None or (before.flow, before.step) != (after.flow,
                                                                             after.step)):
            self._add((*base, after.flow, after.step or ""), "entered")
        for flow in {e.split(":", 1)[1] for e in turn.effects if e.startswith("completed:")}:
            self._add((*base, flow, ""), "completed")

    def take(self) -> list[dict[str, Any]]:
        """The deltas counted so far, as rows; the counters start again from zero."""
        counts, self.counts = self.counts, {}
        return [{"day": k[0], "tenant": k[1], "channel": k[2], "locale": k[3], "flow": k[4],
                 "step": k[5], **{f: c[f] for f in FIELDS}} for k, c in counts.items()]

    def give_back(self, rows: list[dict[str, Any]]) -> None:
        """Put back deltas that could not be delivered (bounded, newest days kept)."""
        for row in sorted(rows, key=lambda r: r["day"], reverse=True):
            if len(self.counts) >= MAX_ROWS:
                log.warning("chat_activity_dropped", rows=len(rows))
                return
            key = (row["day"], row["tenant"], row["channel"], row["locale"], row["flow"],
                   row["step"])
            counter = self.counts.setdefault(key, Counter())
            for f in FIELDS:
                counter[f] += row[f]

    async def flush(self, client: Any) -> int:
        """Post the deltas to the core API; returns how many rows went out."""
        rows = self.take()
        if not rows:
            return 0
        try:
            await client.request("POST", ACTIVITY_PATH, None, json={"rows": rows})
        except ServiceError as exc:
            log.warning("chat_activity_flush_failed", code=exc.code)
            self.give_back(rows)
            return 0
        return len(rows)

    async def run(self, client: Any, stop: asyncio.Event, every_s: float = 5.0) -> None:
        """Flush every ``every_s`` seconds until ``stop``, then once more."""
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), timeout=every_s)
            except TimeoutError:
                pass
            try:
                await self.flush(client)
            except Exception:
                log.exception("chat_activity_flush_crashed")
