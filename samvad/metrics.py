"""``GET /metrics``: Prometheus text (or OpenMetrics), one process or many.

The counters and histograms live next to the code they count:

- ``samvad_chat_turns_total{channel,flow,outcome}``, ``samvad_chat_turn_seconds{channel,flow}``
  (``bot/metrics.py``);
- ``samvad_webhook_requests_total{provider,endpoint,outcome}``,
  ``samvad_webhook_events_total{provider,event,outcome}``,
  ``samvad_inbound_messages_total{provider,outcome}``,
  ``samvad_outbound_sends_total{provider,channel,outcome,error_code}``,
  ``samvad_delivery_reports_total{provider,status,error_code}`` (``channels/metrics.py``);
- ``samvad_send_possible_duplicates_total{provider,channel}``: jobs sent once more after
  an unknown outcome the provider could not resolve (``channels/queues/_sending.py``);
- ``samvad_sla_events_total{event}`` (``core_api/complaints/sla.py``);
- ``samvad_login_failures_total{reason}``, ``samvad_login_backoffs_total{scope}``,
  ``samvad_login_lockouts_total`` (``core_api/auth/throttle.py``).

``samvad_queue_depth{queue,state}`` is read from Redis when scraped (one round trip):
doorbells ``waiting`` for a worker, ``in_progress`` (read, not yet acknowledged) and
mailboxes ``scheduled`` for a retry or a rate-limit wait. ``samvad_inbound_queue_age_seconds``
(two more): how long the oldest inbound message no worker has taken up yet has waited
(0 when none waits); alert on it well before ``SAMVAD_BUSY_AFTER_S``, past which citizens
are told "we are busy" (``channels/queues/_overload.py``).

Several processes (``samvad serve --workers N`` plus ``samvad worker`` on one host) share
their figures through ``PROMETHEUS_MULTIPROC_DIR``: set it, to an empty directory, in the
environment of every process before they start; any of them then answers ``/metrics``
for all of them (prometheus_client's multiprocess mode).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from typing import Any

import structlog
from fastapi import Request
from fastapi.responses import Response
from prometheus_client import REGISTRY
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from redis.asyncio import Redis

from channels.queues import queue_age, queue_keys

log = structlog.get_logger(__name__)

QUEUES = ("inbound", "outbound")
FALLBACK_LAG_CAP = 1000  # Redis < 7 has no lag: count at most this many unread doorbells


def multiprocess_dir() -> str | None:
    """The shared directory of multiprocess mode, when configured."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.environ.get("prometheus_multiproc_dir")


class _Sources:
    """Several collectors exposed as one (no registration, so nothing is global)."""

    def __init__(self, *sources: Any) -> None:
        self.sources = sources

    def collect(self) -> Iterator[Metric]:
        for source in self.sources:
            yield from source.collect()


class _Depths(Collector):
    def __init__(self, depths: dict[tuple[str, str], float], inbound_age_s: float) -> None:
        self.depths = depths
        self.inbound_age_s = inbound_age_s

    def collect(self) -> Iterable[Metric]:
        family = GaugeMetricFamily("samvad_queue_depth", "Queued work by queue and state, "
                                   "read from Redis when scraped", labels=["queue", "state"])
        for (queue, state), value in sorted(self.depths.items()):
            family.add_metric([queue, state], value)
        yield family
        yield GaugeMetricFamily("samvad_inbound_queue_age_seconds",
                                "How long the oldest inbound message waiting for a worker has "
                                "waited, read from Redis when scraped", value=self.inbound_age_s)


async def queue_depths(redis: Redis) -> dict[tuple[str, str], float]:
    """Waiting, in-progress and scheduled work of each queue (one round trip on Redis 7)."""
    pipe = redis.pipeline(transaction=False)
    for queue in QUEUES:
        names = queue_keys(queue)
        pipe.xinfo_groups(names.stream)
        pipe.zcard(names.due)
    replies = await pipe.execute(raise_on_error=False)
    depths: dict[tuple[str, str], float] = {}
    for index, queue in enumerate(QUEUES):
        groups, scheduled = replies[2 * index], replies[2 * index + 1]
        depths[(queue, "scheduled")] = float(scheduled) if isinstance(scheduled, int) else 0.0
        group = None
        if isinstance(groups, list):
            group = next((g for g in groups if _text(g.get("name")) == queue_keys(queue).group),
                         None)
        if group is None:  # no worker ever read this queue
            depths[(queue, "in_progress")] = 0.0
            depths[(queue, "waiting")] = await _unread(redis, queue, "0-0")
            continue
        depths[(queue, "in_progress")] = float(group.get("pending") or 0)
        lag = group.get("lag")
        if lag is None:
            lag = await _unread(redis, queue, _text(group.get("last-delivered-id")) or "0-0")
        depths[(queue, "waiting")] = float(lag)
    return depths


async def _unread(redis: Redis, queue: str, after: str) -> float:
    entries = await redis.xrange(queue_keys(queue).stream, min=f"({after}", max="+",
                                 count=FALLBACK_LAG_CAP)
    return float(len(entries or ()))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value or "")


_multiprocess: Any = None


def _process_figures() -> Any:
    """This process's registry, or every process's figures in multiprocess mode."""
    global _multiprocess
    if multiprocess_dir() is None:
        return REGISTRY
    if _multiprocess is None:
        from prometheus_client import multiprocess

        _multiprocess = multiprocess.MultiProcessCollector(None)
    return _multiprocess


async def metrics_endpoint(request: Request) -> Response:
    """The figures of this process (or of all, in multiprocess mode) and the queue depths."""
    sources: list[Any] = [_process_figures()]
    try:
        redis = request.app.state.redis
        sources.append(_Depths(await queue_depths(redis), await queue_age(redis, time.time())))
    except Exception as exc:  # Redis down: the other figures are still worth scraping
        log.warning("queue_depth_unavailable", error=type(exc).__name__)
    encoder, content_type = choose_encoder(request.headers.get("accept", ""))
    return Response(encoder(_Sources(*sources)), media_type=content_type)
