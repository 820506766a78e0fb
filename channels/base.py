"""What every provider adapter shares: outbound jobs, send results and the send-error set.

Inbound: a provider's webhook verifies the signature, parses the request into
``bot.messages.Inbound`` values, hands them to ``InboundQueue`` and answers at once;
the turn runs in a worker. Outbound: replies and notifications become ``OutboundJob``
values on the outbound queue; a sender worker delivers them through the ``Sender`` of
the job's provider. Send errors are a small closed set with a ``retryable`` flag.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

import orjson

from bot.messages import Outgoing, outgoing_from_dict
from bot.messages import outgoing_to_dict as outgoing_to_dict  # re-exported for senders


class SendErrorKind(StrEnum):
    CONFIG = "config"  # we are misconfigured (credentials, sender): not retried
    CONNECTION = "connection"  # network or 5xx: retried with backoff
    THROTTLED = "throttled"  # HTTP 429, Twilio 63018, Meta 130429/131056: retried later
    OPTED_OUT = "opted_out"  # Twilio 21610: the person opted out; not retried
    REJECTED = "rejected"  # any other refusal with a code: not retried


RETRYABLE = frozenset({SendErrorKind.CONNECTION, SendErrorKind.THROTTLED})


class SendError(Exception):
    """A failed send, classified."""

    def __init__(self, kind: SendErrorKind, code: str | None = None, detail: str = "") -> None:
        super().__init__(f"{kind}: {code or ''} {detail}".strip())
        self.kind = kind
        self.code = code
        self.detail = detail

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE


@dataclass(frozen=True)
class SendResult:
    provider_message_id: str
    status: str = "queued"  # the provider's first status


@dataclass(frozen=True)
class OutboundJob:
    """One message to deliver. ``job_id`` is unique per message and makes sending idempotent."""

    provider: str  # "twilio", "meta" or "simulator"
    channel: str  # a kind registered in ``bot.channel_kinds``
    to: str  # E.164
    message: dict[str, Any]  # outgoing_to_dict(Outgoing)
    kind: str = "reply"  # "reply", or a notification kind used to pick a template
    sender: str | None = None  # the number the person wrote to; None: the default sender
    locale: str | None = None
    params: dict[str, str] = field(default_factory=dict)  # template variables
    job_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def dumps(self) -> bytes:
        return orjson.dumps(asdict(self))

    @classmethod
    def loads(cls, raw: bytes | str) -> OutboundJob:
        return cls(**orjson.loads(raw))

    @property
    def outgoing(self) -> Outgoing:
        return outgoing_from_dict(self.message)


class Sender(Protocol):
    """Delivers one job through one provider; raises SendError.

    A sender that can also tell whether a job went out implements ``SentLookup``.
    """

    provider: str

    async def send(self, job: OutboundJob) -> SendResult: ...


@runtime_checkable
class SentLookup(Protocol):
    """A sender that can answer "did this job go out?" after a send with no known outcome
    (its worker died during the call, or the answer was lost). Twilio can (its message
    list); Meta's Cloud API cannot, so the send worker sends such a job once more there.
    """

    async def find_sent(self, job: OutboundJob, since: float) -> SendResult | None:
        """The provider's message for ``job`` created since ``since`` (unix time), or None:
        the provider says it was not sent. Raises ``SendError``: a retryable one when the
        provider cannot be asked now (ask again later), any other when it cannot tell."""
        ...
