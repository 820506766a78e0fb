"""Bills: the demo bills, who may list and read them, masked lookup by consumer number."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from core_api.auth.tokens import hash_password
from core_api.bills.models import Bill, BillingSequence
from core_api.bills.service import create_bill, mask_name
from core_api.errors import Conflict
from core_api.seed.demo import seed_demo
from core_api.users.models import User, UserKind, UserRole

SUNITA = "+919876500001"
RAHUL = "+919876500002"


async def _haridwar_gro(session) -> str:
    session.add(User(
        kind=UserKind.EMPLOYEE, phone="+919876520001", name="Pooja Saini",
        username="gro.haridwar", password_hash=hash_password("samvad-demo"),
        tenant_code="uk.haridwar", roles=[UserRole(role="GRO", tenant_code="uk.haridwar")],
    ))
    await session.commit()
    return "gro.haridwar"


def test_mask_name():
    assert mask_name("Rahul Verma") == "R**** V****"
    assert mask_name("Mohan Lal Sharma") == "M**** L**** S****"
    assert mask_name("सुनीता देवी") == "स**** द****"
    assert mask_name("") == ""


async def test_citizens_see_their_own_bills_unpaid_first(client, auth):
    response = await client.get("/api/v1/bills", headers=auth.service(SUNITA))
    assert response.status_code == 200, response.text
    bills = response.json()
    assert {(b["service"], b["consumer_number"]) for b in bills} == {
        ("PT", "PT-DDN-20451"), ("WS", "WS-DDN-10219")}
    by_service = {b["service"]: b for b in bills}
    pt, ws = by_service["PT"], by_service["WS"]
    assert pt["total"] == "4850.00" and pt["total_display"] == "₹4,850.00"
    assert [line["code"] for line in pt["lines"]] == [
        "PT_TAX", "PT_SANITATION_CESS", "PT_FIRE_CESS", "PT_REBATE"]
    assert pt["lines"][-1]["amount"] == "-230.00"
    assert sum(Decimal(line["amount"]) for line in pt["lines"]) == Decimal("4850.00")
    assert ws["total"] == "1236.50" and ws["total_display"] == "₹1,236.50"
    assert pt["owner_name"] == "सुनीता देवी" and pt["owner_phone"] == SUNITA
    assert pt["masked"] is False and pt["status"] == "ACTIVE"
    assert pt["service_name_hi"] == "संपत्ति कर"
    assert pt["bill_number"].startswith("BILL-DDN-")

    rahul = (await client.get("/api/v1/bills", headers=auth.service(RAHUL))).json()
    assert [b["status"] for b in rahul] == ["ACTIVE", "PAID"]  # unpaid first
    assert rahul[1]["paid_at"] is not None and rahul[1]["total"] == "3140.00"
    assert not {b["bill_number"] for b in rahul} & {b["bill_number"] for b in bills}

    # Another citizen's linked bill is neither listed nor readable, even by number.
    response = await client.get(f"/api/v1/bills/{pt['bill_number']}",
                                headers=auth.service(RAHUL))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "bill_not_found"
    own = await client.get(f"/api/v1/bills/{pt['bill_number'].lower()}",
                           headers=auth.service(SUNITA))
    assert own.status_code == 200 and own.json()["owner_phone"] == SUNITA

    # A new number with no bills gets an empty list; the bare service credential is refused.
    assert (await client.get("/api/v1/bills", headers=auth.service("+919812345678"))).json() == []
    bare = await client.get("/api/v1/bills", headers=auth.service())
    assert bare.status_code == 403
    # Citizens cannot search a tenant.
    response = await client.get("/api/v1/bills", params={"tenant": "uk.dehradun"},
                                headers=auth.service(SUNITA))
    assert response.status_code == 403 and response.json()["error"]["code"] == "staff_only"


async def test_lookup_by_consumer_number_is_exact_and_masked(client, auth):
    params = {"consumer_number": " ws-ddn-10234"}  # any ULB; spacing and case do not matter
    response = await client.get("/api/v1/bills/search", params=params,
                                headers=auth.service(RAHUL))
    assert response.status_code == 200, response.text
    [found] = response.json()
    assert found["owner_name"] == "M**** L**** S****"
    assert found["owner_phone"] is None and found["masked"] is True
    assert found["total"] == "1018.00" and found["consumer_number"] == "WS-DDN-10234"

    # Prefixes, other tenants and other services find nothing.
    for other in ({"consumer_number": "WS-DDN-1023", "tenant": "uk.dehradun"},
                  {"consumer_number": "WS-DDN-10234", "tenant": "uk.haridwar"},
                  {"consumer_number": "WS-DDN-10234", "tenant": "uk.dehradun", "service": "PT"}):
        response = await client.get("/api/v1/bills/search", params=other,
                                    headers=auth.service(RAHUL))
        assert response.json() == [], other

    # Reading it by number works only together with its consumer number, and stays masked.
    number = found["bill_number"]
    bare = await client.get(f"/api/v1/bills/{number}", headers=auth.service(RAHUL))
    assert bare.status_code == 404
    masked = await client.get(f"/api/v1/bills/{number}",
                              params={"consumer_number": "WS-DDN-10234"},
                              headers=auth.service(RAHUL))
    assert masked.status_code == 200
    assert masked.json()["owner_name"] == "M**** L**** S****"
    assert masked.json()["owner_phone"] is None

    # The owner searching their own number sees it in full.
    own = await client.get("/api/v1/bills/search",
                           params={"consumer_number": "PT-DDN-20451", "tenant": "uk.dehradun"},
                           headers=auth.service(SUNITA))
    assert own.json()[0]["owner_name"] == "सुनीता देवी" and own.json()[0]["masked"] is False

    # Lookups are bounded per caller, so numbers cannot be walked.
    walker = auth.service("+919812345678")
    statuses = []
    for n in range(21):
        response = await client.get(
            "/api/v1/bills/search",
            params={"consumer_number": f"WS-DDN-{20000 + n}", "tenant": "uk.dehradun"},
            headers=walker)
        statuses.append(response.status_code)
    assert statuses[:20] == [200] * 20 and statuses[20] == 429
    assert response.json()["error"]["code"] == "too_many_lookups"


async def test_staff_search_within_their_tenant_only(client, auth, session):
    gro = await auth.staff("gro.dehradun")
    response = await client.get("/api/v1/bills", headers=gro,
                                params={"tenant": "uk.dehradun", "service": "WS"})
    assert response.status_code == 200
    consumers = {b["consumer_number"] for b in response.json()}
    assert consumers == {"WS-DDN-10219", "WS-DDN-10477", "WS-DDN-10234"}
    assert all(b["masked"] is False for b in response.json())
    paid = await client.get("/api/v1/bills", headers=gro,
                            params={"tenant": "uk.dehradun", "status": "PAID"})
    assert [b["consumer_number"] for b in paid.json()] == ["PT-DDN-31877"]
    by_number = await client.get("/api/v1/bills", headers=gro, params={
        "tenant": "uk.dehradun", "consumer_number": "tl-ddn-0871"})
    [licence] = by_number.json()
    assert licence["owner_name"] == "Deepak Sharma" and licence["total"] == "2850.00"

    # The state admin covers every ULB.
    admin = await auth.staff("admin")
    everything = await client.get("/api/v1/bills", headers=admin, params={"tenant": "uk"})
    assert {"uk.dehradun", "uk.haridwar"} <= {b["tenant"] for b in everything.json()}

    # Haridwar staff can neither search nor read Dehradun bills.
    haridwar = await auth.staff(await _haridwar_gro(session))
    refused = await client.get("/api/v1/bills", headers=haridwar,
                               params={"tenant": "uk.dehradun"})
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "tenant_forbidden"
    hidden = await client.get(f"/api/v1/bills/{licence['bill_number']}", headers=haridwar)
    assert hidden.status_code == 404
    own = await client.get("/api/v1/bills", headers=haridwar, params={"tenant": "uk.haridwar"})
    assert [b["consumer_number"] for b in own.json()] == ["WS-HDW-20877"]
    seen = await client.get(f"/api/v1/bills/{own.json()[0]['bill_number']}", headers=haridwar)
    assert seen.status_code == 200 and seen.json()["masked"] is False


async def test_create_bill_links_owner_numbers_and_refuses_duplicates(session):
    lines = [("BND_FEE", "Certificate copy fee", "प्रमाण पत्र प्रति शुल्क", Decimal("50.00")),
             ("BND_POST", "Late registration fee", "विलंब पंजीकरण शुल्क", Decimal("10.00"))]
    kwargs = dict(
        tenant_code="uk.dehradun", service="BND_CERT_FEE", consumer_number="cr-ddn-2026-000042",
        owner_user_id=None, owner_name="Rahul Verma", owner_phone="98765 00002",
        period_from=date(2026, 11, 23), period_to=date(2026, 11, 23),
        due_date=date(2026, 12, 23), lines=lines,
    )
    first = await create_bill(session, **kwargs)
    second = await create_bill(session, **{**kwargs, "consumer_number": "CR-DDN-2026-000043"})
    rahul = await session.scalar(select(User).where(User.phone == RAHUL))
    assert first.owner_user_id == rahul.id and first.owner_phone == RAHUL
    assert first.consumer_number == "CR-DDN-2026-000042"
    assert first.total == Decimal("60.00") and first.status == "ACTIVE"
    assert [line.amount for line in first.lines] == [Decimal("50.00"), Decimal("10.00")]
    prefix, year, serial = first.bill_number.rsplit("-", 2)
    assert prefix == "BILL-DDN" and len(serial) == 6
    assert second.bill_number == f"{prefix}-{year}-{int(serial) + 1:06d}"

    with pytest.raises(Conflict) as refused:
        await create_bill(session, **kwargs)
    assert refused.value.code == "bill_exists"
    assert refused.value.details == {"bill_number": first.bill_number}


async def test_demo_seed_is_idempotent(session):
    before = await session.scalar(select(func.count()).select_from(Bill))
    counters = {(s.kind, s.tenant_code, s.year): s.last_value
                for s in await session.scalars(select(BillingSequence))}
    report = await seed_demo(session, demo_password="samvad-demo")
    await session.commit()
    assert await session.scalar(select(func.count()).select_from(Bill)) == before >= 8
    assert report.counts.get("payments") is None  # the demo payment exists already
    after = {(s.kind, s.tenant_code, s.year): s.last_value
             for s in await session.scalars(select(BillingSequence))}
    assert after == counters
