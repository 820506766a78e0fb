"""Assembles the channel machinery: queues, provider senders, delivery record, templates."""

from __future__ import annotations

import math

import httpx
from fastapi import FastAPI

from bot.links import ShortLinks
from channels.provider_http import AiohttpTransport
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
from samvad.settings import Settings

# Provider calls: a connection must open fast; an answer may take a while.
PROVIDER_TIMEOUT = httpx.Timeout(15.0, connect=3.0)
# Sends in flight in one process at most: the send worker's mailboxes (its concurrency).
SENDS_IN_FLIGHT = 32


def provider_connections(settings: Settings) -> int:
    """Provider connections one process keeps: one per send in flight. The rate limit lets
    a burst (``SAMVAD_SEND_BURST``, default one second of ``SAMVAD_SEND_RATE``) start at
    once and then ``rate`` a second, so a burst plus a second's sends are in flight while
    the provider takes up to a second to answer; never more than the send worker's
    mailboxes. Kept alive: a fan-out reuses them instead of opening one per message."""
    if settings.send_rate <= 0:
        return SENDS_IN_FLIGHT
    rate = math.ceil(settings.send_rate)
    return min(SENDS_IN_FLIGHT, (settings.send_burst or rate) + rate)


def provider_client(settings: Settings) -> httpx.AsyncClient:
    """The provider senders' client (see ``channels.provider_http``)."""
    return httpx.AsyncClient(timeout=PROVIDER_TIMEOUT,
                             transport=AiohttpTransport(provider_connections(settings)))


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
    http = provider_client(settings)
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
