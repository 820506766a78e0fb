"""The core API's routers under /api/v1; feature folders register here explicitly."""

from __future__ import annotations

from fastapi import APIRouter

from core_api.auth.endpoints import router as auth_router
from core_api.bills.endpoints import router as bills_router
from core_api.certificates.endpoints import registrations_router, requests_router
from core_api.complaints.endpoints import router as complaints_router
from core_api.dashboard.endpoints import router as dashboard_router
from core_api.links.endpoints import router as short_links_router
from core_api.messaging.endpoints import router as channel_messages_router
from core_api.payments.endpoints import router as payments_router
from core_api.tenants.endpoints import router as tenants_router
from core_api.users.endpoints import router as users_router
from core_api.workflow.endpoints import router as workflow_router

API_PREFIX = "/api/v1"


def build_api_router() -> APIRouter:
    """Every /api/v1 route, in the order OpenAPI shows them."""
    router = APIRouter(prefix=API_PREFIX)
    for feature in (auth_router, tenants_router, users_router, workflow_router,
                    registrations_router, requests_router, complaints_router,
                    bills_router, payments_router, channel_messages_router, dashboard_router,
                    short_links_router):
        router.include_router(feature)
    return router
