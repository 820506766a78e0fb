"""Complete event payloads built from the event contract, for tests on either side, and
the payloads core_api published (``published``), checked against the same contract.

``example(topic, **values)`` fills every declared field (optional ones too) with a
plausible value of its type and takes the given ones; it refuses a name the schema lacks
and checks the result against the contract, so a test payload is always one core_api
could publish.
"""

from __future__ import annotations

import types
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel

from core_api.events.contract import schema_of, validate


def _value(name: str, annotation: Any) -> Any:
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        [kind] = [arg for arg in get_args(annotation) if arg is not type(None)]
        return _value(name, kind)
    if origin is list:
        [kind] = get_args(annotation)
        return [_value(name, kind)]
    if origin is dict:
        _key, kind = get_args(annotation)
        return {"en": _value(name, kind), "hi": _value(name, kind)}
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return {field: _value(field, info.annotation)
                for field, info in annotation.model_fields.items()}
    if annotation is int:
        return 7
    if annotation is str:
        if name.endswith("phone"):
            return "+919876500001"
        if name.endswith("locale"):
            return "en_IN"
        if name.endswith(("_at", "deadline")):
            return "2026-11-26T12:30:00+00:00"
        if name in ("amount", "fee"):
            return "50.00"
        if name.endswith(("url", "link")):
            return f"http://127.0.0.1:8000/files/{name}.pdf"
        return f"{name}-x"
    raise TypeError(f"no example for {name}: {annotation!r}")


def example(topic: str, **values: Any) -> dict[str, Any]:
    """A payload of ``topic`` with every field filled, ``values`` taking precedence."""
    model = schema_of(topic)
    unknown = set(values) - set(model.model_fields)
    assert not unknown, f"{topic} declares no {sorted(unknown)}"
    payload = {name: _value(name, info.annotation) for name, info in model.model_fields.items()}
    payload.update(values)
    validate(topic, payload)
    return payload


async def published(session: Any, aggregate_id: str, topic: str) -> list[dict[str, Any]]:
    """The payloads of ``topic`` that core_api wrote to the outbox for ``aggregate_id`` (a
    complaint, request or bill number), oldest first, each checked against the contract."""
    from sqlalchemy import select

    from core_api.events.models import OutboxEvent

    rows = await session.scalars(
        select(OutboxEvent)
        .where(OutboxEvent.aggregate_id == aggregate_id, OutboxEvent.topic == topic)
        .order_by(OutboxEvent.id).execution_options(populate_existing=True))
    payloads = [row.payload for row in rows]
    for payload in payloads:
        validate(topic, payload)  # exactly the declared fields, well typed
    return payloads
