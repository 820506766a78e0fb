"""Tenants and boundaries: the state, its ULBs and the zone -> ward -> locality tree."""

from __future__ import annotations

ULBS = ["uk.dehradun", "uk.haldwani", "uk.haridwar", "uk.rishikesh", "uk.roorkee"]


async def test_tenants_and_boundaries(client, auth):
    headers = auth.service()  # reference data: any authenticated caller reads it
    tenants = (await client.get("/api/v1/tenants", headers=headers)).json()
    assert [t["code"] for t in tenants] == ["uk", *ULBS]
    state = tenants[0]
    assert (state["level"], state["parent_code"], state["name_en"], state["name_hi"]) == (
        "state", None, "Uttarakhand", "उत्तराखंड")
    assert {t["parent_code"] for t in tenants[1:]} == {"uk"}
    assert all(t["level"] == "ulb" and t["lat"] and t["lng"] for t in tenants[1:])

    dehradun = (await client.get("/api/v1/tenants/uk.dehradun", headers=headers)).json()
    assert (dehradun["id_code"], dehradun["short_en"], dehradun["short_hi"]) == (
        "DDN", "Dehradun", "देहरादून")
    assert set(dehradun["names"]) == {"pa", "or"} and set(dehradun["short_names"]) == {"pa", "or"}

    url = "/api/v1/tenants/uk.dehradun/boundaries"
    counts = {}
    for kind in ("zone", "ward", "locality"):
        rows = (await client.get(url, headers=headers, params={"kind": kind})).json()
        assert {r["kind"] for r in rows} == {kind}
        assert {r["tenant_code"] for r in rows} == {"uk.dehradun"}
        counts[kind] = len(rows)
    assert counts == {"zone": 3, "ward": 6, "locality": 18}
    everything = (await client.get(url, headers=headers)).json()
    assert len(everything) == 27

    by_code = {b["code"]: b for b in everything}
    rajpur, ward, zone = (by_code["uk.dehradun.rajpur"], by_code["uk.dehradun.z2.w3"],
                          by_code["uk.dehradun.z2"])
    assert (rajpur["parent_id"], ward["parent_id"], zone["parent_id"]) == (
        ward["id"], zone["id"], None)
    assert (rajpur["name_hi"], rajpur["names"]["pa"]) == ("राजपुर", "ਰਾਜਪੁਰ")
    assert "raajpur" in rajpur["aliases"]
    wards = (await client.get(url, headers=headers, params={"parent_id": zone["id"]})).json()
    assert [w["code"] for w in wards] == ["uk.dehradun.z2.w3", "uk.dehradun.z2.w4"]
    in_ward = (await client.get(url, headers=headers,
                                params={"parent_id": ward["id"], "kind": "locality"})).json()
    assert [b["code"] for b in in_ward] == ["uk.dehradun.jakhan", "uk.dehradun.rajpur"]

    missing = await client.get("/api/v1/tenants/uk.atlantis", headers=headers)
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "not_found")
    missing = await client.get("/api/v1/tenants/uk.atlantis/boundaries", headers=headers)
    assert missing.status_code == 404
    bad_kind = await client.get(url, headers=headers, params={"kind": "city"})
    assert (bad_kind.status_code, bad_kind.json()["error"]["code"]) == (422, "validation_error")
    anonymous = await client.get("/api/v1/tenants")
    assert anonymous.status_code == 401
