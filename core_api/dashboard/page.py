"""GET /dashboard: the administrators' page, rendered on the server with SVG charts.

Staff log in with the same username/phone and password as ``POST /api/v1/auth/token``;
the access token goes into an HttpOnly, SameSite=Strict cookie (Secure on https), so page
scripts never see it. The page's script (our origin, no CDN) listens on
``/dashboard/events`` (server-sent events fed by the domain event stream) and fetches
``/dashboard/fragment`` again when a complaint, payment or certificate changes in scope;
it also refreshes every minute as a fallback. Every value from the database is escaped.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import date, datetime
from html import escape
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import FileResponse, RedirectResponse, Response, StreamingResponse
from fastapi.security import OAuth2PasswordRequestForm
from sqlalchemy import select

from core_api.auth.deps import get_principal
from core_api.auth.endpoints import login
from core_api.auth.principal import Principal
from core_api.dashboard import queries
from core_api.dashboard.endpoints import COOKIE, TABLES, resolve_scope
from core_api.dashboard.svg import bar_chart, column_chart
from core_api.db import SessionDep
from core_api.errors import APIError, Forbidden, NotFound
from core_api.events.contract import EVENTS_STREAM
from core_api.tenants.models import Tenant

router = APIRouter(include_in_schema=False)

STATIC = Path(__file__).parent / "static"
ASSETS = {"dashboard.js": "text/javascript", "dashboard.css": "text/css"}
CSP = ("default-src 'self'; img-src 'self'; style-src 'self'; script-src 'self'; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
       "frame-ancestors 'none'")
HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
           "Content-Security-Policy": CSP, "Referrer-Policy": "no-referrer"}
SSE_MAX_S = 300.0  # a stream ends after this; EventSource reconnects on its own
SSE_BLOCK_MS = 2000
LIVE_TOPICS = ("complaint.", "payment.", "certificate.", "receipt.")


# Resolved within SLA, resolved late, open past SLA, open within SLA.
SLA_COLOURS = ("#008069", "#b7791f", "#9b2c2c", "#2f6fb0")


def _html(body: str, status: int = 200) -> Response:
    return Response(body, status_code=status, media_type="text/html; charset=utf-8",
                    headers=HEADERS)


def _document(title: str, main: str) -> str:
    return ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{escape(title)}</title>"
            "<link rel=\"icon\" href=\"/simulator/static/icon.svg\" type=\"image/svg+xml\">"
            "<link rel=\"stylesheet\" href=\"/dashboard/static/dashboard.css\">"
            "<script src=\"/dashboard/static/dashboard.js\" defer></script>"
            f"</head><body>{main}</body></html>")


def _login_page(message: str | None = None, status: int = 200) -> Response:
    error = f'<p class="error" role="alert">{escape(message)}</p>' if message else ""
    return _html(_document("Samvad dashboard: log in", f"""
<main class="login panel">
  <h1>Samvad dashboard</h1>
  <p class="lede">For municipal staff. Log in with your username or phone number.</p>
  {error}
  <form method="post" action="/dashboard/login">
    <label class="field">Username or phone
      <input name="username" autocomplete="username" required maxlength="64"></label>
    <label class="field">Password
      <input name="password" type="password" autocomplete="current-password" required
             maxlength="200"></label>
    <button type="submit">Log in</button>
  </form>
</main>"""), status)


def _same_origin(request: Request) -> bool:
    """A form post from our own page, by the browser's Fetch metadata and Origin.

    Our pages send no referrer, so browsers may say ``Origin: null``; Sec-Fetch-Site still
    tells a cross-site form apart. Clients that send neither (curl, tests) are let through.
    """
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    return origin in (None, "null") or urlsplit(origin).netloc == request.headers.get("host")


async def _cookie_principal(request: Request, session: Any) -> Principal | None:
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    try:
        principal = await get_principal(request, session, token, None)
    except APIError:
        return None
    return principal if principal.is_staff else None


@router.post("/dashboard/login")
async def dashboard_login(request: Request, session: SessionDep,
                          username: Annotated[str, Form(max_length=64)],
                          password: Annotated[str, Form(max_length=200)]) -> Response:
    if not _same_origin(request):
        raise Forbidden("Log in from the dashboard page.", code="cross_origin")
    try:
        token = await login(request, session,
                            OAuth2PasswordRequestForm(username=username, password=password))
    except APIError as exc:
        return _login_page(exc.message, status=exc.status_code)
    response = RedirectResponse("/dashboard", status_code=303)
    secure = request.app.state.settings.public_url.startswith("https") or (
        request.url.scheme == "https")
    response.set_cookie(COOKIE, token.access_token, max_age=token.expires_in, httponly=True,
                        secure=secure, samesite="strict", path="/")
    return response


@router.post("/dashboard/logout")
async def dashboard_logout(request: Request) -> Response:
    if not _same_origin(request):
        raise Forbidden("Log out from the dashboard page.", code="cross_origin")
    response = RedirectResponse("/dashboard", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


def _params(request: Request) -> tuple[str | None, date | None, date | None]:
    q = request.query_params
    try:
        day_from = date.fromisoformat(q["from"]) if q.get("from") else None
        day_to = date.fromisoformat(q["to"]) if q.get("to") else None
    except ValueError:
        day_from = day_to = None  # a mangled date falls back to the default range
    return (q.get("tenantId") or None), day_from, day_to


async def _figures(request: Request, session: Any, principal: Principal
                   ) -> tuple[queries.Scope, str]:
    tenant_id, day_from, day_to = _params(request)
    scope = await resolve_scope(session, principal, tenant_id, day_from, day_to)
    data = await queries.summary(session, scope, request.app.state.db.is_sqlite)
    return scope, render_figures(data, scope)


@router.get("/dashboard")
async def dashboard_page(request: Request, session: SessionDep) -> Response:
    principal = await _cookie_principal(request, session)
    if principal is None:
        return _login_page()
    try:
        scope, figures = await _figures(request, session, principal)
    except APIError as exc:
        return _html(_document("Samvad dashboard", f'<main class="panel"><p class="error">'
                                                   f'{escape(exc.message)}</p>'
                                                   f'<a href="/dashboard">Back</a></main>'),
                     exc.status_code)
    tenants = [t for t in await session.scalars(select(Tenant).order_by(Tenant.code))
               if principal.can_see_tenant(t.code)]
    options = "".join(
        f'<option value="{escape(t.code)}"{" selected" if t.code == scope.tenant else ""}>'
        f"{escape(t.name_en)} ({escape(t.code)})</option>" for t in tenants)
    who = escape(principal.name or "staff")
    main = f"""
<header class="bar">
  <h1>Samvad dashboard</h1>
  <form class="filters" method="get" action="/dashboard">
    <label>Tenant <select name="tenantId" id="tenant">{options}</select></label>
    <label>From <input type="date" name="from" id="from" value="{scope.day_from}"></label>
    <label>To <input type="date" name="to" id="to" value="{scope.day_to}"></label>
    <button type="submit">Show</button>
  </form>
  <span class="live" id="live" aria-live="polite">connecting…</span>
  <form method="post" action="/dashboard/logout" class="logout">
    <span class="who">{who}</span><button type="submit">Log out</button></form>
</header>
<main id="figures" class="figures">{figures}</main>"""
    return _html(_document("Samvad dashboard", main))


@router.get("/dashboard/fragment")
async def dashboard_fragment(request: Request, session: SessionDep) -> Response:
    principal = await _cookie_principal(request, session)
    if principal is None:
        return _html("", 401)
    _scope, figures = await _figures(request, session, principal)
    return _html(figures)


@router.get("/dashboard/events")
async def dashboard_events(request: Request, session: SessionDep) -> Response:
    """Server-sent events: ``changed`` whenever a domain event touches the tenant in view."""
    principal = await _cookie_principal(request, session)
    if principal is None:
        return Response(status_code=401)
    tenant_id, day_from, day_to = _params(request)
    scope = await resolve_scope(session, principal, tenant_id, day_from, day_to)
    redis = request.app.state.redis
    latest = await redis.xrevrange(EVENTS_STREAM, count=1)
    start = latest[0][0] if latest else b"0-0"
    return StreamingResponse(_event_stream(request, redis, set(scope.tenants), start),
                             media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value or "")


async def _event_stream(request: Request, redis: Any, tenants: set[str],
                        last: Any) -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    ends = loop.time() + SSE_MAX_S
    yield "retry: 3000\nevent: ready\ndata: {}\n\n"
    while loop.time() < ends and not await request.is_disconnected():
        entries = await redis.xread({EVENTS_STREAM: last}, block=SSE_BLOCK_MS, count=200)
        topics = []
        for _stream, items in entries or ():
            for entry_id, fields in items:
                last = entry_id
                topic = _text(fields.get(b"topic", fields.get("topic")))
                tenant = _text(fields.get(b"tenant", fields.get("tenant")))
                if topic.startswith(LIVE_TOPICS) and tenant in tenants:
                    topics.append(topic)
        if topics:
            yield f"event: changed\ndata: {json.dumps(sorted(set(topics)))}\n\n"
        else:
            yield ": keep-alive\n\n"


@router.get("/dashboard/static/{name}")
async def dashboard_asset(name: str) -> FileResponse:
    media_type = ASSETS.get(name)
    if media_type is None:
        raise NotFound("No such file.", code="not_found")
    return FileResponse(STATIC / name, media_type=media_type,
                        headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"})


# ------------------------------------------------------------------ rendering


def _table(rows: list[dict[str, Any]], columns: list[tuple[str, str]]) -> str:
    if not rows:
        return ""
    head = "".join(f"<th>{escape(title)}</th>" for _, title in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape('' if row.get(key) is None else str(row.get(key)))}"
                         f"</td>" for key, _ in columns) + "</tr>" for row in rows)
    return f'<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _csv_link(table: str, scope: queries.Scope) -> str:
    query = urlencode({"tenantId": scope.tenant, "from": scope.day_from.isoformat(),
                       "to": scope.day_to.isoformat()})
    assert table in TABLES
    return (f'<a class="csv" href="/api/v1/dashboard/{table}.csv?{escape(query)}" '
            f'download>CSV</a>')


def _section(title: str, table: str, scope: queries.Scope, chart: str, rows: str) -> str:
    return (f'<section class="card" data-table="{table}"><h2>{escape(title)} '
            f"{_csv_link(table, scope)}</h2>{chart}{rows}</section>")


def _kpi(figure: str, label: str, value: Any) -> str:
    shown = "—" if value is None else value
    return (f'<div class="kpi"><span class="label">{escape(label)}</span>'
            f'<span class="value" data-figure="{figure}">{escape(str(shown))}</span></div>')


def render_figures(data: dict[str, Any], scope: queries.Scope) -> str:
    """The figures part of the page (also what the live refresh swaps in)."""
    c, money, certs, chat = (data["complaints"], data["collections"], data["certificates"],
                             data["chat"])
    sla, rating = c["sla"], c["ratings"]
    kpis = "".join((
        _kpi("complaints-total", "Complaints", c["total"]),
        _kpi("sla-compliance", "SLA compliance %", sla["compliance_percent"]),
        _kpi("sla-breaches", "SLA breaches", sla["breaches"]),
        _kpi("resolution-hours", "Avg. resolution (h)", c["resolution"]["average_hours"]),
        _kpi("resolutions-confirmed", "Resolutions confirmed", c["resolution"]["confirmed"]),
        _kpi("resolutions-auto-closed", "Auto-closed", c["resolution"]["auto_closed"]),
        _kpi("rating-average", "Avg. rating (1-5)", rating["average"]),
        _kpi("collections-total", "Collected ₹", money["total_amount"]),
        _kpi("certificates-total", "Certificate requests", certs["total"]),
        _kpi("conversations-total", "Conversations", chat["conversations_total"]),
    ))
    sections = [
        _section("Complaints by status", "complaints_by_status", scope,
                 bar_chart([(r["status"], r["count"]) for r in c["by_status"]], "By status"),
                 ""),
        _section("Complaints by category", "complaints_by_category", scope,
                 bar_chart([(r["name"], r["count"]) for r in c["by_category"]], "By category"),
                 ""),
        _section("Complaints by ward", "complaints_by_ward", scope,
                 bar_chart([(r["ward"], r["count"]) for r in c["by_ward"][:15]], "By ward"), ""),
        _section("SLA", "sla", scope,
                 bar_chart([("Resolved within SLA", sla["resolved_within_sla"]),
                            ("Resolved late", sla["resolved_late"]),
                            ("Open, past SLA", sla["open_past_sla"]),
                            ("Open, within SLA", sla["open_within_sla"])], "SLA",
                           SLA_COLOURS), ""),
        _section("Oldest open complaints", "oldest_open", scope, "",
                 _table([{**row, "created_at": _ist(row["created_at"]),
                          "sla_due_at": _ist(row["sla_due_at"])} for row in c["oldest_open"]],
                        [("complaint_no", "Number"), ("tenant", "ULB"), ("type", "Type"),
                         ("status", "Status"), ("created_at", "Filed (IST)"),
                         ("sla_due_at", "SLA due (IST)"), ("description", "Description")])
                 or '<p class="empty">No open complaints.</p>'),
        _section("Citizen ratings", "ratings", scope,
                 bar_chart([(f"{r['rating']} ★", r["count"]) for r in rating["distribution"]],
                           "Ratings") if rating["count"] else
                 '<p class="empty">No ratings in this range.</p>', ""),
        _section("Collections per day (₹)", "collections_by_day", scope,
                 column_chart([(r["day"], float(r["amount"])) for r in money["by_day"]],
                              "Collections per day"), ""),
        _section("Collections per bill type", "collections_by_bill_type", scope,
                 bar_chart([(r["bill_type"], float(r["amount"])) for r in money["by_bill_type"]],
                           "Per bill type"),
                 _table(money["by_bill_type"], [("bill_type", "Bill type"),
                                                ("payments", "Payments"), ("amount", "₹")])),
        _section("Certificate requests by state", "certificates_by_state", scope,
                 bar_chart([(r["state"], r["count"]) for r in certs["by_state"]], "By state"),
                 ""),
        _section("Conversations per day", "chat_conversations", scope,
                 column_chart(_per_day(chat["conversations"]), "Conversations per day"),
                 _table(chat["conversations"], [("day", "Day"), ("channel", "Channel"),
                                                ("locale", "Language"), ("count", "Count")])),
        _section("Flow funnel (arrivals per step)", "chat_funnel", scope, "",
                 _table(chat["funnel"], [("flow", "Flow"), ("step", "Step"),
                                         ("reached", "Reached"), ("drop_off", "Drop-off"),
                                         ("percent_of_start", "% of start")])
                 or '<p class="empty">No chat activity in this range.</p>'),
        _section("Messages sent", "chat_messages", scope,
                 bar_chart([(f"{r['channel']} {r['status']}", r["count"])
                            for r in chat["messages"]], "Messages")
                 if scope.level == "state" else
                 '<p class="empty">Message outcomes are shown for the state.</p>', ""),
        _section(f"Estimated messaging cost: ₹{chat['message_costs']['total']:,.2f}",
                 "message_costs", scope, "",
                 _table(chat["message_costs"]["by_channel"],
                        [("channel", "Channel"), ("messages", "Messages"),
                         ("segments", "SMS segments"), ("cost", "Cost (₹)")])
                 or '<p class="empty">Message costs are shown for the state.</p>'),
    ]
    stamp = escape(data["generated_at"][:19].replace("T", " "))
    return (f'<div class="kpis">{kpis}</div><div class="grid">{"".join(sections)}</div>'
            f'<p class="stamp">Figures as of {stamp} UTC · {escape(scope.tenant)} · '
            f"{scope.day_from} to {scope.day_to}</p>")


def _ist(moment: str) -> str:
    return datetime.fromisoformat(moment).astimezone(queries.KOLKATA).strftime("%d %b %Y %H:%M")


def _per_day(rows: list[dict[str, Any]]) -> list[tuple[str, float]]:
    totals: dict[str, float] = {}
    for row in rows:
        totals[row["day"]] = totals.get(row["day"], 0) + row["count"]
    return sorted(totals.items())
