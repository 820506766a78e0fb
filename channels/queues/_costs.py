"""Estimated cost of each outbound message, in rupees, for the delivery record.

Rates come from ``SAMVAD_MESSAGE_COSTS`` (JSON), every key optional::

    {"whatsapp_template": 0.115,   # a WhatsApp utility template, per message
     "whatsapp_free_form": 0,      # a free-form message inside the 24-hour window
     "sms_segment": 0.25,          # an SMS, per segment
     "kinds": {"payment_receipt": {"whatsapp_template": 0.13}}}   # per kind

An SMS is counted as the provider will send it (``render_sms``, GSM-7 or UCS-2); a
WhatsApp message costs the template rate when it goes as a template. A message that failed
costs nothing (the estimate is of what people received).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from bot.channel_kinds import capabilities
from channels.base import OutboundJob
from channels.queues._templates import TEMPLATE
from channels.render import message_segments

DEFAULT_RATES: dict[str, Decimal] = {
    "whatsapp_template": Decimal("0.115"),
    "whatsapp_free_form": Decimal("0"),
    "sms_segment": Decimal("0.25"),
}


@dataclass(frozen=True)
class Estimate:
    segments: int | None  # SMS only
    cost: Decimal  # rupees


def _rates(config: Mapping[str, Any]) -> dict[str, Decimal]:
    return {name: Decimal(str(config[name])) for name in DEFAULT_RATES if name in config}


class MessageCosts:
    """Rates per channel, overridable per message kind."""

    def __init__(self, config: Mapping[str, Any] | None = None) -> None:
        config = config or {}
        self.rates = {**DEFAULT_RATES, **_rates(config)}
        self.kinds = {kind: _rates(rates) for kind, rates in (config.get("kinds") or {}).items()}

    def rate(self, name: str, kind: str) -> Decimal:
        return self.kinds.get(kind, {}).get(name, self.rates[name])

    def estimate(self, job: OutboundJob, status: str = "sent") -> Estimate:
        """What ``job`` costs as prepared for sending (a template when its params say so)."""
        if capabilities(job.channel).segment_budget is not None:  # billed by segment
            segments = message_segments(job.channel, job.outgoing)
            cost = segments * self.rate("sms_segment", job.kind)
        else:
            segments = None
            name = "whatsapp_template" if job.params.get(TEMPLATE) else "whatsapp_free_form"
            cost = self.rate(name, job.kind)
        return Estimate(segments, Decimal(0) if status == "failed" else cost)
