"""Staff login: by username or by any spelling of the phone number; failures say nothing more.

DB tests loop over their tables (each DB test costs a fresh database on two backends).
"""

from __future__ import annotations

from sqlalchemy import select

from core_api.users.models import User

TOKEN_URL = "/api/v1/auth/token"

LOGIN_SPELLINGS = ["gro.dehradun", "  gro.dehradun ", "9876510001", "+91 98765 10001",
                   "+919876510001", "09876510001", "+91-98765-10001"]

BAD_LOGINS = [
    ("gro.dehradun", "wrong-password"),
    ("gro.dehradun", "samvad-demo "),
    ("nobody.dehradun", "samvad-demo"),
    ("+919876519998", "samvad-demo"),  # a valid number nobody has
    ("+919876500001", "samvad-demo"),  # a citizen: citizens have no password
    ("Rahul Verma", "samvad-demo"),
    ("GRO.DEHRADUN", "samvad-demo"),  # usernames are exact
    ("12345", "samvad-demo"),  # neither a phone number nor a username
]


def assert_envelope(response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]


async def test_staff_logs_in_by_username_or_any_phone_spelling(client):
    for login_name in LOGIN_SPELLINGS:
        response = await client.post(TOKEN_URL, data={"username": login_name,
                                                      "password": "samvad-demo"})
        assert response.status_code == 200, (login_name, response.text)
        body = response.json()
        assert body["token_type"] == "bearer"
        assert body["expires_in"] == 12 * 60 * 60

        me = await client.get("/api/v1/auth/me",
                              headers={"Authorization": f"Bearer {body['access_token']}"})
        assert me.status_code == 200
        assert (me.json()["kind"], me.json()["phone"], me.json()["name"]) == (
            "employee", "+919876510001", "Meena Rawat")
        assert {(g["role"], g["tenant"]) for g in me.json()["roles"]} == {
            ("GRO", "uk.dehradun"), ("CSR", "uk.dehradun")}


async def test_login_failures_are_401_with_the_envelope(client):
    for login_name, password in BAD_LOGINS:
        response = await client.post(TOKEN_URL, data={"username": login_name,
                                                      "password": password})
        assert_envelope(response, 401, "bad_credentials")
        assert "access_token" not in response.text
    # A missing password is a malformed request, not a failed login.
    response = await client.post(TOKEN_URL, data={"username": "gro.dehradun"})
    assert_envelope(response, 422, "validation_error")


async def test_inactive_employee_cannot_log_in(client, session):
    user = await session.scalar(select(User).where(User.username == "lme.sanitation.dehradun"))
    user.active = False
    await session.commit()
    for login_name in ("lme.sanitation.dehradun", "+919876510003"):
        response = await client.post(TOKEN_URL, data={"username": login_name,
                                                      "password": "samvad-demo"})
        assert_envelope(response, 401, "bad_credentials")
    response = await client.get("/api/v1/auth/me")
    assert_envelope(response, 401, "not_authenticated")
