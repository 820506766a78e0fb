"""Counting Redis round trips: requests written on any connection, and what the server ran."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection


@dataclass
class RoundTrips:
    """What one measured block sent: client writes and the server's per-command calls."""

    writes: int = 0
    server: dict[str, int] = field(default_factory=dict)

    def is_one_evalsha(self) -> bool:
        """Exactly one request went out, and the server ran it as EVALSHA."""
        top_level = {name: self.server.get(name, 0) for name in ("evalsha", "eval", "script")}
        return self.writes == 1 and top_level == {"evalsha": 1, "eval": 0, "script": 0}


@asynccontextmanager
async def round_trips(redis: Redis) -> AsyncIterator[RoundTrips]:
    """Count requests written on any Redis connection (a pipeline would be one write).

    Server stats (INFO commandstats) confirm which top-level command ran. They also count
    the commands a Lua script calls, so they cannot count round trips on their own; the
    INFO calls themselves are made outside the counted block and left out of the diff.
    """
    counts = RoundTrips()
    before = await redis.info("commandstats")
    original = AbstractConnection.send_packed_command

    async def counting(self: AbstractConnection, command: Any, check_health: bool = True) -> None:
        counts.writes += 1
        await original(self, command, check_health)

    AbstractConnection.send_packed_command = counting  # type: ignore[method-assign]
    try:
        yield counts
    finally:
        AbstractConnection.send_packed_command = original  # type: ignore[method-assign]
    after = await redis.info("commandstats")
    for name, stats in after.items():
        delta = stats["calls"] - before.get(name, {}).get("calls", 0)
        if name != "cmdstat_info" and delta:
            counts.server[name.removeprefix("cmdstat_")] = delta
