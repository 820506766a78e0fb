"""Chat-turn counters and latency for Prometheus, cheap enough for every turn.

A turn is counted once by ``Conversations.handle`` with its channel, the flow it ended
in and its outcome: ``ok``, ``repeat`` (a provider retry, not run again), ``busy``,
``failed`` or ``lease_lost``. Latency covers the whole turn (session load, engine,
core-API calls, save) and is observed for turns that ran.
"""

from __future__ import annotations

from functools import lru_cache

from prometheus_client import Counter, Histogram

# Menu turns take a few milliseconds; turns that call the core API tens to hundreds.
TURN_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0)

TURNS = Counter("samvad_chat_turns", "Chat turns by channel, flow and outcome",
                ["channel", "flow", "outcome"])
TURN_SECONDS = Histogram("samvad_chat_turn_seconds", "Chat turn latency by channel and flow",
                         ["channel", "flow"], buckets=TURN_BUCKETS)


@lru_cache(maxsize=512)
def _turns(channel: str, flow: str, outcome: str) -> Counter:
    return TURNS.labels(channel, flow, outcome)


@lru_cache(maxsize=512)
def _seconds(channel: str, flow: str) -> Histogram:
    return TURN_SECONDS.labels(channel, flow)


def observe_turn(channel: str, flow: str | None, outcome: str,
                 seconds: float | None = None) -> None:
    """Count one turn (and its latency when it ran)."""
    flow = flow or "none"
    _turns(channel, flow, outcome).inc()
    if seconds is not None:
        _seconds(channel, flow).observe(seconds)
