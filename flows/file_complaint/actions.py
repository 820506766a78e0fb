"""Filing a complaint: the operations and helpers of flow file_complaint (the category and
type lists and the photo links, which employee_tasks uses too, are in
``bot.shared_actions``)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx
import structlog

from bot.core_client import CallContext, CoreClient, Operation, flatten_types
from bot.i18n import translate
from bot.labels import every_name, local_name, short_tenant_name
from bot.media import MediaError, fetch_media
from bot.services import Helper, ServiceError
from bot.session import Session
from bot.shared_actions import (
    MAX_COMPLAINT_PHOTOS,
    PHOTOS_DEADLINE_S,
    TENANTS_PATH,
    channel_of,
    complaint_catalogue,
    home_first_ulbs,
    option_row,
    paged,
    photo_failure,
    post_complaint_photo,
)

PLACE_MATCHES = 5  # "did you mean" rows; one more says "None of these"
PLACE_MIN_SCORE = 70.0  # weaker locality matches are not worth offering
PLACE_SCORE_SPREAD = 20.0  # nor those much weaker than the best one
COMPLAINT_BRIEF = 50  # characters of the description the summary repeats (SMS budget)

_complaint_log = structlog.get_logger("bot.file_complaint")


# --- operations -----------------------------------------------------------------------------


def _place_name(boundary: dict[str, Any], locale: str | None) -> str:
    """A locality's name in the citizen's language (English when it has none)."""
    return local_name({"en": boundary.get("name_en", ""), "hi": boundary.get("name_hi", ""),
                       **(boundary.get("names") or {})}, locale)


def _place_names(boundary: dict[str, Any]) -> list[str]:
    """Every name a citizen may type for a locality: each language's, and the romanised
    spellings residents use (``aliases``)."""
    return every_name(boundary.get("name_en"), boundary.get("name_hi"), boundary.get("names"),
                      boundary.get("aliases"))


async def complaint_type(client: CoreClient, args: dict[str, Any], ctx: CallContext) -> Any:
    """One complaint type by its code (e.g. understood from free text): ``{c: code, n: name}``
    in the citizen's language."""
    for row in flatten_types(await complaint_catalogue(client)):
        if row["code"] == args.get("code"):
            return {"c": row["code"],
                    "n": local_name(row.get("names"), ctx.session.locale) or row["code"]}
    raise ServiceError("unknown_complaint_type", str(args.get("code")), 400)


async def complaint_locate(client: CoreClient, args: dict[str, Any], ctx: CallContext) -> Any:
    """The locality at a map pin: ``{found: yes, i: id, n: name, city: {c: code, n: name}}``,
    or ``{found: no}`` when the pin is outside the area we serve."""
    found = await client.request("GET", "/api/v1/localities/at", ctx.phone,
                                 params={"lat": args["lat"], "lng": args["lng"]},
                                 not_found_ok=True)
    if found is None:
        return {"found": "no"}
    locality, tenant, locale = found["locality"], found["tenant"], ctx.session.locale
    return {"found": "yes", "i": locality["id"], "n": _place_name(locality, locale),
            "city": {"c": tenant["code"], "n": short_tenant_name(tenant, locale)}}


async def complaint_cities(client: CoreClient, args: dict[str, Any], ctx: CallContext) -> Any:
    """A page of the ULBs as options ``{p, items: [{i, l}]}``, the citizen's home ULB first;
    ``after`` is the page shown before ("More cities" wraps round)."""
    options = [{"i": t["code"], "l": short_tenant_name(t, ctx.session.locale)}
               for t in await home_first_ulbs(client, ctx.session.tenant)]
    return paged(options, args.get("after"), "file_complaint.more_cities", ctx.session)


async def complaint_find_places(client: CoreClient, args: dict[str, Any],
                                ctx: CallContext) -> Any:
    """Localities named like ``q`` in the city ``tenant`` (or, without one, in every city):
    ``{n, items: [{i, l, city?}]}`` with up to five good matches, best first (and close to
    the best one). Matches from every city carry
    their ``city`` (``{c: code, n: name}``)."""
    query = " ".join(str(args.get("q") or "").split())[:100]
    tenant = args.get("tenant") or None
    params: dict[str, Any] = {"q": query, "limit": PLACE_MATCHES}
    if tenant:
        params["tenant"] = tenant
    rows = await client.request("GET", "/api/v1/localities/search", ctx.phone,
                                params=params) if query else []
    cities = {} if tenant else {t["code"]: t for t in
                                await client.reference("tenants", TENANTS_PATH) or []}
    locale = ctx.session.locale
    rows = rows or []
    floor = max(PLACE_MIN_SCORE, (rows[0]["score"] if rows else 0) - PLACE_SCORE_SPREAD)
    items: list[dict[str, Any]] = []
    for row in rows:
        if row["score"] < floor:
            continue
        locality = row["locality"]
        item: dict[str, Any] = {"i": locality["id"], "l": _place_name(locality, locale)}
        if not tenant:
            code = locality["tenant_code"]
            item["city"] = {"c": code, "n": short_tenant_name(cities.get(code) or {"code": code},
                                                              locale)}
        items.append(item)
    return {"n": len(items), "items": items}


async def complaint_areas(client: CoreClient, args: dict[str, Any], ctx: CallContext) -> Any:
    """A page of the city's localities in alphabetical order: ``{p, items: [{i, l}]}``;
    ``after`` is the page shown before ("More areas" wraps round)."""
    rows = await _localities(client, str(args["tenant"]))
    locale = ctx.session.locale
    options = [{"i": b["id"], "l": _place_name(b, locale)}
               for b in sorted(rows, key=lambda b: str(b.get("name_en", "")))]
    return paged(options, args.get("after"), "file_complaint.more_areas", ctx.session)


async def place_names(client: CoreClient, args: dict[str, Any], ctx: CallContext) -> Any:
    """``{id: [names]}``: every name of the localities ``ids`` offered now (each language's
    and the romanised spellings), found among the localities of the city chosen or of the
    cities the offered places are in."""
    slots = ctx.session.slots
    wanted = {str(i) for i in args.get("ids") or []}
    offered = [*((slots.get("found") or {}).get("items") or []),
               *((slots.get("areas") or {}).get("items") or [])]
    cities = {str(code) for code in [(slots.get("city") or {}).get("c"),
                                     *((item.get("city") or {}).get("c") for item in offered)]
              if code}
    return {str(b["id"]): _place_names(b) for code in sorted(cities)
            for b in await _localities(client, code) if str(b["id"]) in wanted}


async def _localities(client: CoreClient, tenant: str) -> list[dict[str, Any]]:
    """A ULB's localities (reference data, cached in the process like the types)."""
    code = quote(tenant, safe="")
    return await client.reference(f"localities:{code}",
                                  f"/api/v1/tenants/{code}/boundaries?kind=locality") or []


async def complaint_names(client: CoreClient, args: dict[str, Any], ctx: CallContext) -> Any:
    """Put the names of the chosen ``type``, ``place`` and ``city`` (slots ``{c|i, n}``) in
    the citizen's language now, so a summary after a language switch reads in one language.
    All of it is cached reference data; a name that cannot be found stays as it was."""
    slots, locale = ctx.session.slots, ctx.session.locale
    kind, place, city = slots.get("type") or {}, slots.get("place") or {}, slots.get("city") or {}
    for row in flatten_types(await complaint_catalogue(client)):
        if row["code"] == kind.get("c"):
            kind["n"] = local_name(row.get("names"), locale) or kind.get("n")
    for tenant in await client.reference("tenants", TENANTS_PATH) or []:
        if tenant["code"] == city.get("c"):
            city["n"] = short_tenant_name(tenant, locale)
    if city.get("c"):
        for locality in await _localities(client, str(city["c"])):
            if locality["id"] == place.get("i"):
                place["n"] = _place_name(locality, locale)
    return {}


async def complaint_relabel(client: CoreClient, args: dict[str, Any], ctx: CallContext) -> Any:
    """After a language switch mid-complaint (the flow's ``relabel``): the names the slots
    hold, in the session's language, so the question is asked again wholly in it: the
    category, type, city and area lists with their "More" rows, the places found, the
    place at the pin, and (``complaint_names``) the chosen type, city and place. All of
    it comes from the cached reference data the lists were built from."""
    slots, locale = ctx.session.slots, ctx.session.locale
    catalogue = await complaint_catalogue(client)
    categories = {c["code"]: c.get("names") for c in catalogue}
    kinds = {t["code"]: t.get("names") for t in flatten_types(catalogue)}
    tenants = {t["code"]: t for t in await client.reference("tenants", TENANTS_PATH) or []}
    at, found = slots.get("at") or {}, slots.get("found") or {}
    codes = {(slots.get("city") or {}).get("c"), (at.get("city") or {}).get("c"),
             *((row.get("city") or {}).get("c") for row in found.get("items") or [])}
    places = {b["id"]: b for code in codes if code for b in await _localities(client, code)}

    def city_name(code: Any) -> str | None:
        return short_tenant_name(tenants[code], locale) if code in tenants else None

    def place_name(place_id: Any) -> str | None:
        return _place_name(places[place_id], locale) if place_id in places else None

    _relabel_rows((slots.get("cats") or {}).get("items"),
                  lambda code: local_name(categories.get(code), locale),
                  "file_complaint.more_categories", locale)
    _relabel_rows(slots.get("types"), lambda code: local_name(kinds.get(code), locale),
                  None, locale)
    _relabel_rows((slots.get("cities") or {}).get("items"), city_name,
                  "file_complaint.more_cities", locale)
    _relabel_rows((slots.get("areas") or {}).get("items"), place_name,
                  "file_complaint.more_areas", locale)
    _relabel_rows(found.get("items"), place_name, None, locale)
    for row in [*(found.get("items") or []), at]:
        if row.get("city"):
            row["city"]["n"] = city_name(row["city"].get("c")) or row["city"].get("n")
    if at.get("i") is not None:
        at["n"] = place_name(at["i"]) or at.get("n")
    return await complaint_names(client, args, ctx)


def _relabel_rows(rows: list[dict[str, Any]] | None, name_of: Callable[[Any], str | None],
                  more: str | None, locale: str | None) -> None:
    """Option rows ``{i, l}`` renamed in place: ``name_of(id)`` (a row it cannot name
    keeps its label), the "More" row by its message ``more``."""
    for row in rows or []:
        if row.get("i") == "more" and more:
            row["l"] = translate(locale, more)
        else:
            row["l"] = name_of(row.get("i")) or row.get("l")


async def complaint_file(client: CoreClient, args: dict[str, Any], ctx: CallContext) -> Any:
    """File the complaint for the citizen: ``{id, due, photos}`` (its number, the SLA due
    date and how many photos it has). ``lat``/``lng`` (a pin) are kept with it when the
    citizen sent one. The message's request key goes with it: the same message handled
    again (its worker died before the turn was saved) finds the same complaint, with the
    photos that turn attached already."""
    body: dict[str, Any] = {"type_code": str(args["type"]), "locality_id": int(args["locality"]),
                            "source": channel_of(ctx.session).kind}
    if args.get("lat") is not None and args.get("lng") is not None:
        body["lat"], body["lng"] = float(args["lat"]), float(args["lng"])
    description = str(args.get("description") or "").strip()
    if description:
        body["description"] = description[:500]
    row = await client.request("POST", "/api/v1/complaints", ctx.phone, json=body,
                               idempotency_key=ctx.request_key)
    return {"id": row["id"], "due": row["sla_due_at"], "photos": len(row.get("photos") or [])}


async def complaint_attach_photos(client: CoreClient, args: dict[str, Any],
                                  ctx: CallContext) -> Any:
    """Fetch the photos the citizen sent (``photos``: links) and attach them to the filed
    complaint ``id``: ``{added, failed}``. It never raises: the complaint is filed already,
    and a photo that cannot be fetched or stored in time only counts as failed. The first
    ``already`` photos were attached by an earlier run of the same turn, and are skipped."""
    links = [link for link in args.get("photos") or [] if isinstance(link, str)]
    links = links[int(args.get("already") or 0):MAX_COMPLAINT_PHOTOS]
    added = 0
    try:
        async with asyncio.timeout(PHOTOS_DEADLINE_S):
            for link in links:
                try:
                    data, content_type = await fetch_media(link, client.media_policy)
                    response = await post_complaint_photo(client, str(args["id"]), ctx.phone,
                                                          data, content_type)
                    if response.status_code == 201:
                        added += 1
                    else:
                        _complaint_log.warning("photo_refused", complaint=args["id"])
                except (MediaError, httpx.HTTPError) as exc:
                    # The link itself may carry provider credentials: log the reason only
                    # (a MediaError's text names no link, number or token).
                    _complaint_log.warning("photo_not_fetched", complaint=args["id"],
                                           reason=type(exc).__name__, detail=photo_failure(exc))
    except TimeoutError:
        _complaint_log.warning("photo_deadline", complaint=args["id"])
    return {"added": added, "failed": len(links) - added}


# --- helpers --------------------------------------------------------------------------------


def _forget(slots: dict[str, Any], *keys: str) -> None:
    """Drop slots no longer needed, in place, so the session keeps no empty keys (BACK
    still shows a question whose list went: ``bot.history`` fetches it again)."""
    for key in keys:
        slots.pop(key, None)


def complaint_types_loaded(slots: dict[str, Any], session: Session) -> dict[str, Any]:
    """The types of the chosen category are at hand: the category list goes (the type
    question ends in an "Other category" row instead)."""
    _forget(slots, "cats", "category")
    return {}


def complaint_take_type(slots: dict[str, Any], session: Session) -> dict[str, Any]:
    """``type`` = ``{c: code, n: name}`` of the chosen subtype (or of a category's only
    one); the category and type lists go."""
    rows = slots.get("types") or []
    row = option_row(rows, slots.get("type_code")) or (rows[0] if len(rows) == 1 else None)
    _forget(slots, "cats", "types", "category", "type_code", "nlu_complaint_type")
    return {"type": {"c": row["i"], "n": row["l"]}} if row else {}


def complaint_take_pin(slots: dict[str, Any], session: Session) -> dict[str, Any]:
    """The citizen confirmed the locality found at their pin: ``place`` and ``city``."""
    at = slots.get("at") or {}
    _forget(slots, "at", "cities", "found", "areas", "misses", "nlu_locality",
            "nlu_complaint_type")
    return {"place": {"i": at.get("i"), "n": at.get("n")}, "city": at.get("city")}


def complaint_pin_refused(slots: dict[str, Any], session: Session) -> dict[str, Any]:
    """Not that locality: the pin's city stays, and the area name is asked for (with no
    city known, the city question comes first)."""
    city = (slots.get("at") or {}).get("city")
    _forget(slots, "at", "pin", "city")
    return {"city": city} if city else {}


def complaint_take_city(slots: dict[str, Any], session: Session) -> dict[str, Any]:
    """``city`` = ``{c: code, n: name}`` of the chosen ULB (or of the only one); the city
    list goes (BACK fetches it again)."""
    rows = (slots.get("cities") or {}).get("items") or []
    row = option_row(rows, slots.get("tenant")) or (rows[0] if len(rows) == 1 else None)
    _forget(slots, "tenant", "cities")
    return {"city": {"c": row["i"], "n": row["l"]}} if row else {}


def complaint_take_place(slots: dict[str, Any], session: Session) -> dict[str, Any]:
    """``place`` = ``{i: id, n: name}`` of the locality picked from the "did you mean" rows
    or the city's list; a match found in every city brings its ``city``. The lists go."""
    picked = slots.get("place_id")
    row = (option_row((slots.get("found") or {}).get("items"), picked)
           or option_row((slots.get("areas") or {}).get("items"), picked))
    _forget(slots, "found", "areas", "cities", "place_id", "place_text", "misses",
            "nlu_locality", "nlu_complaint_type", "pin")
    if row is None:
        return {}
    updates: dict[str, Any] = {"place": {"i": row["i"], "n": row["l"]}}
    if row.get("city"):
        updates["city"] = row["city"]
    return updates


def complaint_miss(slots: dict[str, Any], session: Session) -> dict[str, Any]:
    """The typed area was not found (or none of the matches was it): ask again once, then
    offer the city's areas as a list (the city list goes then: the session holds one list)."""
    misses = int(slots.get("misses") or 0) + 1
    _forget(slots, "found", "place_id", "place_text",
            *(("cities",) if misses >= 2 else ()))
    return {"misses": misses}


def complaint_summary(slots: dict[str, Any], session: Session) -> dict[str, Any]:
    """How the summary shows the description, in slots that exclude each other so that a
    message can join them: ``description`` itself when short; else its start ``head``
    (whole words) with ``more`` = "…", the remainder kept in ``rest`` (``head + rest`` is
    the text as typed, stored once); or ``dash`` when it was skipped. Coming back to the
    summary after a change (``fix``), a description not asked again stays as it was."""
    if "description" in slots:
        text = slots.pop("description")
    else:
        text = str(slots.get("head") or "") + str(slots.get("rest") or "")
    _forget(slots, "head", "rest", "more", "dash", "fix")
    if not text:
        return {"dash": "\u2014"}
    if len(text) <= COMPLAINT_BRIEF:
        return {"description": text}
    cut = COMPLAINT_BRIEF - 1
    if not text[cut].isspace() and " " in text[:cut]:  # the cut is inside a word: drop it
        cut = text.rindex(" ", 0, cut)
    cut = len(text[:cut].rstrip(" ,.;:-")) or cut
    return {"head": text[:cut], "rest": text[cut:], "more": "\u2026"}


def complaint_where(slots: dict[str, Any], session: Session) -> dict[str, Any]:
    """Before asking where the problem is: a place named in the request that was not
    found (or not the right one) is forgotten."""
    _forget(slots, "found", "nlu_locality", "nlu_complaint_type", "place_id")
    return {}


OPERATIONS: dict[str, Operation] = {
    "complaint_type": complaint_type,
    "complaint_locate": complaint_locate,
    "complaint_cities": complaint_cities,
    "complaint_find_places": complaint_find_places,
    "complaint_areas": complaint_areas,
    "place_names": place_names,
    "complaint_names": complaint_names,
    "complaint_relabel": complaint_relabel,
    "complaint_file": complaint_file,
    "complaint_attach_photos": complaint_attach_photos,
}
HELPERS: dict[str, Helper] = {
    "complaint_types_loaded": complaint_types_loaded,
    "complaint_take_type": complaint_take_type,
    "complaint_take_pin": complaint_take_pin,
    "complaint_pin_refused": complaint_pin_refused,
    "complaint_take_city": complaint_take_city,
    "complaint_take_place": complaint_take_place,
    "complaint_miss": complaint_miss,
    "complaint_summary": complaint_summary,
    "complaint_where": complaint_where,
}
