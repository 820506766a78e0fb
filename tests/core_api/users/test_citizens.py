"""Citizens: the bot registers a verified number once; a citizen edits only their own profile."""

from __future__ import annotations

import shutil

import httpx
from sqlalchemy import select

from core_api.users.locales import BUNDLED_LOCALES, supported_locales
from core_api.users.models import User

CITIZENS = "/api/v1/citizens"
ME = "/api/v1/citizens/me"


def error_code(response) -> str:
    return response.json()["error"]["code"]


async def test_registration_is_idempotent_across_number_spellings(client, auth):
    first = await client.post(CITIZENS, headers=auth.service(),
                              json={"phone": "9876500011", "name": "Asha Rani",
                                    "locale": "hi_IN"})
    assert first.status_code == 201, first.text
    created = first.json()
    assert (created["kind"], created["phone"], created["name"], created["locale"]) == (
        "citizen", "+919876500011", "Asha Rani", "hi_IN")
    assert (created["roles"], created["opted_out"], created["active"]) == ([], False, True)

    for spelling in ("+91 98765 00011", "whatsapp:+919876500011", "09876500011"):
        again = await client.post(CITIZENS, headers=auth.service(),
                                  json={"phone": spelling, "name": "Someone Else",
                                        "locale": "en_IN"})
        assert again.status_code == 200, again.text
        # Same user; a later call does not overwrite what the citizen already told us.
        assert (again.json()["id"], again.json()["name"], again.json()["locale"]) == (
            created["id"], "Asha Rani", "hi_IN")

    # A bare first contact gets its name and language filled in later.
    bare = await client.post(CITIZENS, headers=auth.service(), json={"phone": "9876500012"})
    assert (bare.status_code, bare.json()["name"], bare.json()["locale"]) == (201, None, None)
    filled = await client.post(CITIZENS, headers=auth.service(),
                               json={"phone": "+919876500012", "name": "Mohan",
                                     "locale": "pa_IN"})
    assert (filled.status_code, filled.json()["name"], filled.json()["locale"]) == (
        200, "Mohan", "pa_IN")

    # The demo citizen exists already.
    demo = await client.post(CITIZENS, headers=auth.service(),
                             json={"phone": "whatsapp:+91 98765 00001"})
    assert (demo.status_code, demo.json()["name"]) == (200, "सुनीता देवी")


async def test_registration_refusals(client, auth):
    for phone in ("12345", "not a number", "", "+91 98765"):
        response = await client.post(CITIZENS, headers=auth.service(), json={"phone": phone})
        assert (response.status_code, error_code(response)) == (400, "invalid_phone"), phone

    # The bot acting for a number may register that number only.
    own = await client.post(CITIZENS, headers=auth.service("+919812345678"),
                            json={"phone": "98123 45678"})
    assert own.status_code == 201
    other = await client.post(CITIZENS, headers=auth.service("+919876500001"),
                              json={"phone": "+919876500099"})
    assert other.status_code == 403
    # Staff tokens are not the channel service; nobody without a token gets in.
    staff = await client.post(CITIZENS, headers=await auth.staff("gro.dehradun"),
                              json={"phone": "+919876500099"})
    assert (staff.status_code, error_code(staff)) == (403, "service_only")
    anonymous = await client.post(CITIZENS, json={"phone": "+919876500099"})
    assert anonymous.status_code == 401
    bad_locale = await client.post(CITIZENS, headers=auth.service(),
                                   json={"phone": "+919876500099", "locale": "fr_FR"})
    assert (bad_locale.status_code, error_code(bad_locale)) == (422, "validation_error")
    lookup = await client.post(CITIZENS, headers=auth.service(), json={"phone": "+919876500099"})
    assert lookup.status_code == 201  # none of the refused calls created it


async def test_citizen_updates_own_locale_and_opt_out(client, auth):
    headers = auth.service("+919876500002")
    me = await client.get(ME, headers=headers)
    assert (me.status_code, me.json()["name"], me.json()["locale"]) == (
        200, "Rahul Verma", "en_IN")

    assert supported_locales() == {"en_IN", "hi_IN", "pa_IN", "or_IN"}  # locales/*/locale.yaml
    for locale in ("hi_IN", "pa_IN", "or_IN", "en_IN"):
        response = await client.patch(ME, headers=headers, json={"locale": locale})
        assert (response.status_code, response.json()["locale"]) == (200, locale)
        assert (await client.get(ME, headers=headers)).json()["locale"] == locale
    for locale in ("fr_FR", "en", "hi", "EN_IN", "en_US", ""):
        response = await client.patch(ME, headers=headers, json={"locale": locale})
        assert (response.status_code, error_code(response)) == (422, "validation_error"), locale

    opted = await client.patch(ME, headers=headers, json={"opted_out": True})
    assert opted.json()["opted_out"] is True
    assert (await client.get(ME, headers=headers)).json()["opted_out"] is True
    back = await client.patch(ME, headers=headers, json={"opted_out": False, "name": "Rahul V."})
    assert (back.json()["opted_out"], back.json()["name"], back.json()["locale"]) == (
        False, "Rahul V.", "en_IN")
    # The other citizen is untouched.
    other = await client.get(ME, headers=auth.service("+919876500001"))
    assert (other.json()["locale"], other.json()["opted_out"]) == ("hi_IN", False)


async def test_a_locale_added_under_locales_is_accepted(client, auth, tmp_path, monkeypatch):
    headers = auth.service("+919876500002")
    refused = await client.patch(ME, headers=headers, json={"locale": "mr_IN"})
    assert (refused.status_code, error_code(refused)) == (422, "validation_error")
    root = tmp_path / "locales"
    shutil.copytree(BUNDLED_LOCALES / "en_IN", root / "en_IN")
    (root / "mr_IN").mkdir()
    (root / "mr_IN" / "locale.yaml").write_text("name: मराठी\n", encoding="utf-8")
    monkeypatch.setenv("SAMVAD_LOCALES_DIR", str(root))
    accepted = await client.patch(ME, headers=headers, json={"locale": "mr_IN"})
    assert (accepted.status_code, accepted.json()["locale"]) == (200, "mr_IN")
    gone = await client.patch(ME, headers=headers, json={"locale": "hi_IN"})  # not in root
    assert (gone.status_code, error_code(gone)) == (422, "validation_error")


async def test_only_registered_citizens_have_a_profile(client, auth):
    callers = {
        "bare service": auth.service(),
        "unregistered number": auth.service("+919812345678"),
        "employee via the bot": auth.service("+919876510001"),
        "staff token": await auth.staff("gro.dehradun"),
    }
    for name, headers in callers.items():
        for method in ("GET", "PATCH"):
            response = await client.request(method, ME, headers=headers, json={"locale": "hi_IN"})
            assert (response.status_code, error_code(response)) == (403, "citizen_only"), name


async def test_the_answer_leaves_only_after_the_commit(app, database, auth):
    """A 201 means stored: a client that reads right after the answer finds the citizen."""
    seen = []

    async def spy(scope, receive, send):
        async def spying_send(message):
            if message["type"] == "http.response.start":
                async with database.sessions() as other:
                    seen.append(await other.scalar(
                        select(User.id).where(User.phone == "+919876500077")))
            await send(message)

        await app(scope, receive, spying_send)

    transport = httpx.ASGITransport(app=spy)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.post(CITIZENS, headers=auth.service(),
                                     json={"phone": "+919876500077"})
    assert response.status_code == 201
    assert seen == [response.json()["id"]]
