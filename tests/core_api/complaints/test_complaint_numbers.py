"""Human complaint ids: PG-<state>-<ULB>-<year>-<sequence>, unique under concurrent filing."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select

from core_api.complaints.models import ComplaintCounter

FILINGS = 10
CITIZENS = ("+919876500001", "+919876500002")


async def test_concurrent_filings_get_consecutive_unique_numbers(client, auth, session):
    year = datetime.now(ZoneInfo("Asia/Kolkata")).year

    async def file(i: int, pin: dict[str, float]):
        return await client.post(
            "/api/v1/complaints",
            json={"type_code": "NoWaterSupply", "description": f"filing {i}", **pin},
            headers=auth.service(CITIZENS[i % 2]),
        )

    dehradun = {"lat": 30.3781, "lng": 78.0892}  # Rajpur
    haridwar = {"lat": 29.9563, "lng": 78.1704}  # Har Ki Pauri
    # Each request runs in its own session and transaction, all at once.
    responses = await asyncio.gather(*(file(i, dehradun) for i in range(FILINGS)),
                                     file(FILINGS, haridwar))
    assert [r.status_code for r in responses] == [201] * (FILINGS + 1), [
        r.text for r in responses if r.status_code != 201]
    ids = [r.json()["id"] for r in responses]
    pattern = re.compile(rf"^PG-UK-(DDN|HDW)-{year}-(\d{{6}})$")
    matches = [pattern.match(i) for i in ids]
    assert all(matches), ids
    ddn = sorted(int(m.group(2)) for m in matches if m.group(1) == "DDN")
    assert ddn == list(range(1, FILINGS + 1))  # no gaps, no duplicates
    assert ids[-1] == f"PG-UK-HDW-{year}-000001"  # each ULB counts on its own
    counters = {(c.tenant_code, c.year): c.value
                for c in await session.scalars(select(ComplaintCounter))}
    assert counters == {("uk.dehradun", year): FILINGS, ("uk.haridwar", year): 1}
    # Every complaint got its own workflow process under its number.
    admin = await auth.staff("admin")
    details = await asyncio.gather(*(client.get(f"/api/v1/complaints/{i}", headers=admin)
                                     for i in ids))
    assert sorted(d.json()["id"] for d in details) == sorted(ids)
    assert {d.json()["history"][0]["action"] for d in details} == {"APPLY"}
