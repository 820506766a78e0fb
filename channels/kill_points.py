"""Test-only: a webhook kills its own process at a named point, for the fault tests.

``SAMVAD_TEST_KILL_AT`` (read once, when the process starts) arms points, comma-separated:

- ``before_admit``: the webhook is verified and parsed, ``InboundQueue.admit`` not run;
- ``before_ring``: ``admit``'s script ran (the message is queued or refused), its
  doorbell not rung yet;
- ``after_admit``: ``admit`` ran (the message is queued or refused), no answer sent yet.

A verified webhook that carries the header ``X-Samvad-Test-Kill: <point>`` for an armed
point then SIGKILLs its process there, as a crash would (no answer, no clean-up). The
provider's retry of the same message, sent without the header, goes through as usual.
Unset (always, outside the tests in ``tests/faults/``), nothing here does anything.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Mapping
from typing import Literal

KillPoint = Literal["before_admit", "before_ring", "after_admit"]
HEADER = "X-Samvad-Test-Kill"
ARMED = frozenset(point.strip() for point in os.environ.get("SAMVAD_TEST_KILL_AT", "").split(",")
                  if point.strip())


def kill_point(headers: Mapping[str, str], point: KillPoint) -> None:
    """SIGKILL this process when ``point`` is armed and the request asks for it."""
    if point in ARMED and headers.get(HEADER) == point:
        os.kill(os.getpid(), signal.SIGKILL)
