"""Short links (/r/<code>): the service-only API, what each kind opens, reuse, expiry,
the URL length an SMS can afford, and the public complaint page that names no one."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlsplit

from sqlalchemy import select, update

from core_api.db import utcnow
from core_api.links import pages
from core_api.links.models import ShortLink
from core_api.links.service import CODE_PATTERN, EXPIRED_KEPT, new_code, short_url
from core_api.payments.models import PaymentIntent
from core_api.users.models import User
from tests.core_api.registrations import recent_birth

LINKS = "/api/v1/short-links"
SUNITA, RAHUL = "+919876500001", "+919876500002"
RAJPUR_PIN = {"lat": 30.3781, "lng": 78.0892}


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


async def _shorten(client, headers, kind: str, ref: str):
    return await client.post(LINKS, headers=headers, json={"kind": kind, "ref": ref})


async def _file_complaint(client, auth, **body) -> str:
    body = {"type_code": "StreetLightNotWorking", **RAJPUR_PIN, **body}
    filed = await client.post("/api/v1/complaints", json=body, headers=auth.service(SUNITA))
    assert filed.status_code == 201, filed.text
    return filed.json()["id"]


async def _bill(client, auth, phone: str, service: str) -> dict:
    bills = (await client.get("/api/v1/bills", headers=auth.service(phone))).json()
    return next(b for b in bills if b["service"] == service and b["status"] == "ACTIVE")


async def _pay(client, pay_path: str) -> None:
    """Pay through the sandbox page, as a citizen would."""
    html = (await client.get(pay_path)).text
    form = {name: re.search(rf'name="{name}" value="([^"]+)"', html).group(1)
            for name in ("exp", "sig")}
    paid = await client.post(f"{pay_path}/sandbox", data={**form, "outcome": "success"})
    assert paid.status_code == 303, paid.text


def test_a_short_url_fits_an_sms_with_a_typical_public_url() -> None:
    codes = {new_code() for _ in range(200)}
    assert len(codes) == 200  # random, no repeats in a small sample
    for code in codes:
        assert CODE_PATTERN.fullmatch(code)
        assert not set(code) & set("0O1lIo")  # nothing to misread
        url = short_url("https://samvad.ddn.gov.in/", code)
        assert url == f"https://samvad.ddn.gov.in/r/{code}" and len(url) < 35


async def test_only_the_service_asks_and_only_for_the_persons_own_case(client, auth, settings):
    number = await _file_complaint(client, auth)

    assert (await client.post(LINKS, json={"kind": "complaint", "ref": number})).status_code == 401
    gro = await auth.staff("gro.dehradun")  # a logged-in person's token is not the service
    refused = await _shorten(client, gro, "complaint", number)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "service_only"

    someone_else = await _shorten(client, auth.service(RAHUL), "complaint", number)
    assert someone_else.status_code == 404
    unknown = await _shorten(client, auth.service(SUNITA), "complaint", "PG-UK-DDN-2026-999999")
    assert unknown.status_code == 404
    for kind, ref in (("receipt", "RCPT-DDN-2026-999999"), ("certificate", "CR-DDN-2026-999999"),
                      ("payment", "BILL-DDN-2026-999999")):
        assert (await _shorten(client, auth.service(SUNITA), kind, ref)).status_code == 404
    bad_kind = await _shorten(client, auth.service(SUNITA), "website", "https://evil.example")
    assert bad_kind.status_code == 422

    made = await _shorten(client, auth.service(SUNITA), "complaint", number.lower())
    assert made.status_code == 201, made.text
    link = made.json()
    assert link["url"] == f"{settings.public_url}/r/{link['code']}"
    assert link["kind"] == "complaint" and CODE_PATTERN.fullmatch(link["code"])

    # The same case again (the citizen, or the notifier without a number): the same link.
    again = await _shorten(client, auth.service(SUNITA), "complaint", number)
    assert again.status_code == 200 and again.json() == link
    notifier = await _shorten(client, auth.service(), "complaint", number)
    assert notifier.status_code == 200 and notifier.json()["code"] == link["code"]


async def test_complaint_status_page_shows_progress_and_no_personal_data(client, auth, session):
    number = await _file_complaint(
        client, auth, description="Pole 14 dark; call me on 98765 43210, Sunita",
        address="House 12, Lane 3, Rajpur Road")
    gro = await auth.staff("gro.dehradun")
    lme = await auth.staff("lme.electrical.dehradun")
    assignee = await session.scalar(select(User.id).where(
        User.username == "lme.electrical.dehradun"))
    assigned = await client.post(f"/api/v1/complaints/{number}/actions", headers=gro, json={
        "action": "ASSIGN", "assignee_id": assignee, "comment": "Ramesh, the pole by the temple"})
    assert assigned.status_code == 200, assigned.text
    resolved = await client.post(f"/api/v1/complaints/{number}/actions", headers=lme, json={
        "action": "RESOLVE", "comment": "Bulb replaced; told सुनीता देवी on 9876543210"})
    assert resolved.status_code == 200, resolved.text

    code = (await _shorten(client, auth.service(SUNITA), "complaint", number)).json()["code"]
    page = await client.get(f"/r/{code}")
    assert page.status_code == 200
    html = page.text
    for shown in (number, "Streetlight not working", "Resolved", "हल हो गई",
                  "Bulb replaced; told [name] on [phone]", "Dehradun"):
        assert shown in html, shown
    for hidden in ("सुनीता", "Sunita", "98765", "9876543210", SUNITA, "Pole 14", "House 12",
                   "Rajpur Road", "Ramesh, the pole", "Ramesh Negi"):
        assert hidden not in html, hidden
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"


async def test_payment_link_opens_the_pay_page_with_the_upi_intent(client, auth):
    bill = await _bill(client, auth, SUNITA, "PT")
    refused = await _shorten(client, auth.service(RAHUL), "payment", bill["bill_number"])
    assert refused.status_code == 404  # not Rahul's bill, and he opened no payment for it

    made = await _shorten(client, auth.service(SUNITA), "payment", bill["bill_number"])
    assert made.status_code == 201, made.text
    opened = await client.get(_path(made.json()["url"]))
    assert opened.status_code == 303
    location = opened.headers["location"]
    assert re.fullmatch(r"/pay/[\w-]+\?choose=1", location)
    page = await client.get(location)
    assert page.status_code == 200
    assert 'href="upi://pay?pa=samvad.demo@sandbox&amp;' in page.text
    assert "am=4850.00" in page.text and "Pay with a UPI app" in page.text
    assert "Pay (success)" in page.text  # the gateway (here the sandbox) is offered too

    # The pay API hands out the same open intent: one payment per bill, whichever way.
    intent = await client.post(f"/api/v1/bills/{bill['bill_number']}/payment-intents",
                               headers=auth.service(SUNITA))
    assert intent.status_code == 200
    token = intent.json()["payment_url"].rsplit("/", 1)[1]
    assert location == f"/pay/{token}?choose=1"

    # Rahul may pay Sunita's bill by naming its consumer number; its open intent stays
    # hers, so a link to it is not his to ask for.
    payer = await _shorten(client, auth.service(RAHUL), "payment", bill["bill_number"])
    assert payer.status_code == 404

    # Her water bill, whose payment Rahul opens first: he may link the intent he opened.
    water = await _bill(client, auth, SUNITA, "WS")
    opened_by_rahul = await client.post(
        f"/api/v1/bills/{water['bill_number']}/payment-intents", headers=auth.service(RAHUL),
        json={"consumer_number": water["consumer_number"]})
    assert opened_by_rahul.status_code == 201, opened_by_rahul.text
    his = await _shorten(client, auth.service(RAHUL), "payment", water["bill_number"])
    assert his.status_code == 201, his.text
    his_page = await client.get(_path(his.json()["url"]))
    assert his_page.headers["location"] == (
        _path(opened_by_rahul.json()["payment_url"]) + "?choose=1")

    await _pay(client, f"/pay/{token}")
    paid = await _shorten(client, auth.service(SUNITA), "payment", bill["bill_number"])
    assert paid.status_code == 409 and paid.json()["error"]["code"] == "bill_paid"


async def test_receipt_and_certificate_links_open_freshly_signed_pdfs(client, auth, session):
    bill = await _bill(client, auth, SUNITA, "WS")
    intent = (await client.post(f"/api/v1/bills/{bill['bill_number']}/payment-intents",
                                headers=auth.service(SUNITA))).json()
    await _pay(client, _path(intent["payment_url"]))
    receipts = (await client.get("/api/v1/receipts", headers=auth.service(SUNITA))).json()
    receipt = next(r for r in receipts if r["bill_number"] == bill["bill_number"])
    number = receipt["receipt_number"]

    assert (await _shorten(client, auth.service(RAHUL), "receipt", number)).status_code == 404
    link = (await _shorten(client, auth.service(SUNITA), "receipt", number)).json()
    opened = await client.get(_path(link["url"]))
    assert opened.status_code == 303
    assert re.fullmatch(r"/files/receipts/[^?]+\.pdf\?exp=\d+&sig=[0-9a-f]{32}",
                        opened.headers["location"])
    pdf = await client.get(opened.headers["location"])
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")

    record = await recent_birth(session, "B-DDN-2026-00777")
    created = await client.post("/api/v1/certificate-requests", headers=auth.service(SUNITA),
                                json={"registration_number": record, "relation": "parent"})
    request_number = created.json()["request_number"]
    early = await _shorten(client, auth.service(SUNITA), "certificate", request_number)
    assert early.status_code == 404
    assert early.json()["error"]["code"] == "certificate_not_issued"
    registrar = await auth.staff("registrar.dehradun")
    approved = await client.post(f"/api/v1/certificate-requests/{request_number}/actions",
                                 headers=registrar, json={"action": "APPROVE"})
    assert approved.status_code == 200, approved.text
    assert (await _shorten(client, auth.service(RAHUL), "certificate",
                           request_number)).status_code == 404
    certificate = (await _shorten(client, auth.service(SUNITA), "certificate",
                                  request_number)).json()
    opened = await client.get(_path(certificate["url"]))
    assert opened.status_code == 303
    assert opened.headers["location"].startswith("/files/certificates/")
    pdf = await client.get(opened.headers["location"])
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")


async def test_expired_unknown_and_walked_codes(client, auth, session, app, monkeypatch):
    app.state.settings.short_link_days = 7
    number = await _file_complaint(client, auth)
    first = (await _shorten(client, auth.service(SUNITA), "complaint", number)).json()
    code = first["code"]
    stored = await session.get(ShortLink, code)
    assert stored.expires_at - stored.created_at == timedelta(days=7)  # SAMVAD_SHORT_LINK_DAYS

    # Expired: 410 and a page in every language; asking again makes a new link.
    await session.execute(update(ShortLink).where(ShortLink.code == code)
                          .values(expires_at=utcnow() - timedelta(minutes=1)))
    await session.commit()
    gone = await client.get(f"/r/{code}")
    assert gone.status_code == 410
    for words in ("expired", "समाप्त", "ਮਿਆਦ", "ସମୟସୀମା"):
        assert words in gone.text
    assert number not in gone.text
    fresh = await _shorten(client, auth.service(SUNITA), "complaint", number)
    assert fresh.status_code == 201 and fresh.json()["code"] != code

    # Long expired: purged when the next link is made, then a plain 404.
    await session.execute(update(ShortLink).where(ShortLink.code == code)
                          .values(expires_at=utcnow() - EXPIRED_KEPT - timedelta(days=1)))
    await session.commit()
    await _shorten(client, auth.service(SUNITA), "complaint", await _file_complaint(client, auth))
    session.expire_all()
    assert await session.get(ShortLink, code) is None
    assert (await client.get(f"/r/{code}")).status_code == 404

    # Unknown and malformed codes: the same plain 404; an address that keeps missing is
    # stopped for the hour, even for a good code.
    monkeypatch.setattr(pages, "MISSES_PER_HOUR", 4)  # the purged code above missed once
    for bad in ("zzzzzz", "O0O0O0", "a" * 300):
        missed = await client.get(f"/r/{bad}")
        assert missed.status_code == 404 and "not valid" in missed.text
    assert (await client.get(f"/r/{fresh.json()['code']}")).status_code == 429


async def test_a_gateway_payment_page_offers_the_upi_app_and_the_gateway(client, auth, session):
    bill = await _bill(client, auth, SUNITA, "PT")
    link = (await _shorten(client, auth.service(SUNITA), "payment", bill["bill_number"])).json()
    location = (await client.get(_path(link["url"]))).headers["location"]
    token = location.removeprefix("/pay/").partition("?")[0]
    # As a Razorpay intent looks (the gateway's hosted page made when it opened).
    await session.execute(update(PaymentIntent).where(PaymentIntent.token == token).values(
        gateway="razorpay", gateway_url="https://rzp.io/rzp/Hx7q2Lm"))
    await session.commit()

    chat_link = await client.get(f"/pay/{token}")  # WhatsApp's link: straight to the gateway
    assert chat_link.status_code == 303
    assert chat_link.headers["location"] == "https://rzp.io/rzp/Hx7q2Lm"
    page = await client.get(location)  # the SMS short link: both, side by side
    assert page.status_code == 200
    assert 'class="button pay" href="upi://pay?pa=samvad.demo@sandbox&amp;' in page.text
    assert 'class="button alt" href="https://rzp.io/rzp/Hx7q2Lm"' in page.text
    assert "Pay (success)" not in page.text  # no sandbox buttons on a gateway intent
