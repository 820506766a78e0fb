"""The dashboard counts resolutions the citizen confirmed (rated) apart from those the system
closed unanswered (AUTOCLOSE after SAMVAD_AUTO_CLOSE_DAYS): API, CSV and page, both
database backends."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from core_api.complaints.sla import auto_close_sweep
from core_api.workflow.models import ProcessInstance

SUNITA = "+919876500001"
RAJPUR_PIN = {"lat": 30.3781, "lng": 78.0892}


async def _resolved(client: Any, auth: Any, gro: dict[str, str], lme: dict[str, str],
                    lme_id: int) -> str:
    filed = await client.post("/api/v1/complaints", headers=auth.service(SUNITA), json={
        "type_code": "StreetLightNotWorking", "source": "sms", **RAJPUR_PIN})
    assert filed.status_code == 201, filed.text
    number = filed.json()["id"]
    for headers, body in ((gro, {"action": "ASSIGN", "assignee_id": lme_id}),
                          (lme, {"action": "RESOLVE", "comment": "Fixed"})):
        acted = await client.post(f"/api/v1/complaints/{number}/actions", headers=headers,
                                  json=body)
        assert acted.status_code == 200, acted.text
    return number


async def test_confirmed_and_auto_closed_resolutions_are_counted_apart(
        client, auth, database):
    admin, gro = await auth.staff("admin"), await auth.staff("gro.dehradun")
    lme = await auth.staff("lme.electrical.dehradun")
    lmes = (await client.get("/api/v1/employees", headers=gro, params={
        "tenant": "uk.dehradun", "role": "LME", "department": "DEPT_STREETLIGHT"})).json()
    rated, unanswered, waiting = [await _resolved(client, auth, gro, lme, lmes[0]["id"])
                                  for _ in range(3)]
    confirmed = await client.post(f"/api/v1/complaints/{rated}/actions",
                                  headers=auth.service(SUNITA),
                                  json={"action": "RATE", "rating": 4})
    assert confirmed.status_code == 200, confirmed.text
    async with database.sessions() as session:
        resolved_at = dict((await session.execute(
            select(ProcessInstance.business_id, ProcessInstance.updated_at)
            .where(ProcessInstance.business_id.in_([unanswered, waiting])))).all())
        # The sweep's clock stands between the two resolutions' seventh day.
        assert await auto_close_sweep(
            session, resolved_at[unanswered] + timedelta(days=7, microseconds=1), 7) == 1
        await session.commit()

    summary = (await client.get("/api/v1/dashboard/summary", headers=admin,
                                params={"tenantId": "uk"})).json()
    resolution = summary["complaints"]["resolution"]
    assert (resolution["confirmed"], resolution["auto_closed"], resolution["resolved"]) == (
        1, 1, 3)
    assert {row["status"]: row["count"] for row in summary["complaints"]["by_status"]} == {
        "CLOSEDAFTERRESOLUTION": 2, "RESOLVED": 1}
    haridwar = (await client.get("/api/v1/dashboard/summary", headers=admin,
                                 params={"tenantId": "uk.haridwar"})).json()
    assert (haridwar["complaints"]["resolution"]["confirmed"],
            haridwar["complaints"]["resolution"]["auto_closed"]) == (0, 0)

    table = await client.get("/api/v1/dashboard/resolution.csv", headers=gro)
    assert table.status_code == 200, table.text
    [row] = list(csv.DictReader(io.StringIO(table.text)))
    assert (row["confirmed"], row["auto_closed"]) == ("1", "1")

    login = await client.post("/dashboard/login", data={"username": "gro.dehradun",
                                                        "password": "samvad-demo"})
    assert login.status_code == 303
    page = await client.get("/dashboard")
    assert page.status_code == 200
    shown = dict(re.findall(r'data-figure="(resolutions-[a-z-]+)">([^<]*)<', page.text))
    assert shown == {"resolutions-confirmed": "1", "resolutions-auto-closed": "1"}
