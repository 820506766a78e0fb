"""``samvad bench``: start everything, calibrate, load Samvad / the ceiling / Rasa, report.

Order of one run: PostgreSQL + Redis + migrations + demo data; Samvad (``samvad serve
--workers N`` and ``samvad worker``) with the fake Twilio; a calibration pass (one citizen,
turn by turn: replies, Redis commands and read events, PostgreSQL statements per turn);
closed loop to saturation; open loop at 25/50/90 % of that maximum; then the ceiling and
the Rasa peer under the same generator; then the scale figures (bench.scale) if present.
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

from bench.load import SCRIPT, Citizen, Load, Result, Signer, Turn, percentile
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


@dataclass
class Options:
    out: Path = Path("bench/results")
    smoke: bool = False
    workers: int = 1
    bot_workers: int = 1
    duration_s: float = 20.0
    concurrency: tuple[int, ...] = (32, 128)
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
        return cls(out=out, smoke=True, duration_s=1.5, concurrency=(16,), rasa=False,
                   benchmarks_md=None)


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
                   log: Any) -> dict[str, Any]:
    """Closed loop at each concurrency, then open loop at 25/50/90 % of the best."""
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
    for fraction in FRACTIONS:
        rate = max(1.0, maximum * fraction)
        result, cpu = await measured(groups, load.open(rate, options.duration_s))
        row = summary(result, cpu)
        row["fraction"] = fraction
        opened.append(row)
        log(f"  open {fraction:.0%} ({rate:.1f}/s): {row['throughput']} /s, "
                    f"p50 {row['p50_ms']} p99 {row['p99_ms']} ms, lost {row['lost']}")
    return {"max_turns_per_s": maximum, "best_closed": best, "closed": closed, "open": opened}


class Bench:
    def __init__(self, options: Options) -> None:
        self.options = options
        self.t0 = time.monotonic()
        self.workdir = Path(tempfile.mkdtemp(prefix="samvad-bench-"))
        self.services: list[Service] = []
        self.postgres: Postgres | None = None
        self.redis: Redis | None = None
        self.figures: dict[str, Any] = {"machine": machine(), "options": {
            "workers": options.workers, "bot_workers": options.bot_workers,
            "profiled": options.profile,
            "duration_s": options.duration_s, "concurrency": list(options.concurrency),
            "smoke": options.smoke}}

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
        options = self.options
        started = time.monotonic()
        self.log(f"work directory {self.workdir}")
        self.postgres = await asyncio.to_thread(start_postgres, self.workdir)
        self.redis = Redis(self.workdir)
        db_uri = self.postgres.create_database("samvad")
        self.figures["postgres"] = {"fsync": "on", "synchronous_commit": "on"}
        await self.samvad(db_uri)
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
        self.figures.pop("_secret", None)
        self.ratios()
        self.figures["wall_s"] = round(time.monotonic() - started, 1)
        return self.figures

    async def samvad(self, db_uri: str) -> None:
        options = self.options
        port, fake_port = free_port(), free_port()
        env = self.samvad_env(db_uri, port, fake_port)
        self.log("migrations and demo data")
        await asyncio.to_thread(run_checked, [*samvad_cli(), "db", "upgrade"], env,
                                self.workdir / "setup.log")
        await asyncio.to_thread(run_checked, [*samvad_cli(), "seed", "--demo"], env,
                                self.workdir / "setup.log")
        postgres, redis = self.running()
        probe = Probe(redis.url, db_uri)
        await probe.open()
        load: Load | None = None
        fake = FakeTwilio(lambda phone, text, at: load.arrived(phone, text, at) if load else None)
        await fake.start(fake_port)
        serve = self.start("serve", [*samvad_cli(), "serve", "--workers",
                                     str(options.workers), "--port", str(port)], env)
        worker_cmd = [*samvad_cli(), "worker"]
        workers = []
        for i in range(options.bot_workers):
            if options.profile:  # cProfile sees through SQLAlchemy's greenlets; py-spy not
                options.out.mkdir(parents=True, exist_ok=True)
                target = (options.out / f"profile-worker{i}.prof").resolve()
                worker_cmd = [python(), "-m", "cProfile", "-o", str(target), "-m",
                              "samvad.cli", "worker"]
            workers.append(self.start(f"worker{i}", worker_cmd, env))
        client = Client(port)
        try:
            await wait_ready(port, 60)
            await asyncio.sleep(1.0)  # the worker's consumer groups
            signer = Signer(port, env["SAMVAD_PUBLIC_URL"], AUTH_TOKEN)

            def build(citizen: Citizen, turn: Turn) -> bytes:
                return signer.request(citizen.phone, turn.text)

            load = Load(client, build, SCRIPT, None, phone_base=10_000_000)
            per_turn = await self.calibrate(load, probe)
            replies = [len(texts) for texts in per_turn["replies"]]
            load = Load(client, build, SCRIPT, replies, phone_base=20_000_000)
            groups = [serve.group(), *(w.group() for w in workers), postgres.group(),
                      redis.group()]
            if not options.smoke:
                self.log("[samvad] warm-up")
                await load.closed(options.concurrency[0], 3.0)
            if options.profile:
                await self.profile(load, [serve, *workers])
            before = await probe.snapshot()
            results = await saturate(load, options, groups, "samvad", self.log)
            after = await probe.snapshot()
            results["connections_after_load"] = await probe.connections()
            # Everything the loads sent, whole conversations included: per answered turn.
            turns = sum(r["answered"] for r in results["closed"] + results["open"])
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
            results["fake_twilio"] = {"messages": fake.count, "refused": fake.refused}
            results["calibration"] = per_turn
            self.figures["samvad"] = results
        finally:
            await client.close()
            for service in [serve, *workers]:
                self.stop(service)
            await fake.close()
            await probe.close()

    async def profile(self, load: Load, services: list[Service]) -> None:
        """py-spy on every Samvad process under closed-loop load: out/profile-<pid>.txt
        (collapsed stacks) and .svg (flame graph); not counted in the figures."""
        spy = shutil.which("py-spy") or str(Path(python()).with_name("py-spy"))
        seconds = max(5, int(self.options.duration_s))
        if not Path(spy).exists():
            self.log("[samvad] py-spy is not installed: only the worker's cProfile is kept")
            services = []
        self.options.out.mkdir(parents=True, exist_ok=True)
        procs = []
        for service in services[:1]:  # serve; the workers run under cProfile
            for pid in process_tree(service.pid):
                for fmt, ext in (("raw", "txt"), ("flamegraph", "svg")):
                    procs.append(await asyncio.create_subprocess_exec(
                        spy, "record", "--pid", str(pid), "--duration", str(seconds),
                        "--rate", "200", "--nonblocking", "--format", fmt, "-o",
                        str(self.options.out / f"profile-{service.name}-{pid}.{ext}"),
                        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL))
        self.log(f"[samvad] profiling {len(procs) // 2} processes for {seconds} s")
        await load.closed(self.options.concurrency[-1], seconds + 1)
        for proc in procs:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(proc.wait(), 30)

    async def calibrate(self, load: Load, probe: Probe) -> dict[str, Any]:
        """One citizen, turn by turn: replies and the Redis/PostgreSQL work of each turn,
        less the background loops' work over the same time (measured idle first)."""
        self.log("[samvad] calibration: one citizen through the script")
        idle_s = 1.0
        first = await probe.snapshot()
        await asyncio.sleep(idle_s)
        second = await probe.snapshot()
        background = {k: (second.get(k, 0) - first.get(k, 0)) / idle_s for k in second}
        marks: dict[tuple[int, str], tuple[float, dict[str, float]]] = {}

        async def around(index: int, phase: str) -> None:
            marks[(index, phase)] = (time.perf_counter(), await probe.snapshot())

        replies = await load.calibrate(around=around)
        rows: list[dict[str, Any]] = []
        for index, turn in enumerate(SCRIPT):
            t0, s0 = marks[(index, "before")]
            t1, s1 = marks[(index, "after")]
            elapsed = t1 - t0

            def delta(key: str, s0: dict[str, float] = s0, s1: dict[str, float] = s1,
                      elapsed: float = elapsed) -> float:
                return max(0.0, s1.get(key, 0) - s0.get(key, 0) - background.get(key, 0)
                           * elapsed)

            commands = {k[4:]: round(delta(k), 1) for k in s1
                        if k.startswith("cmd:") and k != "cmd:info" and delta(k) >= 0.5}
            rows.append({"turn": index + 1, "send": turn.text, "kind": turn.kind,
                         "replies": len(replies[index]),
                         "redis_commands": round(delta("redis_commands"), 1),
                         "redis_read_events": round(delta("redis_reads"), 1),
                         "pg_statements": round(delta("pg_statements"), 1),
                         "commands": commands,
                         "first_reply": (replies[index][0][:70] if replies[index] else "")})
        complaint = [r for r in rows if r["kind"] == "complaint"]
        menu = [r for r in rows if r["kind"] in ("menu", "language")]
        return {"turns": rows, "replies": replies,
                "background_per_s": {k: round(v, 2) for k, v in background.items()
                                     if not k.startswith("cmd:")},
                "pg_statements_per_complaint": round(sum(r["pg_statements"]
                                                         for r in complaint), 1),
                "complaint_turns": len(complaint),
                "redis_read_events_per_menu_turn": round(statistics.fmean(
                    r["redis_read_events"] for r in menu), 2) if menu else None,
                "redis_commands_per_menu_turn": round(statistics.fmean(
                    r["redis_commands"] for r in menu), 2) if menu else None}

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
        self.figures["ratios"] = {
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
