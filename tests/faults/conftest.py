"""Fixtures of the fault tests: one PostgreSQL server for the module run (a migrated, seeded
template database made with ``samvad db upgrade`` + ``samvad seed --demo``), and per test a
fresh database, a fresh redis-server, a fake Twilio and the Samvad processes."""

from __future__ import annotations

import itertools
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
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
from tests.faults.fleet import ClusterRedis, Fleet, redis_for

TEMPLATE = "fault_template"
ARTIFACTS = Path(__file__).parent.parent / "artifacts" / "faults"
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
    def __call__(self, *, appendonly: bool = True, meta: bool = False,
                 **settings: str) -> Cluster: ...


class Clusters:
    """Makes clusters (not started: ``.start()``), each with a fresh database, redis-server
    and fake provider; ``close`` tears them all down."""

    def __init__(self, fault_pg: Postgres, fault_root: Path) -> None:
        self.pg = fault_pg
        self.root = fault_root
        self.made: list[tuple[Cluster, str]] = []
        self.closers: list[FakeTwilio | RedisServer | ClusterRedis] = []

    def _database(self) -> tuple[str, Path]:
        """A fresh copy of the template database and a directory of the same name."""
        name = f"fault_{next(_numbers)}"
        root = self.root / name
        root.mkdir()
        self.pg.execute("postgres", f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
        return name, root

    def make_fleet(self, redis_kind: str = "single", **settings: str) -> Fleet:
        """Two web and two worker processes (not started) on ``redis_kind`` Redis
        (``single`` or ``cluster``)."""
        name, root = self._database()
        redis_server = redis_for(redis_kind, root)
        twilio = FakeTwilio()
        self.closers.extend([twilio, redis_server])
        fleet = Fleet(root, self.pg, name, redis_server, twilio, **settings)
        self.made.append((fleet, name))
        return fleet

    def make(self, *, appendonly: bool = True, meta: bool = False, **settings: str) -> Cluster:
        name, root = self._database()
        redis_server = RedisServer(root, appendonly=appendonly)
        redis_server.start()
        twilio = FakeTwilio()
        self.closers.extend([twilio, redis_server])
        cluster = Cluster(root, self.pg, name, redis_server, twilio, meta=meta, **settings)
        self.made.append((cluster, name))
        return cluster

    def close(self, *, print_logs: bool) -> None:
        for cluster, name in self.made:
            cluster.stop()
            if print_logs:
                print(cluster.logs())
            if not self.pg.running():
                self.pg.start()
            self.pg.execute("postgres", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        for closer in self.closers:
            closer.close()


@pytest.fixture
def make_fleet(fault_pg: Postgres, fault_root: Path,
               request: pytest.FixtureRequest) -> Iterator[Callable[..., Fleet]]:
    """Builds the test's ``Fleet`` (2 web + 2 worker processes, not started: ``.start()``)
    on single or cluster Redis; tears everything down."""
    clusters = Clusters(fault_pg, fault_root)
    yield clusters.make_fleet
    failed = getattr(request.node, "rep_call", None)
    clusters.close(print_logs=failed is None or failed.failed)
    if failed is None or failed.failed:  # whole logs, for what a tail does not show
        kept = ARTIFACTS / re.sub(r"[^\w.-]+", "_", request.node.name)
        for fleet, _name in clusters.made:
            kept.mkdir(parents=True, exist_ok=True)
            for log in fleet.root.glob("*.log"):
                shutil.copy(log, kept / log.name)
        print(f"process logs kept in {kept}")


@pytest.fixture
def make_cluster(fault_pg: Postgres, fault_root: Path,
                 request: pytest.FixtureRequest) -> Iterator[MakeCluster]:
    """Builds the test's cluster (not started: ``.start()``); tears everything down."""
    clusters = Clusters(fault_pg, fault_root)
    yield clusters.make
    failed = getattr(request.node, "rep_call", None)
    clusters.close(print_logs=failed is None or failed.failed)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.rep_call = report  # type: ignore[attr-defined]
