"""`samvad citizen export|erase`: one citizen's data out, or their personal data gone.

Rahul (the target) and Sunita (the bystander) each file a complaint with a photo and
comments, request a certificate, have a channel message and a conversation in Redis; Rahul
also has the demo's paid bill and receipt. Export must hold all of Rahul's and none of
Sunita's; erase (through the real CLI) must leave no trace of his number in any table,
nor his name outside the retained financial records, while counts and histories stay.
"""

from __future__ import annotations

import asyncio
import io
import json
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from PIL import Image
from sqlalchemy import func, select
from typer.testing import CliRunner

from channels.queues import ContactWindows
from core_api.bills.endpoints import lookup_throttle_key
from core_api.certificates.models import Registration
from core_api.complaints.models import Complaint, ComplaintPhoto
from core_api.db import Base
from core_api.errors import BadRequest, NotFound
from core_api.messaging.models import ChannelMessage
from core_api.payments.models import Payment, Receipt
from core_api.users import privacy
from core_api.users.models import User
from core_api.workflow.models import ProcessHistory
from samvad.cli import app as cli
from samvad.privacy import forgetters

pytestmark = pytest.mark.redis  # on one Redis and on a Redis Cluster

RAHUL, RAHUL_NAME = "+919876500002", "Rahul Verma"
SUNITA, SUNITA_NAME = "+919876500001", "सुनीता देवी"


def _png() -> bytes:
    """A real (decodable) PNG: stored images are re-encoded without metadata."""
    out = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 180, 40)).save(out, "PNG")
    return out.getvalue()


PNG = _png()
PIN = {"lat": 30.3781, "lng": 78.0892}
# Financial legal records keep the name printed on them (see core_api.users.privacy).
RETAINED_NAME_COLUMNS = {("receipts", "payer_name"), ("bills", "owner_name")}


async def _citizen_story(client: Any, auth: Any, session: Any, redis: Any, phone: str,
                         words: str, serial: int) -> dict[str, Any]:
    """A complaint with a photo, a staff and a citizen comment; a certificate request;
    a delivered message; a live conversation in Redis."""
    citizen = auth.service(phone)
    gro = await auth.staff("gro.dehradun")
    lme = await auth.staff("lme.electrical.dehradun")
    filed = await client.post("/api/v1/complaints", headers=citizen, json={
        "type_code": "StreetLightNotWorking", "description": f"{words}: pole dark",
        "address": f"House of {words}", "source": "whatsapp", **PIN})
    assert filed.status_code == 201, filed.text
    number = filed.json()["id"]
    photo = await client.post(f"/api/v1/complaints/{number}/photos", headers=citizen,
                              files={"file": ("p.png", PNG, "image/png")})
    assert photo.status_code == 201, photo.text
    lme_id = await session.scalar(select(User.id).where(User.username == "lme.electrical.dehradun"))
    for who, body in ((gro, {"action": "ASSIGN", "assignee_id": lme_id, "comment": "check"}),
                      (lme, {"action": "RESOLVE", "comment": "bulb replaced"}),
                      (citizen, {"action": "REOPEN", "comment": f"{words}: still dark"})):
        moved = await client.post(f"/api/v1/complaints/{number}/actions", headers=who, json=body)
        assert moved.status_code == 200, moved.text

    today = datetime.now(ZoneInfo("Asia/Kolkata")).date()  # registered today: no fee bill
    record = Registration(
        registration_number=f"B-DDN-2026-{serial:05d}", kind="birth", tenant_code="uk.dehradun",
        name_en="Child Of " + words, event_date=today, place_en="Dehradun",
        gender="male", registered_on=today)
    session.add(record)
    await session.commit()
    requested = await client.post("/api/v1/certificate-requests", headers=citizen, json={
        "registration_number": record.registration_number, "relation": "parent"})
    assert requested.status_code == 201, requested.text
    session.add(ChannelMessage(job_id=f"job-{serial}", provider="twilio", channel="sms", to=phone,
                               kind="reply", provider_message_id=f"SM{serial}",
                               status="delivered"))
    await session.commit()
    await redis.set(f"samvad:{{whatsapp:{phone}}}:session", b'{"v": 1, "flow": "main_menu"}')
    await redis.rpush(f"samvad:sim:inbox:whatsapp:{phone}", b'{"text": "hello"}')
    await redis.set(ContactWindows.key("whatsapp", phone), b"1780000000.0")
    return {"complaint": number, "request": requested.json()["request_number"]}


async def _table_rows(session: Any) -> dict[str, list[dict[str, Any]]]:
    session.expire_all()
    rows: dict[str, list[dict[str, Any]]] = {}
    for table in Base.metadata.sorted_tables:
        result = await session.execute(select(table))
        rows[table.name] = [dict(r._mapping) for r in result]
    return rows


async def _counts(session: Any) -> dict[str, int]:
    session.expire_all()
    return {model.__tablename__: await session.scalar(select(func.count()).select_from(model))
            for model in (Complaint, ProcessHistory, Payment, Receipt, ChannelMessage, User)}


@pytest.mark.reliability
async def test_export_holds_the_citizens_records_and_no_one_elses(client, auth, session, backend,
                                                                  redis_client, reliability):
    rahul = await _citizen_story(client, auth, session, redis_client, RAHUL, "Rahul", 801)
    sunita = await _citizen_story(client, auth, session, redis_client, SUNITA, "Sunita", 802)

    data = await privacy.export_citizen(session, RAHUL, redis=redis_client,
                                        forgetters=forgetters(redis_client))
    text = json.dumps(data, ensure_ascii=False)
    assert data["user"]["phone"] == RAHUL and data["user"]["name"] == RAHUL_NAME
    assert "password_hash" not in data["user"]
    assert [c["complaint_no"] for c in data["complaints"]] == [rahul["complaint"]]
    complaint = data["complaints"][0]
    assert len(complaint["photos"]) == 1
    assert [h["action"] for h in complaint["history"]] == ["APPLY", "ASSIGN", "RESOLVE", "REOPEN"]
    assert [r["request_number"] for r in data["certificate_requests"]] == [rahul["request"]]
    assert {b["consumer_number"] for b in data["bills"]} == {"PT-DDN-31877", "WS-DDN-10477"}
    assert len(data["payments"]) == 1 and len(data["receipts"]) == 1
    assert [m["provider_message_id"] for m in data["channel_messages"]] == ["SM801"]
    assert set(data["redis"]) == {f"samvad:{{whatsapp:{RAHUL}}}:session",
                                  f"samvad:sim:inbox:whatsapp:{RAHUL}",
                                  f"samvad:{{inbound:whatsapp:{RAHUL}}}:lastin"}
    for foreign in (SUNITA, SUNITA_NAME, sunita["complaint"], sunita["request"], "Sunita"):
        assert foreign not in text

    with pytest.raises(NotFound):
        await privacy.export_citizen(session, "+919876599999")
    with pytest.raises(BadRequest):  # an employee's number is not a citizen's
        await privacy.export_citizen(session, "+919876510001")
    records = 1 + sum(len(v) for k, v in data.items() if k != "user") + sum(
        len(c["photos"]) + len(c["history"]) for c in data["complaints"])
    reliability.record(
        area="privacy", case=f"export one citizen's data ({backend})",
        sent="2 citizens with complaints, photos, comments, certificate requests, bills, "
             "payments, messages, Redis sessions; export of one",
        did=f"JSON with {records} records of that citizen (user, complaint + 4 history "
            "entries, photo, 2 bills, payment, receipt, request, message, 3 Redis keys)",
        lost="nothing; none of the other citizen's records or identifiers in it",
    )


@pytest.mark.reliability
@pytest.mark.timeout(120)
async def test_erase_removes_the_person_and_keeps_the_records(client, auth, session, redis_client,
                                                              settings, backend, reliability):
    await _citizen_story(client, auth, session, redis_client, RAHUL, "Rahul", 811)
    sunita = await _citizen_story(client, auth, session, redis_client, SUNITA, "Sunita", 812)
    photo_keys = list(await session.scalars(select(ComplaintPhoto.file_key)))
    assert all((settings.data_dir / "files" / k).exists() for k in photo_keys)
    before = await _counts(session)
    sunita_before = await privacy.export_citizen(session, SUNITA, redis=redis_client,
                                                 forgetters=forgetters(redis_client))
    old_id = await session.scalar(select(User.id).where(User.phone == RAHUL))
    session.expire_all()

    env = {"SAMVAD_DATABASE_URL": settings.database_url, "SAMVAD_REDIS_URL": settings.redis_url,
           "SAMVAD_DATA_DIR": str(settings.data_dir), "SAMVAD_ENV": "development",
           "SAMVAD_SECRET_KEY": settings.secret_key}
    runner = CliRunner()
    refused = await asyncio.to_thread(runner.invoke, cli, ["citizen", "erase", RAHUL],
                                      input="n\n", env=env)
    assert refused.exit_code == 1 and await _counts(session) == before
    erased = await asyncio.to_thread(runner.invoke, cli, ["citizen", "erase", RAHUL, "--yes"],
                                     env=env)
    assert erased.exit_code == 0, erased.output
    assert "erased citizen" in erased.output

    # No trace of the number anywhere; the name only on the retained financial records.
    digits = RAHUL.lstrip("+")
    for table, rows in (await _table_rows(session)).items():
        for values in rows:
            for column, value in values.items():
                assert digits not in str(value), (table, column, value)
                if (table, column) not in RETAINED_NAME_COLUMNS:
                    assert RAHUL_NAME not in str(value), (table, column, value)
                    assert "Rahul:" not in str(value), (table, column, value)
    tomb = await session.get(User, old_id)
    assert (tomb.phone, tomb.name, tomb.active, tomb.opted_out) == (None, None, False, True)
    assert await redis_client.keys(f"*{RAHUL}*") == []
    after = await _counts(session)
    assert after == before  # complaints, histories, payments, receipts, messages, users
    remaining = list(await session.scalars(select(ComplaintPhoto.file_key)))
    assert len(remaining) == 1  # Sunita's
    assert [k for k in photo_keys if (settings.data_dir / "files" / k).exists()] == remaining
    complaint = await session.scalar(select(Complaint).where(Complaint.citizen_user_id == old_id))
    assert complaint.reopen_count == 1 and complaint.description == privacy.REDACTED
    receipt = await session.scalar(select(Receipt).where(Receipt.payer_name == RAHUL_NAME))
    assert receipt is not None and receipt.payer_user_id is None
    assert str(receipt.amount) == "3140.00"

    # The other citizen is untouched, and Rahul may start again as a new person.
    assert await privacy.export_citizen(session, SUNITA, redis=redis_client,
                                        forgetters=forgetters(redis_client)) == sunita_before
    assert sunita["complaint"] in json.dumps(sunita_before)
    again = await client.post("/api/v1/citizens", headers=auth.service(RAHUL),
                              json={"phone": RAHUL, "name": "R. V."})
    assert again.status_code == 201 and again.json()["id"] != old_id
    fresh = await client.get("/api/v1/complaints", headers=auth.service(RAHUL))
    assert fresh.status_code == 200 and fresh.json()["items"] == []
    exported = await asyncio.to_thread(
        runner.invoke, cli, ["citizen", "export", RAHUL, "--out",
                             str(Path(settings.data_dir) / "rahul.json")], env=env)
    assert exported.exit_code == 0, exported.output
    fresh_export = json.loads((Path(settings.data_dir) / "rahul.json").read_text("utf-8"))
    assert fresh_export["complaints"] == [] and fresh_export["user"]["name"] == "R. V."
    reliability.record(
        area="privacy", case=f"erase one citizen (`samvad citizen erase`, {backend})",
        sent="2 citizens with complaints, photos, comments, requests, bills, payments, "
             "messages, Redis sessions; erase of one through the CLI",
        did="number and name gone from every table (name kept only on receipt and bill as "
            "legal records, unlinked), free text redacted, photos deleted, Redis keys "
            "deleted; the number registers again as a new citizen",
        lost=f"nothing the city needs: counts unchanged ({after['complaints']} complaints, "
             f"{after[ProcessHistory.__tablename__]} history entries, "
             f"{after['payments']} payments); "
             "the other citizen's export identical",
    )


class _Layer:
    """A layer's keys about numbers, as a test double of ``privacy.Forgetter``."""

    def __init__(self, redis: Any, name: str) -> None:
        self.redis, self.name, self.forgotten = redis, name, []

    def key(self, phone: str) -> str:
        return f"test:{self.name}:{phone}"

    async def keys(self, phone: str) -> list[str]:
        return [self.key(phone)] if await self.redis.exists(self.key(phone)) else []

    async def forget(self, phone: str) -> int:
        self.forgotten.append(phone)
        return await self.redis.delete(self.key(phone))


async def test_export_and_erase_ask_every_forgetter(session, redis_client):
    layers = [_Layer(redis_client, "bot"), _Layer(redis_client, "channels")]
    for layer in layers:
        await redis_client.set(layer.key(RAHUL), b"held")
        await redis_client.set(layer.key(SUNITA), b"held")
    await redis_client.set(lookup_throttle_key(RAHUL), b"3")  # core_api's own key

    data = await privacy.export_citizen(session, RAHUL, redis=redis_client, forgetters=layers)
    assert data["user"]["name"] == RAHUL_NAME  # a demo citizen
    assert data["redis"] == {f"test:bot:{RAHUL}": "held", f"test:channels:{RAHUL}": "held",
                             lookup_throttle_key(RAHUL): "3"}

    report = await privacy.erase_citizen(session, RAHUL, redis=redis_client, forgetters=layers)
    await session.commit()
    assert [layer.forgotten for layer in layers] == [[RAHUL], [RAHUL]]
    assert report.counts["redis keys deleted"] == 3
    assert await redis_client.exists(f"test:bot:{RAHUL}", f"test:channels:{RAHUL}",
                                     lookup_throttle_key(RAHUL)) == 0
    assert await redis_client.exists(f"test:bot:{SUNITA}", f"test:channels:{SUNITA}") == 2
