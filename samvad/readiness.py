"""``/readyz``: database (reachable and at this release's schema: samvad/schema.py), Redis,
the background workers' heartbeats and Rasa.

Every background loop (``samvad worker``, or the web process itself in embedded mode)
writes a heartbeat into one Redis hash, ``samvad:heartbeats``, at most once a second:
field ``<loop>|<host>:<pid>``, value ``"<written at> <stale after>"`` (unix seconds).
A loop is ready when at least one instance's heartbeat is not stale; a loop seen
before whose instances all went quiet is reported ``stale``, one never seen ``missing``.

Redis is ready when a small Lua script sets and reads back ``samvad:{readyz}:probe``
(``redis_state``): not only reachable (PING) but running scripts, taking writes, and on a
Redis Cluster routing to the key's slot (MOVED followed) as every Samvad script must.

A part that is down answers 503 with its name in ``checks``; ``?optional=workers,rasa``
reports those parts without failing on them (a web pod's readiness probe should keep
taking webhooks while the workers restart: the messages wait in the queue).

``inbound_queue`` reports how long the oldest inbound message no worker has taken up yet
has waited (``oldest_waiting_s``); past ``SAMVAD_BUSY_AFTER_S`` it is ``behind`` and the
status ``degraded``, still 200: a backlog is when the webhooks must keep admitting
messages (a 503 would take web pods out of the load balancer and leave the messages at
the providers); the workers are what to add. Alerting reads the same figure from
``/metrics`` (``samvad_inbound_queue_age_seconds``).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import time
from collections.abc import Callable, Iterable
from typing import Any

import httpx
import structlog
from redis.asyncio import Redis

from channels.queues import queue_age
from samvad.schema import schema_state

log = structlog.get_logger(__name__)

HEARTBEATS_KEY = "samvad:heartbeats"
BEAT_EVERY_S = 1.0
MIN_STALE_AFTER_S = 30.0
FORGET_AFTER_S = 3600.0  # a dead instance's field is removed an hour after it went stale
RASA_TIMEOUT_S = 2.0
PARTS = ("database", "redis", "workers", "rasa")
PROBE_KEY = "samvad:{readyz}:probe"
PROBE_TTL_MS = 10_000
# KEYS probe; ARGV token, ttl ms. What a script of Samvad's needs: write, then read a key.
_PROBE = """
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return redis.call('GET', KEYS[1])
"""
OK = "ok"
NOT_CONFIGURED = "not configured"


def _instance() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Heartbeat:
    """A loop's "still running" mark in Redis; cheap enough to call every iteration."""

    def __init__(self, redis: Redis, loop: str, *, idle_s: float = 1.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.redis = redis
        self.field = f"{loop}|{_instance()}"
        # Stale when no beat came for three idle periods (at least 30 s).
        self.stale_after_s = max(MIN_STALE_AFTER_S, 3 * idle_s)
        self.clock = clock
        self._next = 0.0

    async def beat(self) -> None:
        """Write the heartbeat unless one was written within the last second; never raises."""
        now = self.clock()
        if now < self._next:
            return
        self._next = now + BEAT_EVERY_S
        try:
            await self.redis.hset(HEARTBEATS_KEY, self.field,
                                  f"{now:.3f} {now + self.stale_after_s:.3f}")
        except Exception:  # Redis down: /readyz says so; the loop goes on
            self._next = now  # try again next iteration


async def workers_state(redis: Redis, loops: Iterable[str], now: float | None = None,
                        host: str | None = None) -> str:
    """``ok``, or what is wrong: ``stale: send (last 95 s ago); missing: sla``.

    With ``host``, only the worker processes on that host count (``samvad worker --check``:
    a container's liveness is its own loops, not its siblings')."""
    now = time.time() if now is None else now
    raw = await redis.hgetall(HEARTBEATS_KEY)
    newest: dict[str, tuple[float, float]] = {}
    forget: list[bytes | str] = []
    for field, value in raw.items():
        loop, _, instance = _text(field).partition("|")
        if host is not None and instance.rpartition(":")[0] != host:
            continue
        written, _, expires = _text(value).partition(" ")
        at, stale_at = float(written), float(expires)
        if stale_at < now - FORGET_AFTER_S:
            forget.append(field)
        if loop not in newest or stale_at > newest[loop][1]:
            newest[loop] = (at, stale_at)
    if forget:
        await redis.hdel(HEARTBEATS_KEY, *forget)
    stale: list[str] = []
    missing: list[str] = []
    for loop in loops:
        if loop not in newest:
            missing.append(loop)
        elif newest[loop][1] < now:
            stale.append(f"{loop} (last {now - newest[loop][0]:.0f} s ago)")
    problems = []
    if stale:
        problems.append("stale: " + ", ".join(stale))
    if missing:
        problems.append("missing: " + ", ".join(missing))
    return "; ".join(problems) or OK


def _text(raw: bytes | str) -> str:
    """redis-py types a reply as bytes or str; Samvad's clients answer bytes."""
    return raw.decode() if isinstance(raw, bytes) else raw


async def redis_state(redis: Redis) -> str:
    """``ok`` when a script wrote a fresh token to ``PROBE_KEY`` and read it back.

    A PING passes on a read-only replica, a server out of memory or a cluster the client
    cannot route in; the mailboxes' and sessions' scripts would all fail there."""
    token = secrets.token_hex(8)
    echoed = await redis.register_script(_PROBE)(keys=[PROBE_KEY], args=[token, PROBE_TTL_MS])
    return OK if echoed == token.encode() else "error: the probe key read back wrong"


async def rasa_state(url: str | None) -> str:
    """GET Rasa's ``/`` with a short timeout; ``not configured`` without SAMVAD_RASA_URL."""
    if not url:
        return NOT_CONFIGURED
    try:
        async with httpx.AsyncClient(timeout=RASA_TIMEOUT_S) as http:
            response = await http.get(url.rstrip("/") + "/")
    except httpx.HTTPError as exc:
        return f"error: {type(exc).__name__}"
    return OK if response.status_code == 200 else f"error: HTTP {response.status_code}"


async def inbound_queue_state(redis: Redis, behind_after_s: float,
                              now: float | None = None) -> dict[str, Any]:
    """``{"state": "ok" | "behind", "oldest_waiting_s": ...}``; never behind when
    ``behind_after_s`` is 0 (the busy notice is off)."""
    age = await queue_age(redis, time.time() if now is None else now)
    behind = bool(behind_after_s) and age > behind_after_s
    return {"state": "behind" if behind else OK, "oldest_waiting_s": round(age, 1)}


async def _guard(check: Any) -> str:
    try:
        return await check
    except Exception as exc:  # readiness reports any failure, it does not raise
        return f"error: {type(exc).__name__}"


async def readiness(app: Any, loops: Iterable[str],
                    optional: Iterable[str] = ()) -> tuple[bool, dict[str, Any]]:
    """Check every part at once; (ready, body) where body names what is down."""

    async def database() -> str:
        # Reachable and at this release's schema (samvad/schema.py): a pod started before
        # the migration Job finished takes no traffic.
        async with app.state.db.engine.connect() as conn:
            return await schema_state(conn)

    results = await asyncio.gather(
        _guard(database()), _guard(redis_state(app.state.redis)),
        _guard(workers_state(app.state.redis, loops)),
        _guard(rasa_state(app.state.settings.rasa_url)))
    try:
        queue = await inbound_queue_state(app.state.redis, app.state.settings.busy_after_s)
    except Exception as exc:  # Redis down: its own check says so
        queue = {"state": f"error: {type(exc).__name__}"}
    checks = dict(zip(PARTS, results, strict=True))
    skip = set(optional)
    down = [part for part, state in checks.items()
            if state not in (OK, NOT_CONFIGURED) and part not in skip]
    if down:
        log.warning("not_ready", down=down)
    status = "not_ready" if down else "degraded" if queue["state"] == "behind" else "ready"
    body: dict[str, Any] = {"status": status, "checks": checks, "inbound_queue": queue}
    if down:
        body["down"] = down
    return not down, body
