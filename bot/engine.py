"""The flow engine: (session, inbound message) -> (new session, outgoing messages).

The engine does no I/O of its own. Core-API calls, understanding free text and the
clock come in through ``Services``; the caller loads and saves the session. A turn:

1. opt-out, an answer to a notification's question ("Is the problem fixed now?": the
   ``case_reply`` flow), unreadable input (sticker, audio, 3 000 characters, emoji only)
   and idle resume are handled first;
2. global words (menu, back, help, language, stop) work at any question;
3. the answer to the current question is parsed for its input type; a wrong answer
   gets a localized hint and the question again (too many -> back to the menu);
4. steps run (say, call, do, branch) until the next question, which is sent.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol

from rapidfuzz import fuzz

from bot.flowspec import FlowDef, InputDef, StepDef, expressions
from bot.followup import ANSWERS, CASE_REPLY_FLOW
from bot.i18n import (
    format_amount,
    format_day,
    format_moment,
    guess_locale,
    lang,
    translate,
    words,
)
from bot.inputs import TEXT_INPUTS, ascii_digits, parse
from bot.messages import Inbound, Media, Option, Outgoing
from bot.nlu import NLU, normalize
from bot.session import Session

IDLE_SECONDS = 30 * 60
MAX_TEXT_CHARS = 1000
MAX_STEPS_PER_TURN = 40
MENU_FLOW = "main_menu"
ONBOARDING_FLOW = "onboarding"
LANGUAGE_FLOW = "change_language"
HELP_FLOW = "help"
EMPLOYEE_FLOW = "employee_tasks"
MAX_BACK = 5
FUZZY_OPTION_SCORE = 82.0
# SMS lists longer than this are shown in pages with a "More" option (3-segment budget).
SMS_PAGE_SIZE = 6
MORE = "_more"
MAYBE = "_maybe"  # a guessed request waiting for "did you mean ...?" to be answered
# NLU intents whose flow has another name.
INTENT_FLOWS = {"view_receipts": "receipts", "request_certificate": "certificate_request",
                "greet": MENU_FLOW}


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


@dataclass
class Turn:
    """The outcome of one inbound message."""

    session: Session
    replies: list[Outgoing] = field(default_factory=list)
    effects: list[str] = field(default_factory=list)  # e.g. "opted_out", "restarted"


_EMOJI_ONLY = re.compile(r"^[\W_]+$", re.UNICODE)


def unreadable(inbound: Inbound) -> str | None:
    """A hint id when the message is something we cannot act on, else None."""
    if inbound.kind in ("sticker", "audio", "video", "contacts", "reaction", "unsupported",
                        "document"):
        return "hint.unsupported_media"
    if inbound.kind == "text":
        text = (inbound.text or "").strip()
        if not text and not inbound.option_id:
            return "hint.empty"
        if len(text) > MAX_TEXT_CHARS:
            return "hint.too_long"
        if text and _EMOJI_ONLY.match(text) and not any(
            unicodedata.category(c).startswith(("L", "N")) for c in text
        ):
            return "hint.emoji_only"
    return None


class Engine:
    """Runs flows. One instance serves every conversation (it holds no per-person state)."""

    def __init__(self, flows: dict[str, FlowDef], helpers: dict[str, Helper]) -> None:
        self.flows = flows
        self.helpers = helpers

    async def turn(self, session: Session | None, inbound: Inbound, services: Services) -> Turn:
        """Handle one inbound message with ``services`` bound to the sender."""
        return await _TurnRunner(self, services).run(session, inbound)


class _TurnRunner:
    """The work of one turn (holds the services bound to this sender)."""

    def __init__(self, engine: Engine, services: Services) -> None:
        self.flows = engine.flows
        self.helpers = engine.helpers
        self.services = services

    async def run(self, session: Session | None, inbound: Inbound) -> Turn:
        s = session or Session()
        turn = Turn(s)
        now = self.services.now()
        idle = bool(s.last_at) and now - s.last_at > IDLE_SECONDS
        s.last_at = now
        s.channel = inbound.channel
        text = (inbound.text or "").strip()
        folded = ascii_digits(unicodedata.normalize("NFC", text).casefold())

        if s.opted_out:
            if folded in words(s.locale, "words.start"):
                s.opted_out = False
                await self._safe_call("update_profile", {"opted_out": False}, s)
                turn.replies.append(Outgoing(translate(s.locale, "global.started")))
                await self._goto(turn, f"@{self._home(s)}")
            return turn  # opted out: nothing but the confirmation of "start"

        if await self._case_reply(turn, inbound, folded):
            return turn

        if s.flow is None or s.flow not in self.flows or (
            s.step is not None and s.step not in self.flows[s.flow].steps
        ):
            restarted = s.flow is not None
            if s.locale is None:
                s.locale = inbound.extra.get("locale") or guess_locale(text)
            s.flow, s.step, s.slots, s.stack, s.back = None, None, {}, [], []
            if restarted:
                turn.effects.append("restarted")
                turn.replies.append(Outgoing(translate(s.locale, "global.restarted")))
            target = ONBOARDING_FLOW if s.user_id is None else self._home(s)
            if unreadable(inbound) == "hint.too_long":
                # Not taken as a request (nor fed to the NLU): asked again, in a few words.
                turn.replies.append(Outgoing(translate(s.locale, "hint.too_long")))
                text = ""
            if target == ONBOARDING_FLOW and inbound.kind == "text" and text:
                s.pending = text[:MAX_TEXT_CHARS]  # "street light broken" as a first message
            if s.user_id is not None and inbound.kind == "text" and text:
                # A returning person whose session ended: a free-text request goes straight on.
                if await self._understood(turn, text, at_menu=True):
                    return turn
            await self._goto(turn, f"@{target}", inbound=inbound)
            return turn

        step = self._step(s)
        if s.resume:
            return await self._resume_answer(turn, inbound, folded)
        if idle and s.flow not in (MENU_FLOW, EMPLOYEE_FLOW) and step.kind == "ask":
            s.resume = True
            turn.replies.append(self._resume_prompt(s))
            return turn

        if MAYBE in s.slots and await self._maybe_answer(turn, inbound, folded):
            return turn
        if inbound.kind == "text" and not inbound.option_id and await self._global(turn, folded):
            return turn

        hint = unreadable(inbound)
        needs_text = step.input is not None and step.input.type in TEXT_INPUTS
        if hint is None and needs_text and inbound.kind != "text" and not inbound.option_id:
            hint = "hint.need_text"
        if hint:
            turn.replies.append(Outgoing(translate(s.locale, hint)))
            turn.replies.append(self._prompt(s, step))
            return turn
        await self._answer(turn, step, inbound)
        return turn

    # ------------------------------------------------------------ case replies

    async def _case_reply(self, turn: Turn, inbound: Inbound, folded: str) -> bool:
        """An answer to a notification's "is it fixed?" continues that complaint (the
        ``case_reply`` flow, see ``bot.followup``). A button tap is unambiguous anywhere; a
        typed "1" / "yes" / "2" / "no" only from the main menu or a fresh conversation,
        where it would otherwise pick a menu item. True when the answer was taken."""
        s = turn.session
        if s.employee or CASE_REPLY_FLOW not in self.flows:
            return False
        answer = ANSWERS.get(inbound.option_id or "")
        if answer is None and s.flow in (None, MENU_FLOW) and not s.resume:
            answer = self._typed_case_answer(s, inbound, folded)
        if answer is None:
            return False
        try:
            pending = await self.services.call("case_follow_up", {}, s)
        except ServiceError:
            return False  # the answer is then read as usual
        if not pending:
            return False
        s.locale = s.locale or pending.get("locale")
        await self._goto(turn, f"@{CASE_REPLY_FLOW}",
                         slots={"complaint_id": pending["id"], "answer": answer})
        return True

    def _typed_case_answer(self, s: Session, inbound: Inbound, folded: str) -> str | None:
        """"yes" or "no" for a typed answer to the question (its number, a yes/no word of
        the person's language or English, or the option's label), else None."""
        if inbound.kind != "text" or inbound.option_id or not folded:
            return None
        folded = folded.rstrip(".) ")
        locale = s.locale or guess_locale(inbound.text)  # a fresh conversation: by script
        for answer, number, word_list, label in (
                ("yes", "1", "words.yes", "notify.complaint.opt_fixed"),
                ("no", "2", "words.no", "notify.complaint.opt_broken")):
            if folded == number or folded in words(locale, word_list) or (
                    normalize(folded) == normalize(translate(locale, label))):
                return answer
        return None

    async def _safe_call(self, op: str, args: dict[str, Any], s: Session) -> bool:
        """A call whose failure must not stop the turn (e.g. recording an opt-out)."""
        try:
            await self.services.call(op, args, s)
        except ServiceError:
            return False
        return True

    # ------------------------------------------------------------ global words

    async def _global(self, turn: Turn, folded: str) -> bool:
        s = turn.session
        if not folded:
            return False
        if folded.isdigit() and self._wants_digits(s, int(folded)):
            return False  # "9" answers a number question or picks option 9; it is not "back"
        if folded in words(s.locale, "words.menu"):
            await self._goto(turn, f"@{self._home(s)}")
            return True
        if folded in words(s.locale, "words.back"):
            if s.back:
                s.flow, s.step = s.back.pop()
                s.retries = 0
                turn.replies.append(self._prompt(s, self._step(s)))
            else:
                await self._goto(turn, f"@{self._home(s)}")
            return True
        if folded in words(s.locale, "words.help"):
            turn.replies.append(Outgoing(translate(s.locale, "global.help")))
            turn.replies.append(self._prompt(s, self._step(s)))
            return True
        if folded in words(s.locale, "words.language") and s.flow != LANGUAGE_FLOW:
            s.stack.append([s.flow or MENU_FLOW, s.step or "", s.slots, s.back])
            await self._goto(turn, f"@{LANGUAGE_FLOW}", keep_stack=True)
            return True
        if folded in words(s.locale, "words.stop"):
            await self._safe_call("update_profile", {"opted_out": True}, s)
            s.opted_out = True
            s.flow, s.step, s.slots, s.stack, s.back = MENU_FLOW, None, {}, [], []
            turn.effects.append("opted_out")
            turn.replies.append(Outgoing(translate(s.locale, "global.stopped")))
            return True
        return False

    def _carry(self, s: Session, step: StepDef) -> dict[str, Any]:
        """The slots a step hands to the flow it enters."""
        return {name: self._value(s, expr) for name, expr in step.carry.items()}

    def _wants_digits(self, s: Session, number: int) -> bool:
        """True when the current question takes this number as its answer."""
        spec = self._step(s).input
        if spec is None:
            return False
        if spec.type in ("number", "phone", "consumer_number", "date"):
            return True
        return spec.type == "choice" and 1 <= number <= len(s.shown)

    def _resume_prompt(self, s: Session) -> Outgoing:
        return Outgoing(
            translate(s.locale, "global.resume"),
            options=(Option("continue", translate(s.locale, "global.resume_continue")),
                     Option("restart", translate(s.locale, "global.resume_restart"))),
        )

    async def _resume_answer(self, turn: Turn, inbound: Inbound, folded: str) -> Turn:
        s = turn.session
        choice = inbound.option_id or {"1": "continue", "2": "restart"}.get(folded)
        if choice is None:
            labels = {"continue": translate(s.locale, "global.resume_continue"),
                      "restart": translate(s.locale, "global.resume_restart")}
            choice = next((k for k, v in labels.items() if v.casefold() == folded), None)
        if choice is None and folded in words(s.locale, "words.menu"):
            choice = "restart"
        if choice == "continue":
            s.resume = False
            turn.replies.append(self._prompt(s, self._step(s)))
        elif choice == "restart":
            s.resume = False
            await self._goto(turn, f"@{self._home(s)}")
        else:
            turn.replies.append(Outgoing(translate(s.locale, "hint.pick_option")))
            turn.replies.append(self._resume_prompt(s))
        return turn

    # ----------------------------------------------------------------- answers

    async def _answer(self, turn: Turn, step: StepDef, inbound: Inbound) -> None:
        s = turn.session
        spec = step.input
        assert spec is not None
        if spec.type == "choice":
            value, error = await self._choose(turn, step, inbound)
            if turn.replies:  # the NLU moved the conversation elsewhere
                return
            if value == MORE:
                turn.replies.append(self._prompt(s, step))
                return
        else:
            parsed = parse(spec, inbound, s.locale)
            value, error = parsed.value, parsed.error
        if error is not None:
            s.retries += 1
            if s.retries > step.retries:
                turn.replies.append(Outgoing(translate(s.locale, "global.too_many_tries")))
                await self._goto(turn, f"@{self._home(s)}")
                return
            hint = spec.hint if spec.hint and error != "hint.pick_option" else error
            turn.replies.append(Outgoing(translate(s.locale, hint)))
            turn.replies.append(self._prompt(s, step))
            return
        s.retries = 0
        s.slots.pop("_page", None)
        if step.save:
            s.slots[step.save] = value
        s.back = [*s.back, [s.flow or "", s.step or ""]][-MAX_BACK:]
        target = self._next(step, value)
        if step.carry and target and target.startswith("@"):
            await self._goto(turn, target, slots=self._carry(s, step), carry=True)
        else:
            await self._goto(turn, target)

    async def _choose(self, turn: Turn, step: StepDef, inbound: Inbound) -> tuple[Any, str | None]:
        s = turn.session
        spec = step.input
        assert spec is not None
        options = self._options(s, spec)
        visible = self._page(s, options)
        ids = [o.id for o in options]
        if inbound.option_id and inbound.option_id in ids:
            return inbound.option_id, None
        text = (inbound.text or "").strip()
        digits = ascii_digits(text).rstrip(".) ")
        chosen: str | None = inbound.option_id if inbound.option_id == MORE else None
        if digits.isdigit():
            index = int(digits) - 1
            if not 0 <= index < len(visible):
                return None, "hint.pick_option"
            chosen = visible[index].id
        if chosen == MORE:
            page = int(s.slots.get("_page", 0)) + 1
            s.slots["_page"] = page if page * SMS_PAGE_SIZE < len(options) else 0
            return MORE, None
        if chosen is not None:
            return chosen, None
        normal = normalize(text)
        for option in options:
            if normalize(option.label) == normal or option.id == normal:
                return option.id, None
        if spec.nlu == "intents":
            if await self._understood(turn, text, at_menu=True, allowed=ids):
                return None, None
        elif spec.nlu == "complaint_types":
            found = await self._type_from_text(text)
            if found and found in ids:
                return found, None
        best, best_score = None, 0.0
        for option in options:
            score = fuzz.WRatio(normal, normalize(option.label))
            if score > best_score:
                best, best_score = option.id, score
        if best is not None and best_score >= FUZZY_OPTION_SCORE:
            return best, None
        return None, "hint.pick_option"

    async def _type_from_text(self, text: str) -> str | None:
        matcher = getattr(self.services.nlu, "complaint_type", None)
        if matcher is None:
            return None
        code, _score = matcher(text)
        return code

    async def _understood(self, turn: Turn, text: str, *, at_menu: bool,
                          allowed: Sequence[str] | None = None) -> bool:
        """Route free text by intent; True when it moved the conversation."""
        s = turn.session
        result = await self.services.nlu.understand(text, s.locale)
        flow_id = INTENT_FLOWS.get(result.intent or "", result.intent)
        if flow_id is None or flow_id not in self.flows or (allowed and flow_id not in allowed):
            return False
        if self.flows[flow_id].staff != s.employee:
            return False
        entry = {f"nlu_{k}": v for k, v in result.entities.items()}
        if result.confirm and s.flow and s.step:
            # Middling confidence: ask before going (the answer is read in _maybe_answer).
            s.slots[MAYBE] = {"flow": flow_id, "slots": entry}
            turn.replies.append(self._maybe_prompt(s, flow_id))
            return True
        await self._goto(turn, f"@{flow_id}", slots=entry)
        return True

    def _maybe_prompt(self, s: Session, flow_id: str) -> Outgoing:
        what = translate(s.locale, f"menu.{flow_id}")
        return Outgoing(translate(s.locale, "nlu.did_you_mean", what=what),
                        options=(Option("yes", translate(s.locale, "common.yes")),
                                 Option("no", translate(s.locale, "common.no"))),
                        list_button=translate(s.locale, "common.choose"))

    async def _maybe_answer(self, turn: Turn, inbound: Inbound, folded: str) -> bool:
        """The answer to "did you mean ...?"; False when it is something else entirely."""
        s = turn.session
        maybe = s.slots.pop(MAYBE)
        answer = inbound.option_id or {"1": "yes", "2": "no"}.get(folded)
        if answer is None and folded in words(s.locale, "words.yes"):
            answer = "yes"
        if answer is None and folded in words(s.locale, "words.no"):
            answer = "no"
        if answer == "yes":
            await self._goto(turn, f"@{maybe['flow']}", slots=maybe["slots"])
            return True
        if answer == "no":
            turn.replies.append(self._prompt(s, self._step(s)))
            return True
        return False  # new input: handle it as usual

    # --------------------------------------------------------------- stepping

    def _home(self, s: Session) -> str:
        return EMPLOYEE_FLOW if s.employee and EMPLOYEE_FLOW in self.flows else MENU_FLOW

    def _step(self, s: Session) -> StepDef:
        flow = self.flows[s.flow or MENU_FLOW]
        return flow.steps[s.step or flow.start]

    def _next(self, step: StepDef, value: Any) -> str | None:
        if isinstance(step.next, dict):
            key = str(value).lower() if isinstance(value, bool) else str(value)
            return step.next.get(key, step.next.get("*"))
        return step.next

    async def _goto(
        self,
        turn: Turn,
        target: str | None,
        *,
        slots: dict[str, Any] | None = None,
        keep_stack: bool = False,
        inbound: Inbound | None = None,
        carry: bool = False,
    ) -> None:
        """Run steps from ``target`` until the next question (which is sent)."""
        s = turn.session
        flow_id, cursor = s.flow or MENU_FLOW, target
        carried = slots is not None and carry
        for hop in range(MAX_STEPS_PER_TURN):
            if hop and (cursor is None or cursor.startswith(("@", "^"))):
                # The flow ran to its own end (not left by a global word): the dashboard's
                # funnel counts it as completed.
                turn.effects.append(f"completed:{flow_id}")
            if cursor is None:
                cursor = f"@{self._home(s)}"
            if cursor == "^":
                if not s.stack:
                    cursor = f"@{self._home(s)}"
                    continue
                flow_id, step_id, saved_slots, *saved_back = s.stack.pop()
                s.flow, s.step = flow_id, step_id or self.flows[flow_id].start
                s.slots = saved_slots
                if s.flow in self.flows and s.step in self.flows[s.flow].steps:
                    s.back = saved_back[0] if saved_back else []
                    turn.replies.append(self._prompt(s, self._step(s)))
                    return
                cursor = f"@{self._home(s)}"
                continue
            if cursor.startswith("@"):
                flow_id = cursor[1:]
                flow = self.flows[flow_id]
                if not keep_stack:
                    s.stack = []
                keep_stack = False
                s.slots = dict(slots or {})
                if inbound is not None and inbound.profile_name:
                    s.slots["profile_name"] = inbound.profile_name
                if not carried:
                    s.back = []  # a flow entered with carried slots is a sub-task: BACK leaves it
                slots, carried = None, False
                cursor = flow.start
                s.retries = 0
            flow = self.flows[flow_id]
            step = flow.steps[cursor]
            kind = step.kind
            if step.carry and kind != "ask":
                slots, carried = self._carry(s, step), True
            if kind == "ask":
                if s.pending and step.input is not None and step.input.nlu == "intents":
                    # The request that opened the conversation, now that we know who it is.
                    request, s.pending = s.pending, None
                    options = [o.id for o in self._options(s, step.input)]
                    if await self._understood(turn, request, at_menu=True, allowed=options):
                        return
                s.flow, s.step, s.retries = flow_id, cursor, 0
                turn.replies.append(self._prompt(s, step))
                return
            if kind == "say":
                ids = [step.say] if isinstance(step.say, str) else list(step.say or [])
                for index, msgid in enumerate(ids):
                    media = self._media(s, step) if index == len(ids) - 1 else ()
                    turn.replies.append(Outgoing(self._text(s, msgid, step), media=media))
                cursor = self._next(step, None)
            elif kind == "call":
                args = {k: self._value(s, v) for k, v in step.args.items()}
                try:
                    result = await self.services.call(step.call or "", args, s)
                except ServiceError as exc:
                    s.slots["error"] = exc.code
                    if step.on_error:
                        cursor = step.on_error
                        continue
                    turn.effects.append("api_failed")
                    turn.replies.append(Outgoing(translate(s.locale, "global.try_again")))
                    if s.flow and s.step and s.step in self.flows.get(s.flow, flow).steps:
                        turn.replies.append(self._prompt(s, self._step(s)))
                    else:
                        await self._goto(turn, f"@{self._home(s)}")
                    return
                if step.save:
                    s.slots[step.save] = result
                cursor = self._next(step, result)
            elif kind == "do":
                helper = self.helpers[step.do or ""]
                updates = helper(s.slots, s)
                route = updates.pop("_next", None)
                s.slots.update(updates)
                cursor = route if route is not None else self._next(step, None)
            else:  # branch
                value = self._value(s, step.branch or "")
                key = "" if value is None else str(value).lower() if isinstance(value, bool) \
                    else str(value)
                cursor = step.cases.get(key, step.default)
        raise RuntimeError(f"flow {flow_id} ran {MAX_STEPS_PER_TURN} steps without a question")

    # --------------------------------------------------------------- rendering

    def _options(self, s: Session, spec: InputDef) -> list[Option]:
        channel = s.channel
        if spec.type == "yes_no":
            return [Option("yes", translate(s.locale, "common.yes")),
                    Option("no", translate(s.locale, "common.no"))]
        if spec.options_from is not None:
            source = self._value(s, "{" + spec.options_from.source + "}") or []
            options = []
            for item in list(source)[: spec.options_from.limit]:
                label = item.get(spec.options_from.label, "")
                if isinstance(label, dict):
                    label = label.get(lang(s.locale)) or label.get("en") or ""
                description = None
                if spec.options_from.description:
                    description = self._value(s, spec.options_from.description, item) or None
                options.append(Option(str(item[spec.options_from.id]), str(label),
                                      str(description) if description else None))
        else:
            options = []
        # Fixed options follow the ones built from data ("Search by number", "Menu").
        return options + [Option(o.id, translate(s.locale, o.label)) for o in spec.options
                          if o.channels is None or channel in o.channels]

    def _page(self, s: Session, options: list[Option]) -> list[Option]:
        """The options shown now: all of them, or one SMS page plus "More"."""
        if s.channel != "sms" or len(options) <= SMS_PAGE_SIZE + 1:
            return options
        start = int(s.slots.get("_page", 0)) * SMS_PAGE_SIZE
        return [*options[start:start + SMS_PAGE_SIZE],
                Option(MORE, translate(s.locale, "common.more"))]

    def _prompt(self, s: Session, step: StepDef) -> Outgoing:
        spec = step.input
        options: tuple[Option, ...] = ()
        if spec is not None and spec.type in ("choice", "yes_no"):
            options = tuple(self._page(s, self._options(s, spec)))
            s.shown = [o.id for o in options]
        text = self._text(s, step.ask or "", step)
        return Outgoing(
            text,
            options=options,
            request_location=spec is not None and spec.type == "location"
            and s.channel == "whatsapp",
            # Short option sets may still become a list (descriptions, long labels).
            list_button=translate(s.locale, "common.choose") if options else None,
            media=self._media(s, step),
        )

    def _text(self, s: Session, msgid: str, step: StepDef) -> str:
        params = {"name": s.name or ""}
        params.update({name: self._display(s, expr) for name, expr in step.params.items()})
        return translate(s.locale, msgid, **params)

    def _media(self, s: Session, step: StepDef) -> tuple[Media, ...]:
        if not step.media:
            return ()
        items = self._value(s, step.media) or []
        if isinstance(items, dict):
            items = [items]
        return tuple(Media(i["url"], i.get("content_type", "application/pdf"), i.get("filename"))
                     for i in items if isinstance(i, dict) and i.get("url"))

    # ------------------------------------------------------------ expressions

    def _value(self, s: Session, expr: Any, scope: dict[str, Any] | None = None) -> Any:
        """``{path}`` alone gives the raw value; text with expressions gives a string."""
        if not isinstance(expr, str):
            return expr
        found = expressions(expr)
        if len(found) == 1 and expr.strip() == "{" + found[0][0] + (
            "|" + found[0][1] if found[0][1] else "") + "}":
            path, filt = found[0]
            raw = _lookup(scope if scope is not None else self._scope(s), path)
            return _apply(filt, raw, s.locale) if filt else raw
        return self._display(s, expr, scope)

    def _display(self, s: Session, expr: str, scope: dict[str, Any] | None = None) -> str:
        data = scope if scope is not None else self._scope(s)

        def replace(match: re.Match[str]) -> str:
            value = _lookup(data, match.group(1))
            value = _apply(match.group(2), value, s.locale) if match.group(2) else value
            return "" if value is None else str(value)

        return re.sub(r"\{([a-zA-Z_][\w.]*)(?:\|(\w+))?\}", replace, expr)

    def _scope(self, s: Session) -> dict[str, Any]:
        return {**s.slots, "name": s.name, "locale": s.locale, "lang": lang(s.locale),
                "channel": s.channel}


def _lookup(data: Any, path: str) -> Any:
    for part in path.split("."):
        if isinstance(data, dict):
            data = data.get(part)
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return None
    return data


def _apply(filt: str, value: Any, locale: str | None) -> Any:
    """Display filters: amount (₹ Indian format), day, moment, name (localized), count."""
    if value is None:
        return None
    if filt == "amount":
        return format_amount(Decimal(str(value)), locale)
    if filt == "day":
        return format_day(value if isinstance(value, date | datetime | str) else str(value), locale)
    if filt == "moment":
        return format_moment(value, locale)
    if filt == "name":
        if isinstance(value, dict):
            return value.get(lang(locale)) or value.get("en") or next(iter(value.values()), "")
        return value
    if filt == "upper":
        return str(value).upper()
    if filt == "count":
        return len(value) if hasattr(value, "__len__") else 0
    if filt == "mask":
        text = str(value)
        return text[:3] + "*" * max(0, len(text) - 7) + text[-4:] if len(text) > 7 else text
    return value

