"""Finding birth and death registrations: by number, by details, masked for citizens."""

from __future__ import annotations

import pytest

from core_api.certificates.records import mask_name, name_score

SEARCH = "/api/v1/registrations/search"
CITIZEN = "+919876500002"


def _numbers(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [r["registration_number"] for r in response.json()["results"]]


def test_masking_and_name_scores():
    assert mask_name("Ananya Sharma") == "A***** S*****"
    assert mask_name("अनन्या शर्मा") == "अ***** श****"
    assert mask_name(None) is None
    assert name_score("Anaya Sarma", "Ananya Sharma") >= 85  # typo and romanisation
    assert name_score("Mohan Bhatt", "Mohan Lal Bhatt") >= 85  # middle name left out
    assert name_score("Aarav Sharma", "Ananya Sharma") < 85  # a sibling is someone else
    assert name_score("Rajesh", "Rajesh Sharma", given_name_only=True) >= 85
    assert name_score("Sharma", "Rajesh Sharma", given_name_only=True) < 85  # surname alone


async def test_citizen_search_by_number_and_details_is_masked(client, auth):
    headers = auth.service(CITIZEN)
    by_number = await client.get(SEARCH, headers=headers, params={
        "tenant": "uk.dehradun", "registration_number": " b-ddn-2019-00123 "})
    assert _numbers(by_number) == ["B-DDN-2019-00123"]
    body = by_number.json()
    assert body["masked"] is True
    record = body["results"][0]
    assert record["name"] == "A***** S*****" and record["name_hi"] == "अ***** श****"
    assert record["father_name"] == "R***** S*****" and record["mother_name"] == "P**** S*****"
    assert record["event_date"] == "2019-04-12" and record["kind"] == "birth"
    assert record["place_en"] is None and record["informant_name"] is None
    assert "Ananya" not in by_number.text and "Rajesh" not in by_number.text

    # The number belongs to Dehradun: asking Haridwar finds nothing.
    assert _numbers(await client.get(SEARCH, headers=headers, params={
        "tenant": "uk.haridwar", "registration_number": "B-DDN-2019-00123"})) == []

    details = {"tenant": "uk.dehradun", "kind": "birth", "name": "Anaya Sarma",
               "date_of_event": "2019-04-12", "parent_name": "Rajesh"}
    cases = [
        ({}, ["B-DDN-2019-00123"]),  # misspelt; not the twin Aarav, not the other Ananya
        ({"parent_name": "Vikas Sharma"}, ["B-DDN-2019-00131"]),  # same name, other parents
        ({"name": "अनन्या शर्मा", "parent_name": "प्रिया शर्मा"}, ["B-DDN-2019-00123"]),
        ({"date_of_event": "2019-04-13"}, []),  # the date must be exact
        ({"parent_name": "Sharma"}, []),  # a surname is not a parent
        ({"parent_name": "Mahesh Kumar"}, []),
        ({"kind": "death"}, []),
        ({"kind": "death", "name": "Mohan Bhatt", "date_of_event": "2024-08-03",
          "parent_name": "Kamla"}, ["D-DDN-2024-00045"]),  # spouse matches for a death
        ({"tenant": "uk.haridwar", "name": "Ananya Sharma"}, ["B-HDW-2019-00088"]),
    ]
    for change, expected in cases:
        response = await client.get(SEARCH, headers=headers, params={**details, **change})
        assert _numbers(response) == expected, change

    death = (await client.get(SEARCH, headers=headers, params={
        "tenant": "uk.dehradun", "registration_number": "D-DDN-2024-00045"})).json()
    assert death["results"][0]["spouse_name"] == "K**** B****"
    assert death["results"][0]["name"] == "M**** L** B****"


@pytest.mark.parametrize("params, status, code", [
    ({"tenant": "uk.dehradun", "kind": "birth", "name": "Ananya Sharma"}, 400,
     "search_criteria_required"),
    ({"tenant": "uk.nowhere", "registration_number": "B-1"}, 404, "unknown_tenant"),
])
async def test_incomplete_or_unknown_searches(client, auth, params, status, code):
    response = await client.get(SEARCH, headers=auth.service(CITIZEN), params=params)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


async def test_staff_see_records_whole_within_their_tenant_only(client, auth):
    registrar = await auth.staff("registrar.dehradun")
    response = await client.get(SEARCH, headers=registrar, params={
        "tenant": "uk.dehradun", "kind": "death", "name": "Mohan Lal Bhatt",
        "date_of_event": "2024-08-03", "parent_name": "Kamla Bhatt"})
    assert _numbers(response) == ["D-DDN-2024-00045"]
    record = response.json()["results"][0]
    assert response.json()["masked"] is False
    assert record["name"] == "Mohan Lal Bhatt" and record["spouse_name"] == "Kamla Bhatt"
    assert record["place_en"].startswith("Max Super Speciality Hospital")
    assert record["registered_on"] == "2024-08-06" and record["informant_relation"] == "son"

    csr = await auth.staff("gro.dehradun")  # GRO + CSR
    assert _numbers(await client.get(SEARCH, headers=csr, params={
        "tenant": "uk.dehradun", "registration_number": "B-DDN-2021-00456"})) == [
        "B-DDN-2021-00456"]

    refusals = [
        (registrar, {"tenant": "uk.haridwar"}, "tenant_forbidden"),
        (await auth.staff("lme.electrical.dehradun"), {"tenant": "uk.dehradun"},
         "tenant_forbidden"),
        (auth.service(), {"tenant": "uk.dehradun"}, "citizen_or_staff_only"),
    ]
    for headers, params, code in refusals:
        response = await client.get(SEARCH, headers=headers, params={
            **params, "registration_number": "B-DDN-2019-00123"})
        assert response.status_code == 403, response.text
        assert response.json()["error"]["code"] == code
    assert (await client.get(SEARCH, params={"tenant": "uk.dehradun"})).status_code == 401
