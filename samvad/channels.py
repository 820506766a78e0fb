"""Assembles the channel machinery: queues, provider senders, delivery record, templates."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from bot.links import ShortLinks
from channels.queues import (
    ChannelServices,
    ContactWindows,
    DeliveryPolicy,
    InboundQueue,
    MessageCosts,
    MessageStatusStore,
    NotificationJobs,
    NotificationSink,
    OutboundQueue,
    SendPolicy,
    SmsFallback,
    TemplateBook,
    whatsapp_templates,
)
from channels.registry import build_senders

# Provider calls: a connection must open fast; an answer may take a while.
PROVIDER_TIMEOUT = httpx.Timeout(15.0, connect=3.0)
# Kept-alive provider connections: at least the send worker's mailboxes in flight (32), so
# a fan-out reuses connections instead of opening and closing one per message (httpx keeps
# 20 by default; the profile of bench/scale_fanout.py showed the churn).
PROVIDER_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=64)


def build_channel_services(app: FastAPI) -> ChannelServices:
    """The channel services of ``app`` (called once in the lifespan, after the dialog)."""
    settings = app.state.settings
    redis = app.state.redis
    client = app.state.conversations.client
    windows = ContactWindows(redis)
    # Short leases, renewed by the workers' heartbeat; a dead worker's doorbells are
    # reclaimed after one lease (the default of ``reclaim_idle_ms``).
    lease_ms = round(settings.mailbox_lease_s * 1000)
    outbound = OutboundQueue(redis, lease_ms=lease_ms)
    http = httpx.AsyncClient(timeout=PROVIDER_TIMEOUT, limits=PROVIDER_LIMITS)
    senders = build_senders(settings, http, redis)
    providers = {"whatsapp": settings.whatsapp_provider, "sms": settings.sms_provider}
    delivery = DeliveryPolicy(windows, providers, sessions=app.state.conversations.store,
                              senders=senders.keys())
    jobs = NotificationJobs(ShortLinks(client))
    fallback = SmsFallback(redis, outbound, delivery, jobs)
    return ChannelServices(
        inbound=InboundQueue(redis, windows=windows, lease_ms=lease_ms,
                             reclaim_idle_ms=lease_ms),
        outbound=outbound,
        statuses=MessageStatusStore(client, costs=MessageCosts(settings.message_costs),
                                    fallback=fallback),
        senders=senders,
        notifications=NotificationSink(outbound, providers, jobs=jobs, fallback=fallback),
        delivery=delivery,
        fallback=fallback,
        windows=windows,
        templates=TemplateBook(whatsapp_templates(settings.whatsapp_templates),
                               settings.sms_dlt_templates),
        policy=SendPolicy(max_attempts=settings.send_max_attempts,
                          retry_base_s=settings.send_retry_base_s, rate=settings.send_rate,
                          burst=settings.send_burst,
                          resolve_after_s=PROVIDER_TIMEOUT.read or 15.0),
        http=http,
    )
