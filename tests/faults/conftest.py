"""Fixtures of the fault tests: one PostgreSQL server for the module run (a migrated, seeded
template database made with ``samvad db upgrade`` + ``samvad seed --demo``), and per test a
fresh database, a fresh redis-server, a fake Twilio and the Samvad processes."""

from __future__ import annotations

import itertools
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import pytest

from tests.faults.cluster import (
    Cluster,
    FakeTwilio,
    Postgres,
    RedisServer,
    run_samvad,
    samvad_env,
)

TEMPLATE = "fault_template"
_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def fault_root() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="samvad-faults-"))
    path.chmod(0o755)  # the embedded PostgreSQL runs as its own user when we are root
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def fault_pg(fault_root: Path) -> Iterator[Postgres]:
    pg = Postgres(fault_root)
    pg.execute("postgres", f"CREATE DATABASE {TEMPLATE}")
    env = samvad_env(pg.url(TEMPLATE), "redis://127.0.0.1:1/0", fault_root / "seed")
    run_samvad(env, "db", "upgrade")
    run_samvad(env, "seed", "--demo")
    yield pg
    pg.close()


class MakeCluster(Protocol):
    def __call__(self, *, appendonly: bool = True, **settings: str) -> Cluster: ...


@pytest.fixture
def make_cluster(fault_pg: Postgres, fault_root: Path,
                 request: pytest.FixtureRequest) -> Iterator[MakeCluster]:
    """Builds the test's cluster (not started: ``.start()``); tears everything down."""
    made: list[tuple[Cluster, str]] = []
    closers: list[object] = []

    def make(*, appendonly: bool = True, **settings: str) -> Cluster:
        name = f"fault_{next(_numbers)}"
        root = fault_root / name
        root.mkdir()
        fault_pg.execute("postgres", f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
        redis_server = RedisServer(root, appendonly=appendonly)
        redis_server.start()
        twilio = FakeTwilio()
        closers.extend([twilio, redis_server])
        cluster = Cluster(root, fault_pg, name, redis_server, twilio, **settings)
        made.append((cluster, name))
        return cluster

    yield make
    failed = getattr(request.node, "rep_call", None)
    for cluster, name in made:
        cluster.stop()
        if failed is None or failed.failed:
            print(cluster.logs())
        if not fault_pg.running():
            fault_pg.start()
        fault_pg.execute("postgres", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    for closer in closers:
        closer.close()  # type: ignore[attr-defined]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.rep_call = report  # type: ignore[attr-defined]
