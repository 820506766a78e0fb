"""Channel messages API (service credential only): the send workers and provider webhooks.

- ``POST /channel-messages``: a worker records a job (create or update by ``job_id``);
- ``POST /channel-messages/batch``: many records in one request and one SQL statement (a
  send worker fanning out notifications);
- ``POST /channel-messages/status``: a webhook reports a provider status by the provider's
  message id; statuses never move backwards (``delivered`` is not undone by ``sent``);
- ``POST /channel-messages/statuses``: many statuses in one request and one SQL statement
  (the webhooks' callbacks, gathered by ``MessageStatusStore.update``);
- ``GET /channel-messages/costs``: estimated cost per channel of the recorded jobs, by
  period, recipient, job id prefix or kind (the delivery record keeps each message's
  delivery rule, SMS segments and estimated cost);
- ``GET /channel-messages/{job_id}``: one record.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal, TypeVar

from fastapi import APIRouter, Depends, Query
from pydantic import AwareDatetime, BaseModel, Field
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core_api.auth.deps import CurrentPrincipal
from core_api.auth.principal import Principal
from core_api.chat_channel import SENT_BY_THE_BOT, ChannelKind
from core_api.db import SessionDep
from core_api.errors import ERROR_RESPONSES, Forbidden, NotFound
from core_api.messaging.models import ChannelMessage
from core_api.messaging.service import (
    JobRecord,
    StatusReport,
    message_by_job,
    message_costs,
    record_job,
    record_jobs,
    record_status,
    record_statuses,
)

router = APIRouter(prefix="/channel-messages", tags=["channel messages"],
                   responses=ERROR_RESPONSES)

Status = Literal["queued", "unknown", "sent", "delivered", "read", "failed"]
E164 = r"^\+[1-9]\d{6,14}$"
MAX_BATCH = 500  # records per batch request
CLAIM_RETRIES = 3  # writes again after a collision with early provider statuses
T = TypeVar("T")


async def _service_only(principal: CurrentPrincipal) -> Principal:
    if not principal.is_service:
        raise Forbidden("This is for the channel service only.", code="service_only")
    return principal


ServiceOnly = Annotated[Principal, Depends(_service_only)]


class ChannelMessageIn(BaseModel):
    job_id: str = Field(min_length=1, max_length=200)
    provider: str = Field(min_length=1, max_length=16, examples=["twilio"])
    channel: ChannelKind = Field(description=SENT_BY_THE_BOT, examples=["sms"])
    to: str = Field(pattern=E164, examples=["+919876500001"])
    kind: str = Field("reply", max_length=40)
    status: Status
    provider_message_id: str | None = Field(None, max_length=100)
    error_code: str | None = Field(None, max_length=20)
    attempts: int = Field(0, ge=0, le=1000)
    rule: str | None = Field(None, max_length=40, examples=["case_channel"],
                             description="The delivery policy's rule that chose the channel")
    segments: int | None = Field(None, ge=0, le=100, description="SMS segments")
    cost: Decimal | None = Field(None, ge=0, le=1000, decimal_places=4,
                                 description="Estimated cost in rupees")


class StatusIn(BaseModel):
    provider: str = Field(min_length=1, max_length=16)
    provider_message_id: str = Field(min_length=1, max_length=100)
    status: Status
    error_code: str | None = Field(None, max_length=20)
    at: AwareDatetime | None = Field(None, description="When the provider saw it (default now)")


class ChannelMessageOut(BaseModel):
    job_id: str | None
    provider: str
    channel: str | None
    to: str | None
    kind: str | None
    provider_message_id: str | None
    status: Status
    error_code: str | None
    attempts: int
    rule: str | None
    segments: int | None
    cost: Decimal | None
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None
    delivered_at: datetime | None
    read_at: datetime | None
    failed_at: datetime | None

    @classmethod
    def of(cls, row: ChannelMessage) -> ChannelMessageOut:
        return cls.model_validate(row, from_attributes=True)


async def write_claiming(session: AsyncSession, write: Callable[[bool], Awaitable[T]]) -> T:
    """``write(False)``; when a provider status came first for one of its messages (the
    write hits its row: IntegrityError), roll back and ``write(True)``, which claims those
    rows. Again a few times: another callback can come in between. The upsert is
    idempotent, so writing again is safe."""
    claim = False
    for _ in range(CLAIM_RETRIES):
        try:
            return await write(claim)
        except IntegrityError:
            await session.rollback()
            claim = True
    return await write(True)


@router.post("", response_model=ChannelMessageOut, summary="Record an outbound job")
async def post_message(body: ChannelMessageIn, session: SessionDep,
                       _principal: ServiceOnly) -> ChannelMessageOut:
    rec = JobRecord(**body.model_dump())
    row = await write_claiming(session, lambda claim: record_job(session, rec, claim=claim))
    return ChannelMessageOut.of(row)


class ChannelMessageBatchIn(BaseModel):
    records: list[ChannelMessageIn] = Field(min_length=1, max_length=MAX_BATCH)


class ChannelMessageBatchOut(BaseModel):
    recorded: int


class StatusBatchIn(BaseModel):
    statuses: list[StatusIn] = Field(min_length=1, max_length=MAX_BATCH)


@router.post("/batch", response_model=ChannelMessageBatchOut,
             summary="Record many outbound jobs at once")
async def post_messages(body: ChannelMessageBatchIn, session: SessionDep,
                        _principal: ServiceOnly) -> ChannelMessageBatchOut:
    """Each record as ``POST /channel-messages`` would write it, in the order given, all
    in one SQL statement."""
    recs = [JobRecord(**item.model_dump()) for item in body.records]
    count = await write_claiming(session, lambda claim: record_jobs(session, recs, claim=claim))
    return ChannelMessageBatchOut(recorded=count)


@router.post("/status", response_model=ChannelMessageOut, summary="Apply a provider status")
async def post_status(body: StatusIn, session: SessionDep,
                      _principal: ServiceOnly) -> ChannelMessageOut:
    row = await record_status(session, body.provider, body.provider_message_id, body.status,
                              error_code=body.error_code, at=body.at)
    return ChannelMessageOut.of(row)


@router.post("/statuses", response_model=ChannelMessageBatchOut,
             summary="Apply many provider statuses at once")
async def post_statuses(body: StatusBatchIn, session: SessionDep,
                        _principal: ServiceOnly) -> ChannelMessageBatchOut:
    """Each status as ``POST /channel-messages/status`` would apply it, in the order given,
    all in one SQL statement; nothing is read back."""
    count = await record_statuses(session, [StatusReport(**item.model_dump())
                                            for item in body.statuses])
    return ChannelMessageBatchOut(recorded=count)


class CostLineOut(BaseModel):
    channel: str
    messages: int
    segments: int
    cost: Decimal


class CostsOut(BaseModel):
    total: Decimal = Field(description="Estimated cost in rupees")
    messages: int
    by_channel: list[CostLineOut]


@router.get("/costs", response_model=CostsOut, summary="Estimated messaging cost")
async def get_costs(
    session: SessionDep, _principal: ServiceOnly,
    since: Annotated[AwareDatetime | None, Query()] = None,
    until: Annotated[AwareDatetime | None, Query()] = None,
    to: Annotated[str | None, Query(pattern=E164)] = None,
    job_prefix: Annotated[str | None, Query(max_length=200)] = None,
    kind: Annotated[str | None, Query(max_length=40)] = None,
) -> CostsOut:
    """The recorded jobs' estimated cost per channel (failed messages count nothing)."""
    lines = await message_costs(session, since=since, until=until, to=to,
                                job_prefix=job_prefix, kind=kind)
    return CostsOut(total=sum((line.cost for line in lines), Decimal(0)),
                    messages=sum(line.messages for line in lines),
                    by_channel=[CostLineOut(channel=line.channel, messages=line.messages,
                                            segments=line.segments, cost=line.cost)
                                for line in lines])


@router.get("/{job_id}", response_model=ChannelMessageOut, summary="One outbound job")
async def get_message(job_id: str, session: SessionDep,
                      _principal: ServiceOnly) -> ChannelMessageOut:
    row = await message_by_job(session, job_id)
    if row is None:
        raise NotFound("No such message.")
    return ChannelMessageOut.of(row)
