"""Notifications (bot.notifier) become outbound jobs on the route the delivery policy chose.

WhatsApp jobs carry the message as written (media as documents); the send worker turns
them into templates outside the 24-hour window, or hands them to the SMS fallback. SMS
jobs are fitted to ``SMS_SEGMENT_BUDGET`` segments in every locale (``fit_sms``): media
and long details become one short link (``bot.links.ShortLinks``: the receipt, the
certificate, the complaint page) on the last line, the text shortened with "…".
Each job carries the policy's rule in ``params["rule"]`` (the delivery record keeps it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import structlog

from bot.channel_kinds import capabilities
from bot.links import ShortLinks
from bot.messages import Outgoing
from bot.notifier import Notification, Route
from bot.services import ServiceError
from channels.base import OutboundJob, outgoing_from_dict, outgoing_to_dict
from channels.queues._outbound import OutboundQueue
from channels.render import SMS_SEGMENT_BUDGET, fit_sms
from channels.render._plain import option_lines

if TYPE_CHECKING:
    from channels.queues._fallback import SmsFallback

log = structlog.get_logger(__name__)

RULE = "rule"  # the job param naming the delivery policy's rule
DIRECT = "direct"  # the rule of a notification handed to the sink without a route


def notification_job_id(event_id: str, phone: str) -> str:
    """The job id of an event's notification to one person: ``n:<event id>:<phone>``."""
    return f"n:{event_id}:{phone}"


def notification_job(channel: str, provider: str, notification: Notification, *,
                     sender: str | None = None, rule: str = DIRECT,
                     job_id: str | None = None) -> OutboundJob:
    """The job of one notification; its id follows the notifier's once-per-event marker."""
    return OutboundJob(provider=provider, channel=channel, to=notification.phone,
                       message=outgoing_to_dict(notification.message), kind=notification.kind,
                       sender=sender, locale=notification.locale, params={RULE: rule},
                       job_id=job_id or notification_job_id(notification.event_id,
                                                            notification.phone))


def notification_to_dict(notification: Notification) -> dict[str, Any]:
    """What the SMS fallback keeps of a notification (its route is decided again)."""
    return {"phone": notification.phone, "locale": notification.locale,
            "kind": notification.kind, "message": outgoing_to_dict(notification.message),
            "event_id": notification.event_id, "case_channel": notification.case_channel,
            "details": list(notification.details) if notification.details else None}


def notification_from_dict(data: dict[str, Any]) -> Notification:
    details = data.get("details")
    return Notification(data["phone"], data.get("locale"), data["kind"],
                        outgoing_from_dict(data["message"]), data["event_id"],
                        case_channel=data.get("case_channel"),
                        details=(details[0], details[1]) if details else None)


class NotificationJobs:
    """Builds the job of a notification on its route (``links``: short links for SMS)."""

    def __init__(self, links: ShortLinks | None = None,
                 max_segments: int = SMS_SEGMENT_BUDGET) -> None:
        self.links = links
        self.max_segments = max_segments

    def job(self, notification: Notification, route: Route, provider: str,
            job_id: str | None = None) -> OutboundJob:
        """The WhatsApp job (or an SMS job before fitting)."""
        return notification_job(route.channel, provider, notification, sender=route.sender,
                                rule=route.rule, job_id=job_id)

    async def sms(self, notification: Notification, route: Route, provider: str,
                  job_id: str | None = None) -> OutboundJob:
        """The SMS job: the text within the segment budget, a short link instead of media
        (a receipt, a certificate, a photo), or to the details when the text had to be
        shortened; a message that fits whole and has nothing to show goes without one."""
        message = notification.message
        rest = [*option_lines(message.options, descriptions=False),
                *([message.footer] if message.footer else [])]
        text = fit_sms(message.text, None, self.max_segments, rest=rest)
        shortened = text != fit_sms(message.text, None, 10 ** 6, rest=rest)
        if message.media or shortened or self._document(notification):
            text = fit_sms(message.text, await self.link(notification), self.max_segments,
                           rest=rest)
        fitted = Notification(notification.phone, notification.locale, notification.kind,
                              Outgoing(text), notification.event_id)
        return self.job(fitted, route, provider, job_id)

    @staticmethod
    def _document(notification: Notification) -> bool:
        """True when the case behind the notification is a document (receipt, certificate)
        the SMS must link to; a complaint is linked only when its text was cut."""
        return notification.details is not None and notification.details[0] != "complaint"

    async def link(self, notification: Notification) -> str | None:
        """The short link to the case, else the first media link (long, but the document)."""
        media = notification.message.media
        fallback = media[0].url if media else None
        if self.links is None or notification.details is None:
            return fallback
        kind, ref = notification.details
        try:
            return await self.links.shorten(kind, ref, notification.phone) or fallback
        except ServiceError as exc:
            log.warning("short_link_failed", kind=kind, code=exc.code)
            return fallback


class NotificationSink:
    """``bot.notifier.OutboundSink`` that queues jobs; ``providers`` maps channel -> the
    configured provider (used when the route names none)."""

    def __init__(self, outbound: OutboundQueue, providers: Mapping[str, str], *,
                 jobs: NotificationJobs | None = None,
                 fallback: SmsFallback | None = None) -> None:
        self.outbound = outbound
        self.providers = providers
        self.jobs = jobs or NotificationJobs()
        self.fallback = fallback

    async def deliver(self, channel: str, notification: Notification) -> None:
        route = notification.route or Route(channel, DIRECT)
        provider = route.provider or self.providers.get(channel, "simulator")
        if capabilities(channel).segment_budget is not None:  # fitted to the budget
            job = await self.jobs.sms(notification, route, provider)
        else:
            job = self.jobs.job(notification, route, provider)
            if self.fallback is not None:
                await self.fallback.keep(job, notification)
        await self.outbound.enqueue(job)
