"""The ``samvad`` command line (typer): serve, db, seed and the tools later features add."""

from __future__ import annotations

import asyncio
import os
import signal
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from bot.channel_kinds import channel_kinds
from bot.i18n import locales

if TYPE_CHECKING:
    from samvad.rasa_server import LocalRasa
    from samvad.settings import Settings

app = typer.Typer(
    help="Samvad: a multilingual WhatsApp and SMS service channel for city governments.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    pretty_exceptions_short=True,
)
db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
flows_app = typer.Typer(help="Dialog flows in flows/<id>/flow.yaml.", no_args_is_help=True)
locales_app = typer.Typer(help="Message catalogs in locales/ (babel).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(flows_app, name="flows")
app.add_typer(locales_app, name="locales")
nlu_app = typer.Typer(help="The Rasa NLU server (project in bot/rasa; `make rasa` trains it).",
                      no_args_is_help=True)
app.add_typer(nlu_app, name="nlu")
citizen_app = typer.Typer(help="One citizen's data: export it, or erase it (privacy).",
                          no_args_is_help=True)
app.add_typer(citizen_app, name="citizen")
users_app = typer.Typer(help="Staff accounts: unlock a login locked after failed passwords.",
                        no_args_is_help=True)
app.add_typer(users_app, name="users")

console = Console(soft_wrap=True)  # long lines (paths, URLs) stay whole for copy and paste

DEMO_PASSWORD = "samvad-demo"  # noqa: S105 - printed demo login, development mode only


def _settings() -> Settings:
    from samvad.logs import configure_logging
    from samvad.settings import ConfigurationError, Settings

    try:
        settings = Settings()
    except ConfigurationError as exc:
        console.print(f"[red]Configuration error:[/] {exc}")
        raise typer.Exit(2) from exc
    configure_logging(json=settings.log_json, level=settings.log_level)
    return settings


def is_loopback(host: str) -> bool:
    """True when ``host`` (an address or a name) is reachable from this machine only."""
    import ipaddress
    import socket

    name = host.strip().strip("[]")
    if not name:
        return False  # uvicorn binds every interface
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        pass
    if name.lower() == "localhost" or name.lower().endswith(".localhost"):
        return True
    try:
        found = socket.getaddrinfo(name, None)
    except (OSError, UnicodeError):
        return False
    addresses = {str(info[4][0]) for info in found}
    return bool(addresses) and all(
        ipaddress.ip_address(address.split("%")[0]).is_loopback for address in addresses)


def _not_yet(feature: str) -> None:
    console.print(f"[yellow]{feature} is not built yet.[/] See the open issues in the README.")
    raise typer.Exit(1)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default SAMVAD_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default SAMVAD_PORT)")] = None,
    workers: Annotated[int, typer.Option(help="Web worker processes (production mode)")] = 1,
    i_know_this_is_development: Annotated[bool, typer.Option(
        "--i-know-this-is-development",
        help="Serve development mode (demo logins, simulator, sandbox payments) on a "
             "non-loopback address anyway (also SAMVAD_ALLOW_PUBLIC_DEVELOPMENT=true)")] = False,
    rasa: Annotated[bool, typer.Option(
        "--rasa", help="Also start the Rasa NLU server (when .venv-rasa and the trained "
                       "model exist: `make rasa`) unless SAMVAD_RASA_URL names one; "
                       "`make run` does")] = False,
) -> None:
    """Serve the web application (core API, webhooks, simulator, dashboard)."""
    import os

    import uvicorn

    # The app (in every worker process) reads its settings from the environment: options
    # given here become SAMVAD_HOST/PORT, so links and signatures use the port we serve on.
    if host:
        os.environ["SAMVAD_HOST"] = host
    if port:
        os.environ["SAMVAD_PORT"] = str(port)
    settings = _settings()
    host, port = settings.host, settings.port
    if settings.embedded and workers > 1:
        console.print("[red]Embedded mode runs one process; set SAMVAD_DATABASE_URL and "
                      "SAMVAD_REDIS_URL to run several workers.[/]")
        raise typer.Exit(2)
    if settings.development and not is_loopback(host):
        # Development mode has demo passwords, the simulator and a pretend payment gateway:
        # it listens on this machine only unless the person serving says otherwise.
        if not (i_know_this_is_development or settings.allow_public_development):
            console.print(
                f"[red]Development mode listens on loopback only; {host or 'every address'} "
                "is reachable from other machines.[/] Serve on 127.0.0.1, set "
                "SAMVAD_ENV=production (with SAMVAD_DATABASE_URL, SAMVAD_REDIS_URL and a "
                "SAMVAD_SECRET_KEY), or pass --i-know-this-is-development "
                "(SAMVAD_ALLOW_PUBLIC_DEVELOPMENT=true) to serve it there anyway.")
            raise typer.Exit(2)
        console.print(f"[bold white on red]WARNING: development mode (demo logins, simulator, "
                      f"sandbox payments) is listening on {host or 'every address'}, reachable "
                      "from other machines.[/]", soft_wrap=True)
    base = f"http://{host}:{port}"
    console.print(f"[bold green]Samvad[/] on {base}  "
                  f"({'embedded: SQLite + embedded Redis' if settings.embedded else 'production'})")
    if settings.simulator_enabled:
        console.print(f"  Simulator  {base}/simulator   (chat as a demo citizen or employee)")
    console.print(f"  Dashboard  {base}/dashboard   (staff: log in as admin, see seed output)")
    console.print(f"  API docs   {base}/docs")
    console.print(f"  Open311    {base}/open311/v2/services.json")
    console.print(f"  Health     {base}/readyz")
    local_rasa = _free_text_reader(settings, start_rasa=rasa)
    if local_rasa is not None:
        # uvicorn ends a SIGTERM by raising it again once it has shut down: with the default
        # handler the process would die before the ``finally`` stops Rasa.
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        # log_config=None: uvicorn's records (the access log too) go through samvad.logs,
        # which masks phone numbers in query strings and adds the request id.
        uvicorn.run("samvad.app:create_app", factory=True, host=host, port=port,
                    workers=workers, log_level=settings.log_level.lower(), log_config=None,
                    proxy_headers=True, forwarded_allow_ips=settings.forwarded_allow_ips)
    finally:
        if local_rasa is not None:
            local_rasa.stop()


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def _free_text_reader(settings: Settings, *, start_rasa: bool) -> LocalRasa | None:
    """Say once who reads free text; with ``start_rasa``, start Rasa beside the server when
    it can (``samvad.rasa_server``) and point the app at it. The ``LocalRasa`` started, or
    None."""
    from samvad import rasa_server

    if settings.rasa_url:
        console.print(f"  Free text  Rasa NLU at {settings.rasa_url} (SAMVAD_RASA_URL)")
        return None
    reason = rasa_server.why_not() if start_rasa else "SAMVAD_RASA_URL is not set"
    if reason is not None:
        console.print(f"  Free text  read by the built-in matcher ({reason})")
        return None
    local = rasa_server.start(settings.data_dir / "rasa.log")
    os.environ["SAMVAD_RASA_URL"] = local.url  # the app's settings are read in its process
    console.print(f"  Free text  Rasa NLU on {local.url} ({local.model.name}; log {local.log}); "
                  "the built-in matcher answers until its model is loaded")
    return local


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply migrations up to REVISION (default: head)."""
    from alembic import command

    from core_api.migrations import alembic_config

    settings = _settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(settings.sqlalchemy_url), revision)
    console.print(f"Database at [bold]{revision}[/].")


@db_app.command("wait")
def db_wait(
    timeout: Annotated[float, typer.Option(help="Give up after this many seconds")] = 300.0,
) -> None:
    """Wait until the database is at this release's schema (exit 0), or exit 1 after
    TIMEOUT: the init step of web and worker pods, so none starts before the migration Job
    finished. A database already migrated by a newer release counts as ready."""
    from core_api.db import make_engine
    from samvad.schema import OK, wait_for_schema

    settings = _settings()

    async def run() -> str:
        engine = make_engine(settings.sqlalchemy_url, pool_size=1, max_overflow=0,
                             pgbouncer=settings.database_pgbouncer)
        try:
            return await wait_for_schema(engine, timeout,
                                         report=lambda state: console.print(f"database: {state}"))
        finally:
            await engine.dispose()

    raise typer.Exit(0 if asyncio.run(run()) == OK else 1)


@db_app.command("revision")
def db_revision(
    message: Annotated[str, typer.Option("-m", help="What changed")],
    rev_id: Annotated[str | None, typer.Option(help="Revision id (default: random)")] = None,
) -> None:
    """Autogenerate a migration from the models (development)."""
    from alembic import command

    from core_api.migrations import alembic_config

    settings = _settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    command.revision(alembic_config(settings.sqlalchemy_url), message=message, autogenerate=True,
                     rev_id=rev_id)


@app.command()
def seed(
    demo: Annotated[bool, typer.Option("--demo", help="Load the demo data of SPEC §3")] = False,
) -> None:
    """Load reference data; --demo loads the Uttarakhand demo (idempotent)."""
    if not demo:
        console.print("Nothing to do: pass --demo to load the demo data.")
        raise typer.Exit(2)
    from core_api.db import Database
    from core_api.seed.demo import seed_demo

    settings = _settings()
    password = DEMO_PASSWORD if settings.development else None

    async def run() -> None:
        database = Database(settings.sqlalchemy_url, **settings.engine_options)
        try:
            async with database.sessions() as session:
                report = await seed_demo(session, demo_password=password)
                await session.commit()
        finally:
            await database.dispose()
        table = Table(title="Demo data loaded")
        table.add_column("what")
        table.add_column("count", justify="right")
        for what, count in report.counts.items():
            table.add_row(what, str(count))
        console.print(table)
        logins = Table(title="Staff logins (POST /api/v1/auth/token, or Authorize in /docs)")
        for column in ("username", "password", "roles"):
            logins.add_column(column)
        for username, pw, roles in report.logins:
            logins.add_row(username, pw, roles)
        console.print(logins)

    asyncio.run(run())


@app.command()
def worker(
    check: Annotated[bool, typer.Option(
        "--check", help="Do not run: exit 0 if this host's worker loops wrote fresh heartbeats "
                        "to Redis, 1 otherwise (container health and liveness checks)")] = False,
    processes: Annotated[int | None, typer.Option(
        "--processes", min=1,
        help="Worker processes (default: the cores this machine or container may use; "
             "1 in embedded mode)")] = None,
) -> None:
    """Run the background worker: outbox relay, notifications, inbound turns, sending.

    One process per core by default, under a parent that restarts a child that dies (and
    exits 1 on a crash loop); `--processes 1` runs one process and no parent. Ctrl-C or
    SIGTERM stops it after the messages in hand are finished.

    In embedded mode `samvad serve` already runs these loops; run workers separately
    when SAMVAD_DATABASE_URL and SAMVAD_REDIS_URL point at shared servers.
    """
    from samvad.processes import Supervisor, default_processes, worker_process

    settings = _settings()
    if check:
        raise typer.Exit(asyncio.run(_check_worker(settings)))
    count = processes or (1 if settings.embedded else default_processes())
    if settings.embedded and count > 1:
        console.print("[red]Embedded mode runs one process; set SAMVAD_DATABASE_URL and "
                      "SAMVAD_REDIS_URL to run several worker processes.[/]")
        raise typer.Exit(2)
    if count > 1:
        console.print(f"[bold green]Samvad worker[/]: {count} processes (outbox relay, "
                      "notifications, inbound turns, sending).")
        raise typer.Exit(Supervisor(count, worker_process,
                                    heartbeat_file=settings.worker_heartbeat_file).run())

    from samvad.worker import serve_worker

    def announce(application: Any) -> None:
        senders = ", ".join(sorted(application.state.channels.senders)) or "none"
        console.print("[bold green]Samvad worker[/] running: outbox relay, notifications, "
                      f"inbound turns, sending (providers: {senders}).")

    asyncio.run(serve_worker(settings, announce))


async def _check_worker(settings: Any) -> int:
    import socket

    from samvad import redis_runtime
    from samvad.app import resolve_redis_url
    from samvad.readiness import OK, workers_state
    from samvad.worker import LOOPS

    redis = redis_runtime.connect(resolve_redis_url(settings))
    try:
        state = await workers_state(redis, LOOPS, host=socket.gethostname())
    except Exception as exc:  # Redis unreachable: not healthy either
        state = f"Redis unreachable ({type(exc).__name__})"
    finally:
        await redis.aclose()
    console.print(f"worker: {state}")
    return 0 if state == OK else 1


def _language_choices() -> list[str]:
    """The registered languages as --lang takes them: "hi (hi_IN)"."""
    return [f"{locale.language} ({locale.code})" for locale in locales()]


def _locale_for(lang: str) -> str | None:
    """The registered locale a language (hi) or locale code (hi_IN) names."""
    return next((locale.code for locale in locales() if lang in (locale.language, locale.code)),
                None)


@app.command()
def chat(
    channel: Annotated[str, typer.Option(help=f"One of: {', '.join(channel_kinds())}")] = (
        "whatsapp"),
    phone: Annotated[str, typer.Option(help="The citizen's number")] = "+919876500001",
    lang: Annotated[str | None, typer.Option(
        help=f"Switch to this language first: {', '.join(_language_choices())}")] = None,
) -> None:
    """Chat with Samvad in the terminal as a citizen (same engine and API as the channels).

    Type a message and press Enter. "/loc LAT LNG" sends a location pin, "/photo URL" a
    photo, "/quit" ends. Runs on the configured database (make run prepares it).
    """
    if channel not in channel_kinds():
        console.print(f"[red]--channel must be one of: {', '.join(channel_kinds())}[/]")
        raise typer.Exit(2)
    locale = _locale_for(lang) if lang else None
    if lang and locale is None:
        console.print(f"[red]--lang must be one of: {', '.join(_language_choices())}[/]")
        raise typer.Exit(2)
    settings = _settings()
    if "SAMVAD_LOG_LEVEL" not in os.environ:  # the terminal is the conversation: no turn logs
        settings = settings.model_copy(update={"log_level": "WARNING"})
    asyncio.run(_chat(settings, channel=channel, phone=phone, locale=locale))


async def _chat(settings: Settings, *, channel: str, phone: str, locale: str | None) -> None:
    """The console channel on the app's dialog runtime, opened and closed around it."""
    from channels.console import run_console
    from samvad.app import close_resources, create_app, open_resources

    app = create_app(settings)
    await open_resources(app)
    try:
        await run_console(app.state.conversations, channel=channel, phone=phone, locale=locale)
    finally:
        await close_resources(app)


@app.command()
def bench(
    smoke: Annotated[bool, typer.Option("--smoke", help="A few seconds of load, no Rasa, "
                                        "scale in smoke mode (keeps the harness working)")] = False,
    duration: Annotated[float, typer.Option(help="Seconds per load step")] = 20.0,
    workers: Annotated[int, typer.Option(help="Web worker processes (samvad serve and the "
                                         "ceiling)")] = 1,
    bot_workers: Annotated[int, typer.Option(help="`samvad worker` commands started")] = 1,
    bot_processes: Annotated[int | None, typer.Option(
        help="`--processes N` for each `samvad worker` (default: its own default)")] = None,
    overload_duration: Annotated[float, typer.Option(
        help="Seconds of Samvad's open-loop step at 90 % (at least --duration)")] = 60.0,
    concurrency: Annotated[str, typer.Option(help="Closed-loop citizens, comma-separated")]
        = "32,128",
    rasa: Annotated[bool, typer.Option("--rasa/--no-rasa", help="Measure the Rasa peer")] = True,
    scale: Annotated[bool, typer.Option("--scale/--no-scale", help="Measure the scale "
                                        "figures (bench.scale)")] = True,
    out: Annotated[str, typer.Option(help="Results directory")] = "bench/results",
    benchmarks_md: Annotated[str, typer.Option(help="BENCHMARKS.md to update ('' : none; "
                                               "--smoke never updates it)")] = "BENCHMARKS.md",
    keep: Annotated[bool, typer.Option("--keep", help="Keep the work directory (logs)")]
        = False,
    ceiling: Annotated[bool, typer.Option("--ceiling/--no-ceiling", help="Measure the bare "
                                          "FastAPI ceiling")] = True,
    floor: Annotated[bool, typer.Option("--floor/--no-floor", help="Measure the floor (bare "
                                        "webhook -> Redis stream -> worker -> provider)")]
        = True,
    profile: Annotated[bool, typer.Option("--profile", help="Profile under load: cProfile "
                                          "in `samvad worker`, py-spy on `samvad serve`, "
                                          "into OUT/profile-* (figures then not comparable)")]
        = False,
) -> None:
    """Benchmark end to end (Samvad vs the floor, the framework ceiling and Rasa) into
    bench/results/.

    Starts PostgreSQL, Redis, `samvad serve`, `samvad worker` and a fake Twilio (with
    Twilio's status callbacks) on 127.0.0.1, loads them with signed webhooks of scripted
    citizens, and writes
    report.md, figures.json, load.png and the figures section of BENCHMARKS.md.
    """
    from pathlib import Path

    try:
        from bench.run import Options
        from bench.run import run as run_bench
    except ImportError as exc:
        console.print(f"[red]The bench package is not importable ({exc}):[/] run from the "
                      "repository root after `make install`.")
        raise typer.Exit(1) from exc
    try:
        levels = tuple(int(c) for c in concurrency.split(",") if c.strip())
    except ValueError as exc:
        console.print("[red]--concurrency takes numbers separated by commas, e.g. 32,128[/]")
        raise typer.Exit(2) from exc
    if (not levels or min(levels) < 1 or workers < 1 or bot_workers < 1 or duration <= 0
            or (bot_processes is not None and bot_processes < 1)):
        console.print("[red]--concurrency, --workers, --bot-workers, --bot-processes and "
                      "--duration must be positive[/]")
        raise typer.Exit(2)
    import bench as bench_package

    root = Path(bench_package.__file__).resolve().parent.parent  # the repository
    target = root / out if out == "bench/results" else Path(out)
    if benchmarks_md == "BENCHMARKS.md":
        benchmarks_md = str(root / benchmarks_md)
    if smoke:
        options = Options.for_smoke(target)
        options.scale = scale
    else:
        options = Options(out=target, duration_s=duration, concurrency=levels, rasa=rasa,
                          scale=scale, benchmarks_md=Path(benchmarks_md) if benchmarks_md
                          else None, overload_s=overload_duration)
    options.workers, options.bot_workers, options.keep = workers, bot_workers, keep
    options.bot_processes, options.floor = bot_processes, floor
    options.ceiling, options.profile = ceiling, profile
    options.log = lambda message: console.print(message, markup=False, highlight=False)
    figures = run_bench(options)
    ratios = figures.get("ratios", {})
    console.print(f"[bold green]Done[/] in {figures.get('wall_s')} s: "
                  f"{figures.get('samvad', {}).get('max_turns_per_s')} turns/s; "
                  f"Samvad/floor {ratios.get('samvad_over_floor')}, "
                  f"Samvad/ceiling {ratios.get('samvad_over_ceiling')}, "
                  f"Samvad/Rasa {ratios.get('samvad_over_rasa')}. See {target / 'report.md'}.")


async def _citizen_data(action: str, phone: str) -> Any:
    """Run ``export`` or ``erase`` of core_api.users.privacy on the configured stores."""
    from core_api.db import Database
    from core_api.errors import APIError
    from core_api.users import privacy
    from samvad import redis_runtime
    from samvad.app import build_file_store, resolve_redis_url
    from samvad.privacy import forgetters

    settings = _settings()
    database = Database(settings.sqlalchemy_url, **settings.engine_options)
    redis = redis_runtime.connect(resolve_redis_url(settings))
    try:
        async with database.sessions() as session:
            if action == "export":
                return await privacy.export_citizen(session, phone, redis=redis,
                                                    forgetters=forgetters(redis))
            files = build_file_store(settings)
            try:
                report = await privacy.erase_citizen(session, phone, files=files, redis=redis,
                                                     forgetters=forgetters(redis))
            finally:
                await files.aclose()
            await session.commit()
            return report
    except APIError as exc:
        console.print(f"[red]{exc.message}[/]")
        raise typer.Exit(1) from exc
    finally:
        await redis.aclose()
        await database.dispose()


@citizen_app.command("export")
def citizen_export(
    phone: Annotated[str, typer.Argument(help="The citizen's number, e.g. +919876500001")],
    out: Annotated[str | None, typer.Option("--out", help="Write the JSON here (default: "
                                            "standard output)")] = None,
) -> None:
    """Everything held about one citizen, as JSON (complaints, bills, payments, messages)."""
    import json
    from pathlib import Path

    data = asyncio.run(_citizen_data("export", phone))
    text = json.dumps(data, ensure_ascii=False, indent=2)
    if out:
        Path(out).write_text(text + "\n", encoding="utf-8")
        console.print(f"[green]✓[/] written to {out}")
    else:
        print(text)  # plain print: the JSON must not be reflowed by rich


@citizen_app.command("erase")
def citizen_erase(
    phone: Annotated[str, typer.Argument(help="The citizen's number, e.g. +919876500001")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation")] = False,
) -> None:
    """Erase one citizen's personal data; records, amounts and histories stay (see README)."""
    if not yes and not typer.confirm(f"Erase the personal data of {phone}? This cannot be "
                                     "undone"):
        raise typer.Exit(1)
    report = asyncio.run(_citizen_data("erase", phone))
    done = ", ".join(f"{what} {n}" for what, n in report.counts.items()) or "nothing else held"
    console.print(f"[green]✓[/] erased citizen #{report.user_id}: {done}.")


async def _unlock_login(login_name: str) -> Any:
    """Unlock the staff login ``login_name`` names, on the configured database and Redis."""
    from core_api.auth.throttle import find_login, unlock
    from core_api.db import Database
    from samvad import redis_runtime
    from samvad.app import resolve_redis_url

    settings = _settings()
    database = Database(settings.sqlalchemy_url, **settings.engine_options)
    redis = redis_runtime.connect(resolve_redis_url(settings))
    try:
        async with database.sessions() as session:
            name = await find_login(session, login_name)
        if name.user is None:
            return None
        return await unlock(redis, name, by="cli")
    finally:
        await redis.aclose()
        await database.dispose()


@users_app.command("unlock")
def users_unlock(
    username: Annotated[str, typer.Argument(help="The employee's username or phone number")],
) -> None:
    """Unlock a staff login locked after repeated failed passwords (clears its failures)."""
    done = asyncio.run(_unlock_login(username))
    if done is None:
        console.print(f"[red]No staff account {username!r}.[/]")
        raise typer.Exit(1)
    state = "was locked, now unlocked" if done.was_locked else "was not locked"
    console.print(f"[green]✓[/] {done.account}: {state}; {done.failures_cleared} recent failed "
                  "login(s) cleared.")


@flows_app.command("check")
def flows_check() -> None:
    """Validate every flow in flows/ (references, reachability, messages, SMS budget)."""
    from bot.flowcheck import check_flows
    from bot.slices import SliceError, load_actions
    from channels.queues import TemplateBook, whatsapp_templates
    from channels.render import message_segments

    try:
        actions = load_actions()
    except SliceError as exc:  # one operation or helper declared in two places
        console.print(f"[red]✗[/] {exc}")
        raise typer.Exit(1) from None
    flows, problems = check_flows(
        operations=set(actions.operations), helpers=set(actions.helpers),
        segments=message_segments,
        whatsapp_templates=TemplateBook(whatsapp_templates(_settings().whatsapp_templates)),
        public_url=_settings().public_url,
    )
    for problem in problems:
        console.print(f"[red]✗[/] {problem}")
    if problems:
        console.print(f"[red]{len(problems)} problem(s)[/] in {len(flows)} flows.")
        raise typer.Exit(1)
    steps = sum(len(flow.steps) for flow in flows.values())
    console.print(f"[green]✓[/] {len(flows)} flows, {steps} steps: all references resolve, "
                  "every message exists in every locale, every SMS prompt fits its budget, "
                  "every notification kind has a WhatsApp template.")


@locales_app.command("extract")
def locales_extract() -> None:
    """Extract the message ids of flows/ (flow.yaml, actions.py), bot/ and channels/ into
    locales/samvad.pot."""
    from bot.catalogs import TEMPLATE, catalogs, extract_template, write_template
    from bot.i18n import SOURCE_LOCALE

    source = catalogs().get(SOURCE_LOCALE, {})
    template = extract_template(source=source)
    changed = write_template(template, source)
    missing = sorted(set(template.ids) - set(source))
    state = "written" if changed else "unchanged"
    console.print(f"[green]✓[/] {len(template.ids)} message ids -> {TEMPLATE.name} ({state}).")
    for msgid in missing:
        console.print(f"[yellow]![/] {msgid} has no message in {SOURCE_LOCALE} yet.")


@locales_app.command("compile")
def locales_compile() -> None:
    """Compile every catalog (locales/*/LC_MESSAGES/samvad.po -> samvad.mo)."""
    from bot.catalogs import compile_catalogs

    counts = compile_catalogs()
    if not counts:
        console.print("[red]No catalog found in locales/.[/]")
        raise typer.Exit(1)
    summary = ", ".join(f"{locale} {count}" for locale, count in counts.items())
    console.print(f"[green]✓[/] compiled: {summary} messages.")


@locales_app.command("check")
def locales_check(
    warnings: Annotated[bool, typer.Option("--warnings/--no-warnings",
                                           help="List unused and stale ids")] = True,
) -> None:
    """Check every catalog: complete, same placeholders as en_IN, word lists, SMS budgets."""
    from bot.catalogs import check_catalogs, sms_budget_problems
    from channels.render import message_segments

    result = check_catalogs(sms_check=lambda: sms_budget_problems(message_segments))
    for problem in result.problems:
        console.print(f"[red]✗[/] {problem}")
    if warnings:
        for warning in result.warnings:
            console.print(f"[yellow]![/] {warning}")
    if result.problems:
        console.print(f"[red]{len(result.problems)} problem(s)[/] in the catalogs.")
        raise typer.Exit(1)
    summary = ", ".join(f"{locale} {count}" for locale, count in result.counts.items())
    note = f" ({len(result.warnings)} warning(s) above)" if result.warnings and warnings else ""
    console.print(f"[green]✓[/] catalogs complete: {summary} messages; placeholders, word "
                  f"lists and SMS budgets are right{note}.")


@nlu_app.command("train")
def nlu_train(
    force: Annotated[bool, typer.Option(help="Train even when the model is up to date")] = False,
) -> None:
    """Train the Rasa NLU model of bot/rasa into bot/rasa/models (when the project changed).

    Shows the components and epochs as it goes; Rasa's whole log is in
    bot/rasa/models/train.log. About 4 to 10 minutes on 2 cores.
    """
    import time

    from bot.rasa_project import MODELS_DIR, model_path, rasa_executable, train

    model = model_path()
    if model.exists() and not force:
        console.print(f"Rasa NLU model up to date: {model}", soft_wrap=True)
        return
    if not rasa_executable().exists():
        console.print(f"[red]{rasa_executable()} is missing:[/] run `make rasa` first.")
        raise typer.Exit(1)
    MODELS_DIR.mkdir(parents=True, exist_ok=True)
    log = MODELS_DIR / "train.log"
    console.print(f"==> Training the Rasa NLU model {model.name} (4 to 10 minutes on 2 cores; "
                  f"full log: {log})", highlight=False, soft_wrap=True)
    start = time.monotonic()
    try:
        trained = train(log, say=lambda line: console.print(line, highlight=False, markup=False,
                                                       soft_wrap=True))
    except RuntimeError as exc:
        console.print(f"[red]Training failed:[/] {exc}", highlight=False)
        raise typer.Exit(1) from exc
    size = trained.stat().st_size / 1e6
    console.print(f"    Trained {trained} in {time.monotonic() - start:.0f} s ({size:.0f} MB)",
                  highlight=False, soft_wrap=True)


@nlu_app.command("eval")
def nlu_eval(
    reader: Annotated[str, typer.Option(help="builtin, rasa or both")] = "both",
    split: Annotated[str, typer.Option(help="heldout (measure) or dev (tune)")] = "heldout",
    rasa_url: Annotated[str, typer.Option(envvar="SAMVAD_RASA_URL",
                                          help="A running Rasa server (`samvad nlu serve`)")
                        ] = "http://127.0.0.1:5005",
    misses: Annotated[bool, typer.Option(help="List every request read wrongly")] = False,
    calibrate: Annotated[bool, typer.Option(
        help="Rasa's flow accuracy per script at each lowest confidence (dev split)")] = False,
) -> None:
    """Measure how free text is understood on the evaluation set (tests/bot/nlu_eval).

    Prints flow accuracy per language and per flow, complaint-type accuracy and a confusion
    matrix, for the built-in matcher and for Rasa (the bot's reading: Rasa first, the
    matcher standing by), as the main menu would act on each request. With --calibrate,
    the figures bot/rasa_nlu.py's LOW_BY_SCRIPT is chosen from.
    """
    from bot.nlu_eval import read_examples, split_path

    if reader not in ("builtin", "rasa", "both") or split not in ("heldout", "dev"):
        console.print("[red]--reader is builtin, rasa or both; --split is heldout or dev[/]")
        raise typer.Exit(2)
    path = split_path("dev" if calibrate else split)
    examples = read_examples(path)
    console.print(f"[bold]{path.stem}[/] split: {len(examples)} requests ({path})",
                  highlight=False)
    if calibrate:
        if not asyncio.run(_nlu_calibration(examples, rasa_url)):
            raise typer.Exit(1)
        return
    results = asyncio.run(_nlu_readings(examples, reader, rasa_url))
    _print_nlu_scores(results, misses)
    if reader != "builtin" and "Rasa" not in results:
        raise typer.Exit(1)


async def _rasa_answers(http: Any, rasa_url: str) -> bool:
    """True when a Rasa server answers at ``rasa_url``; otherwise says how to start one."""
    import httpx

    try:
        (await http.get(rasa_url.rstrip("/") + "/status", timeout=5.0)).raise_for_status()
    except httpx.HTTPError as exc:
        console.print(f"[red]Rasa is not answering at {rasa_url}[/] ({type(exc).__name__}): "
                      "start it with `samvad nlu serve` (the model comes from `make rasa`), "
                      "or pass --rasa-url.", highlight=False)
        return False
    return True


async def _nlu_readings(examples: list[Any], reader: str, rasa_url: str) -> dict[str, Any]:
    """Scores per reader name; Rasa is left out (and said so) when no server answers."""
    import httpx

    from bot.nlu import KeywordMatcher, Understanding
    from bot.nlu_eval import evaluate, seed_complaint_types
    from bot.rasa_nlu import RasaNLU

    matcher = KeywordMatcher(seed_complaint_types())
    results: dict[str, Any] = {}
    if reader in ("builtin", "both"):

        async def builtin(text: str) -> Understanding:
            return matcher.understand_now(text, None)

        results["built-in"] = await evaluate(examples, builtin)
    if reader in ("rasa", "both"):
        async with httpx.AsyncClient() as http:
            if await _rasa_answers(http, rasa_url):
                rasa = RasaNLU(http, rasa_url, matcher, timeout_s=30.0)
                results["Rasa"] = await evaluate(examples,
                                                 lambda text: rasa.understand(text, None))
    return results


async def _nlu_calibration(examples: list[Any], rasa_url: str) -> bool:
    """Print Rasa's flow accuracy per script at each candidate lowest confidence."""
    import httpx

    from bot.nlu import KeywordMatcher
    from bot.nlu_eval import CANDIDATE_LOWS, calibrate, seed_complaint_types
    from bot.rasa_nlu import LOW_BY_SCRIPT, RasaNLU

    matcher = KeywordMatcher(seed_complaint_types())
    async with httpx.AsyncClient() as http:
        if not await _rasa_answers(http, rasa_url):
            return False
        rasa = RasaNLU(http, rasa_url, matcher, timeout_s=30.0)
        found = await calibrate(examples, rasa.parse, matcher)
    table = Table(title="Flow accuracy with Rasa by its lowest acted-on confidence "
                        "(* the best)")
    table.add_column("lowest", justify="right")
    for script in found:
        table.add_column(f"{script} (now {LOW_BY_SCRIPT.get(script)})", justify="right")
    for low in CANDIDATE_LOWS:
        cells = []
        for figures in found.values():
            best = max(figures.values())
            cells.append(f"{figures[low] * 100:.1f} %{' *' if figures[low] == best else ''}")
        table.add_row(f"{low:.2f}", *cells)
    console.print(table)
    return True


def _print_nlu_scores(results: dict[str, Any], misses: bool) -> None:
    """Per language, per flow, and each reader's confusion of flows."""
    from bot.nlu_eval import STYLE_NAMES

    if not results:
        return

    def pct(value: float | None) -> str:
        return "-" if value is None else f"{value * 100:.1f} %"

    first = next(iter(results.values()))
    by_language = Table(title="Per language (flow accuracy; complaint type right)")
    by_language.add_column("Language")
    by_language.add_column("n", justify="right")
    for name in results:
        by_language.add_column(f"{name} flow", justify="right")
        by_language.add_column(f"{name} type", justify="right")
    for key, label in [*((f"style:{s}", STYLE_NAMES.get(s, s)) for s in first.styles()),
                       ("all", "All")]:
        row = [label, str(first.row(key)["n"])]
        for scores in results.values():
            figures = scores.row(key)
            row += [pct(figures["flow_accuracy"]), pct(figures["type_accuracy"])]
        by_language.add_row(*row, end_section=key == f"style:{first.styles()[-1]}")
    console.print(by_language)
    by_flow = Table(title="Per flow (intent) accuracy")
    by_flow.add_column("Intent")
    by_flow.add_column("n", justify="right")
    for name in results:
        by_flow.add_column(name, justify="right")
    for intent in first.intents():
        key = f"intent:{intent}"
        by_flow.add_row(intent, str(first.row(key)["n"]),
                        *(pct(scores.row(key)["flow_accuracy"]) for scores in results.values()))
    console.print(by_flow)
    labels = first.intents()
    for name, scores in results.items():
        matrix = Table(title=f"Confusion, {name}: rows what was meant, columns what was read "
                             "(- nothing)")
        matrix.add_column("meant \\ read", no_wrap=True)
        for number in range(1, len(labels) + 1):
            matrix.add_column(str(number), justify="right")
        matrix.add_column("-", justify="right")
        for number, gold in enumerate(labels, start=1):
            cells = [scores.confusion[(gold, got)] for got in [*labels, "-"]]
            matrix.add_row(f"{number} {gold}", *(str(c) if c else "." for c in cells))
        console.print(matrix, width=max(console.width, 110))  # whole, even in a narrow pipe
        if misses:
            console.print(f"[bold]Misses, {name}[/] ({len(scores.misses)})")
            for line in scores.misses:
                console.print(f"  {line}", highlight=False, markup=False)


@nlu_app.command("serve")
def nlu_serve(
    host: Annotated[str, typer.Option(help="Bind address")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = 5005,
    model: Annotated[str | None, typer.Option(help="Model file (default: the current one)")] = None,
) -> None:
    """Serve the trained Rasa NLU model (``rasa run --enable-api``) from .venv-rasa.

    Point the bot at it with SAMVAD_RASA_URL=http://HOST:PORT.
    """
    import os
    from pathlib import Path

    from bot.rasa_project import RASA_ENV, model_path, rasa_executable

    rasa = rasa_executable()
    chosen = Path(model) if model else model_path()
    if not rasa.exists():
        console.print(f"[red]{rasa} is missing:[/] run `make rasa` first.")
        raise typer.Exit(1)
    if not chosen.exists():
        console.print(f"[red]No model {chosen}:[/] run `make rasa` to train it.")
        raise typer.Exit(1)
    console.print(f"[bold green]Rasa NLU[/] on http://{host}:{port} with {chosen.name}  "
                  f"(SAMVAD_RASA_URL=http://{host}:{port})")
    args = [str(rasa), "run", "--enable-api", "-i", host, "-p", str(port), "--model", str(chosen)]
    os.execve(rasa, args, {**os.environ, **RASA_ENV})  # noqa: S606 - our own venv's rasa


if __name__ == "__main__":
    app()
