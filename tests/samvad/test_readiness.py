"""``/readyz``: database, Redis, worker heartbeats and Rasa, each failing for real."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from redis.asyncio import RedisCluster

from core_api.db import Database
from samvad.readiness import HEARTBEATS_KEY, PROBE_KEY, PROBE_TTL_MS, Heartbeat
from samvad.redis_runtime import connect
from samvad.worker import LOOPS, run_background

pytestmark = [pytest.mark.redis, pytest.mark.timeout(60)]


async def beat_all(app: Any, *, clock: Any = time.time) -> None:
    for loop in LOOPS:
        await Heartbeat(app.state.redis, loop, clock=clock).beat()


def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def fake_rasa() -> Iterator[str]:
    """An HTTP server on 127.0.0.1 answering ``GET /`` as Rasa does."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"Hello from Rasa: 3.6.21"
            self.send_response(200 if self.path == "/" else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def with_rasa(app: Any, url: str) -> None:
    app.state.settings = app.state.settings.model_copy(update={"rasa_url": url})


async def test_ready_when_every_part_is_up(client, app, fake_rasa) -> None:
    await beat_all(app)
    with_rasa(app, fake_rasa)
    response = await client.get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ready", "checks": {
        "database": "ok", "redis": "ok", "workers": "ok", "rasa": "ok"},
        "inbound_queue": {"state": "ok", "oldest_waiting_s": 0.0}}


async def test_a_queue_behind_the_busy_deadline_is_degraded_not_down(client, app) -> None:
    """An inbound message unread for 30 s (its doorbell's id is its admission time): past
    SAMVAD_BUSY_AFTER_S (10 s) /readyz says so, and stays 200 (webhooks keep flowing)."""
    await beat_all(app)
    waited_since_ms = int((time.time() - 30) * 1000)
    await app.state.redis.xadd("samvad:inbound", {"key": "whatsapp:+919876500001"},
                               id=f"{waited_since_ms}-0")
    response = await client.get("/readyz")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "degraded"
    assert body["inbound_queue"]["state"] == "behind"
    assert body["inbound_queue"]["oldest_waiting_s"] >= 30


async def test_rasa_not_configured_is_not_a_failure(client, app) -> None:
    await beat_all(app)
    response = await client.get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json()["checks"]["rasa"] == "not configured"


async def test_the_running_background_loops_beat(client, app) -> None:
    """Embedded mode: the loops run_background starts are the workers /readyz sees."""
    assert (await client.get("/readyz")).json()["checks"]["workers"].startswith("missing")
    stop = asyncio.Event()
    background = asyncio.create_task(run_background(app, stop))
    try:
        async with asyncio.timeout(20):
            while (response := await client.get("/readyz")).status_code != 200:
                assert not background.done(), background
                await asyncio.sleep(0.1)
        assert response.json()["checks"]["workers"] == "ok"
    finally:
        stop.set()
        await asyncio.wait_for(background, 20)


async def test_no_worker_ever_ran(client, app) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["down"] == ["workers"], body
    assert body["checks"]["workers"] == "missing: " + ", ".join(LOOPS)
    assert body["checks"]["database"] == body["checks"]["redis"] == "ok"


async def test_a_stale_heartbeat(client, app) -> None:
    await beat_all(app)
    # The send loop's only instance last beat 100 s ago (stale after 30 s).
    await app.state.redis.delete(HEARTBEATS_KEY)
    for loop in LOOPS:
        await Heartbeat(app.state.redis, loop,
                        clock=(lambda: time.time() - 100) if loop == "send" else time.time).beat()
    response = await client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["down"] == ["workers"]
    assert body["checks"]["workers"].startswith("stale: send (last 10")


async def test_one_fresh_instance_is_enough(client, app) -> None:
    """Two worker processes, one of them dead: the loop still runs."""
    await beat_all(app, clock=lambda: time.time() - 500)
    dead = await app.state.redis.hgetall(HEARTBEATS_KEY)
    await app.state.redis.delete(HEARTBEATS_KEY)
    await app.state.redis.hset(HEARTBEATS_KEY, mapping={
        key.replace(b"|", b"|dead-host:") : value for key, value in dead.items()})
    await beat_all(app)
    response = await client.get("/readyz")
    assert response.status_code == 200, response.text


async def test_workers_can_be_optional(client, app) -> None:
    response = await client.get("/readyz", params={"optional": "workers,rasa"})
    assert response.status_code == 200, response.text
    assert response.json()["checks"]["workers"].startswith("missing")


async def test_a_dead_redis(client, app) -> None:
    await beat_all(app)
    await app.state.redis.aclose()
    app.state.redis = connect(f"redis://127.0.0.1:{closed_port()}")
    response = await client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["down"] == ["redis", "workers"]  # heartbeats live in Redis too
    assert body["checks"]["redis"].startswith("error: ")
    assert body["checks"]["database"] == "ok"


async def test_redis_is_checked_by_a_script_that_writes_and_reads_a_key(client, app) -> None:
    await beat_all(app)
    response = await client.get("/readyz")
    assert response.json()["checks"]["redis"] == "ok", response.text
    # The probe really went through a key (routed to its slot on a cluster), with a TTL.
    assert 0 < await app.state.redis.pttl(PROBE_KEY) <= PROBE_TTL_MS


async def test_a_redis_that_answers_ping_but_refuses_writes_is_not_ready(client, app) -> None:
    await beat_all(app)
    redis = app.state.redis
    nodes = {"target_nodes": RedisCluster.ALL_NODES} if isinstance(redis, RedisCluster) else {}
    await redis.config_set("min-replicas-to-write", 1, **nodes)  # no replica: writes refused
    try:
        assert await redis.ping()
        response = await client.get("/readyz")
    finally:
        await redis.config_set("min-replicas-to-write", 0, **nodes)
    assert response.status_code == 503
    assert response.json()["down"] == ["redis"]
    assert response.json()["checks"]["redis"] == "error: ResponseError"


async def test_a_dead_database(client, app) -> None:
    await beat_all(app)
    await app.state.db.dispose()
    app.state.db = Database(f"postgresql+asyncpg://samvad:pw@127.0.0.1:{closed_port()}/samvad")
    response = await client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["down"] == ["database"]
    assert body["checks"]["database"].startswith("error: ")


async def test_rasa_on_a_closed_port(client, app) -> None:
    await beat_all(app)
    with_rasa(app, f"http://127.0.0.1:{closed_port()}")
    response = await client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["down"] == ["rasa"]
    assert body["checks"]["rasa"] == "error: ConnectError"


def _worker_check(redis_url: str) -> tuple[int, str]:
    from typer.testing import CliRunner

    from samvad.cli import app as cli_app

    env = {"SAMVAD_REDIS_URL": redis_url, "SAMVAD_ENV": "development"}
    result = CliRunner().invoke(cli_app, ["worker", "--check"], env=env)
    return result.exit_code, result.output


async def test_worker_check_answers_for_this_hosts_loops_only(redis_client, redis_url) -> None:
    """`samvad worker --check` (container health checks) passes on this host's fresh beats,
    fails when they are stale even if another host's worker is fine."""
    await redis_client.delete(HEARTBEATS_KEY)
    now = time.time()
    here = socket.gethostname()
    await redis_client.hset(HEARTBEATS_KEY, mapping={
        f"{loop}|other-host:1": f"{now:.3f} {now + 30:.3f}" for loop in LOOPS})
    code, output = await asyncio.to_thread(_worker_check, redis_url)
    assert code == 1 and "missing" in output
    await redis_client.hset(HEARTBEATS_KEY, mapping={
        f"{loop}|{here}:42": f"{now:.3f} {now + 30:.3f}" for loop in LOOPS})
    code, output = await asyncio.to_thread(_worker_check, redis_url)
    assert code == 0, output
    await redis_client.hset(HEARTBEATS_KEY, f"send|{here}:42", f"{now - 100:.3f} {now - 70:.3f}")
    code, output = await asyncio.to_thread(_worker_check, redis_url)
    assert code == 1 and "stale: send" in output
    await redis_client.delete(HEARTBEATS_KEY)
