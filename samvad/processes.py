"""``samvad worker --processes N``: N worker processes under one supervising parent.

One Python process runs turns on one core; the worker's queues are shared through Redis
(consumer groups, per-person mailboxes with leases, leased digests and overload watch,
``FOR UPDATE SKIP LOCKED`` in the outbox relay, compare-and-set SLA sweeps), so N
processes on one host are N workers, as N containers would be, with per-person order
kept (``channels/queues``).

The parent imports none of the application and does nothing but supervise:

- it starts the children (``multiprocessing`` "spawn": each a fresh interpreter, no
  state inherited from the parent);
- SIGTERM or SIGINT: it passes SIGTERM on; each child finishes the messages in hand and
  exits; a child still running after ``STOP_GRACE_S`` is killed; the parent exits 0;
- a child that dies is started again after ``RESTART_DELAY_S``; more than
  ``RESTART_LIMIT`` deaths within ``RESTART_WINDOW_S`` (a crash loop: a bad
  configuration, the database unreachable at start) stop everything and the parent exits
  1, so that the container runtime reports the crash loop and backs off;
- a child gets SIGTERM when the parent dies, even killed outright (Linux's
  ``PR_SET_PDEATHSIG``): no worker runs on unsupervised;
- with ``SAMVAD_WORKER_HEARTBEAT_FILE`` each child touches ``<file>.<index>`` while its
  loops turn (``samvad/liveness.py``) and the parent touches ``<file>`` while every child
  is alive and its file is fresh: the container's liveness probe stays the same.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import time
from collections.abc import Callable
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import FrameType

import structlog

log = structlog.get_logger(__name__)

STOP_GRACE_S = 25.0  # within compose's stop_grace_period and Kubernetes' 30 s
RESTART_DELAY_S = 1.0
RESTART_LIMIT = 5
RESTART_WINDOW_S = 60.0
TOUCH_EVERY_S = 5.0
FRESH_WITHIN_S = 60.0  # what the probe allows the parent's file (find -mmin -1)
CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def default_processes(cpu_max: Path = CGROUP_CPU_MAX) -> int:
    """The cores this process may use: its CPU affinity, capped by a cgroup v2 CPU quota
    (a container's ``cpus`` or Kubernetes CPU limit), rounded up; at least 1."""
    affinity = getattr(os, "sched_getaffinity", None)  # Linux only
    cores = len(affinity(0)) if affinity else os.cpu_count() or 1
    try:
        quota, period = cpu_max.read_text().split()
    except (OSError, ValueError):
        return max(1, cores)
    if quota == "max":
        return max(1, cores)
    return max(1, min(cores, -(-int(quota) // int(period))))


def child_heartbeat_file(path: Path, index: int) -> Path:
    """The liveness file of child ``index`` beside the parent's."""
    return path.with_name(f"{path.name}.{index}")


def _child(target: Callable[[int], None], index: int, parent: int) -> None:
    """A child's start: SIGTERM when the parent dies (killed outright, it cannot pass
    the signal on; the child would run on unsupervised), then ``target(index)``."""
    prctl = getattr(ctypes.CDLL(None), "prctl", None)  # Linux only
    if prctl is not None:
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() == parent:  # else it died before the call: nobody to serve
        target(index)


def worker_process(index: int) -> None:
    """Child ``index``: the settings from the environment (as the parent read them), its
    own liveness file, every background loop until SIGTERM or SIGINT."""
    import asyncio

    from samvad.logs import configure_logging
    from samvad.settings import Settings
    from samvad.worker import serve_worker

    settings = Settings()
    configure_logging(json=settings.log_json, level=settings.log_level)
    if settings.worker_heartbeat_file is not None:
        own = child_heartbeat_file(settings.worker_heartbeat_file, index)
        settings = settings.model_copy(update={"worker_heartbeat_file": own})
    asyncio.run(serve_worker(settings))


class Supervisor:
    """Runs ``target(index)`` in ``processes`` child processes until told to stop."""

    def __init__(self, processes: int, target: Callable[[int], None], *,
                 heartbeat_file: Path | None = None) -> None:
        self.processes = processes
        self.target = target
        self.heartbeat_file = heartbeat_file
        self.context = multiprocessing.get_context("spawn")
        self.children: dict[int, BaseProcess] = {}
        self.deaths: list[float] = []
        self.stopping = False

    def run(self) -> int:
        """Supervise until SIGTERM/SIGINT (0) or a crash loop (1)."""
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._stop)
        for index in range(self.processes):
            self._start(index)
        restart_at: dict[int, float] = {}
        next_touch = 0.0
        code = 0
        while not self.stopping:
            wait([child.sentinel for child in self.children.values()], timeout=1.0)
            now = time.monotonic()
            for index, child in list(self.children.items()):
                if child.is_alive() or index in restart_at:
                    continue
                log.error("worker_process_died", index=index, pid=child.pid,
                          exitcode=child.exitcode)
                self.deaths = [t for t in self.deaths if t > now - RESTART_WINDOW_S] + [now]
                restart_at[index] = now + RESTART_DELAY_S
            if len(self.deaths) > RESTART_LIMIT:
                log.error("worker_processes_crash_loop", deaths=len(self.deaths),
                          window_s=RESTART_WINDOW_S)
                code = 1
                break
            for index, at in list(restart_at.items()):
                if now >= at and not self.stopping:
                    del restart_at[index]
                    self._start(index)
            if self.heartbeat_file is not None and now >= next_touch:
                next_touch = now + TOUCH_EVERY_S
                self._touch(self.heartbeat_file)
        self._stop_children()
        if self.heartbeat_file is not None:
            self.heartbeat_file.unlink(missing_ok=True)
        return code

    def _stop(self, signum: int, _frame: FrameType | None) -> None:
        self.stopping = True

    def _start(self, index: int) -> None:
        child = self.context.Process(target=_child, args=(self.target, index, os.getpid()),
                                     name=f"samvad-worker-{index}")
        child.start()
        self.children[index] = child
        log.info("worker_process_started", index=index, pid=child.pid)

    def _touch(self, path: Path) -> None:
        """Touch the parent's liveness file if every child is alive and has touched its
        own file within ``FRESH_WITHIN_S`` (not before every child has started: the file
        says the loops run; a restarted child has the time its old file stays fresh)."""
        now = time.time()
        for index, child in self.children.items():
            if not child.is_alive():
                return
            try:
                touched = child_heartbeat_file(path, index).stat().st_mtime
            except FileNotFoundError:
                return
            if now - touched > FRESH_WITHIN_S:
                return
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()

    def _stop_children(self) -> None:
        """SIGTERM to each child, then wait; kill whoever outlives the grace period."""
        for child in self.children.values():
            if child.is_alive():
                child.terminate()
        deadline = time.monotonic() + STOP_GRACE_S
        for child in self.children.values():
            child.join(max(0.0, deadline - time.monotonic()))
            if child.is_alive():
                log.warning("worker_process_killed", pid=child.pid)
                child.kill()
                child.join()
