"""Employees in the chat (flow employee_tasks) beyond the transcripts: the registrar approves
and rejects certificate requests, the LME resolves with a photo (fetched and attached to the
RESOLVE step) or with one that cannot be fetched, and the session stays under 1 KB for a
GRO with a full Hindi task list on WhatsApp."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from PIL import Image
from sqlalchemy import update

from bot.media import MediaError
from bot.session import Session
from bot.session_store import conversation_key
from channels.render import sms_segments
from core_api.certificates.models import Registration
from core_api.complaints.models import Complaint
from flows.employee_tasks import actions

GRO = "+919876510001"  # Hindi
LME = "+919876510002"  # Hindi, streetlights
REGISTRAR = "+919876510004"  # English
RAHUL = "+919876500002"  # English citizen
SESSION_LIMIT = 1024
NEED_PHOTO = "कृपया फ़ोटो भेजें, या छोड़ें लिखें।"
TWILIO_MEDIA = ("https://api.twilio.com/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef"
                "/Messages/MM0123456789abcdef0123456789abcdef/Media/ME0123456789abcdef01234567"
                "89abcdef")


class Chat:
    """One employee's conversation through POST /simulator/messages."""

    def __init__(self, client: httpx.AsyncClient, phone: str, channel: str) -> None:
        self.client, self.phone, self.channel = client, phone, channel

    async def say(self, message: str | dict[str, Any], step: str) -> str:
        body = {"from": self.phone, "channel": self.channel}
        body.update({"text": message} if isinstance(message, str) else message)
        response = await self.client.post("/simulator/messages", json=body)
        assert response.status_code == 200, response.text
        turn = response.json()
        seen = "\n".join(r["rendered"] if isinstance(r["rendered"], str)
                         else json.dumps(r["rendered"], ensure_ascii=False)
                         for r in turn["replies"])
        assert (turn["flow"], turn["step"]) == ("employee_tasks", step), (message, seen)
        return seen


async def _recent_record(session: Any, number: str, kind: str, name: str,
                         informant_phone: str | None = None) -> None:
    """A Dehradun record registered today: the first copy of its first request is free, so
    the request goes straight to the registrar."""
    today = datetime.now(ZoneInfo("Asia/Kolkata")).date()
    session.add(Registration(
        registration_number=number, kind=kind, tenant_code="uk.dehradun", name_en=name,
        name_hi=None, event_date=today, place_en="Coronation Hospital, Dehradun",
        place_hi=None, gender="male", father_name="Vivek Rawat", mother_name="Pooja Rawat",
        spouse_name=None, registered_on=today, informant_phone=informant_phone))
    await session.commit()


@pytest.mark.parametrize("channel", ["whatsapp", "sms"])
async def test_registrar_approves_and_rejects_certificate_requests_in_the_chat(
        channel: str, client: httpx.AsyncClient, auth: Any, session: Any) -> None:
    # Rahul's number is the informant's on the birth record, not on the death record.
    await _recent_record(session, "B-DDN-2026-00901", "birth", "Ishaan Rawat", RAHUL)
    await _recent_record(session, "D-DDN-2026-00902", "death", "Mohan Lal")
    numbers = []
    for registration, relation in (("B-DDN-2026-00901", "parent"),
                                   ("D-DDN-2026-00902", "child")):
        response = await client.post("/api/v1/certificate-requests", headers=auth.service(RAHUL),
                                     json={"registration_number": registration,
                                           "relation": relation})
        assert response.status_code == 201, response.text
        assert response.json()["status"] == "PENDINGAPPROVAL"
        numbers.append(response.json()["request_number"])

    chat = Chat(client, REGISTRAR, channel)
    assert "Staff menu, Anita Joshi" in await chat.say("hi", "menu")
    tasks = await chat.say("1", "pick")
    assert "Your tasks: 2" in tasks and "Birth certificate" in tasks
    assert "Death certificate" in tasks
    details = await chat.say("1", "act")
    for part in (f"Certificate request {numbers[0]}", "Birth certificate: Ishaan Rawat",
                 "Registration B-DDN-2026-00901, copies: 1, fee ", "0.00",
                 "Requester: a parent", "Decision due by", "Approve", "Reject", "Other tasks"):
        assert part in details
    assert "Verify the requester" not in details  # linked: the informant's own number
    assert "Approve request" in await chat.say("1", "confirm_approve")
    assert "What do you want to do?" in await chat.say("no", "act")
    await chat.say("Approve", "confirm_approve")
    approved = await chat.say("yes", "pick")
    assert f"Request {numbers[0]} is approved. Certificate " in approved
    assert "Your tasks: 1" in approved

    details = await chat.say("1", "act")
    assert "Death certificate: Mohan Lal" in details
    assert "Requester: a son or daughter" in details
    # Not the informant's number: the registrar is told whom to verify, before the actions.
    verify = details.index("Verify the requester before approving: Rahul Verma, +919876500002")
    assert verify < details.index("What do you want to do?") < details.index("Approve")
    assert "Why is it rejected?" in await chat.say("2", "ask_reject")
    done = await chat.say("The name differs from the hospital record", "none")
    assert f"{numbers[1]} is rejected" in done and "Nothing is waiting for you" in done

    headers = await auth.staff("registrar.dehradun")
    first = (await client.get(f"/api/v1/certificate-requests/{numbers[0]}",
                              headers=headers)).json()
    second = (await client.get(f"/api/v1/certificate-requests/{numbers[1]}",
                               headers=headers)).json()
    assert first["status"] == "ISSUED" and first["certificate_number"] in approved
    assert (second["status"], second["status_comment"]) == (
        "REJECTED", "The name differs from the hospital record")


async def test_a_hindi_registrar_sees_the_relation_and_whom_to_verify_on_sms(
        client: httpx.AsyncClient, auth: Any, session: Any) -> None:
    await _recent_record(session, "D-DDN-2026-00903", "death", "Mohan Lal")
    response = await client.post("/api/v1/certificate-requests", headers=auth.service(RAHUL),
                                 json={"registration_number": "D-DDN-2026-00903",
                                       "relation": "spouse"})
    assert response.status_code == 201, response.text
    registrar = await auth.staff("registrar.dehradun")
    await client.patch("/api/v1/users/me/locale", headers=registrar, params={"locale": "hi_IN"})
    chat = Chat(client, REGISTRAR, "sms")
    await chat.say("नमस्ते", "menu")
    await chat.say("1", "pick")
    details = await chat.say("1", "act")
    assert "आवेदक: पति/पत्नी" in details
    assert "मंज़ूरी से पहले आवेदक की पुष्टि करें: Rahul Verma, +919876500002" in details
    assert details.index("पुष्टि करें: Rahul") < details.index("1. मंज़ूर करें")


def _jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), (40, 160, 200)).save(buffer, format="JPEG")
    return buffer.getvalue()


async def _assigned_streetlights(client: httpx.AsyncClient, auth: Any, count: int) -> list[str]:
    gro = await auth.staff("gro.dehradun")
    lmes = (await client.get("/api/v1/employees", headers=gro, params={
        "tenant": "uk.dehradun", "role": "LME", "department": "DEPT_STREETLIGHT"})).json()
    numbers = []
    for _ in range(count):
        response = await client.post("/api/v1/complaints", headers=gro, json={
            "type_code": "StreetLightNotWorking", "tenant_code": "uk.dehradun", "lat": 30.378,
            "lng": 78.089, "citizen_phone": RAHUL})
        assert response.status_code == 201, response.text
        number = response.json()["id"]
        assigned = await client.post(f"/api/v1/complaints/{number}/actions", headers=gro,
                                     json={"action": "ASSIGN", "assignee_id": lmes[0]["id"]})
        assert assigned.status_code == 200, assigned.text
        numbers.append(number)
    return numbers


async def test_lme_resolves_with_a_photo_and_hears_when_one_cannot_be_attached(
        client: httpx.AsyncClient, auth: Any, monkeypatch: Any) -> None:
    first, second = await _assigned_streetlights(client, auth, 2)
    photo = _jpeg()
    fetched: list[str] = []

    async def fake_fetch(url: str, policy: Any = None) -> tuple[bytes, str]:
        fetched.append(url)
        if "broken" in url:
            raise MediaError("HTTP 404")
        return photo, "image/jpeg"

    monkeypatch.setattr(actions, "fetch_media", fake_fetch)
    chat = Chat(client, LME, "whatsapp")
    await chat.say("नमस्ते", "menu")
    await chat.say("1", "pick")
    assert first in await chat.say("1", "act")
    await chat.say("हल हो गई", "ask_resolution")
    assert "फ़ोटो भेजें" in await chat.say("नया बल्ब लगा दिया", "ask_photo")
    assert NEED_PHOTO in await chat.say("यह रही", "ask_photo")  # a text, not a photo
    done = await chat.say({"media": [{"url": TWILIO_MEDIA, "content_type": "image/jpeg"}]},
                          "pick")
    assert f"शिकायत {first} हल के रूप में दर्ज हो गई" in done
    assert "आपकी फ़ोटो इसके साथ जोड़ दी गई है" in done
    assert fetched == [TWILIO_MEDIA]

    headers = await auth.staff("gro.dehradun")
    complaint = (await client.get(f"/api/v1/complaints/{first}", headers=headers)).json()
    assert complaint["status"] == "RESOLVED" and complaint["photo_count"] == 1
    resolve = complaint["history"][-1]
    assert (resolve["action"], resolve["comment"], len(resolve["photos"])) == (
        "RESOLVE", "नया बल्ब लगा दिया", 1)

    assert second in await chat.say("1", "act")
    await chat.say("1", "ask_resolution")
    await chat.say("तार जोड़ दिया", "ask_photo")
    done = await chat.say({"media": [{"url": "https://media.example.test/broken.jpg",
                                      "content_type": "image/jpeg"}]}, "none")
    assert "हल के रूप में दर्ज हो गई" in done and "फ़ोटो नहीं जोड़ी जा सकी" in done
    complaint = (await client.get(f"/api/v1/complaints/{second}", headers=headers)).json()
    assert (complaint["status"], complaint["photo_count"]) == ("RESOLVED", 0)


async def test_a_gro_session_with_a_full_hindi_task_list_stays_under_one_kilobyte(
        client: httpx.AsyncClient, auth: Any, app: Any, redis_client: Any) -> None:
    gro = await auth.staff("gro.dehradun")
    for code in ("StreetLightNotWorking", "NoStreetLight", "GarbageNeedsTobeCleared",
                 "BurningOfGarbage", "DamagedGarbageBin", "BlockOrOverflowingDrain",
                 "DrainCoverMissing", "BrokenWaterPipeOrLeakage", "DamagedFootpath",
                 "NoWaterOrElectricityInPublicToilet", "EncroachmentOnFootpath"):
        response = await client.post("/api/v1/complaints", headers=gro, json={
            "type_code": code, "tenant_code": "uk.dehradun", "lat": 30.378, "lng": 78.089,
            "citizen_phone": RAHUL, "description": "गली के आख़िरी मकान के सामने " * 10})
        assert response.status_code == 201, response.text
    key = app.state.conversations.store.keys(conversation_key("whatsapp", GRO)).session
    chat = Chat(client, GRO, "whatsapp")
    sizes: dict[str, int] = {}
    for message, step in (("नमस्ते", "menu"), ("1", "pick_page"), ("2", "act"),
                          ("1", "pick_lme")):
        seen = await chat.say(message, step)
        session = Session.loads(await redis_client.get(key))
        assert session is not None
        sizes[step] = len(session.dumps())
        if step == "pick_page":
            # Six tasks and "More tasks" (a WhatsApp list holds ten rows at most).
            assert "आपके काम: 11" in seen and "यहाँ 1-6:" in seen
            assert seen.count('"title": "') == 7
            assert '"id": "employee_tasks.pick_page~next", "title": "और काम"' in seen
    assert max(sizes.values()) <= SESSION_LIMIT, sizes


async def _file(client: httpx.AsyncClient, headers: dict[str, str], code: str,
                **where: Any) -> str:
    body = {"type_code": code, "tenant_code": "uk.dehradun", "citizen_phone": RAHUL,
            **(where or {"lat": 30.378, "lng": 78.089})}
    response = await client.post("/api/v1/complaints", headers=headers, json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def _past_due(session: Any, numbers: list[str]) -> None:
    """Their SLA due time passed an hour or more ago (as if filed long before), in order."""
    for minutes, number in enumerate(numbers):
        await session.execute(update(Complaint).where(Complaint.complaint_no == number).values(
            sla_due_at=datetime.now(UTC) - timedelta(hours=2) + timedelta(minutes=minutes)))
    await session.commit()


def _serial(number: str) -> str:
    return "#" + number.rsplit("-", 1)[1].lstrip("0")


TWENTY_FIVE = ("StreetLightNotWorking", "GarbageNeedsTobeCleared", "BurningOfGarbage",
               "DamagedGarbageBin", "BlockOrOverflowingDrain") * 5


@pytest.mark.parametrize(("locale", "size", "words"), [
    # Hindi SMS are UCS-2: four tasks a page keep each page within three segments.
    ("hi_IN", 4, {"hello": "नमस्ते", "page": "आपके काम: 25, जल्दी देय पहले। यहाँ {}-{}:",
                  "late": "देरी", "next": "अगले काम", "previous": "पिछले काम",
                  "other": "दूसरे काम", "complaint": "शिकायत {}", "menu": "मेनू"}),
    ("en_IN", 5, {"hello": "hi", "page": "Your tasks: 25, the soonest due first. Here: {}-{}.",
                  "late": "overdue", "next": "Next tasks", "previous": "Previous tasks",
                  "other": "Other tasks", "complaint": "Complaint {}", "menu": "menu"}),
])
async def test_a_gro_pages_through_25_tasks_on_sms_and_reaches_the_last_one(
        locale: str, size: int, words: dict[str, str], client: httpx.AsyncClient, auth: Any,
        session: Any) -> None:
    gro = await auth.staff("gro.dehradun")
    await client.patch("/api/v1/users/me/locale", headers=gro, params={"locale": locale})
    numbers = [await _file(client, gro, code) for code in TWENTY_FIVE]
    await _past_due(session, numbers[20:22])  # two of the last filed are overdue
    waiting = ["PENDINGFORASSIGNMENT", "PENDINGFORREASSIGNMENT"]
    inbox = (await client.get("/api/v1/complaints", headers=gro,
                              params={"limit": 100, "status": waiting})).json()["items"]
    assert sum(row["overdue"] for row in inbox) == 2
    due_order = [row["id"] for row in sorted(
        inbox, key=lambda row: datetime.fromisoformat(row["sla_due_at"]))]
    assert due_order[:2] == numbers[20:22]  # the overdue ones come first

    chat = Chat(client, GRO, "sms")
    await chat.say(words["hello"], "menu")
    pages = [await chat.say("1", "pick_page")]
    last = -(-25 // size)
    while len(pages) < last:
        pages.append(await chat.say(str(size + 1), "pick_page"))  # "Next tasks"
    for page, text in enumerate(pages, start=1):
        first = (page - 1) * size + 1
        shown = due_order[first - 1:first - 1 + size]
        assert words["page"].format(first, first + len(shown) - 1) in text, text
        # Every task of the page: its line shows the type, the locality, its number and,
        # when past due, "overdue".
        for position, number in enumerate(shown, start=1):
            line = next(line for line in text.splitlines() if line.startswith(f"{position}. "))
            assert line.split(", ")[1].startswith(("Rajpur", "राजपुर")), line
            assert _serial(number) in line, line
            assert (words["late"] in line) == (number in numbers[20:22]), line
        assert sms_segments(text).segments <= 3, (len(text), text)
        # "Next" on every page but the last, "Previous" on every page but the first.
        assert (f"{size + 1}. {words['next']}" in text) == (page < last)
        assert (words["previous"] in text) == (page > 1)
    assert set(due_order) == {number for number in numbers}  # every task was listed
    on_last = 25 - (last - 1) * size
    assert f"{on_last + 1}. {words['previous']}" in pages[-1]

    # The 25th task, then "Other tasks" comes back to the same page.
    details = await chat.say(str(on_last), "act")
    assert words["complaint"].format(due_order[24]) in details
    back = await chat.say(words["other"], "pick_page")
    assert words["page"].format(25 - on_last + 1, 25) in back
    previous = await chat.say(str(on_last + 1), "pick_page")  # "Previous tasks"
    assert words["page"].format(25 - on_last - size + 1, 25 - on_last) in previous
    # "My tasks" from the menu starts at the first page again.
    await chat.say(words["menu"], "menu")
    assert words["page"].format(1, size) in await chat.say("1", "pick_page")


async def test_a_task_shows_the_citizens_pin_as_a_map_link(
        client: httpx.AsyncClient, auth: Any) -> None:
    gro = await auth.staff("gro.dehradun")
    pinned = await _file(client, gro, "GarbageNeedsTobeCleared", lat=30.3781234, lng=78.089)
    localities = (await client.get("/api/v1/tenants/uk.dehradun/boundaries",
                                   params={"kind": "locality"}, headers=gro)).json()
    unpinned = await _file(client, gro, "StreetLightNotWorking",
                           locality_id=localities[0]["id"])
    link = ("https://www.openstreetmap.org/?mlat=30.37812&mlon=78.089"
            "#map=18/30.37812/78.089")
    for channel in ("whatsapp", "sms"):
        chat = Chat(client, GRO, channel)
        await chat.say("नमस्ते", "menu")
        await chat.say("1", "pick")
        details = await chat.say("1", "act")  # garbage: due first
        assert f"शिकायत {pinned}" in details
        assert f"नागरिक की बताई जगह नक्शे पर: {link}" in details
        await chat.say("दूसरे काम", "pick")
        details = await chat.say("2", "act")
        assert f"शिकायत {unpinned}" in details and "openstreetmap" not in details


async def test_a_gro_moves_a_complaint_to_another_category_in_the_chat(
        client: httpx.AsyncClient, auth: Any, app: Any, redis_client: Any) -> None:
    gro = await auth.staff("gro.dehradun")
    number = await _file(client, gro, "StreetLightNotWorking")
    # Only a GRO is offered the change: the LME a complaint is assigned to is not.
    (assigned,) = await _assigned_streetlights(client, auth, 1)
    lme = Chat(client, LME, "whatsapp")
    await lme.say("नमस्ते", "menu")
    await lme.say("1", "pick")
    details = await lme.say("1", "act")
    assert assigned in details and "श्रेणी बदलें" not in details
    chat = Chat(client, GRO, "whatsapp")
    await chat.say("नमस्ते", "menu")
    await chat.say("1", "pick")
    details = await chat.say("1", "act")
    assert "श्रेणी बदलें" in details
    categories = await chat.say("श्रेणी बदलें", "pick_category")
    assert f"{number} को किस श्रेणी में डालें?" in categories and "कूड़ा-कचरा" in categories
    # The category menu (ten Hindi rows) with the task: the session stays under 1 KB.
    key = app.state.conversations.store.keys(conversation_key("whatsapp", GRO)).session
    assert len(await redis_client.get(key)) <= SESSION_LIMIT
    # The type it has already: nothing changes.
    await chat.say("स्ट्रीट लाइट", "pick_type")
    same = await chat.say("स्ट्रीट लाइट खराब है", "act")
    assert "इसका प्रकार पहले से यही है" in same
    await chat.say("श्रेणी बदलें", "pick_category")
    types = await chat.say("कूड़ा-कचरा", "pick_type")
    assert "कूड़ा नहीं उठाया गया" in types and "दूसरी श्रेणी" in types
    assert len(await redis_client.get(key)) <= SESSION_LIMIT
    # "Other category" shows the categories again, from the first.
    assert "स्ट्रीट लाइट" in await chat.say("दूसरी श्रेणी", "pick_category")
    await chat.say("कूड़ा-कचरा", "pick_type")
    assert "नए विभाग के लिए टिप्पणी" in await chat.say("कूड़ा नहीं उठाया गया",
                                                     "ask_category_note")
    done = await chat.say("यह कूड़े की शिकायत है, बत्ती की नहीं", "pick")
    assert f"शिकायत {number} अब कूड़ा नहीं उठाया गया में है" in done

    row = (await client.get(f"/api/v1/complaints/{number}", headers=gro)).json()
    assert (row["type"]["code"], row["type"]["department_code"]) == (
        "GarbageNeedsTobeCleared", "DEPT_SANITATION")
    step = row["history"][-1]
    assert (step["action"], step["comment"]) == (
        "RECATEGORISE", "यह कूड़े की शिकायत है, बत्ती की नहीं")
    assert (step["from_type_code"], step["type_code"]) == (
        "StreetLightNotWorking", "GarbageNeedsTobeCleared")


async def test_a_task_that_moved_on_meanwhile_is_shown_as_it_is_now(
        client: httpx.AsyncClient, auth: Any) -> None:
    gro = await auth.staff("gro.dehradun")
    filed = await client.post("/api/v1/complaints", headers=gro, json={
        "type_code": "StreetLightNotWorking", "tenant_code": "uk.dehradun", "lat": 30.378,
        "lng": 78.089, "citizen_phone": RAHUL})
    number = filed.json()["id"]
    chat = Chat(client, GRO, "whatsapp")
    await chat.say("नमस्ते", "menu")
    await chat.say("1", "pick")
    await chat.say("1", "act")
    await chat.say("1", "pick_lme")
    # Meanwhile the GRO assigns it on the web.
    lmes = (await client.get("/api/v1/employees", headers=gro, params={
        "tenant": "uk.dehradun", "role": "LME", "department": "DEPT_STREETLIGHT"})).json()
    web = await client.post(f"/api/v1/complaints/{number}/actions", headers=gro,
                            json={"action": "ASSIGN", "assignee_id": lmes[0]["id"]})
    assert web.status_code == 200, web.text
    seen = await chat.say("1", "none")
    for part in ("क्षमा करें, यह नहीं हो सका", f"शिकायत {number}",
                 "स्थिति: कर्मचारी को सौंपी गई", "इस पर अभी आपको कुछ नहीं करना है",
                 "अभी आपके पास कोई काम बाकी नहीं है"):
        assert part in seen, seen
    complaint = (await client.get(f"/api/v1/complaints/{number}", headers=gro)).json()
    assert [h["action"] for h in complaint["history"]] == ["APPLY", "ASSIGN"]
