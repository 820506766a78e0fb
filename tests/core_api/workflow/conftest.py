"""Workflow test fixtures: principals of the demo users, outbox counts, no domain hooks."""

from __future__ import annotations

from typing import Any

import pytest
from workflow_people import People, count_events

from core_api.workflow import service


@pytest.fixture(autouse=True)
def engine_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Test the engine alone: domain modules' transition hooks are not part of it."""
    monkeypatch.setattr(service, "_hooks", {})


@pytest.fixture
def people(session: Any) -> People:
    return People(session)


@pytest.fixture
def events():
    return count_events
