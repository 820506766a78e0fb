"""The ``samvad`` command line (typer): serve, db, seed and the tools later features add."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(
    help="Samvad: a multilingual WhatsApp and SMS service channel for city governments.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    pretty_exceptions_short=True,
)
db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
flows_app = typer.Typer(help="Dialog flows in flows/*.yaml.", no_args_is_help=True)
locales_app = typer.Typer(help="Message catalogs in locales/ (babel).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(flows_app, name="flows")
app.add_typer(locales_app, name="locales")
nlu_app = typer.Typer(help="The Rasa NLU server (project in bot/rasa; `make rasa` trains it).",
                      no_args_is_help=True)
app.add_typer(nlu_app, name="nlu")

console = Console()

DEMO_PASSWORD = "samvad-demo"  # noqa: S105 - printed demo login, development mode only


def _settings():
    from samvad.settings import ConfigurationError, Settings

    try:
        return Settings()
    except ConfigurationError as exc:
        console.print(f"[red]Configuration error:[/] {exc}")
        raise typer.Exit(2) from exc


def _not_yet(feature: str) -> None:
    console.print(f"[yellow]{feature} is not built yet.[/] See the open issues in the README.")
    raise typer.Exit(1)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default SAMVAD_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default SAMVAD_PORT)")] = None,
    workers: Annotated[int, typer.Option(help="Web worker processes (production mode)")] = 1,
) -> None:
    """Serve the web application (core API, webhooks, simulator, dashboard)."""
    import uvicorn

    settings = _settings()
    host = host or settings.host
    port = port or settings.port
    if settings.embedded and workers > 1:
        console.print("[red]Embedded mode runs one process; set SAMVAD_DATABASE_URL and "
                      "SAMVAD_REDIS_URL to run several workers.[/]")
        raise typer.Exit(2)
    base = f"http://{host}:{port}"
    console.print(f"[bold green]Samvad[/] on {base}  "
                  f"({'embedded: SQLite + embedded Redis' if settings.embedded else 'production'})")
    if settings.simulator_enabled:
        console.print(f"  Simulator  {base}/simulator   (chat as a demo citizen or employee)")
    console.print(f"  API docs   {base}/docs")
    console.print(f"  Open311    {base}/open311/v2/services.json")
    console.print(f"  Health     {base}/readyz")
    uvicorn.run("samvad.app:create_app", factory=True, host=host, port=port, workers=workers,
                log_level="info", proxy_headers=True, forwarded_allow_ips="127.0.0.1")


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply migrations up to REVISION (default: head)."""
    from alembic import command

    from core_api.migrations import alembic_config

    settings = _settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(settings.sqlalchemy_url), revision)
    console.print(f"Database at [bold]{revision}[/].")


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
        database = Database(settings.sqlalchemy_url)
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
def worker() -> None:
    """Run the background worker: outbox relay, notifications, inbound turns, sending.

    Ctrl-C stops it after the messages in hand are finished.

    In embedded mode `samvad serve` already runs these loops; run workers separately
    when SAMVAD_DATABASE_URL and SAMVAD_REDIS_URL point at shared servers.
    """
    import signal

    from samvad.app import close_resources, create_app, open_resources
    from samvad.worker import run_background

    settings = _settings()

    async def run() -> None:
        application = create_app(settings)
        await open_resources(application)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        senders = ", ".join(sorted(application.state.channels.senders)) or "none"
        console.print("[bold green]Samvad worker[/] running: outbox relay, notifications, "
                      f"inbound turns, sending (providers: {senders}).")
        try:
            await run_background(application, stop)
        finally:
            await close_resources(application)

    asyncio.run(run())


@app.command()
def chat(
    channel: Annotated[str, typer.Option(help="sms or whatsapp")] = "whatsapp",
    phone: Annotated[str, typer.Option(help="The citizen's number")] = "+919876500001",
    lang: Annotated[str | None, typer.Option(help="en, hi, pa or or: switch to it first")] = None,
) -> None:
    """Chat with Samvad in the terminal as a citizen (same engine and API as the channels).

    Type a message and press Enter. "/loc LAT LNG" sends a location pin, "/photo URL" a
    photo, "/quit" ends. Runs on the configured database (make run prepares it).
    """
    from channels.console import run_console

    if channel not in ("sms", "whatsapp"):
        console.print("[red]--channel must be sms or whatsapp[/]")
        raise typer.Exit(2)
    locales = {"en": "en_IN", "hi": "hi_IN", "pa": "pa_IN", "or": "or_IN"}
    if lang is not None and lang not in locales and lang not in locales.values():
        console.print("[red]--lang must be en, hi, pa or or[/]")
        raise typer.Exit(2)
    locale = locales.get(lang, lang) if lang else None
    asyncio.run(run_console(_settings(), channel=channel, phone=phone, locale=locale))


@app.command()
def bench() -> None:
    """Run the benchmarks in bench/."""
    _not_yet("The benchmark")


@flows_app.command("check")
def flows_check() -> None:
    """Validate every flow in flows/ (references, reachability, messages, SMS budget)."""
    from bot.flowcheck import check_flows
    from bot.helpers import HELPERS
    from bot.operations import OPERATIONS
    from channels.render import render_sms, sms_segments

    flows, problems = check_flows(
        operations=set(OPERATIONS), helpers=set(HELPERS),
        sms_segments=lambda message: sms_segments(render_sms(message)).segments,
    )
    for problem in problems:
        console.print(f"[red]✗[/] {problem}")
    if problems:
        console.print(f"[red]{len(problems)} problem(s)[/] in {len(flows)} flows.")
        raise typer.Exit(1)
    steps = sum(len(flow.steps) for flow in flows.values())
    console.print(f"[green]✓[/] {len(flows)} flows, {steps} steps: all references resolve, "
                  "every message exists in every locale, every SMS prompt fits its budget.")


@locales_app.command("extract")
def locales_extract() -> None:
    """Extract the message ids of flows/*.yaml and bot/ into locales/samvad.pot."""
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
    warnings: Annotated[bool, typer.Option("--warnings", help="Also list unused and stale "
                                           "ids")] = False,
) -> None:
    """Check every catalog: complete, same placeholders as en_IN, word lists, SMS budgets."""
    from bot.catalogs import check_catalogs, sms_budget_problems

    result = check_catalogs(sms_check=sms_budget_problems)
    for problem in result.problems:
        console.print(f"[red]✗[/] {problem}")
    if warnings:
        for warning in result.warnings:
            console.print(f"[yellow]![/] {warning}")
    if result.problems:
        console.print(f"[red]{len(result.problems)} problem(s)[/] in the catalogs.")
        raise typer.Exit(1)
    summary = ", ".join(f"{locale} {count}" for locale, count in result.counts.items())
    note = f" ({len(result.warnings)} warning(s): --warnings)" if result.warnings else ""
    console.print(f"[green]✓[/] catalogs complete: {summary} messages; placeholders, word "
                  f"lists and SMS budgets are right{note}.")


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
