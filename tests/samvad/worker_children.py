"""Light worker processes for tests/samvad/test_worker_processes.py: ``Supervisor`` runs
``echo_worker`` children, each an ``InboundWorker`` whose turns record themselves in Redis.

Run as ``python -m tests.samvad.worker_children <processes> <heartbeat file>`` with
``TEST_REDIS_URL`` set; it exits with the supervisor's code.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from bot.engine import Turn
from bot.messages import Inbound, Outgoing
from bot.session import Session
from channels.queues import InboundQueue, InboundWorker, OutboundQueue
from samvad.processes import Supervisor, child_heartbeat_file
from samvad.redis_runtime import connect

HANDLED = "test:handled"  # "<pid> <sender> <text>", in the order turns ran
STARTED = "test:started"  # pids of the children, as they start
IN_TURN = "test:in_turn"  # children that have entered their first turn


class RecordingEcho:
    """Records each turn; a process's first turn waits until the other process is in one
    too, so that both take part and their turns interleave."""

    def __init__(self, redis) -> None:
        self.redis = redis
        self.first = True

    async def handle(self, inbound: Inbound, **_: object) -> Turn:
        if self.first:
            self.first = False
            await self.redis.incr(IN_TURN)
            for _ in range(400):
                if int(await self.redis.get(IN_TURN) or 0) >= 2:
                    break
                await asyncio.sleep(0.05)
        await self.redis.rpush(HANDLED, f"{os.getpid()} {inbound.sender} {inbound.text}")
        return Turn(Session(), [Outgoing(f"echo {inbound.text}")])

    async def answered(self, inbound: Inbound) -> None:
        return None


async def serve(index: int) -> None:
    redis = connect(os.environ["TEST_REDIS_URL"])
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await redis.rpush(STARTED, str(os.getpid()))
    beat = os.environ.get("TEST_HEARTBEAT_FILE")
    if beat:
        child_heartbeat_file(Path(beat), index).touch()
    worker = InboundWorker(InboundQueue(redis), RecordingEcho(redis),  # type: ignore[arg-type]
                           OutboundQueue(redis), concurrency=1)
    try:
        await worker.run(stop)
    finally:
        await redis.aclose()


def echo_worker(index: int) -> None:
    asyncio.run(serve(index))


if __name__ == "__main__":
    processes, heartbeat = int(sys.argv[1]), Path(sys.argv[2])
    sys.exit(Supervisor(processes, echo_worker, heartbeat_file=heartbeat).run())
