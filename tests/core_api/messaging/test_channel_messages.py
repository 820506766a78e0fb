"""The delivery record: upsert by job id, monotonic statuses, early callbacks, service only."""

from __future__ import annotations

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
    assert (await client.post(PATH, json=job(to="98765"), headers=auth.service())
            ).status_code == 422
