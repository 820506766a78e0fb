"""Principal: roles granted on the state cover its ULBs, never a sibling or a look-alike."""

from __future__ import annotations

import pytest

from core_api.auth.principal import Principal, covers
from core_api.errors import Forbidden


@pytest.mark.parametrize(
    ("granted", "tenant", "expected"),
    [
        ("uk", "uk", True),
        ("uk", "uk.dehradun", True),
        ("uk.dehradun", "uk.dehradun", True),
        ("uk.dehradun", "uk", False),
        ("uk.dehradun", "uk.haridwar", False),
        ("uk", "ukx.dehradun", False),  # a prefix that is not a parent
        ("uk.dehradun", "uk.dehradunx", False),
        ("uk", "", False),
    ],
)
def test_covers(granted, tenant, expected):
    assert covers(granted, tenant) is expected


def test_roles_within_tenants():
    admin = Principal(kind="employee", user_id=1, grants=(("ADMIN", "uk"),))
    gro = Principal(kind="employee", user_id=2,
                    grants=(("GRO", "uk.dehradun"), ("CSR", "uk.dehradun")))
    citizen = Principal(kind="citizen", user_id=3, phone="+919876500001")
    service = Principal(kind="service")

    assert admin.has_role("ADMIN", "uk.haridwar") and admin.has_role("ADMIN")
    assert not admin.has_role("GRO", "uk.dehradun")
    assert gro.has_role("GRO", "uk.dehradun") and not gro.has_role("GRO", "uk.haridwar")
    assert gro.has_any_role({"LME", "CSR"}, "uk.dehradun")
    assert not gro.has_any_role({"LME", "REGISTRAR"}, "uk.dehradun")
    assert gro.roles == {"GRO", "CSR"} and gro.tenants_for({"GRO"}) == {"uk.dehradun"}
    assert gro.can_see_tenant("uk.dehradun") and not gro.can_see_tenant("uk")
    assert (gro.is_staff, citizen.is_citizen, service.is_service) == (True, True, True)

    gro.require_tenant("uk.dehradun", {"GRO"})
    admin.require_tenant("uk.roorkee", {"ADMIN"})
    for who, tenant, roles in [(gro, "uk.haridwar", {"GRO"}), (gro, "uk.dehradun", {"ADMIN"}),
                               (citizen, "uk.dehradun", None), (service, "uk", None)]:
        with pytest.raises(Forbidden) as refused:
            who.require_tenant(tenant, roles)
        assert refused.value.code == "tenant_forbidden"

    assert citizen.require_user() == 3
    with pytest.raises(Forbidden):
        service.require_user()
