"""``samvad worker --processes N``: two real worker processes under the supervisor keep
each person's order, a killed child is started again, SIGTERM stops them all (exit 0),
and the parent's liveness file stands for its children's."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from collections import defaultdict
from pathlib import Path

import pytest

from bot.messages import Inbound
from channels.queues import InboundQueue
from samvad.processes import default_processes
from samvad.redis_runtime import connect
from tests.samvad.worker_children import HANDLED, STARTED

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[2]
PEOPLE = [f"+9198765000{n:02d}" for n in range(1, 7)]
ROUNDS = 4


async def wait_for(check, what: str, seconds: float = 60.0) -> None:
    """Poll ``check`` until true; a bound so that a broken run fails instead of hanging."""
    for _ in range(int(seconds * 10)):
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"gave up waiting for {what}")


async def test_two_processes_keep_each_persons_order_and_are_supervised(
        redis_server_url: str, tmp_path: Path) -> None:
    redis = connect(redis_server_url)
    await redis.flushdb()
    queue = InboundQueue(redis)
    for round_ in range(ROUNDS):  # interleaved: every person's messages are spread out
        for phone in PEOPLE:
            inbound = Inbound(channel="sms", sender=phone, text=f"m{round_}",
                              message_id=f"SM{phone[-2:]}-{round_}")
            await queue.admit(inbound, "twilio", seen_key=f"t:{uuid.uuid4()}", seen_ttl_s=60)
    heartbeat = tmp_path / "worker.alive"
    env = {**os.environ, "TEST_REDIS_URL": redis_server_url,
           "TEST_HEARTBEAT_FILE": str(heartbeat)}
    parent = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.samvad.worker_children", "2", str(heartbeat), cwd=ROOT,
        env=env)
    try:
        total = len(PEOPLE) * ROUNDS
        await wait_for(lambda: _count(redis, HANDLED, total), "every message handled")
        handled = [raw.decode().split() for raw in await redis.lrange(HANDLED, 0, -1)]
        by_person: dict[str, list[str]] = defaultdict(list)
        for _pid, phone, text in handled:
            by_person[phone].append(text)
        assert by_person == {phone: [f"m{r}" for r in range(ROUNDS)] for phone in PEOPLE}
        assert len({pid for pid, _, _ in handled}) == 2  # both processes ran turns
        await wait_for(lambda: _exists(heartbeat), "the parent's liveness file")

        # A child killed outright is started again, and the new one takes work.
        first = [int(pid) for pid in await redis.lrange(STARTED, 0, -1)]
        os.kill(first[0], signal.SIGKILL)
        await wait_for(lambda: _count(redis, STARTED, 3), "the restarted child")
        more = Inbound(channel="sms", sender=PEOPLE[0], text="again", message_id="SMagain")
        await queue.admit(more, "twilio", seen_key=f"t:{uuid.uuid4()}", seen_ttl_s=60)
        await wait_for(lambda: _count(redis, HANDLED, total + 1), "a turn after the restart")
        children = [int(pid) for pid in await redis.lrange(STARTED, 0, -1)][1:]

        parent.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(parent.wait(), 60) == 0
        for pid in children:
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
        assert not heartbeat.exists()
    finally:
        if parent.returncode is None:
            parent.kill()
            await parent.wait()
        await redis.aclose()


async def _count(redis, key: str, at_least: int) -> bool:
    return await redis.llen(key) >= at_least


async def _exists(path: Path) -> bool:
    return path.exists()


def test_default_processes_is_the_cores_capped_by_the_cgroup_quota(tmp_path: Path) -> None:
    cores = len(os.sched_getaffinity(0))
    cpu_max = tmp_path / "cpu.max"
    assert default_processes(tmp_path / "absent") == cores
    cpu_max.write_text("max 100000\n")
    assert default_processes(cpu_max) == cores
    cpu_max.write_text("50000 100000\n")  # half a core: one process
    assert default_processes(cpu_max) == 1
    cpu_max.write_text(f"{100000 * (cores + 4)} 100000\n")  # more than there are
    assert default_processes(cpu_max) == cores


async def test_a_crash_loop_stops_the_supervisor_with_exit_1() -> None:
    """Children that die as they start are started again a few times, then the parent
    gives up with 1, so that the container runtime shows the crash loop."""
    script = ("import sys; from samvad.processes import Supervisor; "
              "sys.exit(Supervisor(2, sys.exit).run())")  # sys.exit(index): 0, then 1
    parent = await asyncio.create_subprocess_exec(sys.executable, "-c", script, cwd=ROOT)
    try:
        assert await asyncio.wait_for(parent.wait(), 60) == 1
    finally:
        if parent.returncode is None:
            parent.kill()
            await parent.wait()
