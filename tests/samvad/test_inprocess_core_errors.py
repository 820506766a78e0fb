"""The bot's in-process door to the core API answers failures as HTTP, like a deployment.

Found by the fault tests (tests/faults/test_postgres_down.py): with PostgreSQL down the
in-process ASGI transport re-raised the API's exception into the bot, so a turn failed
instead of answering "nothing you entered is lost", and the send worker's best-effort
delivery record aborted the mailbox it was draining.
"""

from __future__ import annotations

from typing import Any

import pytest

from bot.services import ServiceError


async def test_an_unexpected_api_error_reaches_the_bot_as_a_500_service_error(app: Any) -> None:
    @app.get("/api/v1/test-boom")
    async def boom() -> None:
        raise ConnectionRefusedError("the database is down")

    with pytest.raises(ServiceError) as caught:
        await app.state.conversations.client.request("GET", "/api/v1/test-boom", None)
    assert caught.value.status == 500
    assert caught.value.code == "internal"
