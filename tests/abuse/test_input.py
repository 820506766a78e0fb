"""Bad input: oversized bodies and messages, invalid UTF-8, percent-encoded garbage, control
characters, SQL/HTML/script injection in every free-text field; stored safely and rendered
harmlessly (API JSON, payment and verify pages, receipt PDFs)."""

from __future__ import annotations

import json
from io import BytesIO
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from PIL import Image
from pypdf import PdfReader
from pypdf.generic import IndirectObject
from sqlalchemy import func, select, update

from core_api.complaints.models import Complaint
from core_api.payments.models import Receipt
from core_api.users.models import User
from tests.abuse.conftest import say
from tests.channels.twilio.twilio_testkit import payload, signed_post

pytestmark = pytest.mark.reliability

SUNITA = "+919876500001"
RAHUL = "+919876500002"
RAJPUR = {"lat": 30.3779, "lng": 78.0886}
MB = 1024 * 1024
SQL = "'); DROP TABLE complaints; --"
SCRIPT = '<script>alert("x")</script><img src=x onerror=alert(1)>'
HOSTILE = f"{SQL} {SCRIPT} ' OR '1'='1 %00 %3Cscript%3E ${{7*7}} {{{{7*7}}}}"
CONTROLS = "a\x00b\x07c\x1bd\u202ee\r\nf\tg\x7f"
CLEANED = "abcde\nf\tg"


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


ACTIVE = {"/JavaScript", "/Launch", "/SubmitForm", "/ImportData", "/RichMedia"}


def _active_content(root: Any) -> set[str]:
    """Every script, launch or form action (and /JS, /AA entry) reachable in a PDF."""
    found: set[str] = set()
    seen: set[int] = set()
    todo = [root]
    while todo:
        item = todo.pop()
        if isinstance(item, IndirectObject):
            if item.idnum in seen:
                continue
            seen.add(item.idnum)
            item = item.get_object()
        if isinstance(item, dict):
            found |= {key for key in item if key in ("/JS", "/AA")}
            if item.get("/S") in ACTIVE:
                found.add(str(item["/S"]))
            todo.extend(item.values())
        elif isinstance(item, list):
            todo.extend(item)
    return found


def _envelope(response: httpx.Response) -> str:
    body = response.json()
    assert set(body) == {"error"} and {"code", "message"} <= set(body["error"]), body
    return str(body["error"]["code"])


async def test_oversized_bodies_are_refused_with_413(
        client: httpx.AsyncClient, auth: Any, session: Any, reliability: Any) -> None:
    citizen = auth.service(SUNITA)
    big = "x" * (2 * MB)
    sent: dict[str, httpx.Response] = {
        "API JSON (2 MB)": await client.post(
            "/api/v1/complaints", headers=citizen,
            json={"type_code": "StreetLightNotWorking", "description": big, **RAJPUR}),
        "Twilio webhook form (2 MB)": await client.post(
            "/webhooks/twilio", content=f"Body={big}",
            headers={"Content-Type": "application/x-www-form-urlencoded",
                     "X-Twilio-Signature": "x"}),
        "Meta webhook (2 MB)": await client.post(
            "/webhooks/whatsapp", content=big.encode(),
            headers={"Content-Type": "application/json", "X-Hub-Signature-256": "sha256=0"}),
        "simulator JSON (2 MB)": await client.post(
            "/simulator/messages", json={"from": SUNITA, "text": big}),
    }

    async def chunks() -> Any:  # no Content-Length: counted while it streams
        for _ in range(40):
            yield b"y" * 65536

    sent["API, chunked without Content-Length (2.5 MB)"] = await client.post(
        "/api/v1/auth/token", content=chunks(),
        headers={"Content-Type": "application/x-www-form-urlencoded"})
    codes = {name: (r.status_code, _envelope(r)) for name, r in sent.items()}
    assert codes == {name: (413, "payload_too_large") for name in sent}
    assert await session.scalar(select(func.count()).select_from(Complaint)) == 0

    # A photo upload has its own, larger limit: 2 MB is not refused for its size.
    filed = await client.post("/api/v1/complaints", headers=citizen,
                              json={"type_code": "StreetLightNotWorking", **RAJPUR})
    assert filed.status_code == 201, filed.text
    small = BytesIO()
    Image.new("RGB", (16, 16), (90, 90, 90)).save(small, format="JPEG")
    jpeg = small.getvalue() + b"\x00" * (2 * MB)  # a real photo, 2 MB with its padding
    upload = await client.post(f"/api/v1/complaints/{filed.json()['id']}/photos",
                               headers=citizen, files={"file": ("a.jpg", jpeg, "image/jpeg")})
    assert upload.status_code == 201, upload.text
    reliability.record(
        area="abuse", case="Oversized request bodies",
        sent=f"{len(sent)} bodies of 2-2.5 MB ({'; '.join(sent)})",
        did="413 payload_too_large with the error envelope, nothing stored; a 2 MB "
            "photo upload (own 6 MB limit) still accepted",
        lost="nothing; 0 complaints created by the oversized requests")


async def test_oversized_garbled_and_control_messages_in_chat(
        client: httpx.AsyncClient, app: Any, reliability: Any) -> None:
    long_text = "गड्ढा " * 700  # 4 200 characters
    hint = await say(client, SUNITA, long_text)
    assert "too long" in hint or "लंबा" in hint, hint
    for text in (CONTROLS, "%FF%FE%00%C3%28", "\ud800".encode("utf-8", "surrogatepass")
                 .decode("utf-8", "replace"), SCRIPT, SQL):
        reply = await say(client, SUNITA, text)
        assert reply.strip(), text
    menu = await client.post("/simulator/messages", json={"from": SUNITA, "text": "menu"})
    assert menu.json()["flow"] == "main_menu", menu.text  # still served after the garbage
    assert menu.json()["replies"][0]["options"], menu.text

    # Invalid UTF-8 and percent-encoded garbage reaching the Twilio webhook, signed.
    inbound = "/webhooks/twilio"
    pairs = [(k, "%FF%FE%C3%28%E0%A4" if k == "Body" else v)
             for k, v in payload("whatsapp_text")]
    garbled = await client.post(inbound, **signed_post(inbound, pairs))
    assert garbled.status_code == 200, garbled.text
    raw = signed_post(inbound, payload("whatsapp_text"))
    raw["content"] = raw["content"].encode().replace(b"Body=", b"Body=\xff\xfe\xc3(", 1)
    invalid = await client.post(inbound, **raw)
    assert invalid.status_code in (400, 403), invalid.text
    _envelope(invalid)
    reliability.record(
        area="abuse", case="Oversized, garbled and control-character chat messages",
        sent="a 4 200-character message; control characters, bidi override, percent-encoded "
             "garbage, a replaced lone surrogate, script and SQL text; invalid UTF-8 bytes and "
             "percent-encoded garbage in a signed Twilio webhook",
        did="the long message got the polite 'too long' hint; each other message got a reply; "
            "the conversation still worked after; garbage in a signed webhook was accepted "
            "as text (200), raw invalid bytes were refused with the error envelope (signature no "
            "longer matches)",
        lost="nothing; no 5xx")


async def test_injection_in_every_free_text_field_is_stored_safely(
        client: httpx.AsyncClient, auth: Any, session: Any, reliability: Any) -> None:
    citizen = auth.service(SUNITA)
    gro = await auth.staff("gro.dehradun")
    lme = await auth.staff("lme.electrical.dehradun")
    lme_id = await session.scalar(select(User.id).where(
        User.username == "lme.electrical.dehradun"))

    profile = await client.patch("/api/v1/citizens/me", headers=citizen,
                                 json={"name": f"Sunita {SCRIPT}{CONTROLS}"})
    filed = await client.post("/api/v1/complaints", headers=citizen, json={
        "type_code": "StreetLightNotWorking", **RAJPUR, "description": HOSTILE + CONTROLS,
        "address": SQL + CONTROLS})
    assert filed.status_code == 201, filed.text
    cid = filed.json()["id"]

    async def act(headers: dict[str, str], **body: Any) -> dict[str, Any]:
        response = await client.post(f"/api/v1/complaints/{cid}/actions", headers=headers,
                                     json=body)
        assert response.status_code == 200, response.text
        return dict(response.json())

    await act(gro, action="ASSIGN", assignee_id=lme_id, comment="assign " + HOSTILE)
    await act(lme, action="RESOLVE", comment="resolve " + SCRIPT + CONTROLS)
    await act(citizen, action="REOPEN", comment="reopen " + SQL)
    await act(gro, action="ASSIGN", assignee_id=lme_id)
    await act(lme, action="RESOLVE", comment="fixed")
    final = await act(citizen, action="RATE", rating=1, comment="feedback " + SCRIPT + CONTROLS)

    detail = (await client.get(f"/api/v1/complaints/{cid}", headers=gro)).json()
    assert detail["description"] == HOSTILE + CLEANED
    assert detail["address"] == SQL + CLEANED
    assert final["feedback"] == detail["feedback"] == "feedback " + SCRIPT + CLEANED
    comments = [entry["comment"] for entry in detail["history"] if entry["comment"]]
    assert "assign " + HOSTILE in comments and "reopen " + SQL in comments
    assert "resolve " + SCRIPT + CLEANED in comments
    stored = await session.scalar(select(Complaint).where(Complaint.complaint_no == cid))
    assert stored.description == HOSTILE + CLEANED  # verbatim but for control characters
    assert await session.scalar(select(func.count()).select_from(Complaint)) == 1
    assert profile.status_code == 200, profile.text
    name = await session.scalar(select(User.name).where(User.phone == SUNITA))
    assert name == f"Sunita {SCRIPT}{CLEANED}"
    # The JSON answers carry the text as JSON strings, never as markup.
    assert detail["description"] in json.loads(json.dumps(detail))["description"]
    reliability.record(
        area="abuse", case="SQL/HTML/script injection and control characters in free text",
        sent="SQL, <script>, event-handler HTML, template syntax, NUL/ESC/BEL/DEL and a bidi "
             "override in the description, address, citizen name, assign comment, resolve "
             "note, reopen reason and rating feedback",
        did="all stored verbatim except control characters and bidi overrides (removed); "
            "queries are parameterised (the complaints table intact); returned as JSON text",
        lost="nothing; 1 complaint with its 5 history comments, no 5xx")


async def test_hostile_names_are_escaped_on_pages_and_inert_in_pdfs(
        client: httpx.AsyncClient, auth: Any, session: Any, reliability: Any) -> None:
    rahul = auth.service(RAHUL)
    [receipt] = (await client.get("/api/v1/receipts", headers=rahul)).json()
    await session.execute(update(Receipt).where(
        Receipt.receipt_number == receipt["receipt_number"]).values(
        payer_name="<script>alert(1)</script> /JavaScript (app.alert(1))",
        file_key=None))  # rendered again with the new name
    await session.commit()
    receipt = (await client.get(f"/api/v1/receipts/{receipt['receipt_number']}",
                                headers=rahul)).json()
    pdf = await client.get(_path(receipt["pdf_url"]))
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    reader = PdfReader(BytesIO(pdf.content))
    text = reader.pages[0].extract_text()
    assert "<script>alert(1)</script>" in text, text  # shown as text
    assert _active_content(reader.trailer) == set()

    # The pages that show the bill's owner name escape it.
    bills = (await client.get("/api/v1/bills", headers=auth.service(SUNITA))).json()
    bill = next(b for b in bills if b["status"] == "ACTIVE")
    from core_api.bills.models import Bill
    await session.execute(update(Bill).where(Bill.bill_number == bill["bill_number"])
                          .values(owner_name="<img src=x onerror=alert(1)>"))
    await session.commit()
    intent = await client.post(f"/api/v1/bills/{bill['bill_number']}/payment-intents",
                               headers=auth.service(SUNITA))
    assert intent.status_code == 201, intent.text
    page = await client.get(_path(intent.json()["payment_url"]))
    assert page.status_code == 200
    assert "<img src=x" not in page.text and "onerror" not in page.text
    reliability.record(
        area="abuse", case="Hostile names on web pages and in PDFs",
        sent="a receipt payer name with <script> and PDF action syntax; a bill owner name "
             "with an <img onerror> tag",
        did="the receipt PDF shows the name as text and holds no JavaScript, Launch, "
            "form or /AA actions; the payment page escapes (and masks) the owner name",
        lost="nothing")
