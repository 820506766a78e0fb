"""The public /verify/{code} page and the race-safe request numbers."""

from __future__ import annotations

import asyncio
import re

from sqlalchemy import update

from core_api.certificates.numbering import next_value
from core_api.certificates.verification import code_id, make_code
from core_api.tenants.models import Tenant

REQUESTS = "/api/v1/certificate-requests"


def test_codes_are_bound_to_the_certificate_and_the_secret():
    code = make_code("secret", 42, "BC-DDN-2026-000042")
    assert re.fullmatch(r"[A-Z2-7]{24}", code) and code_id(code) == 42
    assert code != make_code("secret", 42, "BC-DDN-2026-000043")
    assert code != make_code("other secret", 42, "BC-DDN-2026-000042")
    assert code_id("not-a-code") is None and code_id("!" * 24) is None


async def test_verify_page_genuine_tampered_and_escaped(client, auth, session, bnd):
    record = await bnd.recent_registration(
        name_en="<script>alert(1)</script> Rawat", name_hi="ईशान रावत")
    await session.execute(update(Tenant).where(Tenant.code == "uk.dehradun")
                          .values(name_en="Dehradun <b>Municipal</b> Corporation"))
    await session.commit()
    created = await client.post(REQUESTS, headers=auth.service("+919876500002"), json={
        "registration_number": record.registration_number, "relation": "parent"})
    assert created.status_code == 201, created.text
    registrar = await auth.staff("registrar.dehradun")
    issued = await bnd.act(registrar, created.json()["request_number"], "APPROVE")
    assert issued.status_code == 200, issued.text
    verify_path = bnd.path(issued.json()["verify_url"])
    code = verify_path.rsplit("/", 1)[1]

    page = await client.get(verify_path)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    html = page.text
    for expected in ("Genuine", "असली प्रमाण पत्र", issued.json()["certificate_number"],
                     "Birth certificate / जन्म प्रमाण पत्र", "ई*** र***",
                     "Dehradun &lt;b&gt;Municipal&lt;/b&gt; Corporation"):
        assert expected in html, expected
    # The name is masked and escaped: no markup of the record reaches the page.
    assert "&lt;******" in html and "<*" not in html and "<script" not in html
    assert "<b>" not in html and "alert" not in html
    assert re.search(r"\d{1,2} \w{3} 20\d\d", html)  # event and issue dates

    tampered = code[:-1] + ("A" if code[-1] != "A" else "B")
    for bad in (tampered, "AAAAAAAAAAAAAAAAAAAAAAAA", "x", "<script>"):
        response = await client.get(f"/verify/{bad}")
        assert response.status_code == 404, bad
        assert "Not genuine / not found" in response.text
        assert "<script>" not in response.text
    assert (await client.get(verify_path.lower())).status_code == 200  # case does not matter


async def test_numbers_are_unique_under_concurrency(database):
    async def take() -> int:
        async with database.sessions() as session:
            value = await next_value(session, "CR:uk.dehradun:2026")
            await session.commit()
            return value

    values = await asyncio.gather(*(take() for _ in range(6)))
    assert sorted(values) == [1, 2, 3, 4, 5, 6]
