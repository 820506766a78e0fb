"""The core API's routers under /api/v1; feature folders register here explicitly."""

from __future__ import annotations

from fastapi import APIRouter

from core_api.auth.endpoints import router as auth_router
from core_api.tenants.endpoints import router as tenants_router
from core_api.users.endpoints import router as users_router
from core_api.workflow.endpoints import router as workflow_router

API_PREFIX = "/api/v1"


def build_api_router() -> APIRouter:
    """Every /api/v1 route, in the order OpenAPI shows them."""
    router = APIRouter(prefix=API_PREFIX)
    for feature in (auth_router, tenants_router, users_router, workflow_router):
        router.include_router(feature)
    return router
