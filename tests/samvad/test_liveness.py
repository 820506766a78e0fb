"""The worker's liveness file (samvad/liveness.py): touched while every loop turns, left to
age when one is stuck, removed when the worker stops."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from samvad.liveness import LivenessFile
from samvad.readiness import MIN_STALE_AFTER_S
from samvad.worker import LOOPS, run_background

pytestmark = pytest.mark.timeout(60)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def eventually(check: Callable[[], bool]) -> None:
    """Poll ``check`` until true (TimeoutError after 20 s)."""
    async with asyncio.timeout(20):
        while True:
            if check():
                return
            await asyncio.sleep(0.02)


def _age(path: Path, seconds: float) -> None:
    """Pretend the file was last touched ``seconds`` ago."""
    old = path.stat().st_mtime - seconds
    os.utime(path, (old, old))


def test_touched_while_every_loop_marks_and_not_once_one_is_stuck(tmp_path: Path) -> None:
    clock = Clock()
    path = tmp_path / "run" / "worker.alive"
    liveness = LivenessFile(path, ["relay", "sla"], clock=clock)
    liveness.expect("sla", 60.0)
    assert liveness.touch() and path.exists()  # before any mark: the start counts
    clock.now += MIN_STALE_AFTER_S + 1
    liveness.mark("relay")
    # sla sleeps 60 s between turns: allowed three of them, not yet stuck
    assert liveness.stuck() == [] and liveness.touch()
    clock.now += 3 * 60.0
    liveness.mark("relay")
    _age(path, 120)
    before = path.stat().st_mtime
    assert liveness.stuck() == ["sla"]
    assert not liveness.touch()
    assert path.stat().st_mtime == before  # left to age: the probe fails
    liveness.mark("sla")
    assert liveness.touch() and path.stat().st_mtime > before


async def test_run_touches_until_stopped_then_removes_the_file(tmp_path: Path) -> None:
    path = tmp_path / "worker.alive"
    liveness = LivenessFile(path, ["relay"], every_s=0.05)
    stop = asyncio.Event()
    task = asyncio.create_task(liveness.run(stop))
    await eventually(path.exists)
    _age(path, 120)
    aged = path.stat().st_mtime
    await eventually(lambda: path.stat().st_mtime != aged)  # touched again on the next round
    stop.set()
    await asyncio.wait_for(task, 10)
    assert not path.exists()


async def test_a_running_worker_writes_the_file(app: Any, tmp_path: Path) -> None:
    """run_background with SAMVAD_WORKER_HEARTBEAT_FILE: every loop's heartbeat marks it."""
    path = tmp_path / "samvad-worker.alive"
    app.state.settings = app.state.settings.model_copy(update={"worker_heartbeat_file": path})
    stop = asyncio.Event()
    background = asyncio.create_task(run_background(app, stop))
    try:
        await eventually(lambda: background.done() or path.exists())
        assert not background.done(), background
        liveness = app.state.liveness
        assert set(liveness.marks) == set(LOOPS)
        # each loop has turned at least once
        await eventually(lambda: all(liveness.marks[loop] > liveness.started for loop in LOOPS))
        assert liveness.stuck() == []
    finally:
        stop.set()
        await asyncio.wait_for(background, 20)
    assert not path.exists()
