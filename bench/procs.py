"""Processes the benchmark starts: PostgreSQL, Redis, Samvad, the ceiling; and their costs.

CPU and resident memory come from ``/proc/<pid>/stat`` and ``/proc/<pid>/status`` (Linux),
summed over a process and its children (uvicorn's worker processes, PostgreSQL backends).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now (bind to port 0)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout_s: float, proc: subprocess.Popen | None = None) -> None:
    """Wait until something accepts connections on 127.0.0.1:``port``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout_s:.0f} s")


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                raw = handle.read().decode(errors="replace")
        except OSError:
            continue
        ppid = int(raw[raw.rindex(")") + 2:].split()[1])
        tree.setdefault(ppid, []).append(int(entry))
    return tree


def process_tree(root: int) -> list[int]:
    """``root`` and all its descendants."""
    tree, found, todo = _children(), [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(tree.get(pid, []))
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid`` (its own threads; 0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            raw = handle.read().decode(errors="replace")
    except OSError:
        return 0.0
    fields = raw[raw.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_bytes(pid: int) -> int:
    """Resident memory of ``pid``."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as handle:
            return int(handle.read().split()[1]) * PAGE_SIZE
    except OSError:
        return 0


@dataclass
class Group:
    """A named group of processes whose CPU we sum (a server with its children)."""

    name: str
    root: int
    seen: dict[int, float] = field(default_factory=dict)

    def sample(self) -> float:
        """CPU seconds of the group so far; processes that ended keep their last reading."""
        for pid in process_tree(self.root):
            value = cpu_seconds(pid)
            if value or pid not in self.seen:
                self.seen[pid] = max(value, self.seen.get(pid, 0.0))
        return sum(self.seen.values())

    def rss(self) -> dict[int, int]:
        """Resident bytes per live process of the group."""
        return {pid: rss_bytes(pid) for pid in process_tree(self.root)}


class Meter:
    """CPU seconds of several groups between ``start`` and ``stop``."""

    def __init__(self, groups: Iterable[Group]) -> None:
        self.groups = list(groups)
        self.before: dict[str, float] = {}
        self.after: dict[str, float] = {}
        self.self_before = 0.0
        self.self_after = 0.0

    @staticmethod
    def _self_cpu() -> float:
        times = os.times()
        return times.user + times.system

    def start(self) -> None:
        self.before = {g.name: g.sample() for g in self.groups}
        self.self_before = self._self_cpu()

    def stop(self) -> None:
        self.after = {g.name: g.sample() for g in self.groups}
        self.self_after = self._self_cpu()

    def cpu(self) -> dict[str, float]:
        """CPU seconds per group, and ``generator`` for this process."""
        spent = {name: self.after[name] - self.before.get(name, 0.0) for name in self.after}
        spent["generator"] = self.self_after - self.self_before
        return spent


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the benchmark process dies (Linux), so a
    killed run leaves no server behind."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Service:
    """A subprocess we started; stopped with SIGTERM (then SIGKILL) on its own process group."""

    def __init__(self, name: str, args: list[str], *, env: Mapping[str, str] | None = None,
                 log: Path, cwd: Path | None = None) -> None:
        self.name = name
        self.log_path = log
        self.log = open(log, "ab")
        self.proc = subprocess.Popen(args, env=dict(env) if env else None, cwd=cwd,  # noqa: S603 - our own commands
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True, preexec_fn=_die_with_parent)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def group(self) -> Group:
        return Group(self.name, self.proc.pid)

    def stop(self, timeout_s: float = 10.0) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.log.close()


def python() -> str:
    """The interpreter running the benchmark (the project's venv)."""
    return sys.executable


def samvad_cli() -> list[str]:
    """How to call the ``samvad`` command from this interpreter."""
    return [python(), "-m", "samvad.cli"]
