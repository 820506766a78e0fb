"""Bearer tokens: every forged, expired or misused token is refused; the bot acts for numbers."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import jwt
import pytest
from sqlalchemy import select

from core_api.auth.tokens import ACCESS, SERVICE, issue_token, read_token, service_token
from core_api.errors import Unauthorized
from core_api.users.models import User

ME = "/api/v1/auth/me"
SECRET = "test-secret-key-that-is-long-enough-0123456789"  # the `settings` fixture's key


def _b64(data: dict) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _flip_signature(token: str) -> str:
    head, payload, signature = token.split(".")
    middle = len(signature) // 2  # not the last character: its low bits may be padding
    flipped = "A" if signature[middle] != "A" else "B"
    return f"{head}.{payload}.{signature[:middle]}{flipped}{signature[middle + 1:]}"


def _forged_tokens(gro_id: int, citizen_id: int) -> dict[str, tuple[str, str]]:
    """name -> (token, expected error code)."""
    good = issue_token(SECRET, str(gro_id), ACCESS, timedelta(minutes=5))
    head, _payload, signature = good.split(".")
    claims = jwt.decode(good, SECRET, algorithms=["HS256"], issuer="samvad")
    promoted = {**claims, "sub": "1"}  # change the payload, keep the old signature
    return {
        "signature flipped": (_flip_signature(good), "invalid_token"),
        "payload changed, old signature": (f"{head}.{_b64(promoted)}.{signature}",
                                           "invalid_token"),
        "signed with another key": (
            issue_token("another-secret-key-that-is-long-enough-012345", str(gro_id), ACCESS,
                        timedelta(minutes=5)), "invalid_token"),
        "expired": (issue_token(SECRET, str(gro_id), ACCESS, timedelta(seconds=-30)),
                    "token_expired"),
        "alg none": (jwt.encode({**claims}, None, algorithm="none"), "invalid_token"),
        "alg none, hand made": (
            f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}.", "invalid_token"),
        "HS512 with the right key": (jwt.encode(claims, SECRET, algorithm="HS512"),
                                     "invalid_token"),
        "unknown token type": (issue_token(SECRET, str(gro_id), "refresh",
                                           timedelta(minutes=5)), "invalid_token"),
        "wrong issuer": (jwt.encode({**claims, "iss": "someone-else"}, SECRET,
                                    algorithm="HS256"), "invalid_token"),
        "no expiry": (jwt.encode({k: v for k, v in claims.items() if k != "exp"}, SECRET,
                                 algorithm="HS256"), "invalid_token"),
        "no type": (jwt.encode({k: v for k, v in claims.items() if k != "typ"}, SECRET,
                               algorithm="HS256"), "invalid_token"),
        "subject not a number": (issue_token(SECRET, "gro.dehradun", ACCESS,
                                             timedelta(minutes=5)), "invalid_token"),
        "user that does not exist": (issue_token(SECRET, "987654", ACCESS,
                                                 timedelta(minutes=5)), "invalid_token"),
        "access token for a citizen": (issue_token(SECRET, str(citizen_id), ACCESS,
                                                   timedelta(minutes=5)), "invalid_token"),
        "expired service token": (issue_token(SECRET, "service:bot", SERVICE,
                                              timedelta(seconds=-1)), "token_expired"),
        "not a jwt": ("not-a-token", "invalid_token"),
    }


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
async def test_forged_expired_and_misused_tokens_are_401(client, session):
    gro_id = await session.scalar(select(User.id).where(User.username == "gro.dehradun"))
    citizen_id = await session.scalar(select(User.id).where(User.phone == "+919876500001"))
    good = issue_token(SECRET, str(gro_id), ACCESS, timedelta(minutes=5))
    assert (await client.get(ME, headers={"Authorization": f"Bearer {good}"})).status_code == 200

    failures = {}
    for name, (token, code) in _forged_tokens(gro_id, citizen_id).items():
        response = await client.get(ME, headers={"Authorization": f"Bearer {token}"})
        body = response.json()
        if response.status_code != 401 or body["error"]["code"] != code:
            failures[name] = (response.status_code, body)
    assert failures == {}


def test_read_token_checks_signature_expiry_and_algorithm():
    token = issue_token(SECRET, "7", ACCESS, timedelta(minutes=1), extra="x")
    claims = read_token(SECRET, token)
    assert (claims["sub"], claims["typ"], claims["iss"], claims["extra"]) == (
        "7", "access", "samvad", "x")
    with pytest.raises(Unauthorized) as expired:
        read_token(SECRET, issue_token(SECRET, "7", ACCESS, timedelta(minutes=-1)))
    assert expired.value.code == "token_expired"
    with pytest.raises(Unauthorized) as unsigned:
        read_token(SECRET, jwt.encode({**claims}, None, algorithm="none"))
    assert unsigned.value.code == "invalid_token"
    assert read_token(SECRET, service_token(SECRET))["typ"] == SERVICE


ON_BEHALF = [
    # number as the channel gives it -> (kind, has a user id, E.164, roles)
    ("+919876500001", "citizen", True, "+919876500001", set()),
    ("whatsapp:+91 98765 00002", "citizen", True, "+919876500002", set()),
    ("9876510002", "employee", True, "+919876510002", {("LME", "uk.dehradun")}),
    ("+91 98765 19999", "employee", True, "+919876519999", {("ADMIN", "uk")}),
    ("+919812345678", "citizen", False, "+919812345678", set()),  # never seen before
]
BAD_NUMBERS = ["12345", "not a number", "", "+1 555 0100", "98765 0000", "+91 98765"]


async def test_service_token_acts_for_the_owner_of_the_number(client, auth):
    for number, kind, has_user, phone, roles in ON_BEHALF:
        response = await client.get(ME, headers=auth.service(number))
        assert response.status_code == 200, response.text
        me = response.json()
        assert (me["kind"], me["user_id"] is not None, me["phone"]) == (kind, has_user, phone)
        assert {(g["role"], g["tenant"]) for g in me["roles"]} == roles

    me = (await client.get(ME, headers=auth.service())).json()
    assert (me["kind"], me["user_id"], me["phone"], me["roles"]) == ("service", None, None, [])

    for number in BAD_NUMBERS:
        response = await client.get(ME, headers=auth.service(number))
        assert response.status_code == 400, number
        assert response.json()["error"]["code"] == "invalid_phone"

    headers = {**await auth.staff("gro.dehradun"), "X-On-Behalf-Of": "+919876500001"}
    response = await client.get(ME, headers=headers)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


async def test_disabled_accounts_lose_access_at_once(client, auth, session):
    staff_headers = await auth.staff("lme.electrical.dehradun")
    for user in await session.scalars(
        select(User).where(User.phone.in_(["+919876510002", "+919876500002"]))
    ):
        user.active = False
    await session.commit()
    for headers in (staff_headers, auth.service("+919876510002"), auth.service("+919876500002")):
        response = await client.get(ME, headers=headers)
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "account_disabled"
