"""Is the database at the schema this release was built for?

A release's migrations run once, as a Job (or the compose ``migrate`` service), before
its web and worker processes take work: ``/readyz`` and ``samvad db wait`` compare the
Alembic revision in the database with the head of the migrations shipped in the code.

- at the code's head: ready;
- at an older revision the code knows, or none at all: not ready (the Job has not run
  yet, or failed): a process on the new code would meet tables it does not expect;
- at a revision the code does not know: a newer release has migrated already, and this
  process is an old pod still serving during the rollout. That is ready: migrations are
  written to keep the previous release working (add columns and tables first, drop them
  a release later), so a rolling update never takes every pod out of service.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from functools import cache

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from core_api.migrations import alembic_config

OK = "ok"


@cache
def code_revisions() -> tuple[str, frozenset[str]]:
    """The head revision of the shipped migrations, and every revision they contain."""
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    head = script.get_current_head()
    assert head is not None, "no migrations found"
    return head, frozenset(revision.revision for revision in script.walk_revisions())


async def schema_state(conn: AsyncConnection) -> str:
    """``ok``, or why this code must not work on the database yet (module docstring)."""
    at = await conn.run_sync(lambda sync: MigrationContext.configure(sync).get_current_heads())
    head, known = code_revisions()
    if not at:
        return f"schema not migrated (needs {head}: run `samvad db upgrade`)"
    if set(at) == {head} or not set(at) <= known:
        return OK
    return f"schema at {', '.join(sorted(at))}, this release needs {head}"


async def wait_for_schema(engine: AsyncEngine, timeout_s: float, every_s: float = 2.0,
                          report: Callable[[str], object] = print) -> str:
    """Poll until the database is at this release's schema or ``timeout_s`` passed; the
    last state (``ok`` when it got there). Connection errors count as not there yet."""
    deadline = time.monotonic() + timeout_s
    last = ""
    while True:
        try:
            async with engine.connect() as conn:
                state = await schema_state(conn)
        except Exception as exc:  # the database may still be starting
            state = f"database unreachable ({type(exc).__name__})"
        if state != last:
            report(state)
        last = state
        if state == OK or time.monotonic() + every_s > deadline:
            return state
        await asyncio.sleep(every_s)
