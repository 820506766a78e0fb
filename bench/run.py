"""``samvad bench``: start everything, calibrate, load Samvad / the floor / the ceiling /
Rasa, report.

Order of one run: PostgreSQL + Redis + migrations + demo data + the fake Twilio (which
sends Twilio's status callbacks); Samvad (``samvad serve --workers N`` and ``samvad
worker``); a calibration pass (one citizen, turn by turn: replies, Redis commands and read
events, PostgreSQL statements per turn, then the same for the turn's status callbacks);
closed loop to saturation; open loop at 25/50/90 % of that maximum (the 90 % step at least
``Options.overload_s``); then the floor (bench.floor, closed loop, with each provider
client), the ceiling and the Rasa peer under the same generator; then the scale figures
(bench.scale) if present.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import os
import platform
import shutil
import signal
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.floor import STREAM
from bench.load import LATE_S, SCRIPT, Citizen, Load, Result, Signer, Turn, percentile
from bench.procs import (
    Group,
    Meter,
    Service,
    free_port,
    process_tree,
    python,
    samvad_cli,
    wait_for_port,
)
from bench.services import Postgres, Probe, Redis, run_checked, secret, start_postgres, wait_ready
from bench.wire import ACCOUNT_SID, AUTH_TOKEN, SMS_FROM, Client, FakeTwilio

FRACTIONS = (0.25, 0.5, 0.9)
OVERLOAD_FRACTION = 0.9  # Samvad's open-loop step that runs Options.overload_s


@dataclass
class Options:
    out: Path = Path("bench/results")
    smoke: bool = False
    workers: int = 1
    bot_workers: int = 1
    bot_processes: int | None = None  # `samvad worker --processes N`; None: its default
    duration_s: float = 20.0
    overload_s: float = 60.0  # Samvad's open-loop step at 90 %: at least this long
    concurrency: tuple[int, ...] = (32, 128)
    floor: bool = True
    floor_clients: tuple[str, ...] = ("httpx", "aiohttp")
    ceiling: bool = True
    profile: bool = False
    rasa: bool = True
    scale: bool = True
    benchmarks_md: Path | None = Path("BENCHMARKS.md")
    keep: bool = False
    log: Any = print
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def for_smoke(cls, out: Path) -> Options:
        return cls(out=out, smoke=True, duration_s=1.5, overload_s=1.5, concurrency=(16,),
                   rasa=False, benchmarks_md=None)


BUSY_MSGID = "global.busy"  # the overload notice (channels/queues/_overload.py)


def busy_notice() -> Any:
    """Tells the overload notice, in any locale, from a reply (``Load(busy=...)``)."""
    from bot.i18n import available_locales, load_catalog

    starts = tuple(text[:40] for locale in available_locales()
                   if (text := load_catalog(locale).get(BUSY_MSGID)))
    return lambda text: bool(starts) and text.startswith(starts)


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = platform.processor() or ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = 0
    with contextlib.suppress(OSError, ValueError, IndexError):
        mem = int(Path("/proc/meminfo").read_text().split()[1]) * 1024
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gb": round(mem / 2**30, 1),
            "kernel": platform.release(), "python": platform.python_version(),
            "loadavg_at_start": os.getloadavg()[0]}


def summary(result: Result, cpu: dict[str, float] | None = None) -> dict[str, Any]:
    lat = result.latencies_ms()
    row: dict[str, Any] = {
        "mode": result.mode, "offered_rate": result.offered_rate,
        "concurrency": result.concurrency, "duration_s": result.duration_s,
        "sent": len(result.samples), "answered": len(result.completed), "lost": result.lost,
        "achieved_offer": round(result.achieved_offer(), 2),
        "throughput": round(result.throughput(), 2),
        "p50_ms": round(percentile(lat, 0.5), 2), "p95_ms": round(percentile(lat, 0.95), 2),
        "p99_ms": round(percentile(lat, 0.99), 2),
        # Not answered within LATE_S (lost turns included): the overload target is 0.
        "late_over_15s": sum(not s.ok or s.done - s.sent > LATE_S for s in result.samples),
        "busy_replies": result.busy_replies,
    }
    if cpu is not None:
        row["cpu_s"] = {k: round(v, 3) for k, v in cpu.items()}
    return row


async def measured(groups: list[Group], coro: Any) -> tuple[Result, dict[str, float]]:
    meter = Meter(groups)
    meter.start()
    result = await coro
    meter.stop()
    return result, meter.cpu()


async def saturate(load: Load, options: Options, groups: list[Group], name: str,
                   log: Any, *, overload_s: float | None = None,
                   fractions: tuple[float, ...] = FRACTIONS) -> dict[str, Any]:
    """Closed loop at each concurrency, then open loop at ``fractions`` of the best (the
    90 % step for ``overload_s`` when given, at least the step duration)."""
    log(f"[{name}] closed loop {options.concurrency} x {options.duration_s:.0f} s")
    closed = []
    for concurrency in options.concurrency:
        result, cpu = await measured(groups, load.closed(concurrency, options.duration_s))
        closed.append(summary(result, cpu))
        log(f"  c={concurrency}: {closed[-1]['throughput']} /s, "
                    f"p99 {closed[-1]['p99_ms']} ms, lost {closed[-1]['lost']}")
    best = max(closed, key=lambda row: row["throughput"])
    maximum = best["throughput"]
    opened = []
    for fraction in fractions:
        rate = max(1.0, maximum * fraction)
        seconds = options.duration_s
        if overload_s is not None and fraction == OVERLOAD_FRACTION:
            seconds = max(seconds, overload_s)
        result, cpu = await measured(groups, load.open(rate, seconds))
        row = summary(result, cpu)
        row["fraction"] = fraction
        opened.append(row)
        log(f"  open {fraction:.0%} ({rate:.1f}/s, {seconds:.0f} s): {row['throughput']} /s, "
            f"p50 {row['p50_ms']} p99 {row['p99_ms']} ms, lost {row['lost']}, "
            f"later than {LATE_S:.0f} s {row['late_over_15s']}")
    return {"max_turns_per_s": maximum, "best_closed": best, "closed": closed, "open": opened}


class Bench:
    def __init__(self, options: Options) -> None:
        self.options = options
        self.t0 = time.monotonic()
        self.workdir = Path(tempfile.mkdtemp(prefix="samvad-bench-"))
        self.services: list[Service] = []
        self.postgres: Postgres | None = None
        self.redis: Redis | None = None
        self.fake = FakeTwilio()
        self.fake_port = free_port()
        self.profiles: list[Path] = []  # the workers' cProfile files (--profile)
        self.figures: dict[str, Any] = {"machine": machine(), "options": {
            "workers": options.workers, "bot_workers": options.bot_workers,
            "bot_processes": options.bot_processes, "profiled": options.profile,
            "duration_s": options.duration_s, "overload_s": options.overload_s,
            "concurrency": list(options.concurrency), "smoke": options.smoke}}

    def log(self, message: str) -> None:
        self.options.log(f"[{time.monotonic() - self.t0:6.1f} s] {message}")

    # -- processes ---------------------------------------------------------------------

    def start(self, name: str, args: list[str], env: dict[str, str]) -> Service:
        service = Service(name, args, env=env, log=self.workdir / f"{name}.log")
        self.services.append(service)
        return service

    def stop(self, service: Service) -> None:
        service.stop()
        self.services.remove(service)

    def running(self) -> tuple[Postgres, Redis]:
        """The PostgreSQL cluster and Redis that run() starts before every phase."""
        if self.postgres is None or self.redis is None:
            raise RuntimeError("Bench.run() starts PostgreSQL and Redis first")
        return self.postgres, self.redis

    def samvad_env(self, db_uri: str, port: int, fake_port: int) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SAMVAD_", "TWILIO_"))}
        env.update({
            "SAMVAD_DATABASE_URL": db_uri, "SAMVAD_REDIS_URL": self.running()[1].url,
            "SAMVAD_ENV": "production", "SAMVAD_SIMULATOR": "false",
            "SAMVAD_SECRET_KEY": self.figures.setdefault("_secret", secret()),
            "SAMVAD_PUBLIC_URL": f"http://127.0.0.1:{port}", "SAMVAD_HOST": "127.0.0.1",
            "SAMVAD_PORT": str(port), "SAMVAD_DATA_DIR": str(self.workdir / "var"),
            "TWILIO_ACCOUNT_SID": ACCOUNT_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "TWILIO_API_BASE": f"http://127.0.0.1:{fake_port}", "TWILIO_SMS_FROM": SMS_FROM,
            "TWILIO_WHATSAPP_FROM": SMS_FROM, "PYTHONUNBUFFERED": "1",
        })
        return env

    def cleanup(self) -> None:
        for service in list(reversed(self.services)):
            with contextlib.suppress(Exception):
                service.stop()
        if self.redis is not None:
            self.redis.stop()
        if self.postgres is not None:
            self.postgres.stop()
        if not self.options.keep:
            shutil.rmtree(self.workdir, ignore_errors=True)

    # -- the run -----------------------------------------------------------------------

    async def run(self) -> dict[str, Any]:
        started = time.monotonic()
        self.log(f"work directory {self.workdir}")
        self.postgres = await asyncio.to_thread(start_postgres, self.workdir)
        self.redis = Redis(self.workdir)
        db_uri = self.postgres.create_database("samvad")
        self.figures["postgres"] = {"fsync": "on", "synchronous_commit": "on"}
        await self.fake.start(self.fake_port)
        try:
            await self.phases(db_uri)
        finally:
            await self.fake.close()
        self.figures.pop("_secret", None)
        self.ratios()
        self.figures["wall_s"] = round(time.monotonic() - started, 1)
        return self.figures

    async def phases(self, db_uri: str) -> None:
        options = self.options
        await self.samvad(db_uri)
        if options.floor:
            await self.floor()
        else:
            self.figures["floor"] = {"skipped": "--no-floor"}
        if options.ceiling:
            await self.ceiling()
        if options.rasa:
            await self.rasa()
        else:
            self.figures["rasa"] = {"skipped": "--no-rasa"}
        if options.scale:
            await self.scale()
        else:
            self.figures["scale"] = {"skipped": "--no-scale"}

    def worker_commands(self) -> list[list[str]]:
        """One command per `samvad worker` service (``--bot-workers``), each with
        ``--processes`` when ``--bot-processes`` is given; profiled, each worker process is
        a service of its own (``--processes 1``) under ``bench.profiled``."""
        options = self.options
        processes = ["--processes", str(options.bot_processes)] if options.bot_processes else []
        if not options.profile:
            return [[*samvad_cli(), "worker", *processes]] * options.bot_workers
        options.out.mkdir(parents=True, exist_ok=True)
        self.profiles = [(options.out / f"profile-worker{i}.prof").resolve()
                         for i in range(self.worker_processes())]
        for path in self.profiles:
            path.unlink(missing_ok=True)
        return [[python(), "-m", "bench.profiled", str(path), "worker", "--processes", "1"]
                for path in self.profiles]

    async def samvad(self, db_uri: str) -> None:
        options = self.options
        port, fake, fake_port = free_port(), self.fake, self.fake_port
        env = self.samvad_env(db_uri, port, fake_port)
        self.log("migrations and demo data")
        await asyncio.to_thread(run_checked, [*samvad_cli(), "db", "upgrade"], env,
                                self.workdir / "setup.log")
        await asyncio.to_thread(run_checked, [*samvad_cli(), "seed", "--demo"], env,
                                self.workdir / "setup.log")
        postgres, redis = self.running()
        probe = Probe(redis.url, db_uri)
        await probe.open()
        serve = self.start("serve", [*samvad_cli(), "serve", "--workers",
                                     str(options.workers), "--port", str(port)], env)
        workers = [self.start(f"worker{i}", command, env)
                   for i, command in enumerate(self.worker_commands())]
        client = Client(port)
        try:
            await wait_ready(port, 60)
            await asyncio.sleep(1.0)  # the worker's consumer groups
            signer = Signer(port, env["SAMVAD_PUBLIC_URL"], AUTH_TOKEN)

            def build(citizen: Citizen, turn: Turn) -> bytes:
                return signer.request(citizen.phone, turn.text)

            load = Load(client, build, SCRIPT, None, phone_base=10_000_000)
            fake.on_arrival = load.arrived
            per_turn = await self.calibrate(load, probe)
            replies = [len(texts) for texts in per_turn["replies"]]
            load = Load(client, build, SCRIPT, replies, phone_base=20_000_000,
                        busy=busy_notice())
            fake.on_arrival = load.arrived
            groups = [serve.group(), *(w.group() for w in workers), postgres.group(),
                      redis.group()]
            if not options.smoke:
                self.log("[samvad] warm-up")
                await load.closed(options.concurrency[0], 3.0)
            if options.profile:
                await self.profile(load, serve, workers)
            before, callbacks_before = await probe.snapshot(), fake.callbacks.counts()
            results = await saturate(load, options, groups, "samvad", self.log,
                                     overload_s=options.overload_s)
            await fake.callbacks.drain()
            after, callbacks_after = await probe.snapshot(), fake.callbacks.counts()
            results["connections_after_load"] = await probe.connections()
            # Everything the loads sent, whole conversations included: per answered turn.
            turns = sum(r["answered"] for r in results["closed"] + results["open"])
            callbacks = {k: v - callbacks_before[k] for k, v in callbacks_after.items()}
            results["status_callbacks"] = {
                **callbacks, "per_turn": round(callbacks["sent"] / max(turns, 1), 2)}
            results["per_turn_under_load"] = {
                "redis_commands": round((after["redis_commands"] - before["redis_commands"])
                                        / max(turns, 1), 2),
                "redis_read_events": round((after["redis_reads"] - before["redis_reads"])
                                           / max(turns, 1), 2),
                "pg_statements": round((after["pg_statements"] - before["pg_statements"])
                                       / max(turns, 1), 2),
                "turns": turns,
            }
            best = results["best_closed"]
            cpu = best["cpu_s"]
            answered = max(best["answered"], 1)
            app_cpu = sum(v for k, v in cpu.items() if k == "serve" or k.startswith("worker"))
            all_cpu = app_cpu + cpu.get("postgres", 0) + cpu.get("redis", 0)
            results["cpu_ms_per_turn"] = {
                "samvad_processes": round(app_cpu / answered * 1000, 3),
                "with_postgres_and_redis": round(all_cpu / answered * 1000, 3),
                "by_process": {k: round(v / answered * 1000, 3) for k, v in cpu.items()},
                "generator_cpu_share_of_core": round(cpu["generator"] / best["duration_s"], 3),
            }
            results["rss_mb"] = {g.name: {str(pid): round(rss / 2**20, 1)
                                          for pid, rss in g.rss().items()} for g in groups}
            sizes = await probe.session_bytes()
            results["session_bytes"] = {
                "sessions": len(sizes), "mean": round(statistics.fmean(sizes), 1) if sizes else 0,
                "max": max(sizes, default=0),
                "p99": percentile(sorted(sizes), 0.99) if sizes else 0}
            results["pg_top_statements"] = await probe.pg_top()
            results["fake_twilio"] = {"messages": fake.count, "refused": fake.refused,
                                      "status_callbacks": fake.callbacks.counts()}
            results["calibration"] = per_turn
            self.figures["samvad"] = results
        finally:
            await client.close()
            with contextlib.suppress(Exception):
                await fake.callbacks.drain()
            fake.on_arrival = None
            for service in [serve, *workers]:
                self.stop(service)
            await probe.close()
        if options.profile:
            self.figures["samvad"]["profile_top"] = profile_top(
                [path for path in self.profiles if path.exists()])

    async def profile(self, load: Load, serve: Service, workers: list[Service]) -> None:
        """Closed-loop load with every Samvad process profiled; not counted in the figures.
        ``samvad serve`` under py-spy: out/profile-serve-<pid>.txt (collapsed stacks) and
        .svg (flame graph); each worker process's cProfile (``bench.profiled``) over the
        same load: out/profile-worker<i>.prof."""
        spy = shutil.which("py-spy") or str(Path(python()).with_name("py-spy"))
        seconds = max(5, int(self.options.duration_s))
        services = [serve]
        if not Path(spy).exists():
            self.log("[samvad] py-spy is not installed: only the workers' cProfile is kept")
            services = []
        self.options.out.mkdir(parents=True, exist_ok=True)
        procs = []
        for service in services:
            for pid in process_tree(service.pid):
                for fmt, ext in (("raw", "txt"), ("flamegraph", "svg")):
                    procs.append(await asyncio.create_subprocess_exec(
                        spy, "record", "--pid", str(pid), "--duration", str(seconds),
                        "--rate", "200", "--nonblocking", "--format", fmt, "-o",
                        str(self.options.out / f"profile-{service.name}-{pid}.{ext}"),
                        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL))
        self.log(f"[samvad] profiling {len(procs) // 2} + {len(workers)} processes for "
                 f"{seconds} s")
        for worker in workers:
            worker.proc.send_signal(signal.SIGUSR1)
        await load.closed(self.options.concurrency[-1], seconds + 1)
        for worker in workers:
            worker.proc.send_signal(signal.SIGUSR2)
        for proc in procs:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(proc.wait(), 30)
        deadline = time.monotonic() + 30
        while not all(p.exists() for p in self.profiles) and time.monotonic() < deadline:  # noqa: ASYNC110 - other processes write them
            await asyncio.sleep(0.2)

    async def calibrate(self, load: Load, probe: Probe) -> dict[str, Any]:
        """One citizen, turn by turn: replies and the Redis/PostgreSQL work of each turn,
        less the background loops' work over the same time (measured idle first); then the
        same for the status callbacks of the turn's replies, held back until the turn is
        over so that the two are metered apart."""
        self.log("[samvad] calibration: one citizen through the script")
        idle_s = 1.0
        first = await probe.snapshot()
        await asyncio.sleep(idle_s)
        second = await probe.snapshot()
        background = {k: (second.get(k, 0) - first.get(k, 0)) / idle_s for k in second}
        marks: dict[tuple[int, str], tuple[float, dict[str, float]]] = {}
        callbacks: dict[int, int] = {}

        async def around(index: int, phase: str) -> None:
            marks[(index, phase)] = (time.perf_counter(), await probe.snapshot())
            if phase == "after":
                callbacks[index] = await self.fake.callbacks.release()
                marks[(index, "callbacks")] = (time.perf_counter(), await probe.snapshot())

        def delta(key: str, start: tuple[float, dict[str, float]],
                  end: tuple[float, dict[str, float]]) -> float:
            (t0, s0), (t1, s1) = start, end
            return max(0.0, s1.get(key, 0) - s0.get(key, 0) - background.get(key, 0)
                       * (t1 - t0))

        self.fake.callbacks.hold()
        try:
            replies = await load.calibrate(around=around)
            await self.fake.callbacks.release()  # any that came after the last turn
        finally:
            self.fake.callbacks.hold(False)
        rows: list[dict[str, Any]] = []
        for index, turn in enumerate(SCRIPT):
            start, end = marks[(index, "before")], marks[(index, "after")]
            done = marks[(index, "callbacks")]
            commands = {k[4:]: round(delta(k, start, end), 1) for k in end[1]
                        if k.startswith("cmd:") and k != "cmd:info"
                        and delta(k, start, end) >= 0.5}
            rows.append({"turn": index + 1, "send": turn.text, "kind": turn.kind,
                         "replies": len(replies[index]),
                         "redis_commands": round(delta("redis_commands", start, end), 1),
                         "redis_read_events": round(delta("redis_reads", start, end), 1),
                         "pg_statements": round(delta("pg_statements", start, end), 1),
                         "commands": commands,
                         "status_callbacks": callbacks[index],
                         "callbacks_redis_read_events": round(delta("redis_reads", end, done),
                                                              1),
                         "callbacks_pg_statements": round(delta("pg_statements", end, done),
                                                          1),
                         "first_reply": (replies[index][0][:70] if replies[index] else "")})
        complaint = [r for r in rows if r["kind"] == "complaint"]
        menu = [r for r in rows if r["kind"] == "menu"]
        sent = sum(r["status_callbacks"] for r in rows)

        def per_callback(key: str) -> float | None:
            return round(sum(r[key] for r in rows) / sent, 2) if sent else None

        return {"turns": rows, "replies": replies,
                "background_per_s": {k: round(v, 2) for k, v in background.items()
                                     if not k.startswith("cmd:")},
                "pg_statements_per_complaint": round(sum(r["pg_statements"]
                                                         for r in complaint), 1),
                "complaint_turns": len(complaint),
                "redis_read_events_per_menu_turn": round(statistics.fmean(
                    r["redis_read_events"] for r in menu), 2) if menu else None,
                "redis_commands_per_menu_turn": round(statistics.fmean(
                    r["redis_commands"] for r in menu), 2) if menu else None,
                "pg_statements_per_menu_turn": round(statistics.fmean(
                    r["pg_statements"] for r in menu), 2) if menu else None,
                "status_callbacks": sent,
                "redis_read_events_per_status_callback": per_callback(
                    "callbacks_redis_read_events"),
                "pg_statements_per_status_callback": per_callback("callbacks_pg_statements")}

    def worker_processes(self) -> int:
        """Samvad's worker processes (``samvad worker``'s ``--processes``, by default the
        cores this process may use), and so the floor's."""
        from samvad.processes import default_processes

        options = self.options
        return options.bot_workers * (options.bot_processes or default_processes())

    async def floor(self) -> None:
        """The bare pipeline (bench.floor) with each provider client, closed loop: CPU per
        message (web + worker + Redis) and messages/s; the cheaper client is the floor."""
        clients: dict[str, dict[str, Any]] = {}
        for kind in self.options.floor_clients:
            try:
                clients[kind] = await self.floor_with(kind)
            except Exception as exc:  # reported as skipped, with the reason
                clients[kind] = {"skipped": f"floor with {kind} failed: {exc!r}"}
        measured = {k: v for k, v in clients.items() if v.get("cpu_ms_per_message")}
        if not measured:
            self.figures["floor"] = {"skipped": "no floor client measured", "clients": clients}
            return
        cheaper = min(measured, key=lambda k: measured[k]["cpu_ms_per_message"])
        self.figures["floor"] = {
            "client": cheaper, "processes": self.worker_processes(),
            "cpu_ms_per_message": measured[cheaper]["cpu_ms_per_message"],
            "max_messages_per_s": measured[cheaper]["max_turns_per_s"], "clients": clients}

    async def floor_with(self, kind: str) -> dict[str, Any]:
        options = self.options
        redis = self.running()[1]
        port = free_port()
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "FLOOR_REDIS_URL": redis.url}
        floor = [python(), "-m", "bench.floor"]
        web = self.start(f"floor-web-{kind}", [*floor, "web", "--port", str(port),
                                               "--workers", str(options.workers)], env)
        workers = [self.start(f"floor-worker{i}-{kind}", [
            *floor, "worker", "--redis", redis.url, "--api",
            f"http://127.0.0.1:{self.fake_port}", "--client", kind], env)
            for i in range(self.worker_processes())]
        client = Client(port)
        try:
            await asyncio.to_thread(wait_for_port, port, 60, web.proc)
            signer = Signer(port, f"http://127.0.0.1:{port}", AUTH_TOKEN)
            load = Load(client, lambda c, t: signer.request(c.phone, t.text), SCRIPT,
                        [1] * len(SCRIPT), phone_base=50_000_000)
            self.fake.on_arrival = load.arrived
            warm = await load.closed(options.concurrency[0], 1.0 if options.smoke else 3.0)
            if not warm.completed:
                raise RuntimeError("no reply came back through the floor pipeline")
            results = await saturate(load, options, [web.group(), *(w.group() for w in workers),
                                                     redis.group()],
                                     f"floor {kind}", self.log, fractions=())
            best = results["best_closed"]
            answered = max(best["answered"], 1)
            spent = {k: v for k, v in best["cpu_s"].items() if k != "generator"}
            results["cpu_ms_per_message"] = round(sum(spent.values()) / answered * 1000, 3)
            results["cpu_ms_by_process"] = {k: round(v / answered * 1000, 3)
                                            for k, v in spent.items()}
            results["rss_mb"] = {s.name: round(sum(s.group().rss().values()) / 2**20, 1)
                                 for s in [web, *workers]}
            self.log(f"  floor {kind}: {results['cpu_ms_per_message']} ms CPU per message")
            return results
        finally:
            await client.close()
            self.fake.on_arrival = None
            for service in [web, *workers]:
                self.stop(service)
            from redis.asyncio import Redis as AsyncRedis

            async with AsyncRedis.from_url(redis.url) as cleanup:
                await cleanup.delete(STREAM)

    async def ceiling(self) -> None:
        options = self.options
        port = free_port()
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        service = self.start("ceiling", [python(), "-m", "bench.ceiling", "--port", str(port),
                                         "--workers", str(options.workers)], env)
        client = Client(port)
        try:
            await asyncio.to_thread(wait_for_port, port, 60, service.proc)
            signer = Signer(port, f"http://127.0.0.1:{port}", AUTH_TOKEN)
            load = Load(client, lambda c, t: signer.request(c.phone, t.text), SCRIPT, None,
                        phone_base=30_000_000)
            if not options.smoke:
                self.log("[ceiling] warm-up")
                await load.closed(options.concurrency[0], 2.0)
            results = await saturate(load, options, [service.group()], "ceiling",
                                     self.log)
            results["wrk"] = await self.wrk(port, signer)
            self.figures["ceiling"] = results
        finally:
            await client.close()
            self.stop(service)

    async def wrk(self, port: int, signer: Signer) -> dict[str, Any] | None:
        """A second opinion on the ceiling from wrk (one precomputed request, replayed)."""
        wrk = shutil.which("wrk")
        if wrk is None or self.options.smoke:
            return None
        raw = signer.request("+919700000001", "hi").decode()
        head, body = raw.split("\r\n\r\n", 1)
        headers = [line.split(": ", 1) for line in head.split("\r\n")[1:]]
        lua = self.workdir / "wrk.lua"
        lua.write_text('wrk.method = "POST"\nwrk.body = ' + json.dumps(body) + "\n" + "".join(
            f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}\n" for k, v in headers
            if k not in ("Host", "Content-Length")))
        duration = max(3, int(self.options.duration_s))
        proc = await asyncio.create_subprocess_exec(
            wrk, "-t1", "-c64", f"-d{duration}s", "-s", str(lua),
            f"http://127.0.0.1:{port}/webhooks/twilio", stdout=asyncio.subprocess.PIPE)
        out, _ = await proc.communicate()
        text = out.decode()
        rate = next((float(line.split()[1]) for line in text.splitlines()
                     if line.startswith("Requests/sec")), 0.0)
        return {"requests_per_s": rate, "connections": 64, "output": text[-600:]}

    async def rasa(self) -> None:
        """The Rasa peer (bench.rasa_peer): its menu script through the same generator."""
        try:
            peer = importlib.import_module("bench.rasa_peer")
        except ImportError as exc:
            self.figures["rasa"] = {"skipped": f"bench.rasa_peer missing ({exc})"}
            return
        port = free_port()
        proc = None
        client = Client(port)
        try:
            self.log("[rasa] model and server (training runs once per project change)")
            model = await asyncio.to_thread(peer.ensure_model)
            proc = peer.start_rasa_peer(self.workdir / "rasa", port, model)
            base = f"http://127.0.0.1:{port}"
            await asyncio.to_thread(peer.wait_ready, base, 600, proc)
            problems = await asyncio.to_thread(peer.self_check, base)
            if problems:
                raise RuntimeError("Rasa answered wrongly: " + "; ".join(problems[:3]))
            load = Load(client, peer.builder(port), peer.SCRIPT, None, phone_base=40_000_000)
            self.log("[rasa] warm-up")
            await load.closed(self.options.concurrency[0], 3.0)
            self.figures["rasa"] = await saturate(load, self.options,
                                                  [Group("rasa", proc.pid)], "rasa", self.log)
            self.figures["rasa"]["script_turns"] = len(peer.SCRIPT)
        except Exception as exc:  # the peer is reported as skipped, with the reason
            self.figures["rasa"] = {"skipped": f"Rasa peer failed: {exc!r}"}
        finally:
            await client.close()
            if proc is not None and proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(proc.wait, 30)

    async def scale(self) -> None:
        try:
            module = importlib.import_module("bench.scale")
        except ImportError as exc:
            self.figures["scale"] = {"skipped": f"bench.scale missing ({exc})"}
            return
        postgres, redis = self.running()
        uri = postgres.create_database("samvad_scale")
        from redis import Redis as SyncRedis

        with SyncRedis.from_url(redis.url) as sync_redis:
            sync_redis.flushdb()  # no queue of the Samvad run may leak into the scale figures
        self.log("[scale] bench.scale.run_scale")
        try:
            self.figures["scale"] = await asyncio.to_thread(
                module.run_scale, uri, redis.url, self.options.out,
                smoke=self.options.smoke)
        except Exception as exc:
            self.figures["scale"] = {"skipped": f"run_scale failed: {exc!r}"}

    def ratios(self) -> None:
        samvad = self.figures.get("samvad", {}).get("max_turns_per_s")
        ceiling = self.figures.get("ceiling", {}).get("max_turns_per_s")
        rasa = self.figures.get("rasa", {}).get("max_turns_per_s")
        mine = self.figures.get("samvad", {}).get("cpu_ms_per_turn", {}).get(
            "with_postgres_and_redis")
        floor = self.figures.get("floor", {}).get("cpu_ms_per_message")
        self.figures["ratios"] = {
            # CPU per turn (PostgreSQL and Redis included) over the floor's per message.
            "samvad_over_floor": round(mine / floor, 2) if mine and floor else None,
            "samvad_over_ceiling": round(samvad / ceiling, 4) if samvad and ceiling else None,
            "samvad_over_rasa": round(samvad / rasa, 2) if samvad and rasa else None,
            # CPU per request of the ceiling over CPU per turn of Samvad: what the ratio of
            # throughputs would be with cores to spare (steadier on a shared machine).
            "samvad_over_ceiling_by_cpu": self.cpu_ratio("ceiling"),
            "samvad_over_rasa_by_cpu": self.cpu_ratio("rasa"),
        }

    def cpu_ratio(self, other: str) -> float | None:
        samvad = self.figures.get("samvad", {}).get("cpu_ms_per_turn", {})
        best = self.figures.get(other, {}).get("best_closed")
        mine = samvad.get("with_postgres_and_redis")
        if not best or not mine or not best.get("answered"):
            return None
        theirs = sum(v for k, v in best["cpu_s"].items() if k != "generator")
        return round(theirs / best["answered"] * 1000 / mine, 4)


def _where(path: str) -> str:
    """A profiled function's file, short: from the package (site-packages), the standard
    library or the repository."""
    import sysconfig

    for marker in ("site-packages/", f"{sysconfig.get_paths()['stdlib']}/", f"{Path.cwd()}/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


# Frames that hold everything in the cumulative column: the event loop and entry points.
_HOLDERS = ("/asyncio/", "runpy.py", "cProfile.py", "profile.py", "threading.py",
            "samvad/cli.py", "typer/", "click/")


def profile_top(paths: list[Path], n: int = 5) -> dict[str, Any]:
    """The profiled workers' top ``n`` functions by own time and by cumulative time (event
    loop, entry points and built-ins left out of the cumulative list); the full lists of
    40 go to ``profile-worker-top.txt`` beside the profiles."""
    import pstats

    if not paths:
        return {}
    stats = pstats.Stats(*(str(p) for p in paths))
    rows: dict[tuple[str, int, str], tuple[Any, ...]] = stats.stats  # type: ignore[attr-defined]

    def entry(key: tuple[str, int, str], row: tuple[Any, ...]) -> dict[str, Any]:
        file, line, name = key
        where = name if file == "~" else f"{name} ({_where(file)}:{line})"
        return {"function": where, "calls": row[1], "own_s": round(row[2], 3),
                "cumulative_s": round(row[3], 3)}

    own = sorted(rows.items(), key=lambda kv: kv[1][2], reverse=True)[:n]
    cumulative = sorted(((k, v) for k, v in rows.items()
                         if k[0] != "~" and not any(h in k[0] for h in _HOLDERS)),
                        key=lambda kv: kv[1][3], reverse=True)[:n]
    with open(paths[0].with_name("profile-worker-top.txt"), "w") as handle:
        listing = pstats.Stats(*(str(p) for p in paths), stream=handle)
        listing.sort_stats("tottime").print_stats(40)
        listing.sort_stats("cumulative").print_stats(40)
    return {"profiles": [p.name for p in paths],
            "total_s": round(stats.total_tt, 2),  # type: ignore[attr-defined]
            "own": [entry(k, v) for k, v in own],
            "cumulative": [entry(k, v) for k, v in cumulative]}


def run(options: Options) -> dict[str, Any]:
    """Run the benchmark; write the results; return the figures."""
    from bench.report import write_outputs

    bench = Bench(options)

    def terminated(signum: int, frame: Any) -> None:
        raise SystemExit(f"stopped by signal {signum}")

    previous = signal.signal(signal.SIGTERM, terminated)
    try:
        figures = asyncio.run(bench.run())
    finally:
        bench.cleanup()
        signal.signal(signal.SIGTERM, previous)
    write_outputs(figures, options.out, options.benchmarks_md)
    return figures
