"""What the flow engine needs from the world, and how a core-API failure reaches it.

The engine does no I/O: a ``Services`` bound to one sender calls the core API, understands
free text and tells the time; ``Helper`` functions derive slots (``do`` steps). Tests pass
fakes of both.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from bot.nlu import NLU
from bot.session import Session


class ServiceError(Exception):
    """A core-API operation failed; ``code`` is the API's error code when it gave one."""

    def __init__(self, code: str = "unavailable", message: str = "", status: int = 503) -> None:
        super().__init__(message or code)
        self.code = code
        self.status = status

    @property
    def retryable(self) -> bool:
        return self.status >= 500 or self.status == 429


class Services(Protocol):
    """What the engine needs from the world."""

    nlu: NLU

    async def call(self, op: str, args: dict[str, Any], session: Session) -> Any: ...

    def now(self) -> float: ...


Helper = Callable[[dict[str, Any], Session], dict[str, Any]]
