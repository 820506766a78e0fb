"""Open311 GeoReport v2 (JSON) at /open311/v2: read services and requests, post a request.

Reading is public, as GeoReport intends, and shows nothing personal (what exactly:
``core_api.open311.service``); an ``api_key`` from ``SAMVAD_OPEN311_API_KEYS`` posts
requests and reads those of its tenant in full (typed description, exact pin). Photos staff
made public are served at ``/open311/v2/media/<id>``. Every error here is answered in
GeoReport form, ``[{"code": 400, "description": "..."}]``, not in the core API envelope.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import FastAPI, Form, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute, APIRouter
from pydantic import BaseModel
from sqlalchemy import select

from core_api.auth.principal import covers
from core_api.complaints import service as complaints
from core_api.complaints.models import DESCRIPTION_MAX, Complaint, ComplaintPhoto
from core_api.db import SessionDep
from core_api.errors import APIError
from core_api.open311 import service
from core_api.open311.service import Open311Error


class ServiceOut(BaseModel):
    service_code: str
    service_name: str
    description: str
    metadata: bool
    type: str
    keywords: str
    group: str


class ServiceRequestOut(BaseModel):
    service_request_id: str
    status: str
    status_notes: str | None
    service_name: str
    service_code: str
    description: str | None
    agency_responsible: str | None
    service_notice: str | None
    requested_datetime: str
    updated_datetime: str | None
    expected_datetime: str | None
    address: str | None
    address_id: str | None
    zipcode: str | None
    lat: float | None
    long: float | None
    media_url: str | None


class PostedRequestOut(BaseModel):
    service_request_id: str
    service_notice: str
    account_id: str


class Open311ErrorOut(BaseModel):
    code: int
    description: str


def _describe(exc: RequestValidationError) -> str:
    parts = []
    for error in exc.errors():
        location = [str(p) for p in error.get("loc", ()) if p not in ("query", "body", "path")]
        parts.append(f"{'.'.join(location) or 'request'}: {error.get('msg')}")
    return "; ".join(parts) or "The request is not valid."


class Open311Route(APIRoute):
    """Turns the core API's errors into GeoReport errors; the request still rolls back."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except APIError as exc:
                raise Open311Error(exc.status_code, exc.message) from exc
            except RequestValidationError as exc:
                raise Open311Error(400, _describe(exc)) from exc

        return route


ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": list[Open311ErrorOut], "description": "GeoReport error list"}
    for status in (400, 403, 404)
}

router = APIRouter(prefix="/open311/v2", tags=["open311"], route_class=Open311Route,
                   responses=ERRORS)


def install_open311_errors(app: FastAPI) -> None:
    """Answer Open311Error in GeoReport form (register next to the router)."""

    async def _answer(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Open311Error)
        return JSONResponse([{"code": exc.code, "description": exc.description}],
                            status_code=exc.code)

    app.add_exception_handler(Open311Error, _answer)


ApiKeyQuery = Annotated[str | None, Query(
    max_length=200, description="Optional: a client's key reads its tenant's requests in full "
    "(typed description, exact location)")]


def _key_tenant(request: Request, api_key: str | None) -> tuple[bool, str | None]:
    """Whether ``api_key`` is valid and the tenant it is limited to (None: every tenant);
    403 for a key that is given but not valid."""
    if not api_key:
        return False, None
    for key, tenant in request.app.state.settings.open311_key_scopes.items():
        if hmac.compare_digest(api_key.encode(), key.encode()):
            return True, tenant
    raise Open311Error(403, "api_key is not valid.")


def _reader(request: Request, api_key: str | None) -> service.Reader:
    keyed, tenant = _key_tenant(request, api_key)
    return service.Reader(keyed=keyed, key_tenant=tenant,
                          descriptions=request.app.state.settings.open311_descriptions)


def _public_url(request: Request) -> str:
    return str(request.app.state.settings.public_url)


@router.get("/services.json", response_model=list[ServiceOut],
            summary="GeoReport services: the complaint types")
async def list_services(
    session: SessionDep,
    jurisdiction_id: Annotated[str | None, Query(examples=["uk.dehradun"])] = None,
) -> list[dict[str, Any]]:
    """Every active complaint type; the catalogue is the same in every city of the state."""
    await service.jurisdiction(session, jurisdiction_id)
    return await service.services(session)


@router.get("/requests.json", response_model=list[ServiceRequestOut],
            summary="GeoReport service requests (default: the last 90 days, at most 1000)")
async def list_requests(
    request: Request,
    session: SessionDep,
    jurisdiction_id: Annotated[str | None, Query(examples=["uk.dehradun"])] = None,
    service_request_id: Annotated[str | None, Query(description="Comma-separated ids")] = None,
    service_code: Annotated[str | None, Query(description="Comma-separated codes")] = None,
    start_date: str | None = None,
    end_date: str | None = None,
    status: Annotated[str | None, Query(description="open, closed or both")] = None,
    api_key: ApiKeyQuery = None,
) -> list[dict[str, Any]]:
    reader = _reader(request, api_key)
    scope = await service.jurisdiction(session, jurisdiction_id)
    query = service.request_query(
        scope=scope, ids=service.split_list(service_request_id),
        service_codes=service.split_list(service_code),
        start=service.parse_moment("start_date", start_date),
        end=service.parse_moment("end_date", end_date),
        statuses=[s.lower() for s in service.split_list(status)],
    )
    rows = list(await session.scalars(query))
    return await service.service_requests(session, rows, reader, _public_url(request))


@router.get("/requests/{service_request_id}.json", response_model=list[ServiceRequestOut],
            summary="One GeoReport service request (a list of one)")
async def get_request(
    service_request_id: str,
    request: Request,
    session: SessionDep,
    jurisdiction_id: str | None = None,
    api_key: ApiKeyQuery = None,
) -> list[dict[str, Any]]:
    reader = _reader(request, api_key)
    scope = await service.jurisdiction(session, jurisdiction_id)
    query = service.request_query(scope=scope, ids=[service_request_id], service_codes=[],
                                  start=None, end=None, statuses=[])
    rows = list(await session.scalars(query))
    if not rows:
        raise Open311Error(404, f"Service request {service_request_id} was not found.")
    return await service.service_requests(session, rows, reader, _public_url(request))


@router.get("/media/{public_id}", response_class=Response,
            summary="A complaint photo that staff made public (the media_url of a request)",
            responses={200: {"content": {"image/jpeg": {}, "image/png": {}, "image/webp": {}}}})
async def public_media(
    public_id: Annotated[str, Path(max_length=32, pattern=r"^[A-Za-z0-9_-]+$")],
    request: Request,
    session: SessionDep,
) -> Response:
    """The stored image as it is; 404 once staff made it private again."""
    photo = await session.scalar(select(ComplaintPhoto).where(
        ComplaintPhoto.public_id == public_id, ComplaintPhoto.public.is_(True)))
    if photo is None:
        raise Open311Error(404, "No public photo has this id.")
    data = await request.app.state.files.get(photo.file_key)
    return Response(data, media_type=photo.content_type, headers={
        # Short-lived caches, so that making a photo private again takes effect soon.
        "Cache-Control": "public, max-age=300",
        "X-Content-Type-Options": "nosniff",
        "Cross-Origin-Resource-Policy": "cross-origin",
    })


def _check_api_key(request: Request, api_key: str | None) -> str | None:
    """The tenant the posting key is limited to (None: every tenant); 403 without a key."""
    if not api_key:
        raise Open311Error(403, "api_key was not provided or is not valid.")
    return _key_tenant(request, api_key)[1]


@router.post("/requests.json", response_model=list[PostedRequestOut], status_code=201,
             summary="Create a service request (form-encoded, needs an api_key)")
async def post_request(
    request: Request,
    session: SessionDep,
    api_key: Annotated[str | None, Form()] = None,
    jurisdiction_id: Annotated[str | None, Form()] = None,
    service_code: Annotated[str | None, Form()] = None,
    lat: Annotated[float | None, Form(ge=-90, le=90)] = None,
    long: Annotated[float | None, Form(ge=-180, le=180)] = None,
    address_string: Annotated[str | None, Form(max_length=300)] = None,
    phone: Annotated[str | None, Form(max_length=32)] = None,
    first_name: Annotated[str | None, Form(max_length=60)] = None,
    last_name: Annotated[str | None, Form(max_length=60)] = None,
    email: Annotated[str | None, Form(max_length=254)] = None,
    description: Annotated[str | None, Form()] = None,
) -> list[dict[str, Any]]:
    """The complaint is filed for the citizen with ``phone`` (created if new), source open311.
    ``media_url`` is not fetched; ``email`` is accepted but not stored."""
    key_tenant = _check_api_key(request, api_key)
    if not service_code:
        raise Open311Error(400, "service_code was not provided.")
    if (lat is None) != (long is None):
        raise Open311Error(400, "Give both lat and long.")
    if lat is None and not (address_string and address_string.strip()):
        raise Open311Error(400, "Give lat and long, or address_string.")
    if not phone:
        raise Open311Error(400, "phone is required: the complaint is tracked by the "
                                "citizen's number.")
    if description is not None and len(description) > DESCRIPTION_MAX:
        raise Open311Error(400, f"description may have at most {DESCRIPTION_MAX} characters.")
    scope = await service.jurisdiction(session, jurisdiction_id)
    if scope is None and lat is None:
        raise Open311Error(400, "jurisdiction_id was not provided.")
    complaint_type = await complaints.get_type(session, service_code)
    # A state-level jurisdiction lets the point choose the city.
    placement = await complaints.place(
        session, tenant_code=scope.code if scope is not None and scope.level == "ulb" else None,
        lat=lat, lng=long, address_hint=address_string,
    )
    if scope is not None and not covers(scope.code, placement.tenant.code):
        raise Open311Error(400, "That location is outside the jurisdiction.")
    if key_tenant is not None and not covers(key_tenant, placement.tenant.code):
        raise Open311Error(403, "This api_key may not file requests in that city.")
    name = " ".join(part.strip() for part in (first_name, last_name) if part and part.strip())
    citizen = await complaints.ensure_citizen(session, phone, name or None)
    complaint: Complaint = await complaints.file_complaint(
        session, placement=placement, complaint_type=complaint_type, citizen_id=citizen.id,
        principal=complaints.citizen_principal(citizen), source="open311",
        description=description, lat=lat, lng=long,
        address=address_string.strip() if address_string else None,
    )
    return [{"service_request_id": complaint.complaint_no,
             "service_notice": service.service_notice(complaint),
             "account_id": citizen.uuid}]
