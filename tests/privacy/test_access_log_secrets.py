"""Links that are their own permission stay out of the logs (SPEC §9): the access log of a
real uvicorn, configured as `samvad serve` does it (log_config=None, records through
samvad.logs), shows /pay/, /r/, /verify/ and /receipts/verify/ paths and signed /files/
links without their token, code or signature."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import secrets
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import uvicorn

from core_api.files.signing import signed_url
from samvad.app import create_app
from samvad.logs import configure_logging, log_handler
from samvad.settings import Settings

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(60)]

UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


@pytest.fixture
def backend() -> str:
    """The log line is the subject here, not the database: one backend is enough."""
    return "sqlite"


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Every JSON log line written while the test runs (root handler, as in production)."""
    configure_logging(json=True)
    buffer = io.StringIO()
    handler = log_handler(buffer, json=True)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    # A uvicorn started in-process by another test with its default log config stops its
    # loggers from propagating; `samvad serve` passes log_config=None and leaves them be.
    loggers = [logging.getLogger(name) for name in UVICORN_LOGGERS]
    saved = [(lg.propagate, lg.disabled, lg.level, lg.handlers[:]) for lg in loggers]
    for lg in loggers:
        lg.propagate, lg.disabled, lg.handlers = True, False, []
        lg.setLevel(logging.NOTSET)
    yield buffer
    for lg, (propagate, disabled, lg_level, handlers) in zip(loggers, saved, strict=True):
        lg.propagate, lg.disabled, lg.handlers = propagate, disabled, handlers
        lg.setLevel(lg_level)
    root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture
async def served(settings: Settings, redis_client: Any, captured: io.StringIO,
                 tmp_path: Path) -> AsyncIterator[str]:
    """The whole app on a free port of 127.0.0.1, logging as `samvad serve` has it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    app = create_app(settings.model_copy(update={"public_url": base}))
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, log_level="info",
                                           access_log=True, lifespan="on"))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    async with httpx.AsyncClient(timeout=30) as http:
        for _ in range(300):
            if serving.done():
                raise RuntimeError(f"the app did not start: {serving.exception()!r}")
            if server.started:
                break
            await asyncio.sleep(0.05)
        assert (await http.get(f"{base}/healthz")).status_code == 200
    try:
        yield base
    finally:
        server.should_exit = True
        await serving
        sock.close()


async def test_tokens_in_paths_are_not_in_the_access_log(
        served: str, settings: Settings, captured: io.StringIO, reliability: Any) -> None:
    pay, short, certificate, receipt = (secrets.token_urlsafe(24) for _ in range(4))
    key = "complaints/uk.dehradun/2026/01/0123456789abcdef0123456789abcdef.jpg"
    link = signed_url(served, settings.secret_key, key, lifetime_s=3600)
    query = parse_qs(urlsplit(link).query)
    expires, signature = query["exp"][0], query["sig"][0]
    paths = [
        f"/pay/{pay}", f"/pay/{pay}/upi.png", f"/pay/{pay}/done?razorpay_payment_id=pay_1",
        f"/r/{short}", f"/verify/{certificate}", f"/receipts/verify/{receipt}",
        f"/files/{key}?exp={expires}&sig={signature}",
    ]
    async with httpx.AsyncClient(base_url=served, timeout=30) as http:
        statuses = [(await http.get(path)).status_code for path in paths]
        statuses.append((await http.post(f"/pay/{pay}/sandbox", data={})).status_code)
    await asyncio.sleep(0.1)  # the access line is written after the response

    lines = [json.loads(line) for line in captured.getvalue().splitlines() if line]
    access = [line["event"] for line in lines if line.get("logger") == "uvicorn.access"]
    assert len(access) >= len(paths) + 1, access  # every request is in the access log
    written = captured.getvalue()
    for secret in (pay, short, certificate, receipt, signature):
        assert secret not in written, secret
    for kept in ("/pay/[redacted]", "/pay/[redacted]/upi.png", "/pay/[redacted]/done",
                 "/r/[redacted]", "/verify/[redacted]", "/receipts/verify/[redacted]",
                 f"/files/{key}?exp={expires}&sig=[redacted]",
                 "POST /pay/[redacted]/sandbox"):
        assert any(kept in line for line in access), (kept, access)
    reliability.record(
        area="privacy", case="Secret-bearing links in the access log",
        sent=f"{len(statuses)} requests to a real uvicorn logging as `samvad serve` does: "
             "/pay/<token> (page, QR, return, sandbox form), /r/<code>, /verify/<code>, "
             "/receipts/verify/<code>, a signed /files/ link "
             f"(answered {sorted(set(statuses))})",
        did="each request logged with its path kept and the token, code or sig replaced by "
            "[redacted]",
        lost="nothing; 0 tokens in the log")
