"""Employees: admins create, change and disable them within their tenants; others look only."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select

from core_api.auth import tokens
from core_api.users.models import User, UserRole

EMPLOYEES = "/api/v1/employees"
TOKEN_URL = "/api/v1/auth/token"


@pytest.fixture(autouse=True)
def cheap_new_passwords(monkeypatch):
    """New employees' passwords are hashed with light argon2 settings (speed only)."""
    monkeypatch.setattr(tokens, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024,
                                                           parallelism=1))


def new_lme(**changes) -> dict:
    body = {
        "phone": "98765 20002", "name": "Suresh Thapa", "username": "lme.roads.dehradun",
        "password": "roads-password-1", "tenant_code": "uk.dehradun",
        "department": "DEPT_ROADS", "locale": "hi_IN",
        "roles": [{"role": "LME", "tenant": "uk.dehradun"}],
    }
    body.update(changes)
    return body


def error_code(response) -> str:
    return response.json()["error"]["code"]


async def login(client, username: str, password: str):
    return await client.post(TOKEN_URL, data={"username": username, "password": password})


async def test_admin_creates_an_employee_who_can_log_in(client, auth):
    admin = await auth.staff("admin")
    created = await client.post(EMPLOYEES, headers=admin, json=new_lme())
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["kind"], body["phone"], body["tenant_code"], body["department"]) == (
        "employee", "+919876520002", "uk.dehradun", "DEPT_ROADS")
    assert body["roles"] == [{"role": "LME", "tenant": "uk.dehradun"}]
    assert "password" not in created.text and "argon2" not in created.text

    token = await login(client, "+91 98765 20002", "roads-password-1")
    assert token.status_code == 200
    me = await client.get("/api/v1/auth/me",
                          headers={"Authorization": f"Bearer {token.json()['access_token']}"})
    assert (me.json()["user_id"], me.json()["roles"]) == (
        body["id"], [{"role": "LME", "tenant": "uk.dehradun"}])

    # The GRO finds the new LME when choosing whom to assign.
    lmes = await client.get(EMPLOYEES, headers=await auth.staff("gro.dehradun"),
                            params={"tenant": "uk.dehradun", "role": "LME"})
    assert {u["phone"] for u in lmes.json()} >= {"+919876510002", "+919876510003",
                                                 "+919876520002"}
    assert all({"role": "LME", "tenant": "uk.dehradun"} in u["roles"] for u in lmes.json())
    roads = await client.get(EMPLOYEES, headers=admin,
                             params={"tenant": "uk.dehradun", "department": "DEPT_ROADS"})
    assert [u["id"] for u in roads.json()] == [body["id"]]
    one = await client.get(f"{EMPLOYEES}/{body['id']}", headers=await auth.staff("gro.dehradun"))
    assert (one.status_code, one.json()["name"]) == (200, "Suresh Thapa")


async def test_employee_creation_refusals(client, auth, session):
    admin = await auth.staff("admin")
    employees = select(func.count()).select_from(User).where(User.kind == "employee")
    before = await session.scalar(employees)
    await session.commit()
    cases = [
        (new_lme(phone="+919876510001"), 409, "conflict"),  # the GRO's number
        (new_lme(phone="+919876500001"), 409, "conflict"),  # a citizen's number
        (new_lme(phone="98765 20003", username="gro.dehradun"), 409, "conflict"),
        (new_lme(phone="12345"), 400, "invalid_phone"),
        (new_lme(phone="98765 20003", password="short"), 422, "validation_error"),
        (new_lme(phone="98765 20003", username="Bad Name"), 422, "validation_error"),
        (new_lme(phone="98765 20003", roles=[]), 422, "validation_error"),
        (new_lme(phone="98765 20003", roles=[{"role": "KING", "tenant": "uk.dehradun"}]), 422,
         "validation_error"),
        (new_lme(phone="98765 20003", locale="fr_FR"), 422, "validation_error"),
        (new_lme(phone="98765 20003", tenant_code="uk.atlantis",
                 roles=[{"role": "LME", "tenant": "uk.atlantis"}]), 400, "unknown_tenant"),
        (new_lme(phone="98765 20003", roles=[{"role": "LME", "tenant": "uk.nowhere"}]), 400,
         "unknown_tenant"),
    ]
    for body, status, code in cases:
        response = await client.post(EMPLOYEES, headers=admin, json=body)
        assert (response.status_code, error_code(response)) == (status, code), (body, response.text)
    assert await session.scalar(employees) == before


async def test_admin_changes_roles_and_deactivates(client, auth, session):
    admin = await auth.staff("admin")
    lme_id = await session.scalar(select(User.id).where(User.phone == "+919876510003"))
    await session.commit()
    lme_headers = await auth.staff("lme.sanitation.dehradun")
    url = f"{EMPLOYEES}/{lme_id}"

    moved = await client.patch(url, headers=admin, json={"department": "DEPT_DRAINS"})
    assert (moved.status_code, moved.json()["department"]) == (200, "DEPT_DRAINS")

    # Re-sending the grants the employee already holds changes nothing (and does not fail).
    same = await client.patch(url, headers=admin,
                              json={"roles": [{"role": "LME", "tenant": "uk.dehradun"}]})
    assert same.status_code == 200, same.text
    assert same.json()["roles"] == [{"role": "LME", "tenant": "uk.dehradun"}]

    more = await client.patch(url, headers=admin, json={"roles": [
        {"role": "LME", "tenant": "uk.dehradun"}, {"role": "CSR", "tenant": "uk.dehradun"}]})
    assert sorted((g["role"], g["tenant"]) for g in more.json()["roles"]) == [
        ("CSR", "uk.dehradun"), ("LME", "uk.dehradun")]
    me = await client.get("/api/v1/auth/me", headers=lme_headers)
    assert {g["role"] for g in me.json()["roles"]} == {"LME", "CSR"}

    fewer = await client.patch(url, headers=admin,
                               json={"roles": [{"role": "CSR", "tenant": "uk.dehradun"}]})
    assert fewer.json()["roles"] == [{"role": "CSR", "tenant": "uk.dehradun"}]
    grants = await session.scalars(select(UserRole).where(UserRole.user_id == lme_id))
    assert [(g.role, g.tenant_code) for g in grants] == [("CSR", "uk.dehradun")]
    await session.commit()

    nowhere = await client.patch(url, headers=admin,
                                 json={"roles": [{"role": "LME", "tenant": "uk.nowhere"}]})
    assert (nowhere.status_code, error_code(nowhere)) == (400, "unknown_tenant")

    off = await client.patch(url, headers=admin, json={"active": False})
    assert (off.status_code, off.json()["active"]) == (200, False)
    assert (await login(client, "lme.sanitation.dehradun", "samvad-demo")).status_code == 401
    assert (await client.get("/api/v1/auth/me", headers=lme_headers)).status_code == 403
    gro = await auth.staff("gro.dehradun")
    active = await client.get(EMPLOYEES, headers=gro, params={"tenant": "uk.dehradun"})
    assert lme_id not in {u["id"] for u in active.json()}
    inactive = await client.get(EMPLOYEES, headers=gro,
                                params={"tenant": "uk.dehradun", "active": False})
    assert [u["id"] for u in inactive.json()] == [lme_id]

    back = await client.patch(url, headers=admin, json={"active": True})
    assert back.json()["active"] is True
    assert (await login(client, "lme.sanitation.dehradun", "samvad-demo")).status_code == 200

    missing = await client.patch(f"{EMPLOYEES}/987654", headers=admin, json={"active": False})
    assert missing.status_code == 404
    citizen_id = await session.scalar(select(User.id).where(User.phone == "+919876500001"))
    not_staff = await client.patch(f"{EMPLOYEES}/{citizen_id}", headers=admin,
                                   json={"active": False})
    assert not_staff.status_code == 404


async def test_staff_change_their_own_language(client, auth):
    headers = await auth.staff("registrar.dehradun")
    response = await client.patch("/api/v1/users/me/locale", headers=headers,
                                  params={"locale": "or_IN"})
    assert (response.status_code, response.json()["locale"]) == (200, "or_IN")
    wrong = await client.patch("/api/v1/users/me/locale", headers=headers,
                               params={"locale": "xx_IN"})
    assert wrong.status_code == 422
    citizen = await client.patch("/api/v1/users/me/locale",
                                 headers=auth.service("+919876500001"), params={"locale": "hi_IN"})
    assert citizen.status_code == 403
