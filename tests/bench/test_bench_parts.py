"""The benchmark's parts that need no servers: the fake Twilio's status callbacks (signed
as Twilio signs them), the overload notice in the load, the targets table with the
previous run beside it, and the worker profile's top five. No speed is asserted."""

from __future__ import annotations

import asyncio
import cProfile
import json
from pathlib import Path
from urllib.parse import parse_qsl

from twilio.request_validator import RequestValidator

from bench.load import SCRIPT, Citizen, Load
from bench.procs import free_port
from bench.report import figures_markdown, load_previous, targets_table
from bench.run import profile_top
from bench.wire import ACCOUNT_SID, AUTH_TOKEN, SMS_FROM, Client, FakeTwilio, _read_message


class Receiver:
    """A status webhook: keeps each request's path, signature and form; answers 200."""

    def __init__(self) -> None:
        self.port = free_port()
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.server: asyncio.AbstractServer | None = None
        self.handlers: set[asyncio.Task[object]] = set()

    async def __aenter__(self) -> Receiver:
        self.server = await asyncio.start_server(self.serve, "127.0.0.1", self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        """Stop listening; the handlers end as the fake closes its connections."""
        assert self.server is not None
        self.server.close()
        if self.handlers:
            await asyncio.wait(self.handlers, timeout=5)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.handlers.add(task)
        try:
            while True:
                try:
                    first, headers, body = await _read_message(reader)
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                self.requests.append((first.split()[1].decode(),
                                      headers[b"x-twilio-signature"].decode(),
                                      dict(parse_qsl(body.decode()))))
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        finally:
            writer.close()


def message_post(port: int, form: dict[str, str]) -> bytes:
    body = "&".join(f"{k}={v}" for k, v in form.items()).encode()
    return (f"POST /2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{port}\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body


async def test_fake_twilio_sends_signed_status_callbacks_to_the_messages_url() -> None:
    async with Receiver() as receiver:
        callback = f"http://127.0.0.1:{receiver.port}/webhooks/twilio/status"
        arrivals: list[tuple[str, str]] = []
        fake = FakeTwilio(lambda phone, text, at: arrivals.append((phone, text)))
        port = free_port()
        await fake.start(port)
        client = Client(port)
        try:
            assert await client.post(message_post(port, {
                "To": "%2B919700000001", "From": SMS_FROM.replace("+", "%2B"), "Body": "hi",
                "StatusCallback": callback})) == 201
            assert await client.post(message_post(port, {
                "To": "whatsapp:%2B919700000002", "From": "whatsapp:%2B12025550143",
                "Body": "hello", "StatusCallback": callback})) == 201
            await fake.callbacks.drain()
        finally:
            await client.close()
            await fake.close()

    assert arrivals == [("+919700000001", "hi"), ("+919700000002", "hello")]
    # Twilio sends none for the initial "queued"; SMS: sent, delivered; WhatsApp: + read.
    statuses = [(form["To"], form["MessageStatus"]) for _, _, form in receiver.requests]
    assert sorted(statuses) == sorted([
        ("+919700000001", "sent"), ("+919700000001", "delivered"),
        ("whatsapp:+919700000002", "sent"), ("whatsapp:+919700000002", "delivered"),
        ("whatsapp:+919700000002", "read")])
    assert fake.callbacks.counts() == {"sent": 5, "answered": 5, "failed": 0, "elsewhere": 0}
    validator = RequestValidator(AUTH_TOKEN)
    for path, signature, form in receiver.requests:
        assert path == "/webhooks/twilio/status"
        assert validator.validate(callback, form, signature)
        assert form["AccountSid"] == ACCOUNT_SID and form["ApiVersion"] == "2010-04-01"
        assert form["MessageSid"] == form["SmsSid"] and form["MessageSid"].startswith("SM")
        assert form["SmsStatus"] == form["MessageStatus"]
        assert ("RawDlrDoneDate" in form) == (form["MessageStatus"] == "delivered")


async def test_held_callbacks_wait_for_release() -> None:
    async with Receiver() as receiver:
        fake = FakeTwilio(status_callback_url=f"http://127.0.0.1:{receiver.port}/status")
        fake.callbacks.hold()
        fake.callbacks.schedule(fake.status_callback_url or "",
                                {"MessageSid": "SM1", "To": "+919700000003", "From": SMS_FROM})
        assert receiver.requests == []
        assert await fake.callbacks.release() == 2
        assert [form["MessageStatus"] for _, _, form in receiver.requests] == ["sent",
                                                                               "delivered"]
        assert await fake.callbacks.release() == 0  # still holding, nothing new
        # A public callback URL (the scale fan-out's app): nothing sent, nothing held.
        fake.callbacks.schedule("https://samvad.example.in/webhooks/twilio/status",
                                {"MessageSid": "SM2", "To": "+919700000004", "From": SMS_FROM})
        assert await fake.callbacks.release() == 0
        assert fake.callbacks.counts()["elsewhere"] == 1
        await fake.close()


def test_the_busy_notice_never_ends_a_turn() -> None:
    load = Load(Client(1), lambda c, t: b"", SCRIPT, [1] * len(SCRIPT), phone_base=1,
                busy=lambda text: text.startswith("We are busy"))
    citizen = load.new_citizen()
    citizen.target = 1
    load.arrived(citizen.phone, "We are busy just now.", 1.0)
    assert (citizen.received, load.busy_replies) == (0, 1)
    load.arrived(citizen.phone, "Main menu", 2.0)
    assert (citizen.received, load.busy_replies) == (1, 1)
    assert isinstance(citizen, Citizen)


FIGURES = {
    "samvad": {
        "max_turns_per_s": 210.0,
        "closed": [],
        "open": [{"fraction": 0.5, "achieved_offer": 105.0, "throughput": 105.0, "lost": 0,
                  "p50_ms": 9.0, "p95_ms": 20.0, "p99_ms": 40.0},
                 {"fraction": 0.9, "achieved_offer": 189.0, "throughput": 189.0, "lost": 0,
                  "p50_ms": 9.0, "p95_ms": 20.0, "p99_ms": 90.0, "duration_s": 60.0,
                  "late_over_15s": 0, "busy_replies": 0}],
        "cpu_ms_per_turn": {"with_postgres_and_redis": 7.0},
        "calibration": {"redis_read_events_per_menu_turn": 5.0,
                        "pg_statements_per_menu_turn": 3.0, "pg_statements_per_complaint": 38},
        "rss_mb": {"worker0": {"10": 140.0, "11": 151.0}, "serve": {"12": 300.0}},
        "status_callbacks": {"sent": 40, "answered": 40, "failed": 0, "per_turn": 2.2},
    },
    "floor": {"client": "aiohttp", "cpu_ms_per_message": 2.0, "max_messages_per_s": 700.0,
              "processes": 2, "clients": {
                  "aiohttp": {"cpu_ms_per_message": 2.0, "max_turns_per_s": 700.0,
                              "cpu_ms_by_process": {"floor-web-aiohttp": 0.5,
                                                    "floor-worker0-aiohttp": 1.4,
                                                    "redis": 0.1}},
                  "httpx": {"skipped": "floor with httpx failed: boom"}}},
    "rasa": {"max_turns_per_s": 40.0},
    "ratios": {"samvad_over_floor": 3.5, "samvad_over_rasa": 5.25},
}


def test_targets_table_is_issue_21s_with_the_previous_run() -> None:
    rows = {line.split(" | ")[0].lstrip("| "): line
            for line in targets_table(FIGURES, {"cpu_ms_per_turn_with_pg_redis": 19.59})}
    assert rows["CPU per turn with PostgreSQL and Redis <= 6.5 ms"].endswith(
        "| 7.00 | NOT met | 19.59 |")
    assert "| 3.50 | NOT met | - |" in rows[
        "Samvad / floor (CPU per turn over the floor's per message) <= 3.0"]
    assert "| 210.00 | met |" in rows["turns/s >= 195 (3x the 64.9 of issue 21's start)"]
    assert "| 5.25 | met |" in rows["turns/s >= 5x the Rasa peer"]
    assert "| 40.00 | met |" in rows["p99 <= 50 ms at 50 % of the maximum"]
    assert "| 5.00 | met |" in rows["Redis round trips per menu turn (whole pipeline) <= 6"]
    assert "| 3.00 | met |" in rows["PostgreSQL statements per menu turn <= 3"]
    assert "| 38 | met |" in rows["PostgreSQL statements per complaint filing <= 40"]
    # The largest worker process counts, not the sum, nor the web server.
    assert "| 151.00 | NOT met |" in rows["resident memory per worker process <= 150 MB"]
    assert "| 0 | met |" in rows[
        "0 turns later than 15 s in the open-loop step at 90 % (>= 60 s)"]


def test_a_short_overload_step_does_not_meet_the_target() -> None:
    short = json.loads(json.dumps(FIGURES))
    short["samvad"]["open"][1]["duration_s"] = 20.0
    line = next(row for row in targets_table(short) if "turns later than 15 s" in row)
    assert "| 0 | NOT met (step ran 20 s) |" in line


def test_figures_section_shows_floor_callbacks_and_previous(tmp_path: Path) -> None:
    (tmp_path / "previous.json").write_text(json.dumps({
        "run": "issue 21's starting point", "headline": {"samvad_turns_per_s": 64.9}}))
    previous = load_previous(tmp_path)
    assert previous is not None
    text = figures_markdown(FIGURES, "load.png", previous)
    assert "| Samvad turns/s, every reply delivered (max) | 210.00 | 64.90 |" in text
    assert "Previous run: issue 21's starting point." in text
    assert "| aiohttp | 700.0 | 2.000 | 0.500 | 1.400 | 0.100 |" in text
    assert "| httpx | floor with httpx failed: boom |" in text
    assert "Status callbacks in Samvad's load: 40 sent (2.2 per answered turn)" in text


def test_previous_falls_back_to_the_figures_a_run_replaces(tmp_path: Path) -> None:
    assert load_previous(tmp_path) is None
    figures = tmp_path / "figures.json"
    figures.write_text(json.dumps({"options": {"smoke": True}, "headline": {"x": 1}}))
    assert load_previous(tmp_path) is None  # a smoke run is no baseline
    figures.write_text(json.dumps({"options": {}, "machine": {"loadavg_at_start": 0.5},
                                   "headline": {"samvad_turns_per_s": 70.0}}))
    previous = load_previous(tmp_path)
    assert previous is not None and previous["headline"] == {"samvad_turns_per_s": 70.0}


def _busy_work(n: int) -> int:
    return sum(i * i for i in range(n))


def test_profile_top_names_the_hot_functions(tmp_path: Path) -> None:
    profiler = cProfile.Profile()
    profiler.runcall(lambda: [_busy_work(20_000) for _ in range(20)])
    path = tmp_path / "profile-worker0.prof"
    profiler.dump_stats(path)
    top = profile_top([path])
    assert top["profiles"] == ["profile-worker0.prof"]
    assert 1 <= len(top["own"]) <= 5 and 1 <= len(top["cumulative"]) <= 5
    assert any("_busy_work" in row["function"] for row in top["cumulative"])
    assert all(row["calls"] >= 1 for row in top["own"])
    listing = (tmp_path / "profile-worker-top.txt").read_text()
    assert "_busy_work" in listing and "cumulative" in listing
    text = figures_markdown({"samvad": {"profile_top": top}}, "load.png")
    assert "| top 5 by own time | calls | own s | cumulative s |" in text
