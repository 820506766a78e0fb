"""Counting Redis round trips: requests written on any connection, and what the server ran."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis, RedisCluster
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

    def is_one_evalsha_calling(self, *commands: str) -> bool:
        """Exactly one request, an EVALSHA, whose script called each command named."""
        return self.is_one_evalsha() and all(self.server.get(name, 0) >= 1
                                             for name in commands)

    def is_evalsha_then(self, *commands: str) -> bool:
        """One EVALSHA then one request per command named (``"xadd"``), no pipeline."""
        top_level = {name: self.server.get(name, 0) for name in ("evalsha", "eval", "script")}
        return (self.writes == 1 + len(commands)
                and top_level == {"evalsha": 1, "eval": 0, "script": 0}
                and "multi" not in self.server
                and all(self.server.get(name, 0) >= 1 for name in commands))


@asynccontextmanager
async def round_trips(redis: Redis) -> AsyncIterator[RoundTrips]:
    """Count requests written on any Redis connection (a pipeline would be one write).

    Server stats (INFO commandstats) confirm which top-level command ran. They also count
    the commands a Lua script calls, so they cannot count round trips on their own; the
    INFO calls themselves are made outside the counted block and left out of the diff.
    """
    counts = RoundTrips()
    before = await _commandstats(redis)
    original = AbstractConnection.send_packed_command

    async def counting(self: AbstractConnection, command: Any, check_health: bool = True) -> None:
        counts.writes += 1
        await original(self, command, check_health)

    AbstractConnection.send_packed_command = counting  # type: ignore[method-assign]
    try:
        yield counts
    finally:
        AbstractConnection.send_packed_command = original  # type: ignore[method-assign]
    after = await _commandstats(redis)
    for name, stats in after.items():
        delta = stats["calls"] - before.get(name, {}).get("calls", 0)
        if name != "cmdstat_info" and delta:
            counts.server[name.removeprefix("cmdstat_")] = delta


async def _commandstats(redis: Redis) -> dict[str, dict[str, int]]:
    """INFO commandstats, summed over every primary of a Redis Cluster."""
    if not isinstance(redis, RedisCluster):
        return await redis.info("commandstats")  # type: ignore[no-any-return]
    per_node = await redis.info("commandstats", target_nodes=RedisCluster.PRIMARIES)
    total: dict[str, dict[str, int]] = {}
    for stats in per_node.values():
        for name, numbers in stats.items():
            total.setdefault(name, {"calls": 0})["calls"] += numbers["calls"]
    return total


def primaries(redis: Redis) -> int:
    """How many servers hold data: 1, or a Redis Cluster's primaries (a script loads on each)."""
    return len(redis.get_primaries()) if isinstance(redis, RedisCluster) else 1
