"""One conversation turn with its I/O: load and lock the session, run the engine, save.

A turn costs two Redis round trips (dedupe + lock + load, then save + unlock) plus
the core-API calls its steps make; menu steps make none. The inbound worker saves both
on one Redis server: its mailbox step began the turn already (``begun``), and its next
step goes in the commit's round trip (``along``).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import orjson
import structlog

from bot.activity import ChatActivity, Position
from bot.core_client import (
    COMPLAINT_TYPES_PATH,
    CallContext,
    CoreClient,
    flatten_types,
    request_key,
)
from bot.engine import Engine, Turn
from bot.i18n import translate
from bot.messages import Inbound, Outgoing, outgoing_from_dict, outgoing_to_dict
from bot.metrics import observe_turn
from bot.nlu import NLU, KeywordMatcher, Understanding
from bot.services import ServiceError
from bot.session import Session
from bot.session_store import Along, Begin, SessionBusy, SessionStore, conversation_key

log = structlog.get_logger(__name__)

_TURN_TROUBLE = ("busy", "failed", "lease_lost")


@dataclass
class BoundServices:
    """The engine's services for one sender."""

    client: CoreClient
    nlu: NLU
    phone: str
    clock: Callable[[], float]
    request_key: str | None = None  # the same each time this inbound message is handled

    async def call(self, op: str, args: dict[str, Any], session: Session) -> Any:
        return await self.client.call(op, args,
                                      CallContext(session, self.phone, self.request_key))

    def now(self) -> float:
        return self.clock()


class Conversations:
    """Turns inbound messages into replies, one person at a time, never twice."""

    def __init__(self, engine: Engine, store: SessionStore, client: CoreClient, nlu: NLU,
                 clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.store = store
        self.client = client
        self.nlu = nlu
        self.clock = clock
        self.activity = ChatActivity(clock)  # dashboard counters, flushed by the worker

    async def handle(self, inbound: Inbound, *,
                     when_busy: Literal["answer", "raise"] = "answer",
                     begun: Begin | None = None,
                     along: Callable[[Turn], Along] | None = None) -> Turn | None:
        """Run one turn; None when the message was already handled (a provider retry).

        When the conversation stays locked past the wait (its previous turn still runs),
        the turn answers "try again" (``when_busy="answer"``: the simulator, the console)
        or raises ``SessionBusy`` (``"raise"``: the inbound worker, which keeps the
        message and runs it a moment later). ``begun``: the session store's begin for
        this message, made by the caller (``SessionStore.begun``); ``along(turn)``: the
        caller's commands sent with the commit (``SessionStore.commit``), when the turn
        commits. The turn's log lines carry a ``turn_id``; it is counted and timed for
        /metrics.
        """
        started = time.perf_counter()
        with structlog.contextvars.bound_contextvars(turn_id=uuid.uuid4().hex[:16],
                                                     message_id=inbound.message_id):
            turn = await self._turn(inbound, when_busy, begun, along)
            if turn is None:
                observe_turn(inbound.channel, None, "repeat")
                log.info("turn_repeat", channel=inbound.channel)
                return None
            outcome = next((e for e in turn.effects if e in _TURN_TROUBLE), "ok")
            seconds = time.perf_counter() - started
            observe_turn(inbound.channel, turn.session.flow, outcome, seconds)
            log.info("turn", channel=inbound.channel, flow=turn.session.flow,
                     step=turn.session.step, outcome=outcome, ms=round(seconds * 1000, 1))
        return turn

    async def _turn(self, inbound: Inbound, when_busy: str, begun: Begin | None,
                    along: Callable[[Turn], Along] | None) -> Turn | None:
        key = conversation_key(inbound.channel, inbound.sender)
        try:
            begin = begun or await self.store.begin(key, inbound.message_id)
        except SessionBusy:
            # The person's previous message is still being handled after the wait bound.
            log.warning("session_busy", channel=inbound.channel)
            if when_busy == "raise":
                raise
            return Turn(Session(), [Outgoing(translate(None, "global.try_again"))], ["busy"])
        if begin.duplicate:
            return None
        assert begin.token is not None
        session = Session.loads(begin.data)
        before = Position.of(session)
        services = BoundServices(self.client, self.nlu, inbound.sender, self.clock,
                                 request_key(inbound.channel, inbound.sender,
                                             inbound.message_id))
        try:
            async with self.store.held(key, begin.token):
                turn = await self.engine.turn(session, inbound, services)
        except Exception:
            # Nothing the citizen sent is lost: the old session stays, the id is released
            # so a provider retry runs again, and the citizen hears that we failed.
            log.exception("turn_failed", channel=inbound.channel)
            await self.store.release(key, begin.token, inbound.message_id)
            locale = session.locale if session else None
            return Turn(session or Session(), [Outgoing(translate(locale, "global.try_again"))],
                        ["failed"])
        if not await self.store.commit(key, begin.token, turn.session.dumps(),
                                       inbound.message_id, replies=_kept(turn),
                                       along=along(turn) if along else None, began=begin):
            # The lock lease ran out mid-turn and another turn took over (or changed the
            # session): its state wins.
            log.warning("session_lease_lost", channel=inbound.channel)
            turn.effects.append("lease_lost")
        else:
            self.activity.record(before, turn, inbound.channel)  # in memory: no I/O
        return turn


    async def answered(self, inbound: Inbound) -> Turn | None:
        """The replies of a message whose turn was committed before (None: none kept).

        A worker that died between the commit and queuing the replies leaves the message
        in its mailbox; the worker that takes over queues these instead (same job ids, so
        whatever was sent already is not sent again).
        """
        if not inbound.message_id:
            return None
        raw = await self.store.answered(conversation_key(inbound.channel, inbound.sender),
                                        inbound.message_id)
        if raw is None:
            return None
        kept = orjson.loads(raw)
        return Turn(Session(locale=kept["locale"]),
                    [outgoing_from_dict(reply) for reply in kept["replies"]], ["repeat"])

    async def locale_of(self, inbound: Inbound) -> str | None:
        """The language of the sender's conversation (None: none chosen or no session)."""
        session = Session.loads(await self.store.saved(conversation_key(inbound.channel,
                                                                        inbound.sender)))
        return session.locale if session else None


def _kept(turn: Turn) -> bytes:
    """What ``answered`` gives back: the replies and the language they are in."""
    return orjson.dumps({"locale": turn.session.locale,
                         "replies": [outgoing_to_dict(reply) for reply in turn.replies]})


class BuiltinNLU:
    """The keyword/fuzzy matcher, fed with the core API's complaint types (cached)."""

    def __init__(self, client: CoreClient) -> None:
        self.client = client
        self.matcher = KeywordMatcher()
        self._types_version: int | None = None

    async def _refresh(self) -> None:
        types = await self.client.reference("complaint_types", COMPLAINT_TYPES_PATH)
        if id(types) != self._types_version:
            self.matcher.set_complaint_types(flatten_types(types))
            self._types_version = id(types)

    async def understand(self, text: str, locale: str | None) -> Understanding:
        try:
            await self._refresh()
        except ServiceError:
            log.warning("nlu_types_unavailable")
        return self.matcher.understand_now(text, locale)

    def complaint_type(self, text: str) -> tuple[str | None, float]:
        return self.matcher.complaint_type(text)
