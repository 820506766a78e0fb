"""Request and answer shapes of the complaints API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from core_api.chat_channel import SENT_BY_THE_BOT, ChannelKind
from core_api.complaints.models import DESCRIPTION_MAX, MAX_PHOTOS, STAFF_SOURCES
from core_api.text import FreeText

Names = dict[str, str]  # {"en": ..., "hi": ..., "pa": ..., "or": ...}


class DepartmentOut(BaseModel):
    code: str
    names: Names


class ComplaintTypeOut(BaseModel):
    code: str
    names: Names
    department: DepartmentOut
    sla_hours: int
    keywords: dict[str, list[str]] = Field(description="Matching words per language")


class CategoryOut(BaseModel):
    code: str
    names: Names
    types: list[ComplaintTypeOut]


class ComplaintIn(BaseModel):
    """A new complaint: a type, and a locality id or a map point (with an optional city)."""

    type_code: str = Field(max_length=64, examples=["StreetLightNotWorking"])
    tenant_code: str | None = Field(
        None, max_length=64, examples=["uk.dehradun"],
        description="The ULB; optional when the locality or the point determines it",
    )
    description: FreeText | None = Field(None, max_length=DESCRIPTION_MAX,
                                    description="Stored and returned exactly as given")
    locality_id: int | None = None
    lat: float | None = Field(None, ge=-90, le=90)
    lng: float | None = Field(None, ge=-180, le=180)
    address: FreeText | None = Field(None, max_length=300)
    source: ChannelKind | None = Field(
        None, description="The citizen's channel: `web` or a chat channel (staff filings are "
                          "always `csr`, and `csr` and `open311` are not accepted here). "
                          + SENT_BY_THE_BOT)
    citizen_phone: str | None = Field(
        None, max_length=32, description="Staff (CSR) only: the citizen filed for")
    citizen_name: FreeText | None = Field(None, max_length=120)

    @field_validator("source")
    @classmethod
    def _not_staff(cls, source: str | None) -> str | None:
        if source in STAFF_SOURCES:  # the server sets these; a body may not claim them
            raise ValueError(f"source {source!r} is set by the server")
        return source

    @model_validator(mode="after")
    def _where(self) -> ComplaintIn:
        if (self.lat is None) != (self.lng is None):
            raise ValueError("give both lat and lng")
        if self.locality_id is None and self.lat is None:
            raise ValueError("give locality_id or lat and lng")
        return self


class ActionIn(BaseModel):
    action: Literal["ASSIGN", "REJECT", "REASSIGN", "RESOLVE", "REOPEN", "RATE"]
    comment: FreeText | None = Field(None, max_length=DESCRIPTION_MAX,
                                description="Reason (REJECT, REOPEN, REASSIGN) or feedback (RATE). "
                                "The RESOLVE or REJECT comment is public: Open311 shows it as "
                                "the status note; the others stay internal")
    assignee_id: int | None = Field(None, description="ASSIGN / REASSIGN by the GRO: an LME")
    rating: int | None = Field(None, ge=1, le=5, description="RATE only")
    photos: list[str] = Field(default_factory=list, max_length=MAX_PHOTOS,
                              description="Keys of this complaint's photos to attach")


class RecategoriseIn(BaseModel):
    """A GRO's re-routing of an open complaint to another type (and so department)."""

    type_code: str = Field(max_length=64, examples=["GarbageNeedsTobeCleared"])
    comment: FreeText | None = Field(None, max_length=DESCRIPTION_MAX,
                                     description="Why: recorded in the history, told to the "
                                     "new department's GROs")


class PersonOut(BaseModel):
    id: int
    name: str | None
    phone: str | None = Field(None, description="Shown to staff; citizens see only their own")


class LocalityOut(BaseModel):
    id: int
    code: str
    names: Names


class TypeRef(BaseModel):
    code: str
    category_code: str
    department_code: str
    names: Names


class PhotoOut(BaseModel):
    id: int
    key: str
    url: str = Field(description="Signed, expiring download link")
    content_type: str
    size: int
    uploaded_at: datetime
    public: bool = Field(description="Shown on Open311 (staff decide: GRO, LME, ADMIN)")
    public_url: str | None = Field(description="The stable public link while public")


class PhotoVisibilityIn(BaseModel):
    public: bool = Field(description="true: Open311 may show the photo; false: private again")


class HistoryOut(BaseModel):
    action: str
    from_state: str | None
    to_state: str
    actor: PersonOut | None
    actor_role: str
    assignee: PersonOut | None
    comment: str | None
    photos: list[str] = Field(description="Signed links of the photos attached to the step")
    from_type_code: str | None = Field(None, description="RECATEGORISE: the type before")
    type_code: str | None = Field(None, description="RECATEGORISE: the type after")
    at: datetime


class ComplaintSummary(BaseModel):
    id: str = Field(examples=["PG-UK-DDN-2026-000123"])
    tenant_code: str
    type: TypeRef
    status: str
    locality: LocalityOut | None
    address: str | None
    source: str
    assignee_user_id: int | None
    rating: int | None
    reopen_count: int
    photo_count: int
    sla_due_at: datetime
    overdue: bool = Field(False, description="Still open (not resolved, rejected or closed) "
                          "and past sla_due_at")
    created_at: datetime
    updated_at: datetime


class ComplaintDetail(ComplaintSummary):
    description: str | None
    lat: float | None
    lng: float | None
    citizen: PersonOut
    assignee: PersonOut | None
    feedback: str | None
    photos: list[PhotoOut]
    history: list[HistoryOut]
    actions: list[str] = Field(description="Actions the caller may take now")


class ComplaintPage(BaseModel):
    items: list[ComplaintSummary]
    total: int
    limit: int
    offset: int
