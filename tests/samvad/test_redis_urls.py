"""``SAMVAD_REDIS_URL``: one server, a Redis Cluster or Sentinel, each on a real server.

The forms are parsed into redis-py's own clients (credentials and TLS options included);
the cluster and the sentinel run on 127.0.0.1 (``tests/redis_cluster.py``), and the
queues work through both: a message admitted, its turn run, its reply sent.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis as sync_redis
from redis.asyncio import Redis
from redis.asyncio.sentinel import SentinelManagedSSLConnection
from redis.crc import key_slot
from redis.exceptions import TimeoutError as RedisTimeoutError

from bot.engine import Turn
from bot.messages import Inbound, Outgoing
from bot.session import Session
from channels.queues import (
    ContactWindows,
    InboundQueue,
    InboundWorker,
    Mailboxes,
    OutboundQueue,
    SendPolicy,
    SendWorker,
)
from samvad.redis_runtime import RedisCluster, connect
from tests.channels.queue_fakes import FakeClock, FakeSender, RecordedReports
from tests.redis_cluster import SentinelHandle, start_sentinel

pytestmark = pytest.mark.timeout(60)

P = "+919876500001"


def test_a_cluster_url_gives_a_cluster_client_with_its_credentials_and_tls() -> None:
    client = connect("rediss+cluster://samvad:s%40cret@10.0.0.1:7000,10.0.0.2,"
                     "[::1]:7002?ssl_cert_reqs=none&socket_timeout=2.5")
    assert isinstance(client, RedisCluster)
    nodes = [(node.host, node.port) for node in client.startup_nodes]
    assert nodes == [("10.0.0.1", 7000), ("10.0.0.2", 6379), ("::1", 7002)]
    kwargs = client.get_connection_kwargs()
    assert (kwargs["username"], kwargs["password"]) == ("samvad", "s@cret")
    assert kwargs["ssl_cert_reqs"] == "none" and kwargs["socket_timeout"] == 2.5
    assert kwargs["connection_class"].__name__ == "SSLConnection"
    assert not client.get_encoder().decode_responses  # sessions store bytes
    # A command that timed out may have run: the cluster client does not repeat it.
    assert RedisTimeoutError not in RedisCluster.ERRORS_ALLOW_RETRY


def test_a_sentinel_url_names_its_service_database_and_both_passwords() -> None:
    client = connect("rediss+sentinel://:master-pw@10.0.0.1,10.0.0.2:26380/samvad/2"
                     "?sentinel_password=sentinel-pw&ssl_cert_reqs=none")
    pool = client.connection_pool
    assert pool.service_name == "samvad"
    assert pool.connection_class is SentinelManagedSSLConnection
    assert pool.connection_kwargs["password"] == "master-pw"
    assert pool.connection_kwargs["db"] == 2
    assert pool.connection_kwargs["ssl_cert_reqs"] == "none"
    assert not client.get_encoder().decode_responses
    sentinels = pool.sentinel_manager.sentinels
    assert [s.connection_pool.connection_kwargs["port"] for s in sentinels] == [26379, 26380]
    asked = sentinels[0].connection_pool.connection_kwargs
    assert asked["password"] == "sentinel-pw" and asked["ssl_cert_reqs"] == "none"


def test_one_server_urls_still_give_one_client() -> None:
    for url in ("redis://127.0.0.1:6379/1", "rediss://h:6380/0", "unix:///tmp/redis.sock"):
        client = connect(url)
        assert type(client) is Redis, url
        assert client.connection_pool.connection_kwargs["socket_timeout"] == 5


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:6379", "redis+cluster://", "redis+cluster://h:x",
    "redis+cluster://h:7000/3", "redis+sentinel://h:26379", "redis+sentinel://h/svc/x",
    "redis+replica://h:1", "redis+cluster://h:7000?no_such_option=1", "127.0.0.1:6379",
    "redis+sentinel://h/svc?no_such_option=1", "rediss+sentinel://h/svc?ssl_no_such=1",
])
def test_a_bad_url_is_refused_naming_the_accepted_forms(url: str) -> None:
    with pytest.raises(ValueError, match=r"accepted: redis://.*redis\+cluster://.*"
                                         r"redis\+sentinel://"):
        connect(url)


async def test_a_cluster_url_runs_scripts_on_every_node(redis_cluster_url: str) -> None:
    client = connect(redis_cluster_url)
    try:
        Mailboxes(client, "inbound")  # the encoder check passes on a cluster client
        script = client.register_script(
            "redis.call('SET', KEYS[1], ARGV[1]) return redis.call('GET', KEYS[1])")
        tags = [f"samvad:{{t{n}}}:probe" for n in range(40)]
        assert len({key_slot(key.encode()) * 3 // 16384 for key in tags}) == 3  # all nodes
        for key in tags:
            assert await script(keys=[key], args=[key]) == key.encode()
        await client.delete(*tags)  # keys of many slots: split per slot by the client
        assert await client.exists(*tags) == 0
    finally:
        await client.aclose()


@pytest.fixture(scope="module")
def sentinel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SentinelHandle]:
    handle = start_sentinel(Path(tmp_path_factory.mktemp("sentinel")))
    yield handle
    handle.stop()


class Echo:
    """Answers each message with its text."""

    async def handle(self, inbound: Inbound, **_: object) -> Turn:
        return Turn(Session(locale="en_IN"), [Outgoing(f"echo {inbound.text}")])

    async def answered(self, inbound: Inbound) -> None:
        return None


async def test_the_queues_work_through_a_sentinel_url(sentinel: SentinelHandle) -> None:
    client = connect(sentinel.url)
    try:
        await client.flushdb()
        clock = FakeClock()
        inbound = InboundQueue(client, clock=clock)
        outbound = OutboundQueue(client)
        sid = f"SM{uuid.uuid4().hex}"
        message = Inbound(channel="sms", sender=P, text="hello", message_id=sid)
        assert await inbound.admit(message, "fake", seen_key=f"fake:{sid}",
                                   seen_ttl_s=60) == "accept"
        assert await inbound.admit(message, "fake", seen_key=f"fake:{sid}",
                                   seen_ttl_s=60) == "duplicate"
        turns = InboundWorker(inbound, Echo(), outbound, consumer="w1",  # type: ignore[arg-type]
                              clock=clock)
        assert await turns.consume_once() == 1
        sender = FakeSender(clock)
        sending = SendWorker(outbound, {"fake": sender}, reports=RecordedReports(),
                             windows=ContactWindows(client), templates=None,
                             policy=SendPolicy(), clock=clock, consumer="s1")
        assert await sending.consume_once() == 1
        assert sender.texts(P) == ["echo hello"]
        assert await inbound.waiting("sms", P) == []
        # It all went to the master the sentinel named.
        master: Any = sync_redis.Redis(port=sentinel.master_port)
        assert master.xlen("samvad:inbound") == 2  # the admission's ring, the retry's ring
        master.close()
    finally:
        await client.aclose()
