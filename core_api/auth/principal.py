"""Who is calling: a staff member, a citizen (through the bot), or the bot itself."""

from __future__ import annotations

from dataclasses import dataclass, field

from core_api.errors import Forbidden
from core_api.users.models import Role
from core_api.users.records import UserRecord


def covers(granted_tenant: str, tenant_code: str) -> bool:
    """A grant on ``uk`` covers ``uk`` and ``uk.dehradun``; a ULB grant covers only itself."""
    return tenant_code == granted_tenant or tenant_code.startswith(granted_tenant + ".")


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of one request."""

    kind: str  # "employee", "citizen", "service" or "system" (Samvad itself)
    user_id: int | None = None
    phone: str | None = None
    name: str | None = None
    grants: tuple[tuple[str, str], ...] = field(default_factory=tuple)  # (role, tenant)
    via_service: bool = False
    # The caller's user as authentication read it: endpoints about the caller answer
    # from it instead of reading the user again.
    user: UserRecord | None = field(default=None, compare=False, repr=False)

    @property
    def is_citizen(self) -> bool:
        return self.kind == "citizen"

    @property
    def is_staff(self) -> bool:
        return self.kind == "employee"

    @property
    def is_service(self) -> bool:
        return self.kind == "service"

    @property
    def roles(self) -> frozenset[str]:
        return frozenset(role for role, _ in self.grants)

    def has_role(self, role: str | Role, tenant_code: str | None = None) -> bool:
        """True when the caller holds ``role`` (within ``tenant_code`` when given)."""
        return any(
            granted_role == role and (tenant_code is None or covers(granted_tenant, tenant_code))
            for granted_role, granted_tenant in self.grants
        )

    def has_any_role(
        self, roles: set[str] | frozenset[str], tenant_code: str | None = None
    ) -> bool:
        return any(self.has_role(role, tenant_code) for role in roles)

    def tenants_for(self, roles: set[str] | frozenset[str] | None = None) -> set[str]:
        """The tenant codes where the caller holds any of ``roles`` (any role when None)."""
        return {tenant for role, tenant in self.grants if roles is None or role in roles}

    def can_see_tenant(self, tenant_code: str) -> bool:
        return any(covers(tenant, tenant_code) for _, tenant in self.grants)

    def require_tenant(self, tenant_code: str, roles: set[str] | None = None) -> None:
        """Raise Forbidden unless the caller holds one of ``roles`` (any) within the tenant."""
        allowed = (
            self.has_any_role(roles, tenant_code) if roles else self.can_see_tenant(tenant_code)
        )
        if not allowed:
            raise Forbidden("You have no access to this tenant.", code="tenant_forbidden")

    def require_user(self) -> int:
        """The caller's user id; Forbidden for callers without one (the bare service)."""
        if self.user_id is None:
            raise Forbidden("This needs a registered user.", code="user_required")
        return self.user_id
