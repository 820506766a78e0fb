"""Log masking (samvad.logs) and request ids (samvad.request_context)."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import structlog
from fastapi import FastAPI

from samvad.logs import configure_logging, log_handler, mask_text
from samvad.request_context import RequestIdMiddleware

pytestmark = pytest.mark.timeout(30)


@pytest.mark.parametrize(("raw", "masked"), [
    ("+919876500001", "+91******0001"),
    ("whatsapp:+919876500001", "whatsapp:+91******0001"),
    ("from=%2B919876500001&channel=sms", "from=+91******0001&channel=sms"),
    ("call me on 9876500001 please", "call me on +91******0001 please"),
    ("919876500001", "+91******0001"),
    ("+91 98765 00001", "+91******0001"),
    ("98765-00001", "+91******0001"),
    ("n:1ae2:+919876500001", "n:1ae2:+91******0001"),
    ("Authorization: Bearer abcdefghijkl.mnop", "Authorization: [redacted]"),
    ("X-Twilio-Signature: Lm9/Pq+r=", "X-Twilio-Signature: [redacted]"),
    ("/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=s3cr3t&hub.challenge=42",
     "/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=[redacted]&hub.challenge=42"),
    ('{"password": "samvad-demo", "username": "gro"}',
     '{"password": "[redacted]", "username": "gro"}'),
    ("token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl", "token [redacted]"),
    # Paths that are their own permission: payment pages, short links, verify pages.
    ('"GET /pay/q3VhZ-Ue_7kLm HTTP/1.1" 200', '"GET /pay/[redacted] HTTP/1.1" 200'),
    ("http://127.0.0.1:8000/pay/q3VhZ/upi.png", "http://127.0.0.1:8000/pay/[redacted]/upi.png"),
    ("https://samvad.example.in/r/AB12xy", "https://samvad.example.in/r/[redacted]"),
    ("/verify/Zx81Qp?lang=hi", "/verify/[redacted]?lang=hi"),
    ("/receipts/verify/Zx81Qp", "/receipts/verify/[redacted]"),
    ("/files/complaints/a.jpg?exp=1&sig=00ff", "/files/complaints/a.jpg?exp=1&sig=[redacted]"),
    ("/api/v1/payments/intents", "/api/v1/payments/intents"),
    # Left alone: ids, dates, times, amounts, URLs.
    ("PG-UK-DDN-2024-000123", "PG-UK-DDN-2024-000123"),
    ("2024-05-01T10:00:00+05:30", "2024-05-01T10:00:00+05:30"),
    ("SM0123456789abcdef0123456789abcdef", "SM0123456789abcdef0123456789abcdef"),
    ("http://127.0.0.1:8000/readyz", "http://127.0.0.1:8000/readyz"),
    ("took 1714000000123 ms for 250000 rupees", "took 1714000000123 ms for 250000 rupees"),
    ("signed=True", "signed=True"),
])
def test_mask_text(raw: str, masked: str) -> None:
    assert mask_text(raw) == masked


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    configure_logging(json=True)  # as create_app and the CLI do
    buffer = io.StringIO()
    handler = log_handler(buffer, json=True)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    # A uvicorn started in-process by another test (its default log config) stops its
    # loggers from propagating; `samvad serve` passes log_config=None and leaves them be.
    uvicorn_loggers = [logging.getLogger(name) for name in ("uvicorn", "uvicorn.access")]
    saved = [(lg.propagate, lg.disabled, lg.level, lg.handlers[:]) for lg in uvicorn_loggers]
    for lg in uvicorn_loggers:
        lg.propagate, lg.disabled, lg.handlers = True, False, []
        lg.setLevel(logging.NOTSET)
    yield buffer
    for lg, (propagate, disabled, lg_level, handlers) in zip(uvicorn_loggers, saved, strict=True):
        lg.propagate, lg.disabled, lg.handlers = propagate, disabled, handlers
        lg.setLevel(lg_level)
    root.removeHandler(handler)
    root.setLevel(level)


def records(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line]


def test_structured_fields_are_masked_by_key_and_value(captured: io.StringIO) -> None:
    structlog.get_logger("test").warning(
        "checked", to="+919876500001", phone=919876500002, auth_token="0123abcd",
        name="सुनीता देवी", assignee_name="Ramesh Negi", headers={"Authorization": "Basic QUM6"},
        recipients=[{"phone": "+919876510001", "user_id": 7}], attempts=3, ok=True)
    [record] = records(captured)
    assert record["to"] == "+91******0001"
    assert record["phone"] == "+91******0002"
    assert record["auth_token"] == record["name"] == record["assignee_name"] == "[redacted]"
    assert record["headers"] == {"Authorization": "[redacted]"}
    assert record["recipients"] == [{"phone": "+91******0001", "user_id": 7}]
    assert (record["attempts"], record["ok"], record["level"]) == (3, True, "warning")


def test_tracebacks_are_masked(captured: io.StringIO) -> None:
    try:
        raise ValueError("no user +919876500001 with token=abc123")
    except ValueError:
        structlog.get_logger("test").exception("lookup_failed")
    [record] = records(captured)
    assert "ValueError: no user +91******0001 with token=[redacted]" in record["exception"]


def test_uvicorn_access_lines_are_masked(captured: io.StringIO) -> None:
    # uvicorn's own call (uvicorn/protocols/http/h11_impl.py), with its arguments.
    logging.getLogger("uvicorn.access").info(
        '%s - "%s %s HTTP/%s" %d', "10.0.0.5:4312", "GET",
        "/simulator/messages?from=%2B919876500001&channel=sms", "1.1", 200)
    [record] = records(captured)
    assert record["event"] == ('10.0.0.5:4312 - "GET /simulator/messages?from=+91******0001'
                               '&channel=sms HTTP/1.1" 200')
    assert record["logger"] == "uvicorn.access"


def tiny_app() -> FastAPI:
    app = FastAPI()
    app.add_middleware(RequestIdMiddleware)

    @app.get("/hello")
    async def hello() -> dict[str, str]:
        structlog.get_logger("test").info("hello_handled")
        return {"bound": structlog.contextvars.get_contextvars().get("request_id", "")}

    return app


async def test_request_ids_are_taken_made_and_returned(captured: io.StringIO) -> None:
    transport = httpx.ASGITransport(app=tiny_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        given = await client.get("/hello", headers={"X-Request-ID": "lb-7f3a.42"})
        made = await client.get("/hello")
        odd = await client.get("/hello", headers={"X-Request-ID": "<script>" + "x" * 200})
    assert given.headers["x-request-id"] == given.json()["bound"] == "lb-7f3a.42"
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["x-request-id"])
    assert made.json()["bound"] == made.headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", odd.headers["x-request-id"])  # not taken
    ids = [r["request_id"] for r in records(captured) if r["event"] == "hello_handled"]
    assert ids == [given.headers["x-request-id"], made.headers["x-request-id"],
                   odd.headers["x-request-id"]]
    assert "request_id" not in structlog.contextvars.get_contextvars()  # unbound after
