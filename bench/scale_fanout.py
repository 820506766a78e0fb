"""Fan-out figure: notifications through the real outbound queue and send worker to a fake
Twilio Messages API on 127.0.0.1, in its own process (so it does not share our CPU time
slice), which records when each message arrived.

Two runs: the rate limiter off (messages/s the send worker sustains, each send also
writing its delivery record through the core API), then ``SAMVAD_SEND_RATE`` = 80/s per
sender, where the largest count in any one-second window at the fake must stay within
rate + burst.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import sys
import time
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import text

from bench.wire import ACCOUNT_SID, AUTH_TOKEN, SMS_FROM
from bot.messages import Outgoing
from channels.base import OutboundJob, outgoing_to_dict
from channels.queues import channels_of
from samvad.app import close_resources, create_app, open_resources
from samvad.settings import Settings
from samvad.worker import build_send_worker

FAKE_SCRIPT = """
import asyncio, sys, time
import orjson
from bench.wire import FakeTwilio

async def main():
    arrivals = []
    fake = FakeTwilio(lambda to, body, at: arrivals.append(time.time()))
    await fake.start(0)
    port = fake.server.sockets[0].getsockname()[1]
    sys.stdout.write(f"{port}\\n"); sys.stdout.flush()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = await reader.readline()
        if not line or line.strip() == b"quit":
            break
        if line.strip() == b"count":
            sys.stdout.write(f"{len(arrivals)}\\n")
            sys.stdout.flush()
        if line.strip() == b"dump":
            sys.stdout.write(orjson.dumps({"arrivals": arrivals, "refused": fake.refused})
                             .decode() + "\\n")
            sys.stdout.flush()
            arrivals.clear()
    await fake.close()

asyncio.run(main())
"""

RATE_LIMIT = 80.0  # messages per second per sender (the figure the issue names)
BIND_TIMEOUT_S = 20.0


class FakeTwilioProcess:
    """The fake in a child process: ``port``, then ``arrivals()`` (unix times) on demand."""

    def __init__(self) -> None:
        self.proc: asyncio.subprocess.Process | None = None
        self.port = 0

    async def __aenter__(self) -> FakeTwilioProcess:
        root = str(Path(__file__).resolve().parent.parent)
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", FAKE_SCRIPT, cwd=root, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, limit=64 * 1024 * 1024)
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), BIND_TIMEOUT_S)
        self.port = int(line)
        return self

    async def count(self) -> int:
        """How many messages arrived since the last ``arrivals()`` (cheap to poll)."""
        assert self.proc is not None and self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(b"count\n")
        await self.proc.stdin.drain()
        return int(await asyncio.wait_for(self.proc.stdout.readline(), 60))

    async def arrivals(self) -> list[float]:
        """Arrival times recorded since the last call (and forget them)."""
        assert self.proc is not None and self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(b"dump\n")
        await self.proc.stdin.drain()
        data = orjson.loads(await asyncio.wait_for(self.proc.stdout.readline(), 60))
        return sorted(data["arrivals"])

    async def __aexit__(self, *exc: object) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(Exception):
            assert self.proc.stdin is not None
            self.proc.stdin.write(b"quit\n")
            await self.proc.stdin.drain()
        try:
            await asyncio.wait_for(self.proc.wait(), 5)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()


def max_in_window(times: list[float], window_s: float = 1.0) -> int:
    """The most arrivals in any interval [t, t + window) (sorted ``times``)."""
    best = 0
    for i, start in enumerate(times):
        best = max(best, bisect.bisect_left(times, start + window_s, lo=i) - i)
    return best


def _jobs(n: int, run: str) -> list[OutboundJob]:
    message = outgoing_to_dict(Outgoing(
        text="Samvad: your water bill of Rs 1,236.50 is due on 30 Nov. Pay on WhatsApp: "
             "reply BILL."))
    return [OutboundJob(provider="twilio", channel="sms", to=f"+9171{i:08d}", message=message,
                        kind="bill_reminder", locale="en_IN", job_id=f"scale:{run}:{i}")
            for i in range(n)]


async def _one_run(settings: Settings, fake: FakeTwilioProcess, n: int, run: str,
                   timeout_s: float) -> dict[str, float]:
    app = create_app(settings)
    await open_resources(app)
    try:
        channels = channels_of(app)
        jobs = _jobs(n, run)
        started = time.perf_counter()
        for i in range(0, n, 1000):
            await channels.outbound.enqueue(*jobs[i:i + 1000])
        enqueue_s = time.perf_counter() - started
        worker = build_send_worker(app)
        stop = asyncio.Event()
        began = time.time()
        task = asyncio.create_task(worker.run(stop))
        deadline = time.monotonic() + timeout_s
        sent = 0
        try:
            while time.monotonic() < deadline:
                await asyncio.sleep(0.5)
                # Polled at the fake: scanning Redis for job states cost time in this
                # process that grew with n (a 100 000 fan-out scanned 100 000 keys a poll).
                sent = await fake.count()
                if sent >= n:
                    break
        finally:
            stop.set()
            await asyncio.wait_for(task, 60)
        arrivals = await fake.arrivals()
        elapsed = (arrivals[-1] - began) if arrivals else time.time() - began
        async with app.state.db.engine.connect() as conn:
            recorded = (await conn.execute(text(
                "SELECT count(*) FROM channel_messages WHERE job_id LIKE :p"),
                {"p": f"scale:{run}:%"})).scalar_one()
        return {"messages": float(n), "arrived": float(len(arrivals)),
                "recorded": float(recorded), "enqueue_per_s": n / enqueue_s if enqueue_s else 0,
                "elapsed_s": elapsed, "per_s": len(arrivals) / elapsed if elapsed else 0.0,
                "max_1s": float(max_in_window(arrivals)),
                "steady_per_s": _steady_rate(arrivals)}
    finally:
        await close_resources(app)


def _steady_rate(arrivals: list[float]) -> float:
    """Arrivals per second after the first second (the initial burst left out)."""
    if len(arrivals) < 2:
        return 0.0
    tail = [t for t in arrivals if t >= arrivals[0] + 1.0]
    if len(tail) < 2:
        return 0.0
    return (len(tail) - 1) / (tail[-1] - tail[0])


async def run_fanout(db_url: str, redis_url: str, data_dir: Path, *, unlimited: int,
                     limited: int) -> dict[str, Any]:
    """Both runs; figures prefixed ``fanout_`` and ``ratelimit_``."""
    async with FakeTwilioProcess() as fake:
        base: dict[str, Any] = {
            "database_url": db_url, "redis_url": redis_url,
            "env": "production", "data_dir": data_dir,
            "secret_key": "scale-bench-secret-key-0123456789abcdef",
            "public_url": "https://samvad.example.in",
            "twilio_account_sid": ACCOUNT_SID, "twilio_auth_token": AUTH_TOKEN,
            "twilio_api_base": f"http://127.0.0.1:{fake.port}", "twilio_sms_from": SMS_FROM,
        }
        free = await _one_run(Settings(**base, send_rate=0), fake, unlimited, "free",
                              timeout_s=max(120.0, unlimited / 50))
        held = await _one_run(Settings(**base, send_rate=RATE_LIMIT), fake, limited,
                              "held", timeout_s=limited / RATE_LIMIT * 3 + 30)
    burst = float(int(RATE_LIMIT))  # SAMVAD_SEND_BURST unset: one second's worth
    figures: dict[str, Any] = {f"fanout_{k}": v for k, v in free.items()}
    figures.update({f"ratelimit_{k}": v for k, v in held.items()})
    figures["ratelimit_rate"] = RATE_LIMIT
    figures["ratelimit_burst"] = burst
    figures["ratelimit_held"] = ("yes" if held["max_1s"] <= RATE_LIMIT + burst
                                 and held["arrived"] == limited else "NO")
    return figures
