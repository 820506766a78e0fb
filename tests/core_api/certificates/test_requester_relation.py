"""Who asks for a certificate copy: the requester's relation to the record, the informant's
phone that links a requester to it, what the registrar sees before approving, and a public
verify page that shows none of it."""

from __future__ import annotations

import re

import pytest

REQUESTS = "/api/v1/certificate-requests"
SUNITA, RAHUL = "+919876500001", "+919876500002"  # Sunita's number is the demo informant's
DEMO_BIRTH = "B-DDN-2019-00123"


async def test_relation_is_required_and_must_fit_the_kind_of_record(client, auth, bnd):
    birth = await bnd.recent_registration()
    death = await bnd.recent_registration(kind="death", spouse_name="Pooja Rawat")
    rahul = auth.service(RAHUL)

    missing = await client.post(REQUESTS, headers=rahul,
                                json={"registration_number": birth.registration_number})
    assert missing.status_code == 422
    assert missing.json()["error"]["code"] == "validation_error"
    assert "relation" in missing.text
    unknown = await client.post(REQUESTS, headers=rahul, json={
        "registration_number": birth.registration_number, "relation": "cousin"})
    assert unknown.status_code == 422 and unknown.json()["error"]["code"] == "validation_error"

    own_death = await client.post(REQUESTS, headers=rahul, json={
        "registration_number": death.registration_number, "relation": "self"})
    assert own_death.status_code == 422, own_death.text
    error = own_death.json()["error"]
    assert error["code"] == "invalid_relation"
    assert error["message"] == ("The relation 'self' does not fit a death record; "
                                "give one of: spouse, child, parent, other.")
    assert error["details"] == {"kind": "death", "allowed": ["spouse", "child", "parent", "other"]}
    assert (await client.get(REQUESTS, headers=rahul)).json() == []  # nothing was created

    for record, relation in ((birth, "self"), (death, "spouse")):
        created = await client.post(REQUESTS, headers=rahul, json={
            "registration_number": record.registration_number, "relation": relation})
        assert created.status_code == 201, created.text
        assert created.json()["relation"] == relation


@pytest.mark.parametrize(("phone", "relation", "needs_verification"), [
    (SUNITA, "parent", False),  # the informant's phone on the record: linked
    (RAHUL, "other", True),  # any other number: the registrar verifies the requester
])
async def test_a_requester_not_linked_to_the_record_needs_verification(
        client, auth, phone, relation, needs_verification):
    created = await client.post(REQUESTS, headers=auth.service(phone), json={
        "registration_number": DEMO_BIRTH, "relation": relation})
    assert created.status_code == 201, created.text
    number = created.json()["request_number"]
    registrar = await auth.staff("registrar.dehradun")
    detail = (await client.get(f"{REQUESTS}/{number}", headers=registrar)).json()
    assert (detail["relation"], detail["needs_verification"]) == (relation, needs_verification)
    assert detail["requester_phone"] == phone


async def test_records_without_an_informant_phone_and_csr_requests_are_verified(
        client, auth, bnd):
    unlinked = await bnd.recent_registration()  # no informant phone recorded
    by_citizen = await client.post(REQUESTS, headers=auth.service(SUNITA), json={
        "registration_number": unlinked.registration_number, "relation": "parent"})
    assert by_citizen.status_code == 201, by_citizen.text

    # A CSR types the applicant's number: even the informant's is not channel-verified.
    linked = await bnd.recent_registration(informant_phone=RAHUL)
    csr = await auth.staff("gro.dehradun")
    by_csr = await client.post(REQUESTS, headers=csr, json={
        "registration_number": linked.registration_number, "relation": "parent",
        "applicant_name": "Rahul Verma", "applicant_phone": "98765 00002"})
    assert by_csr.status_code == 201, by_csr.text
    # The same record asked for from the informant's own verified number is linked.
    own = await client.post(REQUESTS, headers=auth.service(SUNITA), json={
        "registration_number": (await bnd.recent_registration(
            informant_phone="+91 98765 00001")).registration_number, "relation": "self"})
    assert own.status_code == 201, own.text

    registrar = await auth.staff("registrar.dehradun")
    seen = {row["request_number"]: row for row in (await client.get(
        REQUESTS, headers=registrar, params={"tenant": "uk.dehradun"})).json()}
    assert seen[by_citizen.json()["request_number"]]["needs_verification"] is True
    assert seen[by_csr.json()["request_number"]]["needs_verification"] is True
    assert seen[own.json()["request_number"]]["needs_verification"] is False


async def test_the_registrar_sees_relation_and_requester_the_citizen_sees_the_relation(
        client, auth, bnd):
    record = await bnd.recent_registration()
    citizen = auth.service(RAHUL)
    created = await client.post(REQUESTS, headers=citizen, json={
        "registration_number": record.registration_number, "relation": "parent"})
    assert created.status_code == 201, created.text
    number = created.json()["request_number"]

    registrar = await auth.staff("registrar.dehradun")
    inbox = (await client.get(REQUESTS, headers=registrar,
                              params={"status": "PENDINGAPPROVAL"})).json()
    [row] = [r for r in inbox if r["request_number"] == number]
    detail = (await client.get(f"{REQUESTS}/{number}", headers=registrar)).json()
    for shown in (row, detail):
        assert (shown["relation"], shown["needs_verification"], shown["requester_name"],
                shown["requester_phone"]) == ("parent", True, "Rahul Verma", RAHUL)
    assert detail["actions"] == ["APPROVE", "REJECT"]

    # The citizen sees their own request with the relation, not the registrar's view.
    for mine in ((await client.get(f"{REQUESTS}/{number}", headers=citizen)).json(),
                 (await client.get(REQUESTS, headers=citizen)).json()[0],
                 created.json()):
        assert mine["relation"] == "parent"
        assert mine["needs_verification"] is None
        assert mine["requester_name"] is None and mine["requester_phone"] is None


async def test_the_informant_phone_is_for_staff_only(client, auth):
    params = {"tenant": "uk.dehradun", "registration_number": DEMO_BIRTH}
    citizen = (await client.get("/api/v1/registrations/search", headers=auth.service(RAHUL),
                                params=params)).json()["results"][0]
    assert citizen["informant_phone"] is None and SUNITA not in str(citizen)
    staff = (await client.get("/api/v1/registrations/search", params=params,
                              headers=await auth.staff("registrar.dehradun"))).json()
    assert staff["results"][0]["informant_phone"] == SUNITA


def _phone_forms(phone: str) -> list[str]:
    national = phone[-10:]
    return [phone, national, f"{national[:5]} {national[5:]}", f"{national[:5]}-{national[5:]}",
            f"91{national}"]


@pytest.mark.reliability
async def test_the_public_verify_page_never_shows_requester_relation_or_informant_phone(
        client, auth, bnd, reliability):
    registrar = await auth.staff("registrar.dehradun")
    pages = []
    cases = ((RAHUL, "Rahul Verma", "parent", "birth"),  # not linked: verified by hand
             (SUNITA, "सुनीता देवी", "spouse", "death"))  # the informant herself
    for phone, requester, relation, kind in cases:
        record = await bnd.recent_registration(
            kind=kind, spouse_name="Pooja Rawat" if kind == "death" else None,
            informant_name="Vivek Rawat", informant_relation="father",
            informant_address="14 Rajpur Road, Dehradun", informant_phone=SUNITA)
        created = await client.post(REQUESTS, headers=auth.service(phone), json={
            "registration_number": record.registration_number, "relation": relation})
        assert created.status_code == 201, created.text
        number = created.json()["request_number"]
        staff_view = (await client.get(f"{REQUESTS}/{number}", headers=registrar)).json()
        assert staff_view["requester_name"] == requester  # the registrar sees who asked
        issued = await bnd.act(registrar, number, "APPROVE")
        assert issued.status_code == 200, issued.text
        page = await client.get(bnd.path(issued.json()["verify_url"]))
        assert page.status_code == 200 and "Genuine" in page.text
        assert issued.json()["certificate_number"] in page.text
        pages.append(page.text)

        html = page.text
        digits = {re.sub(r"\D", "", run) for run in re.findall(r"\d[\d \-]{7,}\d", html)}
        for secret_phone in {phone, SUNITA}:
            for form in _phone_forms(secret_phone):
                assert form not in html, form
            assert not any(secret_phone[-10:] in run for run in digits), secret_phone
        for secret in (requester, relation, "Rahul", "Verma", "Vivek", "Rajpur", "relation",
                       "requester", "informant", "verification", "Ishaan Rawat", "ईशान रावत"):
            assert secret.lower() not in html.lower(), secret
        assert "I***** R****" in html  # the masked name is all it shows of the person

    reliability.record(
        area="privacy", case="The public certificate verify page and who asked for the copy",
        sent=f"{len(pages)} certificates issued for requests with a relation (parent, "
             "spouse), one by the record's informant and one by another number, from records "
             "that carry the informant's name, address and phone",
        did="the verify page shows the certificate number, kind, masked name, dates and "
            "issuing ULB; the registrar's API view alone names the requester",
        lost="nothing; no requester name or phone (in any spelling), relation, or informant "
             "name, address or phone on any page")
