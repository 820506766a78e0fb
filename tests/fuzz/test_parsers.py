"""Inbound parsers under arbitrary provider payloads: a typed message or a clear refusal.

Twilio form fields and Meta JSON envelopes of any shape (right fields with wrong types,
unknown fields, huge numbers, NaN, control characters, other scripts) must give either
typed values (``Inbound`` / status updates / ``Ignored`` with a reason) or the parser's
own refusal (``Malformed`` / ``MalformedEnvelope``, which the webhooks answer with 400) —
never another exception, which would be a 500 and a provider retrying forever.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import get_args

import pytest
from hypothesis import example, given
from hypothesis import settings as hsettings

from bot.messages import Inbound, InboundKind
from channels.meta_whatsapp import MalformedEnvelope, parse_envelope
from channels.twilio import Ignored, Malformed, parse_inbound, parse_status
from core_api.phones import normalize_phone
from tests.fuzz.strategies import meta_envelope, twilio_form

KINDS = set(get_args(InboundKind))
pytestmark = pytest.mark.reliability


def _typed(message: Inbound) -> None:
    assert message.kind in KINDS
    assert message.sender == normalize_phone(message.sender)  # E.164
    assert message.message_id
    if message.location is not None:
        assert -90 <= message.location.lat <= 90 and -180 <= message.location.lng <= 180


def _status_envelope(timestamp: object) -> dict[str, object]:
    status = {"id": "wamid.1", "status": "delivered", "timestamp": timestamp,
              "recipient_id": "919876500001"}
    return {"object": "whatsapp_business_account", "entry": [{"changes": [{
        "field": "messages", "value": {"metadata": {"phone_number_id": "1234567890"},
                                       "statuses": [status]}}]}]}


class Tally:
    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def add(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1

    def __str__(self) -> str:
        return ", ".join(f"{n} {what}" for what, n in sorted(self.counts.items()))


def test_twilio_forms_parse_or_are_refused(reliability):
    tally = Tally()

    @hsettings(max_examples=300)
    @given(twilio_form)
    def check(form):
        try:
            parsed = parse_inbound(form, now=0.0)
        except Malformed as exc:
            assert str(exc)
            tally.add("refused 400")
        else:
            if isinstance(parsed, Ignored):
                assert parsed.reason
                tally.add("ignored with a reason")
            else:
                _typed(parsed)
                tally.add(f"{parsed.kind}")
        try:
            status = parse_status(form)
        except Malformed:
            return
        if not isinstance(status, Ignored):
            assert status.status in ("queued", "sent", "delivered", "read", "failed")

    check()
    assert sum(tally.counts.values()) >= 100
    reliability.record(
        area="fuzz", case="Twilio inbound and status form parsing (hypothesis)",
        sent=f"{sum(tally.counts.values())} arbitrary forms: known fields with any text, "
             "bad counts and coordinates, unknown fields, other channels",
        did=f"every form typed or refused: {tally}",
        lost="nothing: no unhandled exception",
    )


def test_meta_envelopes_parse_or_are_refused(reliability):
    tally = Tally()

    @hsettings(max_examples=200)
    @given(meta_envelope)
    @example(_status_envelope("1e999")).via("found by this test: a 500 on every redelivery")
    @example(_status_envelope(float("nan")))
    @example(_status_envelope(-2**70))
    def check(payload):
        try:
            envelope = parse_envelope(payload, phone_number_id="1234567890")
        except MalformedEnvelope as exc:
            assert str(exc)
            tally.add("refused 400")
            return
        for message in envelope.messages:
            _typed(message)
            tally.add(message.kind)
        for update in envelope.statuses:
            assert update.provider_message_id and update.status
            if update.at is not None:  # the webhook stores it as a datetime
                datetime.fromtimestamp(update.at, UTC)
            tally.add(f"status {update.status}")
        for item in envelope.ignored:
            assert item.reason
            tally.add("ignored with a reason")

    check()
    reliability.record(
        area="fuzz", case="Meta WhatsApp webhook envelope parsing (hypothesis)",
        sent=f"{sum(tally.counts.values())} events in 200 envelopes of mutated shape: each "
             "field right 7 times in 8, otherwise any JSON (NaN/huge timestamps, wrong "
             "types, unknown message types)",
        did=f"every envelope typed or refused: {tally}",
        lost="nothing: no unhandled exception; every status timestamp storable",
    )
