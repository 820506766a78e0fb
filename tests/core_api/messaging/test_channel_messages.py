"""The delivery record: upsert by job id, monotonic statuses, early callbacks, service only."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import IntegrityError

from core_api.messaging.endpoints import CLAIM_RETRIES, write_claiming
from core_api.messaging.models import ChannelMessage

PATH = "/api/v1/channel-messages"
CITIZEN = "+919876500001"


def job(**overrides):
    body = {"job_id": "SM1:0", "provider": "twilio", "channel": "sms", "to": CITIZEN,
            "kind": "reply", "status": "queued", "attempts": 1}
    return body | overrides


async def test_a_job_is_recorded_once_and_its_status_only_moves_forward(client, auth):
    service = auth.service()
    first = await client.post(PATH, json=job(error_code="63018"), headers=service)
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "queued" and first.json()["error_code"] == "63018"
    sent = await client.post(PATH, json=job(status="queued", provider_message_id="SMabc",
                                            attempts=2), headers=service)
    assert sent.json()["provider_message_id"] == "SMabc" and sent.json()["attempts"] == 2

    async def status(value: str, code: str | None = None) -> dict:
        response = await client.post(f"{PATH}/status", headers=service, json={
            "provider": "twilio", "provider_message_id": "SMabc", "status": value,
            "error_code": code})
        assert response.status_code == 200, response.text
        return response.json()

    delivered = await status("delivered")
    assert delivered["status"] == "delivered" and delivered["delivered_at"]
    late_sent = await status("sent")  # callbacks can arrive out of order
    assert late_sent["status"] == "delivered" and late_sent["sent_at"]
    assert (await status("read"))["status"] == "read"
    # The worker's own late record cannot undo what the provider reported.
    again = await client.post(PATH, json=job(status="sent", provider_message_id="SMabc",
                                             attempts=1), headers=service)
    assert again.json()["status"] == "read" and again.json()["attempts"] == 2
    stored = await client.get(f"{PATH}/SM1:0", headers=service)
    assert stored.json()["job_id"] == "SM1:0" and stored.json()["status"] == "read"
    assert (await client.get(f"{PATH}/nope", headers=service)).status_code == 404


async def test_a_status_that_overtakes_the_record_is_adopted(client, auth):
    service = auth.service()
    early = await client.post(f"{PATH}/status", headers=service, json={
        "provider": "meta", "provider_message_id": "wamid.A", "status": "failed",
        "error_code": "131026", "at": "2026-01-05T10:00:00+05:30"})
    assert early.status_code == 200, early.text
    assert early.json()["job_id"] is None and early.json()["status"] == "failed"
    # The job had a row from an earlier throttled attempt; the early status folds into it.
    await client.post(PATH, json=job(job_id="n:ev1:+919876500001", provider="meta",
                                     channel="whatsapp", kind="complaint_update"),
                      headers=service)
    record = await client.post(PATH, headers=service, json=job(
        job_id="n:ev1:+919876500001", provider="meta", channel="whatsapp",
        kind="complaint_update", status="queued", provider_message_id="wamid.A", attempts=2))
    assert record.status_code == 200, record.text
    body = record.json()
    assert (body["status"], body["error_code"]) == ("failed", "131026")
    assert body["failed_at"].startswith("2026-01-05T04:30:00")
    # A second early status for a fresh id creates its own unclaimed row, adopted directly.
    await client.post(f"{PATH}/status", headers=service, json={
        "provider": "meta", "provider_message_id": "wamid.B", "status": "sent"})
    adopted = await client.post(PATH, headers=service, json=job(
        job_id="SM2:0", provider="meta", channel="whatsapp", status="queued",
        provider_message_id="wamid.B"))
    assert adopted.json()["status"] == "sent" and adopted.json()["sent_at"]


async def test_only_the_service_may_write_or_read_delivery_records(client, auth):
    assert (await client.post(PATH, json=job())).status_code == 401
    staff = await auth.staff("gro.dehradun")
    assert (await client.post(PATH, json=job(), headers=staff)).status_code == 403
    batch = {"records": [job(), job(job_id="SM1:1")]}
    assert (await client.post(f"{PATH}/batch", json=batch, headers=staff)).status_code == 403
    assert (await client.post(f"{PATH}/batch", json={"records": []},
                              headers=auth.service())).status_code == 422
    as_citizen = await client.post(PATH, json=job(), headers=auth.service(CITIZEN))
    assert as_citizen.status_code == 403
    bad = await client.post(f"{PATH}/status", headers=auth.service(), json={
        "provider": "twilio", "provider_message_id": "SMx", "status": "undelivered"})
    assert bad.status_code == 422
    statuses = {"statuses": [{"provider": "twilio", "provider_message_id": "SMx",
                              "status": "sent"}]}
    assert (await client.post(f"{PATH}/statuses", json=statuses, headers=staff)
            ).status_code == 403
    assert (await client.post(f"{PATH}/statuses", json=statuses,
                              headers=auth.service(CITIZEN))).status_code == 403
    assert (await client.post(f"{PATH}/statuses", json={"statuses": []},
                              headers=auth.service())).status_code == 422
    assert (await client.post(PATH, json=job(to="98765"), headers=auth.service())
            ).status_code == 422


@contextmanager
def statements(app) -> Iterator[list[str]]:
    """The SQL statements the app's engine runs inside the block (BEGIN/COMMIT are not)."""
    seen: list[str] = []

    def remember(_conn, _cursor, statement, *_args) -> None:
        seen.append(statement)

    engine = app.state.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", remember)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", remember)


async def test_a_batch_is_one_statement_and_so_is_a_status(app, client, auth):
    service = auth.service()
    await client.post(f"{PATH}/batch", headers=service, json={"records": [job()]})  # warm
    for size in (1, 16, 16):  # new jobs, then the same 16 again: the conflict's UPDATE
        records = [job(job_id=f"bulk:{i}", to=f"+9198765001{i:02d}", status="sent",
                       provider_message_id=f"SMbulk{i}", attempts=1, cost="0.25")
                   for i in range(size)]
        with statements(app) as seen:
            response = await client.post(f"{PATH}/batch", headers=service,
                                         json={"records": records})
        assert response.json() == {"recorded": size}, response.text
        assert len(seen) == 1 and seen[0].lstrip().upper().startswith("INSERT"), seen
    stored = await client.get(f"{PATH}/bulk:15", headers=service)
    assert (stored.json()["status"], stored.json()["provider_message_id"]) == ("sent",
                                                                               "SMbulk15")
    # A provider's status for a recorded message: one UPDATE ... RETURNING, no read back.
    with statements(app) as seen:
        delivered = await client.post(f"{PATH}/status", headers=service, json={
            "provider": "twilio", "provider_message_id": "SMbulk15", "status": "delivered"})
    assert (delivered.json()["job_id"], delivered.json()["status"]) == ("bulk:15",
                                                                        "delivered")
    assert len(seen) == 1 and seen[0].lstrip().upper().startswith("UPDATE"), seen


async def test_a_batch_writes_what_the_same_records_one_by_one_would(client, auth):
    service = auth.service()

    def steps(job_id: str) -> list[dict]:
        return [job(job_id=job_id, status="queued", error_code="20429", attempts=1,
                    rule="case_channel", segments=2, cost="0.5"),
                job(job_id=job_id, status="sent", provider_message_id=f"SM{job_id}",
                    attempts=2),
                job(job_id=job_id, status="queued", attempts=1, kind="bill_reminder"),
                job(job_id=job_id, status="failed", error_code="30008", attempts=3,
                    segments=1)]

    for step in steps("single"):
        assert (await client.post(PATH, json=step, headers=service)).status_code == 200
    batched = await client.post(f"{PATH}/batch", headers=service,
                                json={"records": steps("batched")})
    assert batched.json() == {"recorded": 4}, batched.text
    single = (await client.get(f"{PATH}/single", headers=service)).json()
    batch = (await client.get(f"{PATH}/batched", headers=service)).json()
    stamps = ("created_at", "updated_at", "sent_at", "delivered_at", "read_at", "failed_at")
    assert {k: bool(single[k]) for k in stamps} == {k: bool(batch[k]) for k in stamps}
    assert single["provider_message_id"] == "SMsingle"
    assert batch["provider_message_id"] == "SMbatched"
    kept = ("status", "error_code", "attempts", "rule", "segments", "cost", "kind", "channel")
    assert {k: single[k] for k in kept} == {k: batch[k] for k in kept} == {
        "status": "failed", "error_code": "30008", "attempts": 3, "rule": "case_channel",
        "segments": 1, "cost": "0.5000", "kind": "reply", "channel": "sms"}
    # A later batch cannot move a delivered message back, nor lower its attempts.
    await client.post(f"{PATH}/batch", headers=service, json={"records": [
        job(job_id="late", status="sent", provider_message_id="SMlate", attempts=2)]})
    await client.post(f"{PATH}/status", headers=service, json={
        "provider": "twilio", "provider_message_id": "SMlate", "status": "delivered"})
    await client.post(f"{PATH}/batch", headers=service, json={"records": [
        job(job_id="late", status="sent", attempts=1), job(job_id="other")]})
    late = (await client.get(f"{PATH}/late", headers=service)).json()
    assert (late["status"], late["attempts"], late["provider_message_id"]) == (
        "delivered", 2, "SMlate")
    assert late["delivered_at"] and late["sent_at"]


async def test_statuses_in_one_batch_apply_as_one_by_one_would_in_one_statement(
        app, client, auth):
    service = auth.service()
    await client.post(f"{PATH}/batch", headers=service, json={"records": [
        job(job_id=name, status="sent", provider_message_id=f"SM{name}", cost="0.25")
        for name in ("s1", "s2", "s3")]})

    def status(message_id: str, value: str, code: str | None = None,
               at: str | None = None) -> dict:
        return {"provider": "twilio", "provider_message_id": message_id, "status": value,
                "error_code": code, "at": at}

    with statements(app) as seen:
        response = await client.post(f"{PATH}/statuses", headers=service, json={"statuses": [
            status("SMs1", "delivered", at="2026-01-05T10:00:00+05:30"),
            status("SMs1", "sent"),  # callbacks can arrive out of order
            status("SMs1", "read"),
            status("SMs2", "failed", "30008"),
            status("SMearly", "delivered", at="2026-01-05T11:00:00+05:30")]})
    assert response.json() == {"recorded": 5}, response.text
    assert len(seen) == 1 and seen[0].lstrip().upper().startswith("INSERT"), seen
    s1, s2, s3 = [(await client.get(f"{PATH}/{name}", headers=service)).json()
                  for name in ("s1", "s2", "s3")]
    assert s1["status"] == "read" and s1["sent_at"] and s1["read_at"]
    assert s1["delivered_at"].startswith("2026-01-05T04:30:00")
    assert (s2["status"], s2["error_code"], s2["cost"]) == ("failed", "30008", "0.0000")
    assert s2["failed_at"]
    assert (s3["status"], s3["cost"]) == ("sent", "0.2500")  # not in the batch: untouched
    # A later batch cannot move a message back; the early one is adopted by its record.
    await client.post(f"{PATH}/statuses", headers=service, json={"statuses": [
        status("SMs1", "delivered"), status("SMs2", "delivered")]})
    assert (await client.get(f"{PATH}/s1", headers=service)).json()["status"] == "read"
    assert (await client.get(f"{PATH}/s2", headers=service)).json()["status"] == "failed"
    await client.post(f"{PATH}/batch", headers=service, json={"records": [
        job(job_id="early", status="sent", provider_message_id="SMearly", attempts=2)]})
    early = (await client.get(f"{PATH}/early", headers=service)).json()
    assert early["status"] == "delivered"
    assert early["delivered_at"].startswith("2026-01-05T05:30:00")
    async with app.state.db.sessions() as session:
        unclaimed = await session.scalar(select(func.count()).select_from(ChannelMessage)
                                         .where(ChannelMessage.job_id.is_(None)))
    assert unclaimed == 0


async def test_a_batch_claims_the_statuses_that_overtook_it(app, client, auth):
    service = auth.service()

    async def early(wamid: str, status: str, code: str | None = None) -> None:
        response = await client.post(f"{PATH}/status", headers=service, json={
            "provider": "meta", "provider_message_id": wamid, "status": status,
            "error_code": code, "at": "2026-01-05T10:00:00+05:30"})
        assert response.json()["job_id"] is None, response.text

    await early("wamid.A", "failed", "131026")
    await early("wamid.B", "delivered")
    # Job "a" has a row from an earlier throttled attempt; job "b" has none yet.
    await client.post(f"{PATH}/batch", headers=service, json={"records": [
        job(job_id="a", provider="meta", channel="whatsapp")]})
    response = await client.post(f"{PATH}/batch", headers=service, json={"records": [
        job(job_id=name, provider="meta", channel="whatsapp", status="sent", attempts=2,
            provider_message_id=f"wamid.{name.upper()}") for name in ("a", "b", "c")]})
    assert response.json() == {"recorded": 3}, response.text
    a, b, c = [(await client.get(f"{PATH}/{name}", headers=service)).json()
               for name in ("a", "b", "c")]
    assert (a["status"], a["error_code"], a["attempts"]) == ("failed", "131026", 2)
    assert a["failed_at"].startswith("2026-01-05T04:30:00") and a["sent_at"]
    assert (b["status"], b["provider_message_id"]) == ("delivered", "wamid.B")
    assert b["delivered_at"].startswith("2026-01-05T04:30:00")
    assert (c["status"], c["attempts"]) == ("sent", 2)
    async with app.state.db.sessions() as session:
        unclaimed = await session.scalar(select(func.count()).select_from(ChannelMessage)
                                         .where(ChannelMessage.job_id.is_(None)))
    assert unclaimed == 0


async def test_a_write_that_keeps_meeting_early_statuses_claims_them_a_few_times() -> None:
    class Session:
        rollbacks = 0

        async def rollback(self) -> None:
            self.rollbacks += 1

    asked: list[bool] = []

    async def write(claim: bool, collisions: int) -> str:
        asked.append(claim)
        if len(asked) <= collisions:  # a callback slipped in again
            raise IntegrityError("INSERT", {}, Exception("uq_channel_messages_provider"))
        return "written"

    session = Session()
    assert await write_claiming(session, lambda claim: write(claim, 2)) == "written"
    assert (asked, session.rollbacks) == ([False, True, True], 2)
    asked.clear()
    with pytest.raises(IntegrityError):  # not for ever: the request fails, the worker retries
        await write_claiming(Session(), lambda claim: write(claim, CLAIM_RETRIES + 1))
    assert asked == [False] + [True] * CLAIM_RETRIES
