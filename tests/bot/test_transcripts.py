"""Conversation transcripts as data: what the citizen sends, what must come back.

Each file in ``flows/<id>/transcripts/`` is one conversation, replayed through
``POST /simulator/messages`` on the real app (real core API, database and Redis) once
per channel it names. A turn is::

    - send: "2"                      # text; or {location: {lat, lng}}, {media: [...]},
                                     # {option_id: ...}, {kind: sticker}
      expect: ["Track", "PG-UK-"]    # substrings of the rendered replies, in order
      not_expect: ["Error"]          # substrings that must not appear
      flow: track_complaint          # flow and step after the turn (optional)
      step: pick
      locale: hi_IN
      only: whatsapp                 # this turn runs on one channel only
      advance: 1900                  # move the clock forward before sending (idle tests)
      api_down: true                 # the core API fails during this turn

``expect`` is matched against exactly what the channel delivers: SMS text with numbered
options, or the WhatsApp Cloud API payloads (text bodies, button and row titles).

Records the conversation needs (a complaint to track, resolved by staff) are made through
the core API by an optional top-level ``setup:`` list, run before the first turn; a turn
may carry its own ``setup:``, run just before its message is sent. A setup step::

    - as: lme.electrical.dehradun    # "citizen" (default): the transcript's phone through
                                     # the bot's service credential; "service": the bare
                                     # service credential; else a staff username
                                     # (password samvad-demo)
      method: POST                   # default GET
      path: "/api/v1/complaints/{first.id}/actions"
      json: {action: RESOLVE, comment: "Bulb replaced"}
      params: {tenant: uk.dehradun}  # query parameters (optional)
      status: 200                    # the status it must answer (default: any 2xx)
      save: first                    # keep the JSON answer under this name

``{name.path}`` in ``path``, ``json`` and ``params`` is replaced by a value of a saved
answer (``last`` is always the previous step's answer): keys and list indexes joined by
dots, e.g. ``{lmes.0.id}``. A string that is one such reference alone keeps the value's
type (``assignee_id: "{lmes.0.id}"`` sends a number).

A conversation a notification starts ("Is the problem fixed now?") has a setup step that
runs the worker's notification path once: the outbox relay, then the notifier (to the
simulator inbox, recording the pending follow-up the answer acts on). Its list names
substrings of the notifications the transcript's phone got, in order::

    - notify: ["has been resolved", "Is the problem fixed now?"]

``notify: []`` checks that nothing was sent.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from bot.flowspec import FLOWS_DIR, load_flows
from bot.i18n import locale_codes
from bot.notifier import Notifier, SimulatorInbox
from channels.queues import simulator_delivery
from core_api.events.relay import relay_once

FILES = sorted(FLOWS_DIR.glob("*/transcripts/*.yaml"))


def _name(path: Path) -> str:
    """``flows/pay_bill/transcripts/en.yaml`` -> ``pay_bill_en`` (the test id)."""
    return f"{path.parent.parent.name}_{path.stem}"


def _load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _cases() -> list[Any]:
    cases = []
    for path in FILES:
        data = _load(path)
        for channel in data.get("channels", ["whatsapp", "sms"]):
            cases.append(pytest.param(path, channel, id=f"{_name(path)}-{channel}"))
    return cases


def _visible(reply: dict[str, Any]) -> str:
    """Everything the person sees in one reply, as one string."""
    rendered = reply["rendered"]
    if isinstance(rendered, str):
        return rendered
    return json.dumps(rendered, ensure_ascii=False)


class Clock:
    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


def _failing_transport(request: httpx.Request) -> httpx.Response:
    return httpx.Response(503, json={"error": {"code": "unavailable", "message": "down"}})


_REFERENCE = re.compile(r"\{([A-Za-z_]\w*(?:\.[\w-]+)*)\}")


def _resolve(reference: str, saved: dict[str, Any]) -> Any:
    value: Any = saved
    for part in reference.split("."):
        if isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        elif isinstance(value, dict) and part in value:
            value = value[part]
        else:
            raise AssertionError(f"setup: nothing at {{{reference}}} in the saved answers")
    return value


def _fill(value: Any, saved: dict[str, Any]) -> Any:
    """``value`` with ``{name.path}`` references to saved setup answers replaced."""
    if isinstance(value, str):
        whole = _REFERENCE.fullmatch(value)
        if whole:
            return _resolve(whole.group(1), saved)
        return _REFERENCE.sub(lambda m: str(_resolve(m.group(1), saved)), value)
    if isinstance(value, dict):
        return {key: _fill(item, saved) for key, item in value.items()}
    if isinstance(value, list):
        return [_fill(item, saved) for item in value]
    return value


async def _notify(app: Any, phone: str, expected: list[str], where: str) -> None:
    """Relay committed events and run the notifier once; check what ``phone`` was sent."""
    await relay_once(app.state.db, app.state.redis)
    inbox = SimulatorInbox(app.state.redis)
    notifier = Notifier(app.state.redis, app.state.conversations.store, inbox,
                        router=simulator_delivery(app.state.redis, app.state.conversations.store),
                        follow_ups=app.state.conversations.client.follow_ups)
    await notifier.consume_once()
    got = [message.text for channel in ("whatsapp", "sms")
           for message in await inbox.take(channel, phone)]
    seen = "\n---\n".join(got)
    assert expected or not got, f"{where}: expected no notification, got:\n{seen}"
    position = 0
    for text in expected:
        found = seen.find(text, position)
        assert found >= 0, f"{where}: expected {text!r} in the notifications:\n{seen}"
        position = found + len(text)


async def _setup(steps: list[dict[str, Any]], client: httpx.AsyncClient, auth: Any,
                 phone: str, saved: dict[str, Any], where: str, app: Any) -> None:
    """Make the records a conversation needs through the core API, and run the
    notifications they cause (see the docstring)."""
    for number, step in enumerate(steps, start=1):
        if "notify" in step:
            await _notify(app, phone, step["notify"], f"{where} setup step {number}")
            continue
        who = step.get("as", "citizen")
        if who == "citizen":
            headers = auth.service(phone)
        elif who == "service":
            headers = auth.service()
        else:
            headers = await auth.staff(who)
        method, path = step.get("method", "GET"), _fill(step["path"], saved)
        response = await client.request(method, path, json=_fill(step.get("json"), saved),
                                        params=_fill(step.get("params"), saved), headers=headers)
        expected = step.get("status")
        ok = response.status_code == expected if expected else response.is_success
        assert ok, (f"{where} setup step {number} ({who} {method} {path}): "
                    f"{response.status_code} {response.text}")
        answer = response.json() if response.content else None
        saved["last"] = answer
        if step.get("save"):
            saved[step["save"]] = answer


@pytest.mark.parametrize(("path", "channel"), _cases())
async def test_transcript(path: Path, channel: str, client: httpx.AsyncClient, app: Any,
                          auth: Any) -> None:
    await replay(_load(path), path.name, channel, client, app, auth)


async def replay(data: dict[str, Any], name: str, channel: str, client: httpx.AsyncClient,
                 app: Any, auth: Any) -> None:
    """Play the conversation ``data`` (a transcript file's content, called ``name`` in
    failures) on ``channel`` and check every turn."""
    conversations = app.state.conversations
    clock = Clock(1_800_000_000.0)
    conversations.clock = clock
    real_http = conversations.client.http
    phone = data.get("phone", "+919876500099")
    saved: dict[str, Any] = {}
    await _setup(data.get("setup", []), client, auth, phone, saved, f"{name} ({channel})",
                 app)
    for number, turn in enumerate(data["turns"], start=1):
        if turn.get("only") not in (None, channel):
            continue
        await _setup(turn.get("setup", []), client, auth, phone, saved,
                     f"{name} turn {number} ({channel})", app)
        clock.now += float(turn.get("advance", 5))
        send = turn["send"]
        body: dict[str, Any] = {"from": phone, "channel": channel}
        body.update({"text": send} if isinstance(send, str) else send)
        if turn.get("api_down"):
            conversations.client.http = httpx.AsyncClient(
                transport=httpx.MockTransport(_failing_transport), base_url="http://down")
        try:
            response = await client.post("/simulator/messages", json=body)
        finally:
            conversations.client.http = real_http
        where = f"{name} turn {number} ({channel}) sent {send!r}"
        assert response.status_code == 200, f"{where}: {response.text}"
        result = response.json()
        seen = "\n---\n".join(_visible(r) for r in result["replies"])
        assert result["replies"], f"{where}: no reply at all"
        position = 0
        for expected in turn.get("expect", []):
            found = seen.find(expected, position)
            assert found >= 0, f"{where}: expected {expected!r} in:\n{seen}"
            position = found + len(expected)
        for unexpected in turn.get("not_expect", []):
            assert unexpected not in seen, f"{where}: did not expect {unexpected!r} in:\n{seen}"
        for key in ("flow", "step", "locale"):
            if key in turn:
                assert result[key] == turn[key], f"{where}: {key} {result[key]!r}\n{seen}"


def test_every_flow_has_transcripts_in_every_locale_on_both_channels() -> None:
    covered: dict[str, set[tuple[str, str]]] = {}
    for path in FILES:
        data = _load(path)
        for flow in data["covers"]:
            for channel in data.get("channels", ["whatsapp", "sms"]):
                covered.setdefault(flow, set()).add((data["locale"], channel))
    needed = {(locale, channel) for locale in locale_codes() for channel in ("whatsapp", "sms")}
    missing = {flow: sorted(needed - covered.get(flow, set())) for flow in load_flows()
               if not needed <= covered.get(flow, set())}
    assert not missing, f"flows without transcripts: {missing}"
