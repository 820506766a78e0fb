"""Employees' tasks in the chat: the operations and helpers of flow employee_tasks (the
category and type lists and the photo links, which file_complaint uses too, are in
``bot.shared_actions``).

A task list longer than one list question is paged: where rows carry a description
(WhatsApp) a page ends in a "More tasks" row (the page after the last is the first again);
where the list is numbered text billed by segment (SMS) in "Next" / "Previous" rows. The
page sizes keep a Hindi session under 1 KB and an SMS page within three segments: an SMS in
an Indian script is UCS-2 (67 characters a segment, not 153), so its pages and lines are
shorter.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx
import structlog

from bot.core_client import CallContext, CoreClient, Operation
from bot.i18n import lang, translate
from bot.labels import ROW_TITLE_MAX, latest_note, local_name, shorten, status_name, yes_no
from bot.media import MediaError, fetch_media
from bot.services import Helper, ServiceError
from bot.session import Session
from bot.shared_actions import (
    MAX_COMPLAINT_PHOTOS,
    PHOTOS_DEADLINE_S,
    channel_of,
    complaint_catalogue,
    option_row,
    photo_failure,
    post_complaint_photo,
)

TASKS_PER_PAGE = 6  # rows with a description (WhatsApp)
# Numbered text billed by segment (SMS), by the encoding the employee's language needs.
TASKS_PER_TEXT_PAGE = {"gsm7": 5, "ucs2": 4}
TASK_TEXT_LABEL_MAX = {"gsm7": 34, "ucs2": 29}  # "Streetlights, Rajpur #12 overdue"
STAFF_INBOX_PAGE = 100  # the API's largest page
STAFF_INBOX_MAX = 500  # tasks listed at most per inbox query (five API pages)
STAFF_LME_ROWS = 9
# The citizen's description as the details repeat it (an SMS must stay within its budget).
TASK_TEXT_MAX = 300
TASK_TEXT_MAX_BY_SEGMENT = 60
GRO_STATES = ("PENDINGFORASSIGNMENT", "PENDINGFORREASSIGNMENT")
LME_STATES = ("PENDINGATLME",)
APPROVAL_STATE = "PENDINGAPPROVAL"
CERTIFICATE_PROCESS = "BND-CERT"
# The flow's action ids, by what the API offers the caller (a REASSIGN by the GRO in
# PENDINGFORREASSIGNMENT is an assignment; by the LME in PENDINGATLME a send-back).
COMPLAINT_ACTS = {"ASSIGN": "assign", "REJECT": "reject", "RESOLVE": "resolve"}
CERTIFICATE_ACTS = {"APPROVE": "approve", "REJECT": "reject"}
STAFF_ACT_ORDER = ("assign", "resolve", "approve", "send_back", "reject", "recategorise")
NEXT_PAGE, PREVIOUS_PAGE = "next", "prev"  # the list's paging rows (never a task number)

_staff_log = structlog.get_logger("bot.employee_tasks")


# --- the task list --------------------------------------------------------------------------


def _text_encoding(session: Session) -> str | None:
    """Where the task list is numbered text billed by segment (SMS): ``gsm7`` when this
    locale's list goes as GSM-7 (English), else ``ucs2``. None where rows carry a
    description (WhatsApp)."""
    if channel_of(session).segment_budget is None:
        return None
    return "gsm7" if translate(session.locale, "employee_tasks.pick_page").isascii() else "ucs2"


def _task_row(number: str, kind: str, names: tuple[str, ...], place: str, due: str,
              overdue: bool, session: Session) -> dict[str, Any]:
    """A list row: id ``i``, label ``l``, for WhatsApp a description ``d`` (the row title is
    short), for a certificate request kind ``k`` ``r``, and ``due`` for sorting. Every row
    names the type, the place (a certificate: the person on the record), the number's
    serial ("#123") and, when its due time has passed, says "overdue" in the employee's
    language. The type is the first of ``names`` that fits ("No streetlight"), else the
    shortest ("Streetlights" for "Streetlight not working")."""
    locale = session.locale
    flag = translate(locale, "employee_tasks.overdue") if overdue else ""
    row: dict[str, Any] = {"i": number, "k": kind, "due": due}
    serial = f"#{_serial(number)}"
    encoding = _text_encoding(session)
    if encoding is None:
        room = ROW_TITLE_MAX - len("10. ")  # WhatsApp numbers titles that repeat
        row["l"] = shorten(_fitting(names, room), room)
        about = ", ".join(part for part in (flag, place) if part)
        note_room = channel_of(session).list_row_description_max - len(serial) - 1
        row["d"] = f"{shorten(about, note_room)} {serial}"
    else:
        # The locality stays whole when it can (it tells apart tasks of one type).
        tail = f" {serial}" + (f" {flag}" if flag else "")
        room = TASK_TEXT_LABEL_MAX[encoding] - len(tail)
        place = shorten(place, max(room // 2, 6))
        name_room = room - len(place) - 2
        name = shorten(_fitting(names, name_room), max(name_room, 4))
        row["l"] = f"{name}, {place}{tail}"
    return row


def _fitting(names: tuple[str, ...], room: int) -> str:
    """The first of ``names`` within ``room`` characters, else the shortest."""
    present = [name for name in names if name] or ["-"]
    return next((name for name in present if len(name) <= room), min(present, key=len))


def _serial(number: str) -> str:
    """"123" of "PG-UK-DDN-2026-000123": enough to tell a task from its neighbours in a
    list row (the details show the whole number)."""
    match = re.search(r"(\d+)$", number)
    return (match.group(1).lstrip("0") or "0") if match else number


def _is_past(moment: str) -> bool:
    """A certificate request's decision is overdue (complaints come flagged by the API,
    whose clock runs their SLA)."""
    when = datetime.fromisoformat(str(moment))
    return when.astimezone(UTC) < datetime.now(UTC)


async def _my_roles(client: CoreClient, ctx: CallContext) -> set[str]:
    """The roles the employee holds (in any tenant), from the user the verified number
    belongs to (``POST /citizens`` finds it, as on first contact; it changes nothing)."""
    me = await client.request("POST", "/api/v1/citizens", ctx.phone, json={"phone": ctx.phone})
    return {str(grant["role"]) for grant in (me or {}).get("roles", [])}


async def _inbox(client: CoreClient, phone: str,
                 params: dict[str, Any]) -> list[dict[str, Any]]:
    """Every complaint of an inbox query, oldest first, through the API's pages (at most
    ``STAFF_INBOX_MAX``: the API cannot order by due time, so the list is sorted here)."""
    rows: list[dict[str, Any]] = []
    while len(rows) < STAFF_INBOX_MAX:
        query = {**params, "limit": STAFF_INBOX_PAGE, "offset": len(rows), "order": "oldest"}
        page = await client.request("GET", "/api/v1/complaints", phone, params=query) or {}
        items = page.get("items") or []
        rows += items
        if not items or len(rows) >= int(page.get("total") or 0):
            break
    return rows


async def _complaint_tasks(client: CoreClient, ctx: CallContext,
                           roles: set[str]) -> list[dict[str, Any]]:
    """GRO: complaints waiting for (re)assignment in their cities; LME: those assigned to
    them. As rows, in the employee's language."""
    queries: list[dict[str, Any]] = []
    if "GRO" in roles:
        queries.append({"status": list(GRO_STATES)})
    if "LME" in roles:
        queries.append({"status": list(LME_STATES), "assignee": "me"})
    found: dict[str, dict[str, Any]] = {}
    for params in queries:
        for row in await _inbox(client, ctx.phone, params):
            found[row["id"]] = row
    locale = ctx.session.locale
    categories = {c["code"]: c.get("names") or {} for c in await complaint_catalogue(client)}
    rows = []
    for row in found.values():
        # "Streetlights, Rajpur" reads better than "Streetlight no…, Rajpur".
        names = (local_name(row["type"]["names"], locale),
                 local_name(categories.get(row["type"].get("category_code", "")), locale))
        locality = row.get("locality") or {}
        place = local_name(locality.get("names"), locale) if locality else ""
        rows.append(_task_row(row["id"], "c", names, place or row.get("address") or "-",
                              row["sla_due_at"], bool(row.get("overdue")), ctx.session))
    return rows


async def _certificate_due(client: CoreClient, phone: str, row: dict[str, Any]) -> str:
    """When the registrar's decision is due (the approval state's SLA)."""
    number = quote(str(row["request_number"]), safe="")
    process = await client.request(
        "GET", f"/api/v1/workflow/processes/{CERTIFICATE_PROCESS}/{number}", phone) or {}
    return str(process.get("state_sla_due_at") or process.get("sla_due_at")
               or row["updated_at"])


async def _certificate_tasks(client: CoreClient, ctx: CallContext) -> list[dict[str, Any]]:
    """Registrar: certificate requests waiting for approval (the API's largest page)."""
    rows = await client.request("GET", "/api/v1/certificate-requests", ctx.phone,
                                params={"status": APPROVAL_STATE, "limit": 100}) or []
    dues = await asyncio.gather(*(_certificate_due(client, ctx.phone, row) for row in rows))
    locale = ctx.session.locale
    return [_task_row(row["request_number"], "r",
                      (translate(locale, f"employee_tasks.cert.{row['kind']}"),),
                      (row.get("name_hi") if lang(locale) == "hi" else None)
                      or row.get("name") or "-", due, _is_past(due), ctx.session)
            for row, due in zip(rows, dues, strict=True)]


def _task_page(rows: list[dict[str, Any]], wanted: Any, session: Session) -> dict[str, Any]:
    """Page ``wanted`` (1-based, kept within the pages there are) of the sorted rows, with
    the paging rows this channel uses; all of them when they fit one list question."""
    encoding = _text_encoding(session)
    if encoding is None:
        size = TASKS_PER_PAGE
        fits = size + 1  # a list without "More"
    else:
        size = TASKS_PER_TEXT_PAGE[encoding]
        # The rows one SMS page shows (UCS-2: no more than a page of tasks).
        fits = channel_of(session).list_rows if encoding == "gsm7" else size
    if len(rows) <= fits:
        return {"p": 1, "last": 1, "from": 1 if rows else 0, "to": len(rows), "items": rows}
    last = -(-len(rows) // size)
    try:
        page = min(max(int(float(str(wanted))), 1), last)
    except ValueError:
        page = 1
    first = (page - 1) * size
    items = rows[first:first + size]
    locale = session.locale
    if encoding is None:
        items.append({"i": NEXT_PAGE, "l": translate(locale, "employee_tasks.opt_more")})
    else:
        if page < last:
            items.append({"i": NEXT_PAGE, "l": translate(locale, "employee_tasks.opt_next")})
        if page > 1:
            items.append({"i": PREVIOUS_PAGE,
                          "l": translate(locale, "employee_tasks.opt_previous")})
    return {"p": page, "last": last, "from": first + 1,
            "to": first + len(rows[first:first + size]), "items": items}


async def staff_tasks(client: CoreClient, args: dict[str, Any], ctx: CallContext) -> Any:
    """One page (``page``, 1-based; none: the first) of the employee's tasks, the soonest due
    first, as options: ``{n, p, last, from, to, x, items: [{i, l, d?, k?}]}``: ``n`` counts
    them all, page ``p`` of ``last``, ``from``-``to`` the numbers of its tasks, a task's
    number is ``x`` + its ``i``, and a longer list ends each page in paging rows (ids
    ``next``, ``prev``). GROs get the
    complaints waiting for (re)assignment, LMEs those assigned to them, registrars the
    certificate requests waiting for approval."""
    roles = await _my_roles(client, ctx)
    rows = await _complaint_tasks(client, ctx, roles) if roles & {"GRO", "LME"} else []
    if "REGISTRAR" in roles:
        rows += await _certificate_tasks(client, ctx)
    rows.sort(key=lambda row: datetime.fromisoformat(str(row["due"])))
    page = _task_page(rows, args.get("page") or 1, ctx.session)
    prefix = _shared_prefix([str(row["i"]) for row in page["items"] if "due" in row])
    page["items"] = [{key: value[len(prefix):] if key == "i" and "due" in row else value
                      for key, value in row.items()
                      if key not in ("due", "k") or (key == "k" and value == "r")}
                     for row in page["items"]]
    return {"n": len(rows), "x": prefix, **page}


def _shared_prefix(numbers: list[str]) -> str:
    """What the numbers on a page share up to a "-" ("PG-UK-DDN-2026-"): kept once as
    ``x``, so that the rows' ids (and the session) stay short."""
    if not numbers:
        return ""
    first, last = min(numbers), max(numbers)  # what these share, all of them share
    same = next((i for i, (a, b) in enumerate(zip(first, last, strict=False)) if a != b),
                min(len(first), len(last)))
    return first[:first.rfind("-", 0, same) + 1]


# --- one task -------------------------------------------------------------------------------


def _offered(acts: list[str], locale: str | None) -> list[dict[str, str]]:
    """The flow's actions as options ``[{i, l}]`` in a fixed order."""
    return [{"i": act, "l": translate(locale, f"employee_tasks.act.{act}")}
            for act in STAFF_ACT_ORDER if act in acts]


def _complaint_acts(state: str, actions: list[str]) -> list[str]:
    """The flow's actions on a complaint. The GRO who may assign or reject it may also move
    it to another category (``POST .../category``; not a workflow action, so the API's
    ``actions`` do not name it)."""
    acts = [COMPLAINT_ACTS[a] for a in actions if a in COMPLAINT_ACTS]
    if "REASSIGN" in actions:
        acts.append("send_back" if state == "PENDINGATLME" else "assign")
    if state in GRO_STATES and {"ASSIGN", "REASSIGN", "REJECT"} & set(actions):
        acts.append("recategorise")
    return acts


def _map_link(lat: Any, lng: Any) -> str:
    """An https OpenStreetMap link with a marker at the citizen's pin ("" without one): it
    opens in the browser or map app of any phone, where a ``geo:`` link often does not.
    Only staff flows show it (the exact pin is never on a public surface)."""
    if lat is None or lng is None:
        return ""
    at = [f"{float(value):.5f}".rstrip("0").rstrip(".") for value in (lat, lng)]
    return (f"https://www.openstreetmap.org/?mlat={at[0]}&mlon={at[1]}"
            f"#map=18/{at[0]}/{at[1]}")


def _task_text_max(session: Session) -> int:
    """How much of the citizen's description the details repeat."""
    by_segment = channel_of(session).segment_budget is not None
    return TASK_TEXT_MAX_BY_SEGMENT if by_segment else TASK_TEXT_MAX


async def _complaint_task(client: CoreClient, number: str, ctx: CallContext) -> dict[str, Any]:
    row = await client.request("GET", f"/api/v1/complaints/{quote(number, safe='')}",
                               ctx.phone, not_found_ok=True)
    if row is None:
        return {"gone": "yes"}
    locale = ctx.session.locale
    locality = row.get("locality") or {}
    citizen = row.get("citizen") or {}
    text = " ".join(str(row.get("description") or "").split())
    return {"id": row["id"], "k": "c", "s": row["status"],
            "type": local_name(row["type"]["names"], locale),
            "place": (local_name(locality.get("names"), locale) if locality else "")
            or row.get("address") or "-",
            "who": citizen.get("name") or "-", "phone": citizen.get("phone") or "-",
            "text": shorten(text, _task_text_max(ctx.session)) if text else "-",
            "status": status_name(row["status"], "status", locale),
            "note": latest_note(row.get("history") or []), "due": row["sla_due_at"],
            "map": _map_link(row.get("lat"), row.get("lng")),
            "tn": row["tenant_code"], "dp": row["type"]["department_code"],
            "ty": row["type"]["code"],
            "a": _offered(_complaint_acts(row["status"], row.get("actions") or []), locale)}


async def _certificate_task(client: CoreClient, number: str,
                            ctx: CallContext) -> dict[str, Any]:
    path = f"/api/v1/certificate-requests/{quote(number, safe='')}"
    row = await client.request("GET", path, ctx.phone, not_found_ok=True)
    if row is None:
        return {"gone": "yes"}
    locale = ctx.session.locale
    name = (row.get("name_hi") if lang(locale) == "hi" else None) or row.get("name") or "-"
    acts = [CERTIFICATE_ACTS[a] for a in row.get("actions") or [] if a in CERTIFICATE_ACTS]
    relation = row.get("relation") or "unknown"  # requests made before it was asked
    return {"id": row["request_number"], "k": "r", "s": row["status"],
            "kind": translate(locale, f"employee_tasks.cert.{row['kind']}"), "name": name,
            "date": row["event_date"], "reg": row["registration_number"],
            "copies": row["copies"], "fee": row["fee"],
            "rel": translate(locale, f"employee_tasks.relation.{relation}"),
            "verify": yes_no(row.get("needs_verification")),
            "who": row.get("requester_name") or "-", "phone": row.get("requester_phone") or "-",
            "due": await _certificate_due(client, ctx.phone, row), "note": "",
            "a": _offered(acts, locale)}


async def staff_task(client: CoreClient, args: dict[str, Any], ctx: CallContext) -> Any:
    """One task as the employee sees it, with the actions the API offers them now (``a``,
    as options). A complaint: ``{id, k: c, s, type, place, who, phone, text, status, note,
    due, map, tn, dp, ty, a}`` (``map``: a link to the citizen's pin, or ""; ``ty``: the
    type code); a certificate request: ``{id, k: r, s, kind, name, date, reg, copies,
    fee, rel, verify, who, phone, due, a}`` (``rel``: the requester's relation to the person
    on the record; ``verify: yes`` when the registrar must verify the requester ``who``,
    ``phone`` first); ``{gone: yes}`` when it is no longer visible to them."""
    number = str(args["id"])
    if args.get("kind") == "r":
        return await _certificate_task(client, number, ctx)
    return await _complaint_task(client, number, ctx)


async def staff_lmes(client: CoreClient, args: dict[str, Any], ctx: CallContext) -> Any:
    """The field staff (LME) of the city and department a complaint belongs to, as options:
    ``{n, items: [{i: user id, l: name}]}``."""
    rows = await client.request("GET", "/api/v1/employees", ctx.phone, params={
        "tenant": str(args["tenant"]), "role": "LME", "department": str(args["department"]),
    }) or []
    items = [{"i": row["id"], "l": shorten(row.get("name") or "-", ROW_TITLE_MAX)}
             for row in rows[:STAFF_LME_ROWS]]
    return {"n": len(items), "items": items}


# --- acting on a task -----------------------------------------------------------------------


async def _resolution_photos(client: CoreClient, complaint_id: str, phone: str,
                             links: list[str]) -> list[str]:
    """Fetch the photos the employee sent and attach them to the complaint: their keys.
    Never raises: a photo that cannot be fetched or stored in time is left out."""
    keys: list[str] = []
    try:
        async with asyncio.timeout(PHOTOS_DEADLINE_S):
            for link in links[:MAX_COMPLAINT_PHOTOS]:
                try:
                    data, content_type = await fetch_media(link, client.media_policy)
                    response = await post_complaint_photo(client, complaint_id, phone, data,
                                                          content_type)
                    key = str(response.json()["key"]) if response.status_code == 201 else None
                except (MediaError, httpx.HTTPError, ValueError, KeyError) as exc:
                    _staff_log.warning("photo_not_attached", complaint=complaint_id,
                                       reason=type(exc).__name__, detail=photo_failure(exc))
                    continue
                if key:
                    keys.append(key)
    except TimeoutError:
        _staff_log.warning("photo_deadline", complaint=complaint_id)
    return keys


def _staff_request(args: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The API path and body of the employee's action ``act`` on task ``id``."""
    act, state = str(args["act"]), str(args.get("state") or "")
    number = quote(str(args["id"]), safe="")
    comment = " ".join(str(args.get("comment") or "").split())
    if args.get("kind") == "r":
        action = {"approve": "APPROVE", "reject": "REJECT"}.get(act)
        path = f"/api/v1/certificate-requests/{number}/actions"
    else:
        action = {"assign": "REASSIGN" if state == "PENDINGFORREASSIGNMENT" else "ASSIGN",
                  "reject": "REJECT", "resolve": "RESOLVE", "send_back": "REASSIGN"}.get(act)
        path = f"/api/v1/complaints/{number}/actions"
    if action is None:
        raise ServiceError("invalid_action", act, 400)
    body: dict[str, Any] = {"action": action}
    if comment:
        body["comment"] = comment
    if act == "assign":
        body["assignee_id"] = int(float(str(args["assignee"])))
    return path, body


async def staff_act(client: CoreClient, args: dict[str, Any], ctx: CallContext) -> Any:
    """The employee acts on a task (``act``: assign with ``assignee``, reject or send_back
    with ``comment``, resolve with ``comment`` and ``photos`` (links), approve), under the
    API's workflow and role rules: ``{done: yes, to, cert, photo}`` (``to``: the assignee's
    name, ``cert``: the certificate issued, ``photo``: none/added/failed). A refusal (the
    task moved on meanwhile) is ``{done: no, code}``; an API that is down raises."""
    path, body = _staff_request(args)
    links = [link for link in args.get("photos") or [] if isinstance(link, str)]
    photo = "none"
    if links and body["action"] == "RESOLVE":
        keys = await _resolution_photos(client, str(args["id"]), ctx.phone, links)
        photo = "added" if keys else "failed"
        if keys:
            body["photos"] = keys
    try:
        row = await client.request("POST", path, ctx.phone, json=body)
    except ServiceError as exc:
        if exc.retryable:
            raise
        return {"done": "no", "code": exc.code}
    return {"done": "yes", "to": ((row or {}).get("assignee") or {}).get("name") or "",
            "cert": (row or {}).get("certificate_number") or "", "photo": photo}


async def staff_recategorise(client: CoreClient, args: dict[str, Any], ctx: CallContext) -> Any:
    """The GRO moves complaint ``id`` to type ``type`` (so, maybe, to another department)
    with an optional ``comment``: ``{done: yes, type}`` (the new type's name), or ``{done:
    no, code}`` when the API refuses (not a GRO of its city, no longer open); an API that
    is down raises."""
    body: dict[str, Any] = {"type_code": str(args["type"])}
    comment = " ".join(str(args.get("comment") or "").split())
    if comment:
        body["comment"] = comment
    try:
        row = await client.request(
            "POST", f"/api/v1/complaints/{quote(str(args['id']), safe='')}/category",
            ctx.phone, json=body)
    except ServiceError as exc:
        if exc.retryable:
            raise
        return {"done": "no", "code": exc.code}
    kind = (row or {}).get("type") or {}
    return {"done": "yes",
            "type": local_name(kind.get("names"), ctx.session.locale) or body["type_code"]}


# --- helpers --------------------------------------------------------------------------------


def _staff_forget(slots: dict[str, Any], *keys: str) -> None:
    """Drop slots, in place (BACK still shows a question whose list went: ``bot.history``
    fetches it again)."""
    for key in keys:
        slots.pop(key, None)


def staff_task_picked(slots: dict[str, Any], session: Session) -> dict[str, Any]:
    """``task_kind`` of the task chosen from the list (``c`` complaint, ``r`` certificate
    request) and ``task_id`` its whole number (the rows' ids leave out the page's shared
    prefix ``x``)."""
    tasks = slots.get("tasks") or {}
    row = option_row(tasks.get("items"), slots.get("task_id"))
    if row is None:
        return {"task_kind": "c"}
    return {"task_kind": row.get("k", "c"), "task_id": f"{tasks.get('x') or ''}{row['i']}"}


def staff_turn_page(slots: dict[str, Any], session: Session) -> dict[str, Any]:
    """A paging row was chosen (``task_id`` ``next``: "More tasks" / "Next", ``prev``:
    "Previous"): the ``page`` to load; the page after the last is the first again."""
    tasks = slots.get("tasks") or {}
    page, last = int(tasks.get("p") or 1), max(int(tasks.get("last") or 1), 1)
    step = -1 if slots.pop("task_id", None) == PREVIOUS_PAGE else 1
    return {"page": (page - 1 + step) % last + 1}


def staff_first_page(slots: dict[str, Any], session: Session) -> dict[str, Any]:
    """"My tasks" from the menu starts at the first page (after acting on a task the list
    comes back on the page the employee was on)."""
    slots.pop("page", None)
    return {}


def staff_change_start(slots: dict[str, Any], session: Session) -> dict[str, Any]:
    """Before the category menu: of the task only its number and type stay (the menu takes
    the room; the task is loaded again when the change is refused or changes nothing)."""
    task = slots.get("t") or {}
    _staff_forget(slots, "action", "task_kind")
    return {"t": {"id": task.get("id"), "ty": task.get("ty")}}


def staff_types_loaded(slots: dict[str, Any], session: Session) -> dict[str, Any]:
    """The chosen category's types are at hand: the category menu goes ("Other category"
    shows it again from its first page)."""
    _staff_forget(slots, "cats", "category")
    return {}


def staff_type_picked(slots: dict[str, Any], session: Session) -> dict[str, Any]:
    """The complaint's new type (the chosen one, or a category's only one) as ``type_code``,
    "" when it is the type the complaint has already; the type list goes."""
    rows = slots.get("types") or []
    row = option_row(rows, slots.get("type_code")) or (rows[0] if len(rows) == 1 else None)
    _staff_forget(slots, "types", "type_code")
    if row is None or str(row["i"]) == str((slots.get("t") or {}).get("ty")):
        return {"type_code": ""}
    return {"type_code": row["i"]}


def staff_task_shown(slots: dict[str, Any], session: Session) -> dict[str, Any]:
    """Once a task is shown, only what acting on it needs stays (number, kind, state, city,
    department, actions); the task list and the details go, to keep the session small."""
    task = slots.get("t") or {}
    _staff_forget(slots, "tasks")
    return {"t": {key: task[key] for key in ("id", "k", "s", "tn", "dp", "ty", "a")
                  if key in task}}


def staff_reset(slots: dict[str, Any], session: Session) -> dict[str, Any]:
    """Before the task list (again): everything about the last task goes (the list's
    ``page`` stays)."""
    _staff_forget(slots, "tasks", "t", "lmes", "assignee", "reason", "note",
                  "photos", "done", "task_id", "task_kind", "error", "cats", "types",
                  "category", "type_code")
    return {}


OPERATIONS: dict[str, Operation] = {
    "staff_tasks": staff_tasks,
    "staff_task": staff_task,
    "staff_lmes": staff_lmes,
    "staff_act": staff_act,
    "staff_recategorise": staff_recategorise,
}
HELPERS: dict[str, Helper] = {
    "staff_task_picked": staff_task_picked,
    "staff_turn_page": staff_turn_page,
    "staff_first_page": staff_first_page,
    "staff_change_start": staff_change_start,
    "staff_types_loaded": staff_types_loaded,
    "staff_type_picked": staff_type_picked,
    "staff_task_shown": staff_task_shown,
    "staff_reset": staff_reset,
}
