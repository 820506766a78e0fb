"""Health, the error envelope and OpenAPI on a real database and Redis (readiness:
test_readiness.py)."""

from __future__ import annotations


async def test_healthz(client):
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_unknown_path_uses_the_error_envelope(client):
    response = await client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


async def test_openapi_documents_the_error_envelope(client):
    spec = (await client.get("/openapi.json")).json()
    assert "ErrorEnvelope" in spec["components"]["schemas"]
    login = spec["paths"]["/api/v1/auth/token"]["post"]
    assert "401" in login["responses"]
