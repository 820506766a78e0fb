"""GET /api/v1/dashboard/summary and the CSV tables: who may see what, and that the figures
count the seeded and the newly created data (both database backends)."""

from __future__ import annotations

import csv
import io
import time
from typing import Any

from sqlalchemy import select

from bot.messages import Inbound
from core_api.users.models import User

SUNITA, RAHUL = "+919876500001", "+919876500002"
SUMMARY = "/api/v1/dashboard/summary"
RAJPUR_PIN = {"lat": 30.3781, "lng": 78.0892}
ULBS = {"uk.dehradun", "uk.haridwar", "uk.rishikesh", "uk.haldwani", "uk.roorkee"}


async def _summary(client, headers, **params: Any) -> dict[str, Any]:
    response = await client.get(SUMMARY, params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def _by(rows: list[dict[str, Any]], key: str, value: str = "count") -> dict[str, Any]:
    return {row[key]: row[value] for row in rows}


async def _file(client, auth, description: str, type_code: str = "StreetLightNotWorking"):
    response = await client.post("/api/v1/complaints", headers=auth.service(SUNITA), json={
        "type_code": type_code, "description": description, "source": "whatsapp",
        **RAJPUR_PIN})
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def _act(client, headers, complaint_id, **body):
    response = await client.post(f"/api/v1/complaints/{complaint_id}/actions", json=body,
                                 headers=headers)
    assert response.status_code == 200, response.text


async def test_only_staff_see_the_dashboard_and_only_their_tenants(client, auth):
    admin = await auth.staff("admin")
    gro = await auth.staff("gro.dehradun")
    assert (await client.get(SUMMARY)).status_code == 401
    citizen = await client.get(SUMMARY, headers=auth.service(SUNITA))
    assert citizen.status_code == 403 and citizen.json()["error"]["code"] == "staff_only"
    assert (await client.get(SUMMARY, headers=auth.service())).status_code == 403
    state = await _summary(client, admin, tenantId="uk")
    assert state["tenant"] == "uk" and ULBS <= set(state["tenants"])
    assert (await _summary(client, admin))["tenant"] == "uk"  # the admin's default
    assert (await _summary(client, admin, tenantId="uk.haridwar"))["tenants"] == ["uk.haridwar"]
    own = await _summary(client, gro)
    assert own["tenant"] == "uk.dehradun" and own["tenants"] == ["uk.dehradun"]
    for other in ("uk", "uk.haridwar"):
        refused = await client.get(SUMMARY, params={"tenantId": other}, headers=gro)
        assert refused.status_code == 403, other
        assert refused.json()["error"]["code"] == "tenant_forbidden"
    assert (await client.get(SUMMARY, params={"tenantId": "uk.nowhere"},
                             headers=admin)).status_code == 404
    backwards = await client.get(SUMMARY, headers=admin,
                                 params={"from": "2026-06-10", "to": "2026-06-01"})
    assert backwards.status_code == 400
    assert backwards.json()["error"]["code"] == "bad_date_range"
    assert (await client.get(SUMMARY, headers=admin,
                             params={"from": "2020-01-01", "to": "2026-06-01"})).status_code == 400
    assert (await client.get(SUMMARY, headers=admin, params={"from": "June"})).status_code == 422


async def test_figures_count_seeded_and_new_complaints_payments_and_certificates(
        client, auth, session):
    admin = await auth.staff("admin")
    gro = await auth.staff("gro.dehradun")
    lme = await auth.staff("lme.electrical.dehradun")
    before = await _summary(client, admin, tenantId="uk")
    assert before["complaints"]["total"] == 0  # the demo data has no complaints

    first = await _file(client, auth, "Pole 14 dark")
    await _file(client, auth, "=HYPERLINK(\"http://evil\")", "GarbageNeedsTobeCleared")
    lme_id = await session.scalar(select(User.id).where(
        User.username == "lme.electrical.dehradun"))
    await _act(client, gro, first, action="ASSIGN", assignee_id=lme_id)
    await _act(client, lme, first, action="RESOLVE", comment="Bulb replaced")
    await _act(client, auth.service(SUNITA), first, action="RATE", rating=4)
    certificate = await client.post("/api/v1/certificate-requests", headers=auth.service(RAHUL),
                                    json={"registration_number": "B-DDN-2019-00123",
                                          "relation": "other"})
    assert certificate.status_code == 201, certificate.text

    after = await _summary(client, admin, tenantId="uk")
    complaints = after["complaints"]
    assert complaints["total"] == 2
    assert _by(complaints["by_status"], "status") == {
        "CLOSEDAFTERRESOLUTION": 1, "PENDINGFORASSIGNMENT": 1}
    assert sum(_by(complaints["by_category"], "category").values()) == 2
    assert len(complaints["by_category"]) == 2
    assert sum(_by(complaints["by_ward"], "ward").values()) == 2
    assert complaints["sla"]["resolved_within_sla"] == 1
    assert complaints["sla"]["breaches"] == 0
    assert complaints["sla"]["compliance_percent"] == 100.0
    assert complaints["resolution"]["resolved"] == 1
    assert complaints["resolution"]["average_hours"] is not None
    assert complaints["ratings"]["count"] == 1 and complaints["ratings"]["average"] == 4
    assert [o["description"] for o in complaints["oldest_open"]] == [
        "=HYPERLINK(\"http://evil\")"]
    assert after["certificates"]["total"] == before["certificates"]["total"] + 1

    # A ULB's staff see the same complaints (all were filed in Dehradun); Haridwar none.
    assert (await _summary(client, gro))["complaints"]["total"] == 2
    haridwar = await _summary(client, admin, tenantId="uk.haridwar")
    assert haridwar["complaints"]["total"] == 0 and haridwar["certificates"]["total"] == 0

    # The demo's paid property-tax bill (paid on 14 June 2026, IST).
    paid_day = await _summary(client, admin, tenantId="uk", **{"from": "2026-06-14",
                                                                "to": "2026-06-14"})
    collections = paid_day["collections"]
    assert collections["payments"] >= 1
    assert _by(collections["by_bill_type"], "bill_type", "amount")["PT"] == "3140.00"
    assert _by(collections["by_day"], "day", "amount")["2026-06-14"] == collections[
        "total_amount"]
    assert paid_day["complaints"]["total"] == 0  # the complaints were filed today


async def test_each_table_downloads_as_csv_without_formulas(client, auth):
    admin = await auth.staff("admin")
    await _file(client, auth, "=cmd|' /C calc'!A0")
    status = await client.get("/api/v1/dashboard/complaints_by_status.csv", headers=admin,
                              params={"tenantId": "uk"})
    assert status.status_code == 200
    assert status.headers["content-type"].startswith("text/csv")
    assert "attachment" in status.headers["content-disposition"]
    assert list(csv.reader(io.StringIO(status.text))) == [
        ["status", "count"], ["PENDINGFORASSIGNMENT", "1"]]
    oldest = await client.get("/api/v1/dashboard/oldest_open.csv", headers=admin)
    rows = list(csv.DictReader(io.StringIO(oldest.text)))
    assert rows[0]["description"] == "'=cmd|' /C calc'!A0"
    for table in ("complaints_by_category", "complaints_by_ward", "sla", "resolution",
                  "ratings", "collections_by_day", "collections_by_bill_type",
                  "certificates_by_state", "chat_conversations", "chat_funnel",
                  "chat_messages"):
        response = await client.get(f"/api/v1/dashboard/{table}.csv", headers=admin)
        assert response.status_code == 200, table
    assert (await client.get("/api/v1/dashboard/users.csv", headers=admin)).status_code == 404
    gro = await auth.staff("gro.dehradun")
    refused = await client.get("/api/v1/dashboard/sla.csv", headers=gro,
                               params={"tenantId": "uk"})
    assert refused.status_code == 403


async def test_chat_turns_are_counted_and_flushed_into_the_chat_figures(app, client, auth):
    admin = await auth.staff("admin")
    conversations = app.state.conversations
    for index, text in enumerate(("hi", "1")):
        turn = await conversations.handle(Inbound(
            channel="whatsapp", sender=RAHUL, kind="text", text=text,
            message_id=f"wa-{index}", received_at=time.time()))
        assert turn is not None
    assert await conversations.activity.flush(conversations.client) > 0
    assert conversations.activity.counts == {}
    chat = (await _summary(client, admin, tenantId="uk"))["chat"]
    assert chat["conversations_total"] == 1
    [row] = chat["conversations"]
    assert row["channel"] == "whatsapp" and row["locale"] == "en_IN" and row["count"] == 1
    assert any(step["reached"] >= 1 for step in chat["funnel"])

    # Only the service credential may post counters; figures add up across posts.
    body = {"rows": [{"day": row["day"], "tenant": "uk.dehradun", "channel": "sms",
                      "locale": "hi_IN", "flow": "file_complaint", "step": "category",
                      "conversations": 2, "turns": 3, "entered": 2, "completed": 0}]}
    for headers in (admin, auth.service(SUNITA)):
        refused = await client.post("/api/v1/dashboard/chat-activity", json=body,
                                    headers=headers)
        assert refused.status_code == 403
    for _ in range(2):
        posted = await client.post("/api/v1/dashboard/chat-activity", json=body,
                                   headers=auth.service())
        assert posted.status_code == 204, posted.text
    bad = {"rows": [{**body["rows"][0], "turns": -1}]}
    assert (await client.post("/api/v1/dashboard/chat-activity", json=bad,
                              headers=auth.service())).status_code == 422
    ulb = (await _summary(client, admin, tenantId="uk.dehradun"))["chat"]
    assert {(r["channel"], r["locale"]): r["count"] for r in ulb["conversations"]} == {
        ("sms", "hi_IN"): 4, ("whatsapp", "en_IN"): 1}  # Rahul's session is in Dehradun
    assert (await _summary(client, admin, tenantId="uk.haridwar"))["chat"]["conversations"] \
        == []
    assert ulb["messages"] == []  # messages carry no tenant: the state view shows them
    funnel = {(s["flow"], s["step"]): s["reached"] for s in ulb["funnel"]}
    assert funnel[("file_complaint", "category")] == 1 + 4  # Rahul's "1" and the posts
