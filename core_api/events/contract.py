"""The domain-event contract: every event type core_api publishes, its version and fields.

One place for both sides. ``core_api.events.outbox.emit`` checks each payload against
it before the event joins the transaction (``validate``: a missing required field, an
undeclared one or a wrong type raises ``EventContractError``); ``bot.notifier`` reads
the events it consumes through the same models (``read``), so a field a handler uses
is a field the producer must publish.

Why here, and why the bot may import it: the dependency direction is
``channels -> bot -> (HTTP) core_api``, and the bot never imports core_api's models.
This module is not a model of core_api: it is the published language of the events
stream, like the OpenAPI document is for the HTTP API. It imports only pydantic and
the standard library (never ``core_api.*``, the database or SQLAlchemy), and
``core_api/__init__.py`` and ``core_api/events/__init__.py`` are empty, so importing
it loads nothing else of core_api. ``tests/core_api/events/test_contract.py`` keeps
it that way.

Fields: ``x: T`` is required and must be present (``T | None`` may be null);
``x: T | None = None`` is optional and may be absent. Changing an event's fields means
raising its ``version`` (the test keeps a fingerprint per type and version).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

# The Redis stream the outbox relay publishes these events to and their readers (the
# notifier, the dashboard's live feed) consume.
EVENTS_STREAM = "samvad:events"


class EventContractError(ValueError):
    """A payload that does not match its event type's declared schema."""


class Event(BaseModel):
    """Base of every event payload: undeclared fields are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    topic: ClassVar[str]
    version: ClassVar[int]


class Person(BaseModel):
    """Somebody to notify: an employee or citizen with the language they read."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    user_id: int | None
    phone: str | None
    locale: str | None


# Complaints (core_api.complaints.service.status_payload, core_api.complaints.sla)

class ComplaintStatusChanged(Event):
    topic = "complaint.status_changed"
    version = 2
    complaint_id: str
    tenant_code: str
    status: str
    previous_status: str | None
    action: str
    comment: str | None
    citizen_user_id: int | None
    citizen_phone: str | None
    citizen_locale: str | None
    assignee_user_id: int | None
    assignee_phone: str | None
    assignee_locale: str | None
    type_code: str
    rating: int | None
    sla_due_at: str | None  # ISO 8601
    gros: list[Person] | None = None  # sent back for reassignment; a new complaint's GROs
    # v2: the chat channel the complaint was filed on ("whatsapp", "sms"; None otherwise),
    # the locality's name, and the photos attached with this action (signed links; e.g.
    # the LME's resolution photo).
    channel: str | None = None
    locality: str | None = None
    photo_urls: list[str] | None = None
    # The type's and the locality's names by language ({"en": ..., "hi": ..., "pa": ...}),
    # so that staff read them in their own language.
    type_names: dict[str, str] | None = None
    locality_names: dict[str, str] | None = None


class ComplaintCreated(ComplaintStatusChanged):
    topic = "complaint.created"
    version = 2
    source: str
    locality_id: int | None


class ComplaintRecategorised(Event):
    """A GRO moved a complaint to another type (and so, maybe, another department)."""

    topic = "complaint.recategorised"
    version = 1
    complaint_id: str
    tenant_code: str
    status: str
    from_type_code: str
    type_code: str
    comment: str | None
    actor_user_id: int | None
    locality: str | None
    gros: list[Person]  # of the new type's department
    from_type_names: dict[str, str] | None = None  # by language, as above
    type_names: dict[str, str] | None = None
    locality_names: dict[str, str] | None = None


class ComplaintSlaWarning(Event):
    topic = "complaint.sla_warning"
    version = 1
    complaint_id: str
    tenant_code: str
    status: str
    type_code: str
    deadline: str | None  # ISO 8601
    deadline_kind: str
    sla_due_at: str | None
    assignee_user_id: int | None
    assignee_name: str | None
    recipients: list[Person]


class ComplaintEscalated(ComplaintSlaWarning):
    topic = "complaint.escalated"
    version = 2
    # v2: escalation by levels (core_api/complaints/escalation.yaml): 1 = the first level;
    # ``repeat`` counts the reminders at that level (0 = first time).
    level: int = 1
    level_name: str | None = None
    repeat: int = 0


# Workflow (core_api.workflow.service)

class WorkflowTransitioned(Event):
    topic = "workflow.transitioned"
    version = 1
    business_service: str
    business_id: str
    action: str
    from_state: str | None
    to_state: str
    actor_user_id: int | None
    actor_role: str | None
    assignee_user_id: int | None
    owner_user_id: int | None


# Payments (core_api.payments.service)

class PaymentFailed(Event):
    topic = "payment.failed"
    version = 1
    bill_number: str
    service: str
    tenant: str
    intent: str
    reason: str
    payer_user_id: int | None
    payer_phone: str | None


class PaymentNeedsReview(Event):
    topic = "payment.needs_review"
    version = 1
    bill_number: str
    tenant: str
    outcome: str
    detail: str | None
    amount: str  # decimal, two places
    gateway: str
    gateway_payment_id: str | None


class PaymentCompleted(Event):
    topic = "payment.completed"
    version = 2
    bill_number: str
    service: str
    tenant: str
    consumer_number: str | None
    amount: str  # decimal, two places
    mode: str
    paid_at: str  # ISO 8601
    receipt_number: str
    receipt_link: str | None  # the signed receipt PDF
    receipt_verify_url: str | None
    payer_user_id: int | None
    payer_phone: str | None
    payer_locale: str | None
    owner_user_id: int | None
    channel: str | None = None  # v2: the chat channel the pay link was asked for on


# Certificates (core_api.certificates.service): the citizen is the request's owner.

class CertificateStatusChanged(Event):
    topic = "certificate.status_changed"
    version = 2
    request_number: str
    registration_number: str
    kind: str
    action: str
    from_status: str | None
    status: str
    comment: str | None
    fee: str
    fee_bill_number: str | None
    citizen_user_id: int | None
    citizen_phone: str | None
    citizen_locale: str | None
    # v2: the chat channel the request was made on; the registrars of the city when the
    # request waits for their approval (PENDINGAPPROVAL).
    channel: str | None = None
    approvers: list[Person] | None = None


class CertificateIssued(Event):
    topic = "certificate.issued"
    version = 2
    request_number: str
    certificate_number: str
    registration_number: str
    kind: str
    issued_at: str  # ISO 8601
    download_url: str  # the signed certificate PDF
    verify_url: str
    citizen_user_id: int | None
    citizen_phone: str | None
    citizen_locale: str | None
    channel: str | None = None  # v2: the chat channel the request was made on


EVENTS: dict[str, type[Event]] = {model.topic: model for model in (
    ComplaintCreated, ComplaintStatusChanged, ComplaintRecategorised, ComplaintSlaWarning,
    ComplaintEscalated,
    WorkflowTransitioned, PaymentFailed, PaymentNeedsReview, PaymentCompleted,
    CertificateStatusChanged, CertificateIssued,
)}


def schema_of(topic: str) -> type[Event]:
    try:
        return EVENTS[topic]
    except KeyError:
        raise EventContractError(f"event type {topic!r} has no declared schema") from None


def validate(topic: str, payload: dict[str, Any]) -> Event:
    """The publisher's check: exactly the declared fields, with their types."""
    try:
        return schema_of(topic).model_validate(payload)
    except ValidationError as exc:
        raise EventContractError(f"{topic} payload breaks its contract: {exc}") from exc


def read(topic: str, payload: dict[str, Any]) -> Event:
    """The consumer's read: declared fields must be there and well typed; fields added by a
    newer publisher (a rolling deploy) are ignored rather than refused."""
    model = schema_of(topic)
    known = {name: value for name, value in payload.items() if name in model.model_fields}
    return validate(topic, known)


def fingerprint(model: type[BaseModel]) -> str:
    """A short hash of an event's fields (names, types, required), docstrings aside."""
    def strip(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items() if k not in ("title", "description")}
        if isinstance(node, list):
            return [strip(v) for v in node]
        return node
    text = json.dumps(strip(model.model_json_schema()), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
