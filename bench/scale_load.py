# ruff: noqa: S608  (SQL built from this module's constants only; values are bound)
"""Bulk data for the scale figures: a migrated, demo-seeded PostgreSQL database filled with
bills, complaints (with their PGR process and history rows) and citizens, generated on the
server (``INSERT ... SELECT generate_series``) so a million rows take seconds, not hours.

The rows follow the real tables' rules (foreign keys, unique numbers, check constraints)
and a plausible spread: most bills and complaints in Dehradun, the rest over the other
ULBs; older bills paid, the latest open; most complaints closed, some waiting for a GRO.
"""

from __future__ import annotations

import time

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from core_api.db import Database, make_engine
from core_api.migrations import upgrade_on_connection

# Citizens generated per million rows; their phones are +9170xxxxxxxx (never a demo number).
CITIZENS_PER_MILLION = 200_000
BILLS_PER_CONSUMER = 4  # four quarters of one consumer number
SCALE_PHONE_PREFIX = "+9170"

# Complaint status mix by age (per mille, cumulative): new complaints wait for a GRO or
# an LME, a month later most are resolved, older ones closed, with a small stale backlog
# (about 5 000 complaints waiting for assignment in a million): what a GRO's inbox holds.
STATUS_MIX = (
    (2, (("PENDINGFORASSIGNMENT", 400), ("PENDINGATLME", 800), ("RESOLVED", 1000))),
    (30, (("PENDINGFORASSIGNMENT", 50), ("PENDINGFORREASSIGNMENT", 70), ("PENDINGATLME", 320),
          ("RESOLVED", 620), ("REJECTED", 650), ("CLOSEDAFTERRESOLUTION", 1000))),
    (None, (("PENDINGFORASSIGNMENT", 5), ("PENDINGFORREASSIGNMENT", 8), ("PENDINGATLME", 18),
            ("RESOLVED", 40), ("CLOSEDAFTERREJECTION", 110), ("CLOSEDAFTERRESOLUTION", 1000))),
)
# The action of the last move into each status (history rows after APPLY).
LAST_ACTION = {
    "CLOSEDAFTERRESOLUTION": "RATE", "RESOLVED": "RESOLVE", "CLOSEDAFTERREJECTION": "RATE",
    "REJECTED": "REJECT", "PENDINGATLME": "ASSIGN", "PENDINGFORREASSIGNMENT": "REASSIGN",
}


async def create_database(admin_url: str, name: str) -> str:
    """(Re)create database ``name`` on the server of ``admin_url``; return its URL."""
    engine = make_engine(admin_url, isolation_level="AUTOCOMMIT", pool_size=1)
    async with engine.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await engine.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


async def drop_database(admin_url: str, name: str) -> None:
    engine = make_engine(admin_url, isolation_level="AUTOCOMMIT", pool_size=1)
    async with engine.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await engine.dispose()


async def migrate_and_seed(url: str) -> None:
    """``samvad db upgrade`` and ``samvad seed --demo``, in-process."""
    from core_api.seed.demo import seed_demo

    engine = make_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(upgrade_on_connection)
    await engine.dispose()
    database = Database(url)
    async with database.sessions() as session:
        await seed_demo(session, demo_password="samvad-demo")  # noqa: S106 (demo seed)
        await session.commit()
    await database.dispose()


def _status_case(age_days: str, draw: str) -> str:
    """SQL CASE picking a status by STATUS_MIX from an age in days and a draw in [0, 1000)."""
    ages = []
    for limit, mix in STATUS_MIX:
        pick = " ".join(f"WHEN {draw} < {edge} THEN '{status}'" for status, edge in mix)
        ages.append(f"{'ELSE' if limit is None else f'WHEN {age_days} < {limit} THEN'} "
                    f"CASE {pick} END")
    return "CASE " + " ".join(ages) + " END"


async def load_citizens(conn: AsyncConnection, n: int) -> None:
    await conn.execute(text(f"""
        INSERT INTO users (uuid, kind, phone, name, locale, opted_out, tenant_code, active,
                           created_at, updated_at)
        SELECT md5('scale-citizen-' || i), 'CITIZEN',
               '{SCALE_PHONE_PREFIX}' || lpad(i::text, 8, '0'),
               'Citizen ' || i,
               (ARRAY['hi_IN', 'en_IN', 'hi_IN', 'pa_IN', 'or_IN'])[1 + i % 5],
               false, NULL, true, now() - (i % 700) * interval '1 day', now()
        FROM generate_series(1, :n) AS i
    """), {"n": n})


async def load_bills(conn: AsyncConnection, n: int, citizens: int) -> None:
    """``n`` bills with two lines each: consumers of four quarterly bills, the latest
    unpaid, spread 50 % Dehradun and the rest over the other ULBs; PT, WS and TL."""
    await conn.execute(text("""
        CREATE TEMP TABLE scale_ulbs AS
        SELECT row_number() OVER (ORDER BY code) - 1 AS k, code, id_code
        FROM tenants WHERE level = 'ulb'
    """))
    # Consumer c (0-based) lives in ULB u; quarter q of 2025-26 (q = 3 is the open one).
    await conn.execute(text(f"""
        INSERT INTO bills (bill_number, tenant_code, service, consumer_number, owner_user_id,
                           owner_name, owner_phone, period_from, period_to, due_date, total,
                           status, paid_at, created_at)
        SELECT 'BILL-' || u.id_code || '-S-' || lpad(g.i::text, 8, '0'),
               u.code, s.service,
               s.service || '-' || u.id_code || '-S' || lpad(g.c::text, 7, '0'),
               CASE WHEN g.c % 10 < 7 THEN cz.id END,
               'Owner ' || g.c,
               CASE WHEN g.c % 10 < 7 THEN cz.phone END,
               date '2025-04-01' + (g.q * interval '3 months'),
               date '2025-04-01' + ((g.q + 1) * interval '3 months') - interval '1 day',
               date '2025-04-01' + ((g.q + 1) * interval '3 months') + interval '29 days',
               (50000 + (g.c * 7919 + g.q * 104729) % 900000),
               CASE WHEN g.q < 3 OR g.c % 3 = 0 THEN 'PAID' ELSE 'ACTIVE' END,
               CASE WHEN g.q < 3 OR g.c % 3 = 0
                    THEN timestamptz '2025-05-01' + g.q * interval '3 months' END,
               timestamptz '2025-04-01' + g.q * interval '3 months'
        FROM (SELECT i, (i - 1) / {BILLS_PER_CONSUMER} AS c, (i - 1) % {BILLS_PER_CONSUMER} AS q
              FROM generate_series(1::bigint, :n) AS i) AS g
        JOIN scale_ulbs AS u
          ON u.k = CASE WHEN g.c % 2 = 0 THEN 0
                        ELSE 1 + (g.c / 2) % ((SELECT count(*) FROM scale_ulbs) - 1) END
        CROSS JOIN LATERAL (SELECT (ARRAY['PT', 'WS', 'WS', 'TL'])[1 + (g.c / 8) % 4] AS service) s
        LEFT JOIN users AS cz ON cz.phone = '{SCALE_PHONE_PREFIX}' || lpad(
            (1 + g.c % :citizens)::text, 8, '0')
    """), {"n": n, "citizens": citizens})
    # ULB 0 in the ORDER BY code list is uk.dehradun (d < h < r): the busiest city.
    await conn.execute(text("""
        INSERT INTO bill_lines (bill_id, position, code, label_en, label_hi, amount)
        SELECT b.id, p.position, p.code, p.label_en, p.label_hi,
               CASE WHEN p.position = 1 THEN b.total - b.total / 5 ELSE b.total / 5 END
        FROM bills AS b
        CROSS JOIN (VALUES (1, 'MAIN', 'Charge', 'शुल्क'), (2, 'CESS', 'Cess', 'उपकर'))
             AS p(position, code, label_en, label_hi)
        WHERE b.bill_number LIKE 'BILL-%-S-%'
    """))
    await conn.execute(text("DROP TABLE scale_ulbs"))


async def load_complaints(conn: AsyncConnection, n: int, citizens: int) -> None:
    """``n`` complaints over two years: 70 % in Dehradun's localities, the rest over the
    other ULBs; every type; the STATUS_MIX; with their PGR process and history rows."""
    await conn.execute(text("""
        CREATE TEMP TABLE scale_places AS
        SELECT row_number() OVER (ORDER BY b.tenant_code <> 'uk.dehradun', b.id) - 1 AS k,
               b.id, b.tenant_code, t.id_code, b.lat, b.lng,
               b.tenant_code = 'uk.dehradun' AS home
        FROM boundaries AS b JOIN tenants AS t ON t.code = b.tenant_code
        WHERE b.kind = 'locality'
    """))
    await conn.execute(text("""
        CREATE TEMP TABLE scale_types AS
        SELECT row_number() OVER (ORDER BY code) - 1 AS k, code, sla_hours, department_code
        FROM complaint_types WHERE active
    """))
    await conn.execute(text("""
        CREATE TEMP TABLE scale_lme AS
        SELECT row_number() OVER (ORDER BY u.id) - 1 AS k, u.id, u.department
        FROM users AS u JOIN user_roles AS r ON r.user_id = u.id AND r.role = 'LME'
    """))
    age = "((g.i * 7331) % (730 * 24 * 60)) / 1440.0"
    status = _status_case(age, "(g.i * 7919) % 1000")
    await conn.execute(text(f"""
        CREATE TEMP TABLE scale_complaints AS
        SELECT g.i,
               p.id AS locality_id, p.tenant_code, p.id_code, p.lat, p.lng,
               ty.code AS type_code, ty.sla_hours,
               {status} AS status,
               now() - ((g.i * 7331) % (730 * 24 * 60)) * interval '1 minute' AS created_at,
               cz.id AS citizen_user_id
        FROM generate_series(1::bigint, :n) AS g(i)
        JOIN users AS cz ON cz.phone = '{SCALE_PHONE_PREFIX}'
            || lpad((1 + g.i * 13 % :citizens)::text, 8, '0')
        JOIN scale_places AS p ON p.k = CASE
            WHEN g.i % 10 < 7
                THEN (g.i / 10) % (SELECT count(*) FROM scale_places WHERE home)
            ELSE (SELECT count(*) FROM scale_places WHERE home)
                 + (g.i / 10) % (SELECT count(*) FROM scale_places WHERE NOT home) END
        JOIN scale_types AS ty ON ty.k = (g.i * 7) % (SELECT count(*) FROM scale_types)
    """), {"n": n, "citizens": citizens})
    lme_count = (await conn.execute(text("SELECT count(*) FROM scale_lme"))).scalar_one()
    assignee = ("CASE WHEN c.status IN ('PENDINGATLME', 'RESOLVED', 'CLOSEDAFTERRESOLUTION') "
                f"THEN (SELECT id FROM scale_lme WHERE k = c.i % {max(lme_count, 1)}) END")
    await conn.execute(text(f"""
        INSERT INTO complaints (complaint_no, tenant_code, type_code, description, locality_id,
                                lat, lng, address, source, citizen_user_id, status,
                                assignee_user_id, rating, feedback, reopen_count, sla_due_at,
                                resolved_at, created_at, updated_at)
        SELECT 'PG-UK-' || c.id_code || '-' || extract(year FROM c.created_at)::int
                   || '-S' || lpad(c.i::text, 7, '0'),
               c.tenant_code, c.type_code, 'Scale test complaint ' || c.i, c.locality_id,
               c.lat, c.lng, NULL,
               (ARRAY['whatsapp', 'whatsapp', 'whatsapp', 'sms', 'web', 'csr'])[1 + c.i % 6],
               c.citizen_user_id, c.status, {assignee},
               CASE WHEN c.status LIKE 'CLOSED%' AND c.i % 5 < 3 THEN 1 + c.i % 5 END,
               NULL, CASE WHEN c.i % 50 = 0 THEN 1 ELSE 0 END,
               c.created_at + c.sla_hours * interval '1 hour',
               CASE WHEN c.status IN ('RESOLVED', 'CLOSEDAFTERRESOLUTION')
                    THEN c.created_at + (c.i % 96) * interval '1 hour' END,
               c.created_at,
               c.created_at + CASE WHEN c.status LIKE 'PENDINGFOR%' THEN interval '0'
                                   ELSE (c.i % 96) * interval '1 hour' END
        FROM scale_complaints AS c
    """))
    await conn.execute(text("""
        INSERT INTO workflow_processes (business_service, business_id, tenant_code, state,
                                        owner_user_id, assignee_user_id, sla_due_at,
                                        state_sla_due_at, escalated, sla_warned,
                                        created_at, updated_at)
        SELECT 'PGR', c.complaint_no, c.tenant_code, c.status, c.citizen_user_id,
               c.assignee_user_id, c.sla_due_at,
               CASE WHEN c.status LIKE 'CLOSED%' THEN NULL
                    WHEN c.status LIKE 'PENDINGFOR%' THEN c.updated_at + interval '24 hours'
                    ELSE c.sla_due_at END,
               false, false, c.created_at, c.updated_at
        FROM complaints AS c WHERE c.complaint_no LIKE 'PG-UK-%-S%'
    """))
    last_action = " ".join(f"WHEN '{s}' THEN '{a}'" for s, a in LAST_ACTION.items())
    await conn.execute(text(f"""
        INSERT INTO workflow_history (process_id, action, from_state, to_state, actor_user_id,
                                      actor_role, assignee_user_id, comment, documents,
                                      created_at)
        SELECT w.id, 'APPLY', NULL, 'PENDINGFORASSIGNMENT', w.owner_user_id, 'CITIZEN', NULL,
               NULL, '[]'::json, w.created_at
        FROM workflow_processes AS w WHERE w.business_id LIKE 'PG-UK-%-S%'
        UNION ALL
        SELECT w.id, CASE w.state {last_action} END, 'PENDINGFORASSIGNMENT', w.state,
               w.assignee_user_id, CASE WHEN w.state LIKE 'CLOSED%' THEN 'CITIZEN'
                                        ELSE 'GRO' END,
               w.assignee_user_id, NULL, '[]'::json, w.updated_at
        FROM workflow_processes AS w
        WHERE w.business_id LIKE 'PG-UK-%-S%' AND w.state <> 'PENDINGFORASSIGNMENT'
    """))
    for table in ("scale_complaints", "scale_places", "scale_types", "scale_lme"):
        await conn.execute(text(f"DROP TABLE {table}"))


BULK_TABLES = ("users", "bills", "bill_lines", "complaints", "workflow_processes",
               "workflow_history")


async def _plain_indexes(conn: AsyncConnection) -> list[tuple[str, str]]:
    """(name, CREATE INDEX statement) of the bulk tables' indexes that back no constraint."""
    rows = await conn.execute(text("""
        SELECT i.indexname, i.indexdef FROM pg_indexes AS i
        WHERE i.schemaname = current_schema() AND i.tablename = ANY(:tables)
          AND NOT EXISTS (SELECT 1 FROM pg_constraint AS c WHERE c.conname = i.indexname)
    """), {"tables": list(BULK_TABLES)})
    return [(name, definition) for name, definition in rows]


async def load(url: str, *, bills: int, complaints: int) -> dict[str, float]:
    """Fill the database at ``url``; return how long each part took (seconds)."""
    citizens = max(1000, CITIZENS_PER_MILLION * max(bills, complaints) // 1_000_000)
    timings: dict[str, float] = {}
    engine = make_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            superuser = bool((await conn.execute(text(
                "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"))).scalar())
            # Building an index once over sorted rows beats updating it row by row: the
            # plain indexes go for the load and come back, as they were, afterwards.
            indexes = await _plain_indexes(conn)
            for name, _definition in indexes:
                await conn.execute(text(f'DROP INDEX "{name}"'))
            await conn.commit()
        for name, step in (
            ("citizens", lambda c: load_citizens(c, citizens)),
            ("bills", lambda c: load_bills(c, bills, citizens)),
            ("complaints", lambda c: load_complaints(c, complaints, citizens)),
        ):
            started = time.perf_counter()
            async with engine.begin() as conn:
                await conn.execute(text("SET LOCAL synchronous_commit = off"))
                await conn.execute(text("SET LOCAL work_mem = '256MB'"))
                await conn.execute(text("SET LOCAL maintenance_work_mem = '512MB'"))
                if superuser:
                    # The rows are valid by construction: skip the per-row foreign-key
                    # triggers (a million of them per table) as pg_restore does.
                    await conn.execute(text("SET LOCAL session_replication_role = replica"))
                await step(conn)
            timings[f"load_{name}_s"] = time.perf_counter() - started
        started = time.perf_counter()
        async with engine.begin() as conn:
            await conn.execute(text("SET LOCAL maintenance_work_mem = '512MB'"))
            for _name, definition in indexes:
                await conn.execute(text(definition))
        timings["load_indexes_s"] = time.perf_counter() - started
        started = time.perf_counter()
        async with engine.connect() as conn:
            auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await auto.execute(text("VACUUM ANALYZE"))
        timings["load_analyze_s"] = time.perf_counter() - started
    finally:
        await engine.dispose()
    return timings
