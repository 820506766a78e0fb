"""The complaint-type catalogue: seeded from YAML idempotently, listed in every locale."""

from __future__ import annotations

import copy

import yaml
from sqlalchemy import func, select

from core_api.complaints.catalog import CATALOG_FILE, seed_complaint_types
from core_api.complaints.models import ComplaintCategory, ComplaintType, Department
from core_api.seed.demo import SeedReport

LOCALES = {"en", "hi", "pa", "or"}


async def _counts(session):
    return [await session.scalar(select(func.count()).select_from(model))
            for model in (Department, ComplaintCategory, ComplaintType)]


async def test_catalogue_listing_and_reseeding(client, auth, session):
    assert (await client.get("/api/v1/complaint-types")).status_code == 401
    response = await client.get("/api/v1/complaint-types", headers=auth.service("+919876500002"))
    assert response.status_code == 200
    categories = response.json()
    data = yaml.safe_load(CATALOG_FILE.read_text(encoding="utf-8"))
    assert [c["code"] for c in categories] == [c["code"] for c in data["categories"]]
    streetlights = categories[0]
    assert set(streetlights["names"]) == LOCALES
    light = next(t for t in streetlights["types"] if t["code"] == "StreetLightNotWorking")
    assert light["sla_hours"] == 72
    assert light["names"]["hi"] == "स्ट्रीट लाइट खराब है" and set(light["names"]) == LOCALES
    assert light["department"]["code"] == "DEPT_STREETLIGHT"
    assert set(light["department"]["names"]) == LOCALES
    assert "batti" in light["keywords"]["hinglish"] and "बत्ती" in light["keywords"]["hi"]
    assert sum(len(c["types"]) for c in categories) == sum(
        len(c["subtypes"]) for c in data["categories"])
    # Staff read the same catalogue.
    staff = await client.get("/api/v1/complaint-types",
                             headers=await auth.staff("lme.sanitation.dehradun"))
    assert staff.json() == categories

    # Seeding again changes nothing; a type dropped from the file is retired, not deleted.
    before = await _counts(session)
    await seed_complaint_types(session, SeedReport())
    await session.commit()
    assert await _counts(session) == before
    trimmed = copy.deepcopy(data)
    trimmed["categories"][0]["subtypes"] = [
        s for s in trimmed["categories"][0]["subtypes"] if s["code"] != "NoStreetLight"]
    trimmed["categories"][0]["subtypes"][0]["sla_hours"] = 24
    await seed_complaint_types(session, SeedReport(), trimmed)
    await session.commit()
    assert await _counts(session) == before
    retired = await session.get(ComplaintType, "NoStreetLight")
    assert retired is not None and retired.active is False
    listed = (await client.get("/api/v1/complaint-types",
                               headers=auth.service("+919876500002"))).json()
    codes = {t["code"]: t for c in listed for t in c["types"]}
    assert "NoStreetLight" not in codes and codes["StreetLightNotWorking"]["sla_hours"] == 24
    refused = await client.post("/api/v1/complaints", json={
        "type_code": "NoStreetLight", "lat": 30.3781, "lng": 78.0892,
    }, headers=auth.service("+919876500002"))
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "unknown_complaint_type"
