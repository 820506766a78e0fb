"""The certificate_request flow on the real stack, where transcripts cannot reach: twins
found by details (the citizen picks one), a free first copy that goes straight to the
registrar, and the issued certificate arriving as a PDF from "My requests"."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from core_api.certificates.models import Registration

RAHUL = "+919876500002"
REQUESTS = "/api/v1/certificate-requests"


class Chat:
    """One channel of a citizen's conversation through the simulator."""

    def __init__(self, client: Any, channel: str) -> None:
        self.client = client
        self.channel = channel

    async def send(self, text: str = "", option_id: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"from": RAHUL, "channel": self.channel, "text": text}
        if option_id:
            body["option_id"] = option_id
        response = await self.client.post("/simulator/messages", json=body)
        assert response.status_code == 200, response.text
        return response.json()


def _payloads(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [payload for reply in result["replies"] for payload in reply["rendered"]]


def _path(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)


async def test_twins_free_copy_and_issued_certificate_in_my_requests(client, auth, session):
    today = datetime.now(ZoneInfo("Asia/Kolkata")).date()
    born = today - timedelta(days=10)
    for number, name_en, name_hi in (("B-DDN-2026-00951", "Ira Rawat", "इरा रावत"),
                                     ("B-DDN-2026-00952", "Ila Rawat", "इला रावत")):
        session.add(Registration(
            registration_number=number, kind="birth", tenant_code="uk.dehradun",
            name_en=name_en, name_hi=name_hi, event_date=born,
            place_en="Coronation Hospital, Dehradun", place_hi="कोरोनेशन अस्पताल, देहरादून",
            gender="female", father_name="Vivek Rawat", mother_name="Pooja Rawat",
            registered_on=today))
    await session.commit()

    wa = Chat(client, "whatsapp")
    await wa.send("hi")
    await wa.send("5")
    await wa.send(option_id="new")
    await wa.send("1")  # birth
    city = await wa.send("2")  # by name and date
    assert city["step"] == "city"
    await wa.send(option_id="uk.dehradun")
    await wa.send("Ira Rawat")
    await wa.send(born.strftime("%d/%m/%Y"))
    found = await wa.send("Vivek")
    assert found["step"] == "pick"
    [listing] = [p for p in _payloads(found) if p["type"] == "interactive"]
    rows = listing["interactive"]["action"]["sections"][0]["rows"]
    assert [row["id"] for row in rows] == [  # each row's id names its question
        "certificate_request.pick~B-DDN-2026-00951", "certificate_request.pick~B-DDN-2026-00952"]
    assert all("I** R**** (female)" in row["title"] for row in rows)  # masked
    assert rows[1]["description"] == "V**** R**** · B-DDN-2026-00952"

    whose = await wa.send(option_id="B-DDN-2026-00951")
    assert "Birth record B-DDN-2026-00951" in whose["replies"][0]["text"]
    again = await wa.send("back")  # the choice among the twins is still there
    assert again["step"] == "pick" and "B-DDN-2026-00952" in str(_payloads(again))
    whose = await wa.send(option_id="B-DDN-2026-00952")
    assert whose["step"] == "relation_birth"
    assert "Birth record B-DDN-2026-00952: I** R****" in whose["replies"][0]["text"]
    assert "Whose certificate is it?" in whose["replies"][0]["text"]
    confirm = await wa.send(option_id="parent")
    assert confirm["step"] == "confirm"
    done = await wa.send(option_id="one")
    texts = "\n".join(reply["text"] for reply in done["replies"])
    assert "is registered" in texts and "no fee is due" in texts, texts
    assert done["flow"] == "main_menu"

    citizen = auth.service(RAHUL)
    [mine] = (await client.get(REQUESTS, headers=citizen)).json()
    assert (mine["registration_number"], mine["status"], mine["fee"], mine["relation"]) == (
        "B-DDN-2026-00952", "PENDINGAPPROVAL", "0.00", "parent")
    assert mine["request_number"] in texts
    registrar = await auth.staff("registrar.dehradun")
    approved = await client.post(f"{REQUESTS}/{mine['request_number']}/actions",
                                 headers=registrar, json={"action": "APPROVE"})
    assert approved.status_code == 200 and approved.json()["status"] == "ISSUED"
    certificate = approved.json()["certificate_number"]
    # A second request, for a record whose copy costs a fee: "My requests" lists both.
    second = await client.post(REQUESTS, headers=citizen,
                               json={"registration_number": "B-DDN-2019-00123",
                                     "relation": "other"})
    assert second.status_code == 201 and second.json()["status"] == "PENDINGPAYMENT"

    await wa.send("5")
    listed = await wa.send(option_id="mine")
    assert listed["step"] == "pick_request"
    [listing] = [p for p in _payloads(listed) if p["type"] == "interactive"]
    rows = listing["interactive"]["action"]["sections"][0]["rows"]
    assert [(row["id"], row["title"]) for row in rows] == [
        (f"certificate_request.pick_request~{second.json()['request_number']}",
         "Birth: fee due"),
        (f"certificate_request.pick_request~{mine['request_number']}", "Birth: issued")]
    issued = await wa.send(option_id=mine["request_number"])
    [document] = [p for p in _payloads(issued) if p["type"] == "document"]
    assert document["document"]["filename"] == f"{certificate}.pdf"
    assert f"here is your certificate {certificate}" in document["document"]["caption"]
    assert "/verify/" in document["document"]["caption"]
    pdf = await client.get(_path(document["document"]["link"]))
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert issued["flow"] == "main_menu"

    sms = Chat(client, "sms")
    await sms.send("hi")
    await sms.send("5")
    listed = await sms.send("2")
    assert "1. Birth: fee due" in listed["replies"][0]["rendered"]
    issued = await sms.send("2")
    body = issued["replies"][0]["rendered"]
    assert f"here is your certificate {certificate}" in body
    assert "/verify/" in body and "/files/certificates/" in body

    # Asking again for a record with an open request shows that request, not a second one.
    for text in ("5", "1", "1", "1", "B-DDN-2019-00123", "3"):  # 3: someone else's
        await sms.send(text)
    repeat = await sms.send("1")
    texts = "\n".join(reply["rendered"] for reply in repeat["replies"])
    number = second.json()["request_number"]
    assert f"You already have request {number} open for this record." in texts
    assert f"Request {number}: a fee of Rs.50.00 is due." in texts and "/r/" in texts
    assert len((await client.get(REQUESTS, headers=citizen)).json()) == 2
