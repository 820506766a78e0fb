"""The ``overdue`` flag of a complaint: still open and past its SLA due time (the staff
task lists in the chat show it)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import update

from core_api.complaints.models import Complaint

RAHUL = "+919876500002"


async def _overdue(client: Any, headers: dict[str, str], number: str) -> tuple[bool, bool]:
    """The flag as the inbox lists it and as the complaint's details show it."""
    inbox = (await client.get("/api/v1/complaints", headers=headers,
                              params={"limit": 100})).json()["items"]
    listed = next(row for row in inbox if row["id"] == number)
    detail = (await client.get(f"/api/v1/complaints/{number}", headers=headers)).json()
    return listed["overdue"], detail["overdue"]


async def test_a_complaint_is_overdue_while_open_past_its_due_time(
        client: Any, auth: Any, session: Any) -> None:
    gro = await auth.staff("gro.dehradun")
    filed = await client.post("/api/v1/complaints", headers=gro, json={
        "type_code": "GarbageNeedsTobeCleared", "tenant_code": "uk.dehradun", "lat": 30.378,
        "lng": 78.089, "citizen_phone": RAHUL})
    assert filed.status_code == 201, filed.text
    number = filed.json()["id"]
    assert filed.json()["overdue"] is False
    assert await _overdue(client, gro, number) == (False, False)

    await session.execute(update(Complaint).where(Complaint.complaint_no == number)
                          .values(sla_due_at=datetime.now(UTC) - timedelta(minutes=5)))
    await session.commit()
    assert await _overdue(client, gro, number) == (True, True)

    # Answered (rejected here): the citizen's turn, no longer overdue for staff.
    rejected = await client.post(f"/api/v1/complaints/{number}/actions", headers=gro,
                                 json={"action": "REJECT", "comment": "Filed twice"})
    assert rejected.status_code == 200, rejected.text
    assert await _overdue(client, gro, number) == (False, False)
