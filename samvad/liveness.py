"""The worker's liveness file (SAMVAD_WORKER_HEARTBEAT_FILE).

A container's liveness probe runs every few seconds for the life of the pod: starting
Python for it (``samvad worker --check``: about 3 s of CPU and 157 MB each time) costs
more than the check is worth. Instead the worker touches a file while every one of its
background loops keeps turning, and the probe only looks at the file's age with the
shell's own tools (``find <file> -mmin -1``). A loop stuck for longer than its allowance
(the same rule as the Redis heartbeats of ``/readyz``: three idle periods, at least 30 s)
stops the touching, the file ages, and the kubelet restarts the container. Redis being
down does not: a loop that cannot reach Redis still turns (and ``/readyz`` says why).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from samvad.readiness import MIN_STALE_AFTER_S

TOUCH_EVERY_S = 5.0


class LivenessFile:
    """Marks from the loops in, a file touched out while every loop marked recently."""

    def __init__(self, path: Path, loops: Iterable[str], *, every_s: float = TOUCH_EVERY_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.path = path
        self.every_s = every_s
        self.clock = clock
        self.started = clock()
        # Until a loop's first mark it has its allowance from the start.
        self.marks = {loop: self.started for loop in loops}
        self.allowance = dict.fromkeys(self.marks, MIN_STALE_AFTER_S)

    def expect(self, loop: str, idle_s: float) -> None:
        """``loop`` sleeps up to ``idle_s`` between marks: allow it three of those."""
        self.allowance[loop] = max(MIN_STALE_AFTER_S, 3 * idle_s)

    def mark(self, loop: str) -> None:
        self.marks[loop] = self.clock()

    def stuck(self) -> list[str]:
        """The loops that have not marked within their allowance."""
        now = self.clock()
        return [loop for loop, at in self.marks.items() if now - at > self.allowance[loop]]

    def touch(self) -> bool:
        """Touch the file if no loop is stuck; whether it was touched."""
        if self.stuck():
            return False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.touch()
        return True

    async def run(self, stop: asyncio.Event) -> None:
        """Touch every ``every_s`` until ``stop``; then remove the file (a stopped worker
        is not alive; a killed one leaves it to age)."""
        try:
            while not stop.is_set():
                await asyncio.to_thread(self.touch)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.every_s)
        finally:
            self.path.unlink(missing_ok=True)
