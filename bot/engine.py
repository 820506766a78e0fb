"""The flow engine: (session, inbound message) -> (new session, outgoing messages).

The engine does no I/O of its own. Core-API calls, understanding free text and the
clock come in through ``Services``; the caller loads and saves the session. A turn:

1. opt-out, an answer to a notification's question ("Is the problem fixed now?": the
   ``case_reply`` flow), unreadable input (sticker, audio, 3 000 characters, emoji only)
   and idle resume are handled first;
2. global words (menu, back, help, language, stop) work at any question;
3. the answer to the current question is read for its input type; a wrong answer
   gets a localized hint and the question again (too many -> back to the menu);
4. steps run until the next question, which is sent.

This file keeps that turn control. What each step kind does (ask, say, call, do,
branch) lives in ``bot/steps/``, one module per kind, dispatched through
``bot.steps.STEP_KINDS``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from bot import history, taps
from bot.channel_kinds import Capabilities, capabilities
from bot.flowspec import FlowDef, StepDef, intent_flows
from bot.followup import ANSWERS, CASE_REPLY_FLOW
from bot.i18n import global_word, guess_locale, language_named, start_words, translate, words
from bot.inputs import TEXT_INPUTS, ascii_digits
from bot.messages import Inbound, Option, Outgoing
from bot.nlu import normalize
from bot.screen import said
from bot.services import Helper, ServiceError, Services
from bot.session import Session
from bot.steps import STEP_KINDS, ask
from bot.steps.context import WAIT, Here, Next, next_target
from bot.steps.expressions import value
from bot.steps.options import options

IDLE_SECONDS = 30 * 60
MAX_TEXT_CHARS = 1000
MAX_STEPS_PER_TURN = 40
MENU_FLOW = "main_menu"
ONBOARDING_FLOW = "onboarding"
LANGUAGE_FLOW = "change_language"
HELP_FLOW = "help"
EMPLOYEE_FLOW = "employee_tasks"
SET_LANGUAGE_STEP = "set_language"  # onboarding's and change_language's: takes the choice
CHOSEN_LOCALE = "chosen_locale"  # the slot it reads
MAYBE = "_maybe"  # a guessed request waiting for "did you mean ...?" to be answered


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
        turn = await _TurnRunner(self, services, session or Session(), inbound).run(inbound)
        history.prune_loads(turn.session)
        return turn


class _TurnRunner:
    """The work of one turn: the ``StepContext`` the step kinds of ``bot.steps`` run in."""

    def __init__(self, engine: Engine, services: Services, session: Session,
                 inbound: Inbound) -> None:
        self.flows = engine.flows
        self.helpers = engine.helpers
        self.services = services
        self.turn = Turn(session)
        self.channel: Capabilities = capabilities(inbound.channel)
        self._history_kept = True  # False once an answer left the history it belongs to

    @property
    def session(self) -> Session:
        return self.turn.session

    @property
    def replies(self) -> list[Outgoing]:
        return self.turn.replies

    @property
    def effects(self) -> list[str]:
        return self.turn.effects

    async def run(self, inbound: Inbound) -> Turn:
        s, turn = self.session, self.turn
        now = self.services.now()
        idle = bool(s.last_at) and now - s.last_at > IDLE_SECONDS
        s.last_at = now
        s.channel = inbound.channel
        text = (inbound.text or "").strip()
        folded = ascii_digits(unicodedata.normalize("NFC", text).casefold())

        if s.opted_out:
            if global_word(folded) == "start":  # START in any language
                s.opted_out = False
                await self._safe_call("update_profile", {"opted_out": False})
                turn.replies.append(Outgoing(translate(s.locale, "global.started")))
                await self.go_home()
            return turn  # opted out: nothing but the confirmation of "start"

        if await self._case_reply(inbound, folded):
            return turn

        if s.flow is None or s.flow not in self.flows or (
            s.step is not None and s.step not in self.flows[s.flow].steps
        ):
            restarted = s.flow is not None
            named = language_named(text) if inbound.kind == "text" else None
            if s.locale is None:
                s.locale = inbound.extra.get("locale") or named or guess_locale(text)
            s.flow, s.step, s.slots, s.stack, s.back = None, None, {}, [], []
            if restarted:
                turn.effects.append("restarted")
                turn.replies.append(Outgoing(translate(s.locale, "global.restarted")))
            target = ONBOARDING_FLOW if s.user_id is None else self._home()
            if unreadable(inbound) == "hint.too_long":
                # Not taken as a request (nor fed to the NLU): asked again, in a few words.
                turn.replies.append(Outgoing(translate(s.locale, "hint.too_long")))
                text = ""
            if target == ONBOARDING_FLOW and inbound.kind == "text" and text and not named:
                s.pending = text[:MAX_TEXT_CHARS]  # "street light broken" as a first message
            if s.user_id is not None and inbound.kind == "text" and text:
                # A returning person whose session ended: a free-text request goes straight on.
                if await self.understood(text):
                    return turn
            await self._goto(f"@{target}", inbound=inbound)
            return turn

        step = self._step()
        if s.resume:
            return await self._resume_answer(inbound, folded)
        if idle and s.flow not in (MENU_FLOW, EMPLOYEE_FLOW) and step.kind == "ask":
            s.resume = True
            turn.replies.append(self._resume_prompt())
            return turn

        if MAYBE in s.slots and await self._maybe_answer(inbound, folded):
            return turn
        if inbound.kind == "text" and not inbound.option_id and (
                await self._global(inbound, folded)):
            return turn

        hint = unreadable(inbound)
        needs_text = step.input is not None and step.input.type in TEXT_INPUTS
        if hint is None and needs_text and inbound.kind != "text" and not inbound.option_id:
            hint = "hint.need_text"
        if hint:
            turn.replies.append(said(s.locale, hint))
            turn.replies.append(ask.prompt(self, step))
            return turn
        if taps.from_earlier_question(inbound, s.flow, s.step):
            if not await taps.rewind(self, inbound, self._home()):
                turn.replies.append(said(s.locale, taps.EARLIER_LIST_HINT))
                turn.replies.append(ask.prompt(self, step))
                return turn
            step = self._step()
        await self._answer(step, inbound)
        return turn

    # ------------------------------------------------------------ case replies

    async def _case_reply(self, inbound: Inbound, folded: str) -> bool:
        """An answer to a notification's "is it fixed?" continues that complaint (the
        ``case_reply`` flow, see ``bot.followup``). A button tap is unambiguous anywhere; a
        typed "1" / "yes" / "2" / "no" only from the main menu or a fresh conversation,
        where it would otherwise pick a menu item. True when the answer was taken."""
        s = self.session
        if s.employee or CASE_REPLY_FLOW not in self.flows:
            return False
        answer = ANSWERS.get(inbound.option_id or "")
        if answer is None and s.flow in (None, MENU_FLOW) and not s.resume:
            answer = self._typed_case_answer(inbound, folded)
        if answer is None:
            return False
        try:
            pending = await self.services.call("case_follow_up", {}, s)
        except ServiceError:
            return False  # the answer is then read as usual
        if not pending:
            return False
        s.locale = s.locale or pending.get("locale")
        await self._goto(f"@{CASE_REPLY_FLOW}",
                         slots={"complaint_id": pending["id"], "answer": answer})
        return True

    def _typed_case_answer(self, inbound: Inbound, folded: str) -> str | None:
        """"yes" or "no" for a typed answer to the question (its number, a yes/no word of
        the person's language or English, or the option's label), else None."""
        if inbound.kind != "text" or inbound.option_id or not folded:
            return None
        folded = folded.rstrip(".) ")
        # A fresh conversation: by script.
        locale = self.session.locale or guess_locale(inbound.text)
        for answer, number, word_list, label in (
                ("yes", "1", "words.yes", "notify.complaint.opt_fixed"),
                ("no", "2", "words.no", "notify.complaint.opt_broken")):
            if folded == number or folded in words(locale, word_list) or (
                    normalize(folded) == normalize(translate(locale, label))):
                return answer
        return None

    async def _safe_call(self, op: str, args: dict[str, Any]) -> bool:
        """A call whose failure must not stop the turn (e.g. recording an opt-out)."""
        try:
            await self.services.call(op, args, self.session)
        except ServiceError:
            return False
        return True

    # ------------------------------------------------------------ global words

    async def _global(self, inbound: Inbound, folded: str) -> bool:
        """A global word or a language's name, typed alone, in any of the locales.

        So that they do not swallow answers, only a whole message counts, and it is the
        answer instead where the question takes it: a number the question asks for or an
        option number shown (``_wants_digits``); and, at a free-text question (a name, an
        area, a description), a romanised word of another language ("band", "chalu",
        "madad"), which may be a name. The conversation's own words, English ones and
        words in another script ("भाषा" at the English name question) are global words
        there too, and so is a language's name ("hindi", "ਪੰਜਾਬੀ"): it switches at once.
        """
        s, turn = self.session, self.turn
        if not folded:
            return False
        if folded.isdigit() and self._wants_digits(int(folded)):
            return False  # "9" answers a number question or picks option 9; it is not "back"
        kind = global_word(folded)
        if kind is None:
            named = language_named(folded)
            if named is not None:
                await self._switch_language(inbound, named)
            return named is not None
        if self._free_text_answer(folded, kind):
            return False
        if kind in ("menu", "start"):  # START when not opted out: the menu, as at the start
            await self.go_home()
            return True
        if kind == "back":
            await self._back()
            return True
        if kind == "help":
            turn.replies.append(said(s.locale, "global.help"))
            turn.replies.append(ask.prompt(self, self._step()))
            return True
        if kind == "language" and s.flow != LANGUAGE_FLOW:
            await self._enter_language()
            return True
        if kind == "stop":
            await self._safe_call("update_profile", {"opted_out": True})
            s.opted_out = True
            s.flow, s.step, s.slots, s.stack, s.back = MENU_FLOW, None, {}, [], []
            turn.effects.append("opted_out")
            # One confirmation naming START in every language; then silence until START.
            turn.replies.append(Outgoing(translate(s.locale, "global.stopped",
                                                   start=start_words())))
            return True
        return False

    def _free_text_answer(self, folded: str, kind: str) -> bool:
        """True when a global word is rather the answer to a free-text question: a
        romanised word of another language, not the conversation's own nor English."""
        spec = self._step().input
        return (spec is not None and spec.type == "text" and folded.isascii()
                and folded not in words(self.session.locale, f"words.{kind}"))

    async def _enter_language(self, slots: dict[str, Any] | None = None) -> None:
        """The language flow, over the current question: it comes back to it (``^``) and
        asks it again in the new language. ``chosen_locale`` in ``slots`` skips the
        language question."""
        s = self.session
        s.stack.append([s.flow or MENU_FLOW, s.step or "", s.slots, s.back, s.loaded])
        await self._goto(f"@{LANGUAGE_FLOW}", slots=slots, keep_stack=True)

    async def _switch_language(self, inbound: Inbound, code: str) -> None:
        """Talk in the language the person named. At a question offering it (the language
        question) it is that answer; a flow that asks for the language itself (onboarding)
        takes it at its ``set_language`` step; anywhere else the language flow switches,
        says so and asks the current question again, wholly in the new language."""
        s, step = self.session, self._step()
        if step.input is not None and step.input.type == "choice" and code in {
                option.id for option in options(self, step.input)}:
            await self._answer(step, replace(inbound, option_id=code))
        elif SET_LANGUAGE_STEP in self.flows[s.flow or MENU_FLOW].steps:
            s.slots[CHOSEN_LOCALE] = code
            await self._goto(SET_LANGUAGE_STEP)
        else:
            await self._enter_language({CHOSEN_LOCALE: code})

    async def _back(self) -> None:
        """The previous question again, with the answers given before it (``bot.history``);
        with none remembered (a flow's first question), the menu. Lists it showed are
        fetched again: when that fails, the person hears "could not do that now" and stays
        where they are."""
        s = self.session
        entry = history.last(s)
        flow = self.flows.get(entry.flow) if entry else None
        if entry is None or flow is None or entry.step not in flow.steps:
            await self.go_home()
            return
        try:
            await history.step_back(s, entry, flow.steps, self.services)
        except (ServiceError, KeyError):
            self.effects.append("api_failed")
            self.replies.append(Outgoing(translate(s.locale, "global.try_again")))
        self.replies.append(ask.prompt(self, self._step()))

    def _carry(self, step: StepDef) -> dict[str, Any]:
        """The slots a step hands to the flow it enters."""
        return {name: value(self.session, expr) for name, expr in step.carry.items()}

    def _wants_digits(self, number: int) -> bool:
        """True when the current question takes this number as its answer."""
        spec = self._step().input
        if spec is None:
            return False
        if spec.type in ("number", "phone", "consumer_number", "date"):
            return True
        return spec.type == "choice" and 1 <= number <= len(self.session.shown)

    def _resume_prompt(self) -> Outgoing:
        locale = self.session.locale
        return Outgoing(
            translate(locale, "global.resume"),
            options=(Option("continue", translate(locale, "global.resume_continue")),
                     Option("restart", translate(locale, "global.resume_restart"))),
        )

    async def _resume_answer(self, inbound: Inbound, folded: str) -> Turn:
        s, turn = self.session, self.turn
        choice = inbound.option_id or {"1": "continue", "2": "restart"}.get(folded)
        if choice is None:
            labels = {"continue": translate(s.locale, "global.resume_continue"),
                      "restart": translate(s.locale, "global.resume_restart")}
            choice = next((k for k, v in labels.items() if v.casefold() == folded), None)
        if choice is None and global_word(folded) == "menu":
            choice = "restart"
        if choice == "continue":
            s.resume = False
            turn.replies.append(ask.prompt(self, self._step()))
        elif choice == "restart":
            s.resume = False
            await self.go_home()
        else:
            turn.replies.append(said(s.locale, "hint.pick_option"))
            turn.replies.append(self._resume_prompt())
        return turn

    # ----------------------------------------------------------------- answers

    async def _answer(self, step: StepDef, inbound: Inbound) -> None:
        """Save the answer to the current question and go on, or ask again with a hint."""
        s = self.session
        spec = step.input
        assert spec is not None
        flow_id, step_id = s.flow or "", s.step or ""
        before, loaded = history.snapshot(s.slots), dict(s.loaded)
        reading = await ask.read(self, step, inbound)
        if reading is None:
            if before.get("_page") != s.slots.get("_page"):  # "More": a page is a position
                history.remember(s, flow_id, step_id, step.save, before, loaded)
            return
        answer, error = reading
        if error is not None:
            s.retries += 1
            if s.retries > step.retries:
                self.replies.append(Outgoing(translate(s.locale, "global.too_many_tries")))
                await self.go_home()
                return
            hint = spec.hint if spec.hint and error != "hint.pick_option" else error
            self.replies.append(said(s.locale, hint))
            self.replies.append(ask.prompt(self, step))
            return
        s.retries = 0
        s.slots.pop("_page", None)
        if step.save:
            s.slots[step.save] = answer
        target = next_target(step, answer)
        self._history_kept = True
        if step.carry and target and target.startswith("@"):
            await self._goto(target, slots=self._carry(step), carry=True)
        else:
            await self._goto(target)
        if self._history_kept and "api_failed" not in self.effects:
            history.remember(s, flow_id, step_id, step.save, before, loaded)

    async def understood(self, text: str, *, allowed: Sequence[str] | None = None) -> bool:
        """Route free text by intent; True when it moved the conversation."""
        s = self.session
        result = await self.services.nlu.understand(text, s.locale)
        flow_id = intent_flows(self.flows).get(result.intent or "", result.intent)
        if flow_id is None or flow_id not in self.flows or (allowed and flow_id not in allowed):
            return False
        if self.flows[flow_id].staff != s.employee:
            return False
        entry = {f"nlu_{k}": v for k, v in result.entities.items()}
        if result.confirm and s.flow and s.step:
            # Middling confidence: ask before going (the answer is read in _maybe_answer).
            s.slots[MAYBE] = {"flow": flow_id, "slots": entry}
            self.replies.append(self._maybe_prompt(flow_id))
            return True
        await self._goto(f"@{flow_id}", slots=entry)
        return True

    def _maybe_prompt(self, flow_id: str) -> Outgoing:
        locale = self.session.locale
        what = translate(locale, f"menu.{flow_id}")
        return Outgoing(translate(locale, "nlu.did_you_mean", what=what),
                        options=(Option("yes", translate(locale, "common.yes")),
                                 Option("no", translate(locale, "common.no"))),
                        list_button=translate(locale, "common.choose"))

    async def _maybe_answer(self, inbound: Inbound, folded: str) -> bool:
        """The answer to "did you mean ...?"; False when it is something else entirely."""
        s = self.session
        maybe = s.slots.pop(MAYBE)
        answer = inbound.option_id or {"1": "yes", "2": "no"}.get(folded)
        if answer is None and folded in words(s.locale, "words.yes"):
            answer = "yes"
        if answer is None and folded in words(s.locale, "words.no"):
            answer = "no"
        if answer == "yes":
            await self._goto(f"@{maybe['flow']}", slots=maybe["slots"])
            return True
        if answer == "no":
            self.replies.append(ask.prompt(self, self._step()))
            return True
        return False  # new input: handle it as usual

    # --------------------------------------------------------------- stepping

    def _home(self) -> str:
        s = self.session
        return EMPLOYEE_FLOW if s.employee and EMPLOYEE_FLOW in self.flows else MENU_FLOW

    def _step(self) -> StepDef:
        """The step the person is at (the question they were asked)."""
        s = self.session
        flow = self.flows[s.flow or MENU_FLOW]
        return flow.steps[s.step or flow.start]

    async def _relabel(self) -> None:
        """A flow resumed (after a language switch): its ``relabel`` operation puts the
        names it holds from data (option lists, chosen places) in the session's language,
        so the question is asked again wholly in it. On failure they stay as they were."""
        s = self.session
        operation = self.flows[s.flow or MENU_FLOW].relabel
        if operation and await self._safe_call(operation, {}):
            for slot, (step, args, _checksum) in list(s.loaded.items()):
                history.note_load(s, slot, step, args)  # relabelled: as its call gives it now

    async def go_home(self) -> None:
        """Enter the person's home flow (the main menu, or an employee's tasks)."""
        await self._goto(f"@{self._home()}")

    async def _goto(
        self,
        target: str | None,
        *,
        slots: dict[str, Any] | None = None,
        keep_stack: bool = False,
        inbound: Inbound | None = None,
        carry: bool = False,
    ) -> None:
        """Run steps from ``target`` until the next question (which is sent)."""
        s = self.session
        flow_id, cursor = s.flow or MENU_FLOW, target
        carried = slots is not None and carry
        for hop in range(MAX_STEPS_PER_TURN):
            if hop and (cursor is None or cursor.startswith(("@", "^"))):
                # The flow ran to its own end (not left by a global word): the dashboard's
                # funnel counts it as completed.
                self.effects.append(f"completed:{flow_id}")
            if cursor is None:
                cursor = f"@{self._home()}"
            if cursor == "^":
                if not s.stack:
                    cursor = f"@{self._home()}"
                    continue
                flow_id, step_id, saved_slots, *saved_back = s.stack.pop()
                s.flow, s.step = flow_id, step_id or self.flows[flow_id].start
                s.slots = saved_slots
                if s.flow in self.flows and s.step in self.flows[s.flow].steps:
                    s.back = saved_back[0] if saved_back else []
                    s.loaded = saved_back[1] if len(saved_back) > 1 else {}
                    self._history_kept = False  # the answer was the returning flow's
                    await self._relabel()
                    self.replies.append(ask.prompt(self, self._step()))
                    return
                cursor = f"@{self._home()}"
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
                s.loaded = {}
                if not carried:
                    s.back = []  # a flow entered with carried slots is a sub-task: BACK leaves it
                    self._history_kept = False
                slots, carried = None, False
                cursor = flow.start
                s.retries = 0
            step = self.flows[flow_id].steps[cursor]
            if step.carry and step.kind != "ask":
                slots, carried = self._carry(step), True
            following = await self._run_step(Here(flow_id, cursor, step))
            if following is WAIT:
                return
            cursor = following
        raise RuntimeError(f"flow {flow_id} ran {MAX_STEPS_PER_TURN} steps without a question")

    async def _run_step(self, here: Here) -> Next:
        """Run one step. What a call step saves is noted with its arguments, so that BACK
        can fetch a big list again rather than keep it in the session (``bot.history``)."""
        s, step = self.session, here.step
        if step.kind != "call" or not step.save:
            return await STEP_KINDS[step.kind](self, here)
        args = {name: value(s, expr) for name, expr in step.args.items()}
        old = s.slots.get(step.save)
        following = await STEP_KINDS[step.kind](self, here)
        if step.save in s.slots and s.slots[step.save] is not old:
            history.note_load(s, step.save, here.step_id, history.arg_values(args))
        return following
