"""Understanding free text with a Rasa NLU server, the built-in matcher standing by.

``RasaNLU`` asks Rasa's ``POST /model/parse`` (``samvad nlu serve``; the project is in
``bot/rasa/``) and decides by the intent's confidence:

- high (>= ``high``): Rasa's intent and entities;
- middling (>= ``low``): Rasa's intent, flagged ``confirm`` ("did you mean ...?") unless
  the built-in matcher reads the same intent;
- low, Rasa's own ``nlu_fallback``, an error, a timeout, or no server: the fallback's answer.

The complaint type of a complaint comes, in this order, from Rasa's response selector
(``file_complaint/<code>``, which reads the whole message) when it is confident, from a
``complaint_type`` entity Rasa's synonyms mapped to a code, from the built-in matcher on
the span Rasa tagged, and from the built-in matcher on the whole message. ``locality`` is
Rasa's entity (synonyms give the English name; any spelling suits the locality search).
Nothing here blocks the event loop: the call is async and bounded by ``timeout_s`` overall.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import structlog

from bot.nlu import NLU, Understanding

log = structlog.get_logger(__name__)

RASA_FALLBACK_INTENT = "nlu_fallback"
COMPLAINT_INTENT = "file_complaint"
NO_TYPE = "none"  # file_complaint/none: a complaint that names no type ("I want to complain")
TYPE_CONFIDENCE = 0.3  # the selector picks one of ~35 types; below this it is guessing
SYNONYM_MAPPER = "EntitySynonymMapper"
MIN_ENTITY_CONFIDENCE = 0.5


class RasaUnavailable(Exception):
    """Rasa gave no usable answer in time."""


class RasaNLU:
    """The NLU protocol over a Rasa server, falling back to ``fallback`` (the built-in)."""

    def __init__(self, http_client: httpx.AsyncClient, base_url: str, fallback: NLU, *,
                 timeout_s: float = 0.3, high: float = 0.75, low: float = 0.45) -> None:
        if not 0 <= low <= high <= 1:
            raise ValueError("need 0 <= low <= high <= 1")
        self.http = http_client
        self.parse_url = base_url.rstrip("/") + "/model/parse"
        self.fallback = fallback
        self.timeout_s = timeout_s
        self.high = high
        self.low = low

    async def aclose(self) -> None:
        await self.http.aclose()

    def complaint_type(self, text: str) -> tuple[str | None, float]:
        """The fallback's quick type match (the engine's subtype question uses it)."""
        matcher = getattr(self.fallback, "complaint_type", None)
        return matcher(text) if matcher is not None else (None, 0.0)

    async def parse(self, text: str) -> dict[str, Any]:
        """Rasa's raw answer; ``RasaUnavailable`` when it is down, slow or malformed."""
        try:
            async with asyncio.timeout(self.timeout_s):
                response = await self.http.post(self.parse_url, json={"text": text},
                                                timeout=self.timeout_s)
                response.raise_for_status()
                body = response.json()
        except (TimeoutError, httpx.HTTPError, ValueError) as exc:
            raise RasaUnavailable(type(exc).__name__) from exc
        if not isinstance(body, dict) or not isinstance(body.get("intent"), dict):
            raise RasaUnavailable("malformed")
        return body

    async def understand(self, text: str, locale: str | None) -> Understanding:
        try:
            body = await self.parse(text)
        except RasaUnavailable as exc:
            log.info("rasa_fallback", reason=str(exc))
            return await self.fallback.understand(text, locale)
        intent = body["intent"].get("name")
        confidence = float(body["intent"].get("confidence") or 0.0)
        if not intent or intent == RASA_FALLBACK_INTENT or confidence < self.low:
            log.info("rasa_unsure", intent=intent, confidence=round(confidence, 3))
            return await self.fallback.understand(text, locale)

        builtin: Understanding | None = None

        async def builtin_reading() -> Understanding:
            nonlocal builtin
            if builtin is None:
                builtin = await self.fallback.understand(text, locale)
            return builtin

        entities: dict[str, str] = {}
        place = _best_entity(body, "locality")
        if place is not None:
            entities["locality"] = place["value"].strip()
        if intent == COMPLAINT_INTENT:
            code = await self._complaint_type(body, locale, builtin_reading)
            if code:
                entities["complaint_type"] = code
        confirm = confidence < self.high
        if confirm and (await builtin_reading()).intent == intent:
            confirm = False  # two readers agree: no need to ask
        return Understanding(intent, confidence, entities, source="rasa", confirm=confirm)

    async def _complaint_type(self, body: dict[str, Any], locale: str | None,
                              builtin_reading: Callable[[], Awaitable[Understanding]]
                              ) -> str | None:
        """The complaint type code a complaint names, or None (then the citizen picks)."""
        selected, score = _selected_type(body)
        if selected and score >= TYPE_CONFIDENCE:
            return None if selected == NO_TYPE else selected
        entity = _best_entity(body, "complaint_type")
        if entity is not None:
            if SYNONYM_MAPPER in (entity.get("processors") or ()):
                return str(entity["value"])  # a known phrasing: the synonyms gave the code
            # A phrase the synonyms do not list ("street lamps gone dark"): the matcher names it.
            spanned = await self.fallback.understand(entity["value"], locale)
            if "complaint_type" in spanned.entities:
                return spanned.entities["complaint_type"]
        return (await builtin_reading()).entities.get("complaint_type")


def _selected_type(body: dict[str, Any]) -> tuple[str | None, float]:
    """The response selector's complaint type (a code or ``none``) and its confidence."""
    selector = (body.get("response_selector") or {}).get(COMPLAINT_INTENT) or {}
    response = selector.get("response") or {}
    key = response.get("intent_response_key") or ""
    prefix, _, code = str(key).partition("/")
    if prefix != COMPLAINT_INTENT or not code:
        return None, 0.0
    return code, float(response.get("confidence") or 0.0)


def _best_entity(body: dict[str, Any], kind: str) -> dict[str, Any] | None:
    """The most confident entity of ``kind``; a synonym-mapped one beats an unmapped span."""
    best: dict[str, Any] | None = None
    best_key: tuple[bool, float] = (False, -1.0)
    for entity in body.get("entities") or ():
        value = entity.get("value")
        if entity.get("entity") != kind or not isinstance(value, str) or not value.strip():
            continue
        score = float(entity.get("confidence_entity") or 1.0)
        if score < MIN_ENTITY_CONFIDENCE:
            continue
        key = (SYNONYM_MAPPER in (entity.get("processors") or ()), score)
        if key > best_key:
            best, best_key = entity, key
    return best
