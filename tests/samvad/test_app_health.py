"""Health, readiness, the error envelope and OpenAPI on a real database and Redis."""

from __future__ import annotations


async def test_healthz(client):
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_checks_database_and_redis(client):
    response = await client.get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json()["checks"] == {"database": "ok", "redis": "ok"}


async def test_readyz_reports_a_dead_redis(client, app):
    from samvad.redis_runtime import connect

    await app.state.redis.aclose()
    app.state.redis = connect("redis://127.0.0.1:1")  # nothing listens on port 1
    response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["redis"].startswith("error")


async def test_unknown_path_uses_the_error_envelope(client):
    response = await client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


async def test_openapi_documents_the_error_envelope(client):
    spec = (await client.get("/openapi.json")).json()
    assert "ErrorEnvelope" in spec["components"]["schemas"]
    login = spec["paths"]["/api/v1/auth/token"]["post"]
    assert "401" in login["responses"]
