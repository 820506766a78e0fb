"""How many SQL statements the hot core-API requests cost (issue 21): counted on the app's
engine, on PostgreSQL and SQLite. The bounds are what the code reaches now; a change that
adds a query to these paths must lower another or say why here.

Statements are counted as the database sees them: every statement the engine sends, plus
each transaction's BEGIN and COMMIT/ROLLBACK (PostgreSQL's pg_stat_statements counts
those too; the bench reads that). Reference data (complaint types, tenants, localities,
workflow definitions) is cached for a short time, so each test warms it first.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from sqlalchemy import event

from core_api import reference

RAHUL = "+919876500002"  # a demo citizen with bills
COMPLAINTS = "/api/v1/complaints"
FILING = {"type_code": "StreetLightNotWorking", "tenant_code": "uk.dehradun",
          "description": "The light near the school gate is off", "source": "sms"}


class Counter:
    """Statements and transaction boundaries sent on one engine."""

    def __init__(self) -> None:
        self.sql: list[str] = []
        self.transactions = 0  # BEGIN + COMMIT/ROLLBACK pairs

    @property
    def total(self) -> int:
        return len(self.sql) + 2 * self.transactions

    def __repr__(self) -> str:
        return "\n".join([f"{self.total} statements:", *(s[:100] for s in self.sql)])


@contextmanager
def counting(app: Any) -> Iterator[Counter]:
    engine = app.state.db.engine.sync_engine
    counter = Counter()

    def statement(_conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        counter.sql.append(" ".join(sql.split()))

    def ended(_conn: Any) -> None:
        counter.transactions += 1

    event.listen(engine, "before_cursor_execute", statement)
    event.listen(engine, "commit", ended)
    event.listen(engine, "rollback", ended)
    try:
        yield counter
    finally:
        event.remove(engine, "before_cursor_execute", statement)
        event.remove(engine, "commit", ended)
        event.remove(engine, "rollback", ended)


async def _locality_id(client: httpx.AsyncClient, headers: dict[str, str]) -> int:
    found = await client.get("/api/v1/localities/search", headers=headers,
                             params={"q": "rajpur", "tenant": "uk.dehradun", "limit": 1})
    assert found.status_code == 200, found.text
    return int(found.json()[0]["locality"]["id"])


async def _file(client: httpx.AsyncClient, headers: dict[str, str], locality_id: int,
                key: str) -> httpx.Response:
    return await client.post(COMPLAINTS, headers={**headers, "Idempotency-Key": key},
                             json={**FILING, "locality_id": locality_id})


async def test_the_current_citizen_costs_one_query(client, auth, app) -> None:
    citizen = auth.service(RAHUL)
    with counting(app) as counted:
        me = await client.get("/api/v1/citizens/me", headers=citizen)
    assert me.status_code == 200 and me.json()["phone"] == RAHUL
    assert len(counted.sql) == 1, counted  # the user and its grants, joined
    assert counted.total <= 3, counted


async def test_a_language_change_costs_two_statements(client, auth, app) -> None:
    citizen = auth.service(RAHUL)
    with counting(app) as counted:
        changed = await client.patch("/api/v1/citizens/me", headers=citizen,
                                     json={"locale": "hi_IN"})
    assert changed.status_code == 200 and changed.json()["locale"] == "hi_IN"
    assert len(counted.sql) == 2, counted  # the caller; UPDATE .. RETURNING
    assert (await client.get("/api/v1/citizens/me", headers=citizen)).json()["locale"] == "hi_IN"


async def test_my_bills_cost_two_queries(client, auth, app) -> None:
    citizen = auth.service(RAHUL)
    with counting(app) as counted:
        bills = await client.get("/api/v1/bills", headers=citizen)
    assert bills.status_code == 200, bills.text
    assert bills.json() and all(bill["lines"] for bill in bills.json())
    assert {bill["owner_phone"] for bill in bills.json()} == {RAHUL}  # only the caller's
    assert len(counted.sql) == 2, counted  # the caller; the bills with their lines
    assert counted.total <= 4, counted


async def test_my_complaints_cost_two_queries(client, auth, app) -> None:
    citizen = auth.service(RAHUL)
    assert (await _file(client, citizen, await _locality_id(client, citizen),
                        "list-test-1")).status_code == 201
    await client.get(COMPLAINTS, headers=citizen)  # reference data cached
    with counting(app) as counted:
        page = await client.get(COMPLAINTS, headers=citizen, params={"limit": 5})
    assert page.status_code == 200, page.text
    assert page.json()["total"] >= 1 and page.json()["items"][0]["type"]["names"]["en"]
    assert len(counted.sql) == 2, counted  # the caller; the page with its total
    assert counted.total <= 4, counted


async def test_reference_reads_cost_only_the_caller(client, auth, app) -> None:
    citizen = auth.service(RAHUL)
    await client.get("/api/v1/complaint-types", headers=citizen)
    await client.get("/api/v1/tenants/uk.dehradun", headers=citizen)
    await _locality_id(client, citizen)  # the name index is built
    with counting(app) as types:
        catalogue = await client.get("/api/v1/complaint-types", headers=citizen)
    with counting(app) as tenant:
        city = await client.get("/api/v1/tenants/uk.dehradun", headers=citizen)
    with counting(app) as places:
        await _locality_id(client, citizen)
    assert catalogue.status_code == 200 and catalogue.json()[0]["types"]
    assert city.status_code == 200 and city.json()["id_code"] == "DDN"
    assert len(types.sql) == 1 and len(tenant.sql) == 1, (types, tenant)
    assert len(places.sql) == 2, places  # the caller; the matched localities' rows


async def test_filing_a_complaint_costs_at_most_eleven_queries(client, auth, app,
                                                               backend) -> None:
    citizen = auth.service(RAHUL)
    locality = await _locality_id(client, citizen)
    assert (await _file(client, citizen, locality, "warm-up-1")).status_code == 201
    with counting(app) as counted:
        filed = await _file(client, citizen, locality, "counted-1")
    assert filed.status_code == 201, filed.text
    body = filed.json()
    assert body["status"] == "PENDINGFORASSIGNMENT" and body["citizen"]["phone"] == RAHUL
    assert [step["action"] for step in body["history"]] == ["APPLY"]
    # The caller; counter; complaint; process; contacts; GROs; history; outbox (three
    # events, one INSERT on PostgreSQL, one each on SQLite); the process and its history
    # for the answer; the people in it.
    bound = 11 if backend == "postgres" else 13
    assert len(counted.sql) <= bound, counted
    assert counted.total <= bound + 2, counted

    with counting(app) as repeated:
        again = await _file(client, citizen, locality, "counted-1")
    assert again.status_code == 200 and again.json()["id"] == body["id"]
    assert len(repeated.sql) <= 17, repeated  # the refused INSERT, then the earlier one


async def test_a_changed_catalogue_is_read_again_after_invalidation(client, auth, app,
                                                                    session) -> None:
    citizen = auth.service(RAHUL)
    await client.get("/api/v1/complaint-types", headers=citizen)
    with counting(app) as cached:
        await client.get("/api/v1/complaint-types", headers=citizen)
    reference.invalidate()
    with counting(app) as fresh:
        await client.get("/api/v1/complaint-types", headers=citizen)
    assert len(cached.sql) == 1 and len(fresh.sql) == 4, (cached, fresh)


async def test_a_menu_turn_reads_nothing_from_the_database(client, app) -> None:
    """A plain menu turn (the bot answers from the session and its flows) costs the core
    API no statement: what a turn writes (delivery records) is the send path's."""
    turn = {"from": RAHUL, "channel": "sms"}
    first = await client.post("/simulator/messages", json={**turn, "text": "hi"})
    assert first.status_code == 200 and first.json()["step"] == "menu", first.text
    await client.post("/simulator/messages", json={**turn, "text": "language"})
    with counting(app) as counted:
        back = await client.post("/simulator/messages", json={**turn, "text": "0"})
    assert back.status_code == 200 and back.json()["flow"] == "main_menu", back.text
    assert back.json()["replies"], back.text
    assert counted.total == 0, counted
