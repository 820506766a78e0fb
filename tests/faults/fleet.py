"""A scaled-out deployment for fault tests: two ``samvad serve`` and two ``samvad worker``
processes (what an orchestrator runs as four containers), each killable and restartable.

- ``Fleet``: the ``Cluster`` of ``cluster.py`` with web processes on their own ports
  behind one public URL (webhooks are signed for it, as behind a load balancer) and
  background workers by number; ``kill_web(i)``/``kill_worker_process(i)`` send SIGKILL
  to the process group, ``start_web_process(i)``/``start_worker_process(i)`` start a new
  one. Prometheus multiprocess mode is on, so any web process's ``/metrics`` sums the
  counters of every process, the killed ones included.
- ``ClusterRedis``: a Redis Cluster (``tests/redis_cluster.py``) with the surface the
  harness uses of a ``RedisServer`` (``url``, ``client``, ``close``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

from redis.cluster import ClusterNode, RedisCluster

from tests.faults.cluster import (
    Cluster,
    FakeTwilio,
    Postgres,
    RedisServer,
    free_port,
    stop_processes,
    tail,
    wait_until,
)
from tests.redis_cluster import start_cluster

START_TIMEOUT_S = 90  # a process starting on a loaded 2-core machine


class ClusterRedis:
    """A 3-master Redis Cluster as the harness's Redis: ``url``, ``client``, ``close``."""

    def __init__(self, root: Path) -> None:
        self.handle = start_cluster(root / "redis-cluster")
        nodes = [ClusterNode("127.0.0.1", port) for port in self.handle.ports]
        self.client: Any = RedisCluster(startup_nodes=nodes, socket_timeout=5)

    @property
    def url(self) -> str:
        return self.handle.url

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.close()
        self.handle.stop()


class Fleet(Cluster):
    """Two web and two worker processes around one database and Redis."""

    WEBS = 2
    WORKERS = 2

    def __init__(self, root: Path, pg: Postgres, database: str,
                 redis_server: RedisServer | ClusterRedis, twilio: FakeTwilio,
                 **settings: str) -> None:
        metrics_dir = root / "metrics"
        metrics_dir.mkdir()
        super().__init__(root, pg, database, redis_server, twilio,  # type: ignore[arg-type]
                         PROMETHEUS_MULTIPROC_DIR=str(metrics_dir), **settings)
        self.ports = [self.port] + [free_port() for _ in range(self.WEBS - 1)]
        self.webs: list[subprocess.Popen[bytes] | None] = [None] * self.WEBS
        self.bots: list[subprocess.Popen[bytes] | None] = [None] * self.WORKERS
        self.restarts = {"web": 0, "worker": 0}

    def web_url(self, index: int) -> str:
        return f"http://127.0.0.1:{self.ports[index]}"

    # processes

    def start_web_process(self, index: int, *, wait: bool = True) -> None:
        """``samvad serve`` (one process) on its own port."""
        self.webs[index] = self._spawn(f"web-{index}", "serve", "--workers", "1",
                                       "--port", str(self.ports[index]))
        if wait:
            self.wait_web_process(index)

    def wait_web_process(self, index: int) -> None:
        process = self.webs[index]
        assert process is not None

        def healthy() -> bool:
            if process.poll() is not None:
                return True  # said below
            return self.http.get(self.web_url(index) + "/healthz").status_code == 200

        wait_until(healthy, START_TIMEOUT_S, f"web process {index}", pause=0.2)
        if process.poll() is not None:
            raise AssertionError(f"web {index} exited:\n{tail(self.root / f'web-{index}.log')}")

    def start_worker_process(self, index: int, *, wait: bool = True) -> None:
        log = self.root / f"worker-{index}.log"
        before = log.stat().st_size if log.exists() else 0
        # One process each (no supervisor): a kill is one worker process gone, and the
        # "Samvad worker" line means its loops run.
        self.bots[index] = self._spawn(f"worker-{index}", "worker", "--processes", "1")
        if wait:
            self.wait_worker_process(index, before)

    def wait_worker_process(self, index: int, before: int = 0) -> None:
        process = self.bots[index]
        assert process is not None
        log = self.root / f"worker-{index}.log"

        def started() -> bool:
            return process.poll() is not None or b"Samvad worker" in log.read_bytes()[before:]

        wait_until(started, START_TIMEOUT_S, f"worker process {index}", pause=0.2)
        if process.poll() is not None:
            raise AssertionError(f"worker {index} exited:\n{tail(log)}")

    def start(self) -> Fleet:
        """All four processes, started side by side."""
        for index in range(self.WEBS):
            self.start_web_process(index, wait=False)
        for index in range(self.WORKERS):
            self.start_worker_process(index, wait=False)
        for index in range(self.WEBS):
            self.wait_web_process(index)
        for index in range(self.WORKERS):
            self.wait_worker_process(index)
        return self

    @staticmethod
    def _sigkill(process: subprocess.Popen[bytes] | None) -> None:
        """SIGKILL the process group (a container killed): nothing gets to clean up."""
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)

    def kill_web(self, index: int) -> None:
        self._sigkill(self.webs[index])

    def kill_worker_process(self, index: int) -> None:
        self._sigkill(self.bots[index])

    def restart_web(self, index: int) -> None:
        self.restarts["web"] += 1
        self.start_web_process(index)

    def restart_worker(self, index: int) -> None:
        self.restarts["worker"] += 1
        self.start_worker_process(index)

    def _processes(self) -> list[subprocess.Popen[bytes]]:
        return [p for p in [*self.bots, *self.webs] if p is not None]

    def stop(self) -> None:
        stop_processes(self._processes())
        self.http.close()

    def logs(self) -> str:
        names = [f"web-{i}.log" for i in range(self.WEBS)]
        names += [f"worker-{i}.log" for i in range(self.WORKERS)]
        return "\n".join(f"--- {name}\n{tail(self.root / name)}" for name in names)

    def person_state(self, channel: str, phone: str) -> dict[str, int]:
        """What waits in Redis for one person: mailbox lengths and lock leases (ms left)."""
        state = {}
        for name in ("inbound", "outbound"):
            base = f"samvad:{{{name}:{channel}:{phone}}}"
            state[f"{name} mailbox"] = int(self.redis.llen(f"{base}:mailbox"))
            state[f"{name} lock ms"] = int(self.redis.pttl(f"{base}:lock"))
        return state

    def log_count(self, event: str) -> int:
        """How many times ``event`` was logged by any worker process (killed ones too)."""
        logs = [self.root / f"worker-{i}.log" for i in range(self.WORKERS)]
        return sum(log.read_text(errors="replace").count(f'"event":"{event}"')
                   for log in logs if log.exists())

    def counted(self, metric: str, *labels: str) -> dict[str, int]:
        """A counter of every process (the killed ones too) as ``{"label/label": count}``,
        e.g. ``counted("samvad_outbound_sends_total", "outcome", "error_code")``."""
        text = wait_until(lambda: self._scrape(), 30, "a web process to answer /metrics")
        totals: dict[str, int] = {}
        for line in text.splitlines():
            if line.startswith(metric + "{"):
                sample, _, value = line.rpartition(" ")
                name = "/".join(label(sample, key) for key in labels)
                totals[name] = totals.get(name, 0) + int(float(value))
        return totals

    def _scrape(self) -> str | None:
        for index in range(self.WEBS):
            with contextlib.suppress(Exception):
                answer = self.http.get(self.web_url(index) + "/metrics")
                if answer.status_code == 200:
                    return answer.text
        return None


def label(labels: str, name: str) -> str:
    """The value of label ``name`` in a Prometheus sample's ``{...}``."""
    return labels.split(f'{name}="', 1)[1].split('"', 1)[0]


def redis_for(kind: str, root: Path) -> RedisServer | ClusterRedis:
    """``single``: one redis-server (append-only); ``cluster``: a 3-master Redis Cluster."""
    if kind == "cluster":
        return ClusterRedis(root)
    server = RedisServer(root)
    server.start()
    return server
