"""What a step kind is given and what it answers.

A step kind is an ``async`` function ``run(ctx, here) -> Next``. ``here`` is the step being
run (its flow, its id, its definition); ``ctx`` is the turn it runs in: the session, the
replies and effects so far, the capabilities of the person's channel, the core API and
the registered helpers (the engine's turn runner is the one implementation). ``run``
answers where the flow goes next:

- a step id of the same flow, ``@flow`` (enter another flow) or ``^`` (return to the flow
  that entered this one), as in a step's ``next``;
- ``None``: the flow ended, the person goes home (the main menu);
- ``WAIT``: a question was sent (or the conversation moved elsewhere); the turn ends.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, Final, Protocol

from bot.channel_kinds import Capabilities
from bot.flowspec import FlowDef, StepDef
from bot.messages import Outgoing
from bot.services import Helper, Services
from bot.session import Session


class Wait(Enum):
    """The turn ends here: the person's answer is awaited."""

    WAIT = "wait"


WAIT: Final = Wait.WAIT
Next = str | Wait | None


@dataclass(frozen=True)
class Here:
    """The step being run: where it is and what it says."""

    flow_id: str
    step_id: str
    step: StepDef


class StepContext(Protocol):
    """The turn a step runs in (implemented by the engine's turn runner)."""

    @property
    def session(self) -> Session: ...

    @property
    def replies(self) -> list[Outgoing]: ...

    @property
    def effects(self) -> list[str]: ...

    @property
    def channel(self) -> Capabilities: ...

    @property
    def services(self) -> Services: ...

    @property
    def flows(self) -> Mapping[str, FlowDef]: ...

    @property
    def helpers(self) -> Mapping[str, Helper]: ...

    async def understood(self, text: str, *, allowed: Sequence[str] | None = None) -> bool:
        """Route free text by intent; True when it moved the conversation."""
        ...

    async def go_home(self) -> None:
        """Enter the person's home flow (the main menu, or an employee's tasks)."""
        ...


StepKind = Callable[[StepContext, Here], Awaitable[Next]]


def next_target(step: StepDef, value: Any) -> str | None:
    """The step's ``next``; a mapping picks by ``value`` (``true``/``false`` for booleans)."""
    if isinstance(step.next, dict):
        key = str(value).lower() if isinstance(value, bool) else str(value)
        return step.next.get(key, step.next.get("*"))
    return step.next
