"""Who may do what on the users, tenants and workflow endpoints, in which tenant.

One row per kind of caller; one column per operation. Each row runs every operation
and compares the status codes with the table: a caller can do what it should and
nothing else.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from core_api.auth import tokens
from core_api.auth.principal import Principal
from core_api.users.models import User
from core_api.workflow import service

OPERATIONS = (
    "me", "tenants", "search", "list_ddn", "list_hdw", "get_lme", "create_ddn", "create_hdw",
    "patch_lme", "citizen_me", "wf_defs", "wf_get", "wf_assign",
)

# caller:           me   ten  srch lsDDN lsHDW getLME crDDN crHDW patch cit  defs get  assign
MATRIX = {
    "anonymous":      (401, 401, 401, 401, 401, 401, 401, 401, 401, 401, 401, 401, 401),
    "service":        (200, 200, 200, 403, 403, 403, 403, 403, 403, 403, 403, 404, 404),
    "citizen":        (200, 200, 200, 403, 403, 403, 403, 403, 403, 200, 403, 200, 403),
    "gro":            (200, 200, 200, 200, 403, 200, 403, 403, 403, 403, 200, 200, 200),
    "lme":            (200, 200, 200, 403, 403, 200, 403, 403, 403, 403, 200, 200, 403),
    "registrar":      (200, 200, 200, 403, 403, 200, 403, 403, 403, 403, 200, 200, 403),
    "admin":          (200, 200, 200, 200, 200, 200, 201, 201, 200, 403, 200, 200, 403),
    "haridwar_admin": (200, 200, 200, 403, 200, 404, 403, 201, 403, 403, 200, 404, 404),
}

HARIDWAR_ADMIN = {
    "phone": "+919876520001", "name": "Haridwar Administrator", "username": "admin.haridwar",
    "password": "haridwar-admin-pw", "tenant_code": "uk.haridwar",
    "roles": [{"role": "ADMIN", "tenant": "uk.haridwar"}],
}


def employee(tenant: str, n: int) -> dict:
    return {"phone": f"+9198765300{n:02d}", "name": f"New LME {n}", "username": f"lme.new{n}",
            "password": "new-lme-password", "tenant_code": tenant,
            "roles": [{"role": "LME", "tenant": tenant}]}


USERNAMES = {"gro": "gro.dehradun", "lme": "lme.electrical.dehradun",
             "registrar": "registrar.dehradun", "admin": "admin",
             "haridwar_admin": "admin.haridwar"}


@pytest.fixture(autouse=True)
def fast_and_engine_only(monkeypatch):
    # Login is tested in test_login.py; here tokens are issued directly and new passwords
    # hashed cheaply, so that the table runs in seconds.
    monkeypatch.setattr(tokens, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024,
                                                           parallelism=1))
    monkeypatch.setattr(service, "_hooks", {})


async def staff_headers(app, session, username: str) -> dict[str, str]:
    user_id = await session.scalar(select(User.id).where(User.username == username))
    assert user_id is not None, username
    token = tokens.issue_token(app.state.settings.secret_key, str(user_id), tokens.ACCESS,
                               timedelta(minutes=10))
    return {"Authorization": f"Bearer {token}"}


async def headers_for(caller: str, auth, app, session) -> dict[str, str]:
    if caller == "anonymous":
        return {}
    if caller == "service":
        return auth.service()
    if caller == "citizen":
        return auth.service("+919876500001")
    return await staff_headers(app, session, USERNAMES[caller])


@pytest.mark.parametrize("caller", list(MATRIX))
async def test_access_matrix(client, auth, app, session, caller):
    if caller == "haridwar_admin":
        # The state admin (ADMIN on `uk`) creates the admin of another ULB through the API.
        created = await client.post("/api/v1/employees",
                                    headers=await staff_headers(app, session, "admin"),
                                    json=HARIDWAR_ADMIN)
        assert created.status_code == 201, created.text

    citizen = await session.scalar(select(User).where(User.phone == "+919876500001"))
    lme_id = await session.scalar(select(User.id).where(User.phone == "+919876510002"))
    await service.start(session, business_service="PGR", business_id="MATRIX-1",
                        tenant_code="uk.dehradun",
                        principal=Principal(kind="citizen", user_id=citizen.id),
                        owner_user_id=citizen.id)
    await session.commit()

    headers = await headers_for(caller, auth, app, session)
    process = "/api/v1/workflow/processes/PGR/MATRIX-1"
    requests = {
        "me": ("GET", "/api/v1/auth/me", {}),
        "tenants": ("GET", "/api/v1/tenants", {}),
        "search": ("GET", "/api/v1/localities/search", {"params": {"q": "rajpur"}}),
        "list_ddn": ("GET", "/api/v1/employees", {"params": {"tenant": "uk.dehradun"}}),
        "list_hdw": ("GET", "/api/v1/employees", {"params": {"tenant": "uk.haridwar"}}),
        "get_lme": ("GET", f"/api/v1/employees/{lme_id}", {}),
        "create_ddn": ("POST", "/api/v1/employees", {"json": employee("uk.dehradun", 1)}),
        "create_hdw": ("POST", "/api/v1/employees", {"json": employee("uk.haridwar", 2)}),
        "patch_lme": ("PATCH", f"/api/v1/employees/{lme_id}",
                      {"json": {"department": "DEPT_STREETLIGHT"}}),
        "citizen_me": ("GET", "/api/v1/citizens/me", {}),
        "wf_defs": ("GET", "/api/v1/workflow/business-services", {}),
        "wf_get": ("GET", process, {}),
        "wf_assign": ("POST", f"{process}/transition",
                      {"json": {"action": "ASSIGN", "assignee_id": lme_id}}),
    }
    got = {}
    for name in OPERATIONS:
        method, url, kwargs = requests[name]
        response = await client.request(method, url, headers=headers, **kwargs)
        got[name] = response.status_code
        if response.status_code >= 400:
            assert response.json()["error"]["code"], name  # always the envelope
    assert got == dict(zip(OPERATIONS, MATRIX[caller], strict=True))


async def test_what_each_admin_sees_and_changes(client, auth):
    state_admin = await auth.staff("admin")
    await client.post("/api/v1/employees", headers=state_admin, json=HARIDWAR_ADMIN)
    # The new admin logs in with the password the state admin gave.
    haridwar_admin = await auth.staff("+91 98765 20001", HARIDWAR_ADMIN["password"])

    # The ULB admin manages its own ULB...
    made = await client.post("/api/v1/employees", headers=haridwar_admin,
                             json=employee("uk.haridwar", 3))
    assert made.status_code == 201
    off = await client.patch(f"/api/v1/employees/{made.json()['id']}", headers=haridwar_admin,
                             json={"active": False})
    assert off.json()["active"] is False
    listed = await client.get("/api/v1/employees", headers=haridwar_admin,
                              params={"tenant": "uk.haridwar", "active": False})
    assert [u["phone"] for u in listed.json()] == ["+919876530003"]
    # ...but grants nothing beyond it, not even in its own employee's name.
    cases = [
        ({**employee("uk.haridwar", 4),
          "roles": [{"role": "LME", "tenant": "uk.dehradun"}]}),
        ({**employee("uk.haridwar", 5), "roles": [{"role": "ADMIN", "tenant": "uk"}]}),
        ({**employee("uk", 6), "roles": [{"role": "LME", "tenant": "uk.haridwar"}]}),
    ]
    for body in cases:
        response = await client.post("/api/v1/employees", headers=haridwar_admin, json=body)
        assert (response.status_code, response.json()["error"]["code"]) == (
            403, "tenant_forbidden"), body
    promote = await client.patch(f"/api/v1/employees/{made.json()['id']}",
                                 headers=haridwar_admin,
                                 json={"roles": [{"role": "ADMIN", "tenant": "uk"}]})
    assert (promote.status_code, promote.json()["error"]["code"]) == (403, "tenant_forbidden")
    # The state admin's grant on `uk` covers every ULB and the state itself.
    state_level = await client.post("/api/v1/employees", headers=state_admin,
                                    json={**employee("uk", 7),
                                          "roles": [{"role": "GRO", "tenant": "uk"}]})
    assert state_level.status_code == 201
    roorkee = await client.get("/api/v1/employees", headers=state_admin,
                               params={"tenant": "uk.roorkee"})
    assert roorkee.status_code == 200
    assert {u["tenant_code"] for u in roorkee.json()} <= {"uk.roorkee"}

