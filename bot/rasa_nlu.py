"""Understanding free text with a Rasa NLU server, the built-in matcher standing by.

``RasaNLU`` asks Rasa's ``POST /model/parse`` (``samvad nlu serve``; the project is in
``bot/rasa/``) and decides by the intent's confidence:

- high (>= ``high``): Rasa's intent and entities;
- middling (>= ``low``): Rasa's intent, flagged ``confirm`` ("did you mean ...?") unless
  the built-in matcher reads the same intent;
- low, Rasa's own ``nlu_fallback``, ``out_of_scope`` (chatter), an error, a timeout, or no
  server: the fallback's answer.

"Low" depends on the writing system (``LOW_BY_SCRIPT``, calibrated on the development split
of the evaluation set): a model is surer of itself in the scripts it saw most. An intent
Rasa has no training example of in the text's script is a guess and never overrides the
fallback, and a yes or a no is read only in a message shaped like an answer
(``bot.nlu.is_yes_no_answer``: "ਲਾਈਟ ਨਹੀਂ ਜਗਦੀ" is a complaint, not a "no").

The complaint type of a complaint is the one Rasa's response selector reads in the whole
message (``file_complaint/<code>``) when it is confident. Otherwise (or when it sees no
type but the model tagged a problem phrase) the tagged ``complaint_type`` phrases decide:
a synonym maps a known phrasing to its code, the built-in matcher names any other; the
selector's guess wins among them. Last comes the built-in matcher on the whole message.
``locality`` is Rasa's entity (synonyms give the English name; the locality search
understands any spelling).
Nothing here blocks the event loop: the call is async and bounded by ``timeout_s`` overall.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from functools import cache
from typing import Any

import httpx
import structlog
import yaml

from bot.nlu import NLU, YES_NO, Understanding, is_yes_no_answer, normalize, script_of
from bot.rasa_project import PROJECT_DIR

log = structlog.get_logger(__name__)

# Rasa's FallbackClassifier, and chatter the model knows Samvad cannot help with.
UNSURE_INTENTS = frozenset({"nlu_fallback", "out_of_scope"})
COMPLAINT_INTENT = "file_complaint"
NO_TYPE = "none"  # file_complaint/none: a complaint that names no type ("I want to complain")
TYPE_CONFIDENCE = 0.3  # the selector picks one of ~35 types; below this it is guessing
SYNONYM_MAPPER = "EntitySynonymMapper"
MIN_ENTITY_CONFIDENCE = 0.5
# The lowest confidence acted on, per writing system of the text (see the module docstring).
LOW_BY_SCRIPT: Mapping[str, float] = {"latin": 0.45, "devanagari": 0.45, "gurmukhi": 0.45,
                                      "odia": 0.45}


@cache
def trained_intents() -> dict[str, frozenset[str]]:
    """Writing system -> the intents Rasa's training data (bot/rasa/data) has examples of."""
    found: dict[str, set[str]] = {}
    for path in sorted((PROJECT_DIR / "data").glob("*.yml")):
        for block in yaml.safe_load(path.read_text(encoding="utf-8")).get("nlu") or ():
            intent = str(block.get("intent") or "").partition("/")[0]
            for line in str(block.get("examples") or "").splitlines() if intent else ():
                if line.strip().startswith("- "):
                    found.setdefault(script_of(line), set()).add(intent)
    return {script: frozenset(intents) for script, intents in found.items()}


class RasaUnavailable(Exception):
    """Rasa gave no usable answer in time."""


class RasaNLU:
    """The NLU protocol over a Rasa server, falling back to ``fallback`` (the built-in)."""

    def __init__(self, http_client: httpx.AsyncClient, base_url: str, fallback: NLU, *,
                 timeout_s: float = 0.3, high: float = 0.75,
                 low: Mapping[str, float] = LOW_BY_SCRIPT,
                 trained: Mapping[str, frozenset[str]] | None = None) -> None:
        if not all(0 <= value <= high <= 1 for value in low.values()):
            raise ValueError("need 0 <= low <= high <= 1")
        self.http = http_client
        self.parse_url = base_url.rstrip("/") + "/model/parse"
        self.fallback = fallback
        self.timeout_s = timeout_s
        self.high = high
        self.low = low
        self.trained = trained_intents() if trained is None else trained

    def _acts_on(self, text: str, intent: str | None, confidence: float) -> bool:
        """Whether Rasa's reading may decide (otherwise the fallback's does)."""
        if not intent or intent in UNSURE_INTENTS:
            return False
        script = script_of(text)
        if confidence < self.low.get(script, max(self.low.values())):
            return False
        if intent not in self.trained.get(script, ()):
            return False  # never taught in this script: a guess
        return intent not in YES_NO or is_yes_no_answer(normalize(text))

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
        if not self._acts_on(text, intent, confidence):
            log.info("rasa_unsure", intent=intent, confidence=round(confidence, 3))
            return await self.fallback.understand(text, locale)

        builtin: Understanding | None = None

        async def builtin_reading() -> Understanding:
            nonlocal builtin
            if builtin is None:
                builtin = await self.fallback.understand(text, locale)
            return builtin

        entities: dict[str, str] = {}
        places = _entities(body, "locality")
        if places:
            entities["locality"] = places[0]["value"].strip()
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
        sure = score >= TYPE_CONFIDENCE
        if selected and selected != NO_TYPE and sure:
            return selected
        spans = _entities(body, "complaint_type")
        if selected == NO_TYPE and sure and not spans:
            return None
        # The selector is unsure, or sees no type where the model tagged a problem phrase:
        # read the phrases (a synonym gave a code, or the built-in matcher names the phrase).
        named: list[str] = []
        for entity in spans:
            if SYNONYM_MAPPER in (entity.get("processors") or ()):
                named.append(str(entity["value"]))
                continue
            spanned = await self.fallback.understand(entity["value"], locale)
            if "complaint_type" in spanned.entities:
                named.append(spanned.entities["complaint_type"])
        if named:
            return selected if selected in named else named[0]
        if selected == NO_TYPE and sure:
            return None
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


def _entities(body: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    """Rasa's entities of ``kind``, synonym-mapped ones first, then the most confident."""
    found = []
    for entity in body.get("entities") or ():
        value = entity.get("value")
        if entity.get("entity") != kind or not isinstance(value, str) or not value.strip():
            continue
        score = float(entity.get("confidence_entity") or 1.0)
        if score >= MIN_ENTITY_CONFIDENCE:
            mapped = SYNONYM_MAPPER in (entity.get("processors") or ())
            found.append(((mapped, score), entity))
    return [entity for _key, entity in sorted(found, key=lambda pair: pair[0], reverse=True)]
