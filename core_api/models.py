"""Imports every table so that metadata (Alembic, tests) sees the whole schema."""

from core_api.db import Base
from core_api.events.models import OutboxEvent
from core_api.tenants.models import Boundary, Tenant
from core_api.users.models import User, UserRole
from core_api.workflow.models import BusinessService, ProcessHistory, ProcessInstance

__all__ = [
    "Base",
    "Boundary",
    "BusinessService",
    "OutboxEvent",
    "ProcessHistory",
    "ProcessInstance",
    "Tenant",
    "User",
    "UserRole",
]
