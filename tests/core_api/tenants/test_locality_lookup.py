"""Finding a locality by what people type (any script, any spelling) and by a location pin."""

from __future__ import annotations

from core_api.tenants import search
from core_api.tenants.models import Boundary

SEARCH = "/api/v1/localities/search"
AT = "/api/v1/localities/at"
RAJPUR = (30.378, 78.089)

# query, tenant -> the expected best match
FIRST_MATCHES = [
    ("raajpur", "uk.dehradun", "uk.dehradun.rajpur"),
    ("Rajpur", "uk.dehradun", "uk.dehradun.rajpur"),
    ("राजपुर", "uk.dehradun", "uk.dehradun.rajpur"),
    ("rajpur road", "uk.dehradun", "uk.dehradun.rajpur"),
    ("राजपुर के पास", "uk.dehradun", "uk.dehradun.rajpur"),  # "near Rajpur"
    ("rajpoor", "uk.dehradun", "uk.dehradun.rajpur"),
    ("raipur", "uk.dehradun", "uk.dehradun.raipur"),  # one letter away, another place
    ("रायपुर", "uk.dehradun", "uk.dehradun.raipur"),
    ("डालनवाला", "uk.dehradun", "uk.dehradun.dalanwala"),
    ("पलटन बजार", "uk.dehradun", "uk.dehradun.paltanbazaar"),  # no nukta, short vowel
    ("नेहरु कालोनी", "uk.dehradun", "uk.dehradun.nehrucolony"),
    ("कौलागढ़", "uk.dehradun", "uk.dehradun.kaulagarh"),
    ("ghanta ghar", "uk.dehradun", "uk.dehradun.paltanbazaar"),
    ("sahastradhara", "uk.dehradun", "uk.dehradun.sahastradhararoad"),
    ("हर की पौडी", "uk.haridwar", "uk.haridwar.harkipauri"),
    ("भेल", "uk.haridwar", "uk.haridwar.bhelranipur"),
    ("kankhal", None, "uk.haridwar.kankhal"),
    ("ਰਾਜਪੁਰ", "uk.dehradun", "uk.dehradun.rajpur"),  # Punjabi
    ("ରାଜପୁର", "uk.dehradun", "uk.dehradun.rajpur"),  # Odia
]


async def test_fuzzy_search_finds_the_right_locality_first(client, auth):
    headers = auth.service("+919876500001")
    wrong = {}
    for query, tenant, expected in FIRST_MATCHES:
        params = {"q": query, **({"tenant": tenant} if tenant else {})}
        response = await client.get(SEARCH, headers=headers, params=params)
        assert response.status_code == 200, response.text
        found = [m["locality"]["code"] for m in response.json()]
        if not found or found[0] != expected:
            wrong[query] = found
    assert wrong == {}

    matches = (await client.get(SEARCH, headers=headers,
                                params={"q": "raajpur", "tenant": "uk.dehradun"})).json()
    scores = [m["score"] for m in matches]
    assert scores == sorted(scores, reverse=True) and len(matches) <= 5
    assert {m["locality"]["tenant_code"] for m in matches} == {"uk.dehradun"}
    assert {m["locality"]["kind"] for m in matches} == {"locality"}
    assert matches[0]["locality"]["name_hi"] == "राजपुर"

    # Without a tenant both Adarsh Nagars (Rishikesh and Roorkee) come up.
    both = (await client.get(SEARCH, headers=headers, params={"q": "adarsh nagar"})).json()
    assert {m["locality"]["code"] for m in both[:2]} == {"uk.rishikesh.adarshnagar",
                                                        "uk.roorkee.adarshnagar"}
    # A ULB's search never answers with another ULB's locality.
    haridwar = (await client.get(SEARCH, headers=headers,
                                 params={"q": "rajpur", "tenant": "uk.haridwar"})).json()
    assert all(m["locality"]["tenant_code"] == "uk.haridwar" for m in haridwar)

    for nonsense in ("xqzkvw", "!!!", "🙂🙂", "12345678", "नमस्ते", "धन्यवाद"):
        response = await client.get(SEARCH, headers=headers,
                                    params={"q": nonsense, "tenant": "uk.dehradun"})
        assert (response.status_code, response.json()) == (200, []), nonsense
    # Unknown tenants find nothing, and do not grow the in-memory name index.
    cached = len(search._index)
    for n in range(3):
        response = await client.get(SEARCH, headers=headers,
                                    params={"q": "rajpur", "tenant": f"uk.nowhere{n}"})
        assert (response.status_code, response.json()) == (200, [])
    assert len(search._index) == cached
    one = (await client.get(SEARCH, headers=headers, params={"q": "pur", "limit": 1})).json()
    assert len(one) <= 1
    for params in ({"q": ""}, {"q": "x" * 101}, {"q": "rajpur", "limit": 11}):
        response = await client.get(SEARCH, headers=headers, params=params)
        assert response.status_code == 422, params


async def test_point_lookup(client, auth):
    headers = auth.service("+919876500001")
    exact = await client.get(AT, headers=headers, params={"lat": RAJPUR[0], "lng": RAJPUR[1]})
    assert exact.status_code == 200, exact.text
    body = exact.json()
    assert (body["locality"]["code"], body["distance_km"]) == ("uk.dehradun.rajpur", 0.0)
    assert (body["ward"]["code"], body["tenant"]["code"]) == ("uk.dehradun.z2.w3",
                                                               "uk.dehradun")

    # About 330 m north-east of the centre: still Rajpur, and the distance says so.
    near = (await client.get(AT, headers=headers, params={"lat": 30.380, "lng": 78.0915})).json()
    assert near["locality"]["code"] == "uk.dehradun.rajpur"
    assert 0.2 < near["distance_km"] < 0.5
    # Har Ki Pauri in Haridwar.
    ghat = (await client.get(AT, headers=headers, params={"lat": 29.9565, "lng": 78.1702})).json()
    assert (ghat["locality"]["code"], ghat["tenant"]["code"]) == (
        "uk.haridwar.harkipauri", "uk.haridwar")

    for params in ({"lat": 28.61, "lng": 77.21},  # Delhi
                   {"lat": RAJPUR[0], "lng": RAJPUR[1], "tenant": "uk.haridwar"},
                   {"lat": 0, "lng": 0}):
        response = await client.get(AT, headers=headers, params=params)
        assert (response.status_code, response.json()["error"]["code"]) == (
            404, "outside_service_area"), params
    bad = await client.get(AT, headers=headers, params={"lat": 91, "lng": 78})
    assert bad.status_code == 422


async def test_polygon_beats_a_nearer_centre(client, auth, session):
    # An enclave drawn around a pin 70 m from Rajpur's centre; its own centre is 1.3 km away.
    pin = (30.3785, 78.0895)
    enclave = Boundary(
        code="uk.dehradun.testenclave", tenant_code="uk.dehradun", kind="locality",
        name_en="Test Enclave", name_hi="टेस्ट एन्क्लेव", names={}, aliases=[],
        lat=30.37, lng=78.08,
        polygon=[[78.089, 30.378], [78.0905, 30.378], [78.0905, 30.3795], [78.089, 30.3795]],
    )
    session.add(enclave)
    await session.commit()

    found = await search.locality_at(session, *pin)
    assert found is not None and (found[0].code, found[1]) == ("uk.dehradun.testenclave", 0.0)
    in_tenant = await search.locality_at(session, *pin, tenant_code="uk.dehradun")
    assert in_tenant is not None and in_tenant[0].code == "uk.dehradun.testenclave"
    # Outside the polygon the nearest centre decides again.
    outside = await search.locality_at(session, 30.3775, 78.0885)
    assert outside is not None and outside[0].code == "uk.dehradun.rajpur"

    response = await client.get(AT, headers=auth.service(), params={"lat": pin[0], "lng": pin[1]})
    body = response.json()
    assert (body["locality"]["code"], body["distance_km"], body["ward"]) == (
        "uk.dehradun.testenclave", 0.0, None)

    # The name index learns about the new locality once told that boundaries changed.
    search.invalidate()
    named = (await client.get(SEARCH, headers=auth.service(),
                              params={"q": "test enclave", "tenant": "uk.dehradun"})).json()
    assert named[0]["locality"]["code"] == "uk.dehradun.testenclave"

    # Removed again (the index still lists it): the search answers without it, no error.
    await session.delete(enclave)
    await session.commit()
    named = await client.get(SEARCH, headers=auth.service(),
                             params={"q": "test enclave", "tenant": "uk.dehradun"})
    assert named.status_code == 200
    assert "uk.dehradun.testenclave" not in {m["locality"]["code"] for m in named.json()}
