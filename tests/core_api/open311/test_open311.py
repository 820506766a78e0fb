"""Open311 GeoReport v2 facade: field lists, api_key, jurisdictions, status mapping, errors."""

from __future__ import annotations

import io
from datetime import datetime, timedelta

import pytest
from PIL import Image
from sqlalchemy import func, select

from core_api.complaints import service as complaints_service
from core_api.complaints.models import Complaint
from core_api.errors import BadRequest
from core_api.users.models import User
from samvad.settings import Settings

API_KEY = "open311-test-key"
# GeoReport v2 response fields (http://wiki.open311.org/GeoReport_v2), as data.
SERVICE_FIELDS = {"service_code", "service_name", "description", "metadata", "type",
                  "keywords", "group"}
REQUEST_FIELDS = {"service_request_id", "status", "status_notes", "service_name",
                  "service_code", "description", "agency_responsible", "service_notice",
                  "requested_datetime", "updated_datetime", "expected_datetime", "address",
                  "address_id", "zipcode", "lat", "long", "media_url"}
REQUIRED_REQUEST_VALUES = {"service_request_id", "status", "service_code", "requested_datetime"}
POSTED_FIELDS = {"service_request_id", "service_notice", "account_id"}
ERROR_FIELDS = {"code", "description"}
RAJPUR = {"lat": "30.3781", "long": "78.0892"}


def _png() -> bytes:
    """A real (decodable) PNG: stored images are re-encoded without metadata."""
    out = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 180, 40)).save(out, "PNG")
    return out.getvalue()


PNG = _png()


@pytest.fixture
def settings(db_url, redis_url, tmp_path) -> Settings:
    return Settings(
        SAMVAD_DATABASE_URL=db_url,
        SAMVAD_REDIS_URL=redis_url,
        SAMVAD_ENV="development",
        SAMVAD_DATA_DIR=tmp_path,
        SAMVAD_SECRET_KEY="test-secret-key-that-is-long-enough-0123456789",
        SAMVAD_OPEN311_API_KEYS=f" other-key , {API_KEY}",
    )


def _is_error(response, code):
    body = response.json()
    assert response.status_code == code, response.text
    assert isinstance(body, list) and len(body) == 1 and set(body[0]) == ERROR_FIELDS
    assert body[0]["code"] == code and body[0]["description"]
    return body[0]["description"]


async def _post(client, **fields):
    form = {"api_key": API_KEY, "service_code": "StreetLightNotWorking",
            "phone": "+919876500055", "first_name": "Asha", "last_name": "Rawat",
            "email": "asha@example.org", "description": "Lamp out near the school", **RAJPUR}
    form.update(fields)
    return await client.post("/open311/v2/requests.json",
                             data={k: v for k, v in form.items() if v is not None})


async def test_services_list(client):
    response = await client.get("/open311/v2/services.json")
    assert response.status_code == 200
    services = response.json()
    assert services and all(set(s) == SERVICE_FIELDS for s in services)
    assert all(s["metadata"] is False and s["type"] == "realtime" for s in services)
    light = next(s for s in services if s["service_code"] == "StreetLightNotWorking")
    assert light["service_name"] == "Streetlight not working" and light["group"] == "Streetlights"
    assert "batti" in light["keywords"] and "72 hours" in light["description"]
    by_city = await client.get("/open311/v2/services.json",
                               params={"jurisdiction_id": "uk.dehradun"})
    assert by_city.json() == services
    _is_error(await client.get("/open311/v2/services.json",
                               params={"jurisdiction_id": "xx.nowhere"}), 404)
    # Not a tenant code at all (a NUL byte PostgreSQL refuses even to compare): the same
    # GeoReport 404, found by the OpenAPI fuzz test.
    _is_error(await client.get("/open311/v2/requests/fs.json",
                               params={"jurisdiction_id": "fn\x00~"}), 404)


async def test_post_requires_key_and_valid_fields(client, session, monkeypatch):
    refusals = [
        ({"api_key": None}, 403),
        ({"api_key": "wrong"}, 403),
        ({"service_code": None}, 400),
        ({"service_code": "NoSuchThing"}, 400),
        ({"phone": None}, 400),
        ({"phone": "12345"}, 400),
        ({"lat": "28.6139", "long": "77.2090"}, 400),  # Delhi: outside every city
        ({"lat": "north"}, 400),
        ({"long": None}, 400),
        ({"lat": None, "long": None}, 400),  # neither a point nor an address
        ({"lat": None, "long": None, "address_string": "Rajpur"}, 400),  # no jurisdiction
        ({"description": "x" * 1001}, 400),
        ({"jurisdiction_id": "uk.haridwar"}, 400),  # a Dehradun point under Haridwar
        ({"jurisdiction_id": "nowhere"}, 404),
    ]
    for fields, code in refusals:
        _is_error(await _post(client, **fields), code)
    assert await session.scalar(select(func.count()).select_from(Complaint)) == 0

    # A refusal after the citizen was created still rolls the whole request back.
    async def refuse(*_args, **_kwargs):
        raise BadRequest("No filing today.")

    monkeypatch.setattr(complaints_service, "file_complaint", refuse)
    assert _is_error(await _post(client, phone="+919876500099"), 400) == "No filing today."
    assert await session.scalar(select(User).where(User.phone == "+919876500099")) is None


async def test_post_then_read_with_status_mapping_and_filters(client, auth, session, settings):
    posted = await _post(client, jurisdiction_id="uk.dehradun")
    assert posted.status_code == 201, posted.text
    [answer] = posted.json()
    assert set(answer) == POSTED_FIELDS
    first = answer["service_request_id"]
    assert first.startswith("PG-UK-DDN-") and first in answer["service_notice"]
    # A state-wide client may let the point pick the city; an address needs a city.
    second = (await _post(client, jurisdiction_id="uk", service_code="GarbageNeedsTobeCleared",
                          description="<i>Bins</i> overflowing")).json()[0]["service_request_id"]
    haridwar = (await _post(client, jurisdiction_id="uk.haridwar", lat=None, long=None,
                            address_string="Har Ki Pauri ghat, near the bridge",
                            phone="9876500056")).json()[0]["service_request_id"]
    assert haridwar.startswith("PG-UK-HDW-")

    # The complaint belongs to a citizen found by phone and came from open311.
    gro = await auth.staff("gro.dehradun")
    filed = (await client.get(f"/api/v1/complaints/{first}", headers=gro)).json()
    assert filed["source"] == "open311"
    assert filed["citizen"]["name"] == "Asha Rawat"
    assert filed["citizen"]["phone"] == "+919876500055"
    assert answer["account_id"]

    [one] = (await client.get(f"/open311/v2/requests/{first}.json")).json()
    assert set(one) == REQUEST_FIELDS
    assert all(one[field] for field in REQUIRED_REQUEST_VALUES)
    assert one["status"] == "open" and one["status_notes"] is None
    assert one["service_name"] == "Streetlight not working"
    assert one["agency_responsible"] == "Electrical (Streetlights)"
    assert one["description"] == "Lamp out near the school"
    for field in ("requested_datetime", "updated_datetime", "expected_datetime"):
        assert one[field].endswith("+05:30"), one[field]
    assert (datetime.fromisoformat(one["expected_datetime"])
            - datetime.fromisoformat(one["requested_datetime"])) == timedelta(hours=72)
    # The public sees the locality's centre; a client with a key the exact pin.
    assert (one["lat"], one["long"]) == (30.378, 78.089)
    assert one["address"] == "Rajpur, Dehradun Municipal Corporation"
    assert one["address_id"] == "uk.dehradun.rajpur" and one["media_url"] is None
    [keyed] = (await client.get(f"/open311/v2/requests/{first}.json",
                                params={"api_key": API_KEY})).json()
    assert (keyed["lat"], keyed["long"]) == (30.3781, 78.0892)
    assert {k: v for k, v in keyed.items() if k not in ("lat", "long")} == {
        k: v for k, v in one.items() if k not in ("lat", "long")}
    _is_error(await client.get(f"/open311/v2/requests/{first}.json",
                               params={"api_key": "wrong"}), 403)
    _is_error(await client.get("/open311/v2/requests/PG-UK-DDN-2020-000999.json"), 404)
    [hkp] = (await client.get(f"/open311/v2/requests/{haridwar}.json")).json()
    assert hkp["address"] == "Har Ki Pauri, Haridwar Municipal Corporation"
    assert hkp["address_id"] == "uk.haridwar.harkipauri" and hkp["lat"] is not None
    [hkp] = (await client.get(f"/open311/v2/requests/{haridwar}.json",
                              params={"api_key": API_KEY})).json()
    assert hkp["address"] == "Har Ki Pauri ghat, near the bridge"

    # Move the first to the LME (still open) and on to RESOLVED (closed), reject the second.
    lme = await auth.staff("lme.electrical.dehradun")
    lme_id = (await client.get("/api/v1/auth/me", headers=lme)).json()["user_id"]
    photo = (await client.post(f"/api/v1/complaints/{first}/photos", headers=gro,
                               files={"file": ("lamp.png", PNG, "image/png")})).json()
    await client.post(f"/api/v1/complaints/{first}/actions", headers=gro,
                      json={"action": "ASSIGN", "assignee_id": lme_id,
                            "comment": "Pole 14, LME to carry a ladder"})
    [assigned] = (await client.get(f"/open311/v2/requests/{first}.json")).json()
    assert assigned["status"] == "open"
    assert assigned["status_notes"] is None  # the ASSIGN comment is internal
    assert assigned["media_url"] is None  # photos are private until staff make one public
    made_public = await client.patch(f"/api/v1/complaints/{first}/photos/{photo['id']}",
                                     headers=gro, json={"public": True})
    assert made_public.status_code == 200, made_public.text
    [assigned] = (await client.get(f"/open311/v2/requests/{first}.json")).json()
    assert assigned["media_url"] == made_public.json()["public_url"]
    assert assigned["media_url"].startswith(settings.public_url + "/open311/v2/media/")
    media = await client.get(assigned["media_url"].removeprefix(settings.public_url))
    assert media.status_code == 200 and media.headers["content-type"] == "image/png"
    assert media.content.startswith(b"\x89PNG") and "public" in media.headers["cache-control"]
    await client.post(f"/api/v1/complaints/{first}/actions", headers=lme,
                      json={"action": "RESOLVE", "comment": "New LED fitted"})
    await client.post(f"/api/v1/complaints/{second}/actions", headers=gro,
                      json={"action": "REJECT", "comment": "Private property"})
    [done] = (await client.get(f"/open311/v2/requests/{first}.json")).json()
    assert (done["status"], done["status_notes"]) == ("closed", "New LED fitted")

    async def listed(**params):
        response = await client.get("/open311/v2/requests.json", params=params)
        assert response.status_code == 200, response.text
        assert all(set(r) == REQUEST_FIELDS for r in response.json())
        return [r["service_request_id"] for r in response.json()]

    assert await listed() == [haridwar, second, first]  # newest first, last 90 days
    assert await listed(jurisdiction_id="uk.dehradun") == [second, first]
    assert await listed(jurisdiction_id="uk.haridwar") == [haridwar]
    assert await listed(jurisdiction_id="uk") == [haridwar, second, first]
    assert await listed(status="closed") == [second, first]
    assert await listed(status="open") == [haridwar]
    assert await listed(status="open,closed") == [haridwar, second, first]
    assert await listed(service_code="GarbageNeedsTobeCleared") == [second]
    assert await listed(service_request_id=f"{first},{haridwar}") == [haridwar, first]
    assert await listed(service_request_id=first, jurisdiction_id="uk.haridwar") == []
    now = datetime.now().astimezone()
    assert await listed(end_date=(now - timedelta(days=1)).isoformat()) == []
    assert await listed(start_date=(now - timedelta(hours=1)).isoformat(),
                        end_date=(now + timedelta(hours=1)).isoformat()) == [
        haridwar, second, first]
    too_long = await client.get("/open311/v2/requests.json", params={
        "start_date": "2026-01-01T00:00:00+05:30", "end_date": "2026-06-01T00:00:00+05:30"})
    assert "90 days" in _is_error(too_long, 400)
    _is_error(await client.get("/open311/v2/requests.json", params={"start_date": "soon"}), 400)
    _is_error(await client.get("/open311/v2/requests.json", params={"status": "pending"}), 400)
    _is_error(await client.get("/open311/v2/requests.json",
                               params={"jurisdiction_id": "nowhere"}), 404)
