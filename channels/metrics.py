"""The channels' Prometheus counters, with one naming scheme for every provider.

Label values come from small closed sets (providers, endpoints, outcomes, provider error
codes); each child is looked up once and cached, so counting costs a dict lookup.
"""

from __future__ import annotations

import re
from functools import lru_cache

from prometheus_client import Counter

WEBHOOK_REQUESTS = Counter(
    "samvad_webhook_requests", "Provider webhook requests by endpoint and outcome",
    ["provider", "endpoint", "outcome"])
WEBHOOK_EVENTS = Counter(
    "samvad_webhook_events", "Events inside webhook batches (Meta) by kind and outcome",
    ["provider", "event", "outcome"])
INBOUND_MESSAGES = Counter(
    "samvad_inbound_messages", "Queued inbound messages by provider and what the worker did",
    ["provider", "outcome"])  # handled, repeat, retry, dropped
SENDS = Counter(
    "samvad_outbound_sends", "Outbound send attempts by provider, channel, outcome and the "
    "provider's error code", ["provider", "channel", "outcome", "error_code"])
DELIVERY_REPORTS = Counter(
    "samvad_delivery_reports", "Provider status callbacks by status and error code",
    ["provider", "status", "error_code"])

NO_ERROR = "none"
_CODE = re.compile(r"[A-Za-z0-9_.-]{1,32}")


def error_label(code: str | None) -> str:
    """A provider error code as a label value; anything odd becomes ``other``."""
    if not code:
        return NO_ERROR
    return code if _CODE.fullmatch(code) else "other"


@lru_cache(maxsize=256)
def webhook(provider: str, endpoint: str, outcome: str) -> Counter:
    return WEBHOOK_REQUESTS.labels(provider, endpoint, outcome)


@lru_cache(maxsize=256)
def webhook_event(provider: str, event: str, outcome: str) -> Counter:
    return WEBHOOK_EVENTS.labels(provider, event, outcome)


@lru_cache(maxsize=64)
def inbound(provider: str, outcome: str) -> Counter:
    return INBOUND_MESSAGES.labels(provider, outcome)


@lru_cache(maxsize=1024)
def _send(provider: str, channel: str, outcome: str, error_code: str) -> Counter:
    return SENDS.labels(provider, channel, outcome, error_code)


def send(provider: str, channel: str, outcome: str, error_code: str | None = None) -> Counter:
    """The send-outcome counter child (sent, retry, failed, unknown, skipped)."""
    return _send(provider, channel, outcome, error_label(error_code))


@lru_cache(maxsize=1024)
def _report(provider: str, status: str, error_code: str) -> Counter:
    return DELIVERY_REPORTS.labels(provider, status, error_code)


def delivery_report(provider: str, status: str, error_code: str | None = None) -> Counter:
    return _report(provider, status, error_label(error_code))


class Labelled:
    """A counter family with its first labels fixed: ``labels(*rest)`` gives a cached child.

    Lets an endpoint keep writing ``WEBHOOKS.labels("inbound", "enqueued").inc()``.
    """

    def __init__(self, family: Counter, *fixed: str) -> None:
        self.family = family
        self.fixed = fixed
        self._children: dict[tuple[str, ...], Counter] = {}

    def labels(self, *values: str) -> Counter:
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = self.family.labels(*self.fixed, *values)
        return child


class MetaEvents:
    """Meta's counter: ``verify``/``request`` outcomes are requests, the rest batch events."""

    def labels(self, event: str, outcome: str) -> Counter:
        if event in ("verify", "request"):
            return webhook("meta", "verify" if event == "verify" else "events", outcome)
        return webhook_event("meta", event, outcome)
