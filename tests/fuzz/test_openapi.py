"""Schemathesis over the core API's own OpenAPI: no 5xx, every response matches the schema.

The app from ``samvad.app.create_app`` runs in-process (schemathesis' ASGI client, with
the app's lifespan: real PostgreSQL or SQLite, real Redis, the demo data). Every
operation is called with generated valid requests twice over: as the state admin (staff
bearer token) and as a citizen (the bot's service credential acting for a demo number).
A failure is collected per operation (no shrinking: the generated request is reported as
found) so that one run shows every broken operation.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import schemathesis
from hypothesis import given
from hypothesis import settings as hsettings
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import response_schema_conformance

from samvad.app import create_app
from samvad.settings import Settings
from tests.fuzz.conftest import NO_SHRINK

CITIZEN = "+919876500001"
EXAMPLES_PER_OPERATION = int(os.environ.get("SAMVAD_FUZZ_API_EXAMPLES", "6"))
CHECKS = [not_a_server_error, response_schema_conformance]


def _identities(client: Any, app: Any) -> dict[str, dict[str, str]]:
    login = client.post("/api/v1/auth/token", data={"username": "admin",
                                                     "password": "samvad-demo"})
    assert login.status_code == 200, login.text
    return {
        "admin": {"Authorization": f"Bearer {login.json()['access_token']}"},
        "citizen": {"Authorization": f"Bearer {app.state.service_token}",
                    "X-On-Behalf-Of": CITIZEN},
    }


def _fuzz(operation: Any, label: str, client: Any, headers: dict[str, str],
          failures: dict[str, str], calls: dict[str, int], statuses: dict[int, int]) -> None:
    """Up to EXAMPLES_PER_OPERATION generated calls; the first failure is kept."""

    @hsettings(max_examples=EXAMPLES_PER_OPERATION, phases=NO_SHRINK)
    @given(case=operation.as_strategy())
    def call(case: Any) -> None:
        if label in failures:
            return
        calls[label] = calls.get(label, 0) + 1
        try:
            response = case.call(session=client, headers=headers)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            checks = CHECKS
            if operation.path == "/readyz":  # 503 "not ready" is its contract (probes)
                checks = [response_schema_conformance]
            case.validate_response(response, checks=checks, headers=headers)
        except (Exception, BaseExceptionGroup) as exc:  # reported together by the test
            failures[label] = f"{type(exc).__name__}: {exc}"[:2000]

    call()


@pytest.mark.reliability
@pytest.mark.timeout(400)
def test_every_operation_answers_without_5xx_and_as_documented(settings: Settings, backend,
                                                               reliability):
    app = create_app(settings)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: dict[str, str] = {}
    calls: dict[str, int] = {}
    statuses: dict[int, int] = {}
    try:
        with asgi.get_client(app) as client:
            identities = _identities(client, app)
            operations = [result.ok() for result in schema.get_all_operations()]
            for operation in operations:
                for who, headers in identities.items():
                    _fuzz(operation, f"{operation.label} as {who}", client, headers,
                          failures, calls, statuses)
    finally:
        asgi.shutdown_lifespans()

    total = sum(calls.values())
    reliability.record(
        area="fuzz", case=f"core API against its OpenAPI (schemathesis, {backend})",
        sent=f"{total} generated requests over {len(operations)} operations, as the state "
             f"admin and as a citizen (≤ {EXAMPLES_PER_OPERATION} each)",
        did="statuses " + ", ".join(f"{code}×{n}" for code, n in sorted(statuses.items())),
        lost="nothing: no 5xx, every documented response matches its schema" if not failures
        else f"{len(failures)} operation(s) failed: {', '.join(sorted(failures))}",
    )
    assert not failures, "\n\n".join(f"{k}\n{v}" for k, v in sorted(failures.items()))
