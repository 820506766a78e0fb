"""Writes bench/results/ (report.md, figures.json, load.png) and BENCHMARKS.md's figures.

BENCHMARKS.md keeps its hand-written text; only the part between the two markers below
is replaced by each full run, so a re-run on a quiet machine updates the figures in place.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

BEGIN = "<!-- bench:figures:begin (written by `samvad bench`; do not edit by hand) -->"
END = "<!-- bench:figures:end -->"
PLOT = "load.png"
PREVIOUS = "previous.json"  # the run this one is compared with (see load_previous)
SYSTEMS = ("samvad", "ceiling", "rasa")


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return f"{value:,.{digits}f}"
    return str(value)


def headline(figures: dict[str, Any]) -> dict[str, Any]:
    """The figures the issue asks for, flat: name -> number (what figures.json leads with)."""
    samvad = figures.get("samvad", {})
    floor = figures.get("floor", {})
    flat: dict[str, Any] = {
        "samvad_turns_per_s": samvad.get("max_turns_per_s"),
        "floor_messages_per_s": floor.get("max_messages_per_s"),
        "ceiling_requests_per_s": figures.get("ceiling", {}).get("max_turns_per_s"),
        "rasa_turns_per_s": figures.get("rasa", {}).get("max_turns_per_s"),
        **{k: v for k, v in figures.get("ratios", {}).items()},
    }
    for row in samvad.get("open", []):
        pct = round(row["fraction"] * 100)
        for q in ("p50_ms", "p95_ms", "p99_ms"):
            flat[f"latency_{q}_at_{pct}pct"] = row[q]
    overload = [r for r in samvad.get("open", []) if r["fraction"] == 0.9]
    if overload:
        flat["open_90pct_duration_s"] = overload[0]["duration_s"]
        flat["turns_later_than_15s_at_90pct"] = overload[0].get("late_over_15s")
        flat["busy_replies_at_90pct"] = overload[0].get("busy_replies")
    cpu = samvad.get("cpu_ms_per_turn", {})
    flat["cpu_ms_per_turn_samvad"] = cpu.get("samvad_processes")
    flat["cpu_ms_per_turn_with_pg_redis"] = cpu.get("with_postgres_and_redis")
    flat["floor_cpu_ms_per_message"] = floor.get("cpu_ms_per_message")
    for client, data in floor.get("clients", {}).items():
        flat[f"floor_cpu_ms_per_message_{client}"] = data.get("cpu_ms_per_message")
    under = samvad.get("per_turn_under_load", {})
    flat["redis_commands_per_turn"] = under.get("redis_commands")
    flat["redis_round_trips_per_turn"] = under.get("redis_read_events")
    cal = samvad.get("calibration", {})
    flat["redis_round_trips_per_menu_turn"] = cal.get("redis_read_events_per_menu_turn")
    flat["redis_commands_per_menu_turn"] = cal.get("redis_commands_per_menu_turn")
    flat["pg_statements_per_turn"] = under.get("pg_statements")
    flat["pg_statements_per_menu_turn"] = cal.get("pg_statements_per_menu_turn")
    flat["pg_statements_per_complaint"] = cal.get("pg_statements_per_complaint")
    callbacks = samvad.get("status_callbacks", {})
    flat["status_callbacks_sent"] = callbacks.get("sent")
    flat["status_callbacks_failed"] = callbacks.get("failed")
    flat["status_callbacks_per_turn"] = callbacks.get("per_turn")
    flat["redis_round_trips_per_status_callback"] = cal.get(
        "redis_read_events_per_status_callback")
    flat["pg_statements_per_status_callback"] = cal.get("pg_statements_per_status_callback")
    session = samvad.get("session_bytes", {})
    flat["session_bytes_mean"] = session.get("mean")
    flat["session_bytes_max"] = session.get("max")
    for group, pids in samvad.get("rss_mb", {}).items():
        flat[f"rss_mb_{group}"] = round(sum(pids.values()), 1)
    workers = [mb for group, pids in samvad.get("rss_mb", {}).items()
               if group.startswith("worker") for mb in pids.values()]
    flat["rss_mb_per_worker_process_max"] = max(workers, default=None)
    flat["generator_cpu_share_of_core"] = cpu.get("generator_cpu_share_of_core")
    return flat


def plot(figures: dict[str, Any], path: Path) -> None:
    """Throughput and p50/p99 latency against offered load, one line per system."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    colors = {"samvad": "tab:blue", "ceiling": "tab:gray", "rasa": "tab:red"}
    for name in SYSTEMS:
        data = figures.get(name, {})
        rows = sorted(data.get("open", []), key=lambda r: r["offered_rate"])
        if not rows:
            continue
        offered = [r["achieved_offer"] for r in rows]
        left.plot(offered, [r["throughput"] for r in rows], "o-", color=colors[name],
                  label=f"{name} (open loop)")
        left.axhline(data["max_turns_per_s"], color=colors[name], ls=":", lw=1,
                     label=f"{name} max (closed loop) {data['max_turns_per_s']:.0f}/s")
        right.plot(offered, [r["p50_ms"] for r in rows], "o--", color=colors[name],
                   label=f"{name} p50")
        right.plot(offered, [r["p99_ms"] for r in rows], "s-", color=colors[name],
                   label=f"{name} p99")
    floor = figures.get("floor", {}).get("max_messages_per_s")
    if floor:
        left.axhline(floor, color="tab:green", ls="--", lw=1,
                     label=f"floor max (closed loop) {floor:.0f} messages/s")
    for axis in (left, right):
        axis.set_xscale("log")
        axis.set_xlabel("offered load (turns or requests / s, log)")
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=7)
    left.set_yscale("log")
    left.set_ylabel("answered / s (log)")
    left.set_title("Throughput vs offered load")
    right.set_yscale("log")
    right.set_ylabel("latency ms (log)")
    right.set_title("Latency vs offered load")
    fig.text(0.5, 0.005, "Samvad: webhook sent -> last reply at the fake Twilio; ceiling and "
             "Rasa: HTTP round trip. Open loop at 25/50/90 % of each one's closed-loop maximum.",
             ha="center", fontsize=7)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _load_table(name: str, data: dict[str, Any]) -> list[str]:
    if "skipped" in data or "max_turns_per_s" not in data:
        return [f"*{name}: not measured ({data.get('skipped', 'absent')}).*", ""]
    closed, opened = data.get("closed", []), data.get("open", [])
    lines = [f"**{name}**: maximum {_fmt(data['max_turns_per_s'])} /s (closed loop, best of "
             f"concurrency {', '.join(str(r['concurrency']) for r in closed)})", "",
             "| load | seconds | offered /s | answered /s | lost | later than 15 s | p50 ms "
             "| p95 ms | p99 ms |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in closed:
        lines.append(f"| closed c={row['concurrency']} | {_fmt(row.get('duration_s'), 0)} | - "
                     f"| {_fmt(row['throughput'])} | {row['lost']} | "
                     f"{_fmt(row.get('late_over_15s'))} | {_fmt(row['p50_ms'])} | "
                     f"{_fmt(row['p95_ms'])} | {_fmt(row['p99_ms'])} |")
    for row in opened:
        lines.append(f"| open {row['fraction']:.0%} | {_fmt(row.get('duration_s'), 0)} | "
                     f"{_fmt(row['achieved_offer'])} | {_fmt(row['throughput'])} | "
                     f"{row['lost']} | {_fmt(row.get('late_over_15s'))} | "
                     f"{_fmt(row['p50_ms'])} | {_fmt(row['p95_ms'])} | {_fmt(row['p99_ms'])} |")
    return [*lines, ""]


# Issue 21's targets: (what, headline key, met when).
TARGETS: tuple[tuple[str, str, Any], ...] = (
    ("CPU per turn with PostgreSQL and Redis <= 6.5 ms", "cpu_ms_per_turn_with_pg_redis",
     lambda v: v <= 6.5),
    ("Samvad / floor (CPU per turn over the floor's per message) <= 3.0",
     "samvad_over_floor", lambda v: v <= 3.0),
    ("turns/s >= 195 (3x the 64.9 of issue 21's start)", "samvad_turns_per_s",
     lambda v: v >= 195),
    ("turns/s >= 5x the Rasa peer", "samvad_over_rasa", lambda v: v >= 5),
    ("p99 <= 50 ms at 50 % of the maximum", "latency_p99_ms_at_50pct", lambda v: v <= 50),
    ("Redis round trips per menu turn (whole pipeline) <= 6",
     "redis_round_trips_per_menu_turn", lambda v: v <= 6),
    ("PostgreSQL statements per menu turn <= 3", "pg_statements_per_menu_turn",
     lambda v: v <= 3),
    ("PostgreSQL statements per complaint filing <= 40", "pg_statements_per_complaint",
     lambda v: v <= 40),
    ("resident memory per worker process <= 150 MB", "rss_mb_per_worker_process_max",
     lambda v: v <= 150),
    ("0 turns later than 15 s in the open-loop step at 90 % (>= 60 s)",
     "turns_later_than_15s_at_90pct", lambda v: v == 0),
)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _digits(value: Any) -> int:
    return 4 if isinstance(value, float) and abs(value) < 0.1 else 2


def targets_table(figures: dict[str, Any], previous: dict[str, Any] | None = None
                  ) -> list[str]:
    """Issue 21's targets against this run's figures, the previous run's beside them."""
    flat = headline(figures)
    previous = previous or {}
    lines = ["| target | this run | | previous run |", "|---|---:|---|---:|"]
    for name, key, ok in TARGETS:
        value, before = flat.get(key), previous.get(key)
        if key == "turns_later_than_15s_at_90pct" and not _missing(value):
            seconds = flat.get("open_90pct_duration_s") or 0
            verdict = "met" if ok(value) and seconds >= 60 else "NOT met"
            if seconds < 60:
                verdict += f" (step ran {_fmt(seconds, 0)} s)"
        else:
            verdict = "not measured" if _missing(value) else ("met" if ok(value) else "NOT met")
        lines.append(f"| {name} | {_fmt(value, _digits(value))} | {verdict} | "
                     f"{_fmt(before, _digits(before))} |")
    return lines


def _floor_table(floor: dict[str, Any]) -> list[str]:
    if not floor.get("clients"):
        return [f"*floor: not measured ({floor.get('skipped', 'absent')}).*", ""]
    lines = [f"**floor** (bench.floor: bare webhook -> Redis stream -> "
             f"{floor.get('processes', '?')} worker process(es) -> provider POST; closed loop, "
             f"one reply per message): the cheaper client is "
             f"{floor.get('client', '-')}", "",
             "| client | messages/s (max) | CPU ms per message | web | workers | Redis |",
             "|---|---:|---:|---:|---:|---:|"]
    for client, data in floor.get("clients", {}).items():
        if "skipped" in data:
            lines.append(f"| {client} | {data['skipped']} | | | | |")
            continue
        by = data.get("cpu_ms_by_process", {})
        workers = sum(v for k, v in by.items() if k.startswith("floor-worker"))
        web = sum(v for k, v in by.items() if k.startswith("floor-web"))
        lines.append(f"| {client} | {_fmt(data.get('max_turns_per_s'))} | "
                     f"{_fmt(data.get('cpu_ms_per_message'), 3)} | {_fmt(web, 3)} | "
                     f"{_fmt(workers, 3)} | {_fmt(by.get('redis'), 3)} |")
    return [*lines, ""]


def _profile_lines(top: dict[str, Any]) -> list[str]:
    """The worker's top five functions (``--profile``), by own and by cumulative time."""
    if not top:
        return []
    lines = [f"Worker profile (cProfile, {', '.join(top['profiles'])}; "
             f"{_fmt(top['total_s'], 1)} s in all):", ""]
    for column, title in (("own", "own time"), ("cumulative", "cumulative time")):
        lines += [f"| top 5 by {title} | calls | own s | cumulative s |",
                  "|---|---:|---:|---:|"]
        lines += [f"| `{row['function']}` | {row['calls']} | {_fmt(row['own_s'], 3)} | "
                  f"{_fmt(row['cumulative_s'], 3)} |" for row in top[column]]
        lines.append("")
    return lines


NAMES = {
    "samvad_turns_per_s": "Samvad turns/s, every reply delivered (max)",
    "floor_messages_per_s": "Floor (bare pipeline) messages/s (max)",
    "ceiling_requests_per_s": "Ceiling (bare FastAPI) requests/s (max)",
    "rasa_turns_per_s": "Rasa peer turns/s (max)",
    "samvad_over_floor": "Samvad / floor (CPU per turn over CPU per message)",
    "samvad_over_ceiling": "Samvad / ceiling",
    "samvad_over_rasa": "Samvad / Rasa",
    "samvad_over_ceiling_by_cpu": "Samvad / ceiling by CPU per turn (cores to spare)",
    "samvad_over_rasa_by_cpu": "Samvad / Rasa by CPU per turn (cores to spare)",
}


def figures_markdown(figures: dict[str, Any], plot_link: str,
                     previous: dict[str, Any] | None = None) -> str:
    """The figures section (report.md and BENCHMARKS.md share it); ``previous``: the
    headline of the run to compare with (``load_previous``)."""
    flat = headline(figures)
    m = figures.get("machine", {})
    o = figures.get("options", {})
    samvad = figures.get("samvad", {})
    before = (previous or {}).get("headline", {})
    processes = (f" --processes {o['bot_processes']}" if o.get("bot_processes")
                 else " (default processes)")
    lines = [
        f"Machine: {m.get('cpu')}, {m.get('cores')} cores, {m.get('memory_gb')} GB, Linux "
        f"{m.get('kernel')}, Python {m.get('python')}; load average at start "
        f"{_fmt(m.get('loadavg_at_start'), 2)}. Run: `samvad serve --workers "
        f"{o.get('workers')}` + {o.get('bot_workers')} x `samvad worker{processes}`, "
        f"{_fmt(o.get('duration_s'), 0)} s per load step (Samvad's open loop at 90 %: "
        f"{_fmt(flat.get('open_90pct_duration_s'), 0)} s)"
        f"{' (SMOKE)' if o.get('smoke') else ''}; PostgreSQL fsync on; wall time "
        f"{_fmt(figures.get('wall_s'), 0)} s. Previous run: "
        f"{(previous or {}).get('run', 'none on record')}.", "",
        "| figure | this run | previous run |", "|---|---:|---:|",
    ]
    for key, value in flat.items():
        digits = 4 if "_over_" in key and "floor" not in key else 2
        lines.append(f"| {NAMES.get(key, key.replace('_', ' '))} | {_fmt(value, digits)} | "
                     f"{_fmt(before.get(key), digits)} |")
    wrk = figures.get("ceiling", {}).get("wrk")
    if wrk:
        lines.append(f"| ceiling by wrk (64 connections) requests/s | "
                     f"{_fmt(wrk['requests_per_s'])} | |")
    lines += ["", *targets_table(figures, before), "",
              f"![throughput and latency vs offered load]({plot_link})", ""]
    for name in SYSTEMS:
        lines += _load_table(name, figures.get(name, {}))
        if name == "samvad":
            lines += _floor_table(figures.get("floor", {}))
    callbacks = samvad.get("status_callbacks")
    if callbacks:
        lines += [f"Status callbacks in Samvad's load: {callbacks['sent']} sent "
                  f"({_fmt(callbacks['per_turn'])} per answered turn), "
                  f"{callbacks['answered']} answered 2xx, {callbacks['failed']} failed.", ""]
    cal = samvad.get("calibration", {})
    if cal.get("turns"):
        lines += ["Per turn, one citizen at a time (background loops' share subtracted; the "
                  "turn's status callbacks are held back and metered after it):", "",
                  "| # | sends | kind | replies | Redis cmds | Redis round trips | PG stmts "
                  "| callbacks | their Redis round trips | their PG stmts |",
                  "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|"]
        for row in cal["turns"]:
            lines.append(f"| {row['turn']} | `{row['send'][:24]}` | {row['kind']} | "
                         f"{row['replies']} | {_fmt(row['redis_commands'])} | "
                         f"{_fmt(row['redis_read_events'])} | {_fmt(row['pg_statements'])} | "
                         f"{row.get('status_callbacks', '-')} | "
                         f"{_fmt(row.get('callbacks_redis_read_events'))} | "
                         f"{_fmt(row.get('callbacks_pg_statements'))} |")
        lines.append("")
    lines += _profile_lines(samvad.get("profile_top", {}))
    scale = figures.get("scale", {})
    if scale:
        lines += ["Scale (bench.scale):", "", "| figure | value |", "|---|---:|"]
        lines += [f"| {k} | {_fmt(v, 2)} |" for k, v in scale.items()
                  if not isinstance(v, (dict, list))]
        lines.append("")
    return "\n".join(lines)


def load_previous(out: Path) -> dict[str, Any] | None:
    """The run to compare with: ``out/previous.json`` (kept on purpose: issue 21's starting
    point; replace it to move the baseline), else the ``figures.json`` this run is about to
    overwrite. ``{"run": description, "headline": {...}}``, or None."""
    kept = out / PREVIOUS
    if kept.exists():
        data: dict[str, Any] = json.loads(kept.read_text())
        return data
    last = out / "figures.json"
    if not last.exists():
        return None
    figures = json.loads(last.read_text())
    if figures.get("options", {}).get("smoke"):
        return None
    m = figures.get("machine", {})
    return {"run": f"the figures.json this run replaced (load average at start "
                   f"{_fmt(m.get('loadavg_at_start'), 2)})",
            "headline": figures.get("headline") or headline(figures)}


def write_outputs(figures: dict[str, Any], out: Path, benchmarks_md: Path | None) -> None:
    out.mkdir(parents=True, exist_ok=True)
    previous = load_previous(out)
    payload = {"headline": headline(figures), **figures, "previous": previous}
    (out / "figures.json").write_text(json.dumps(payload, indent=2, default=str) + "\n")
    plot(figures, out / PLOT)
    section = figures_markdown(figures, PLOT, previous)
    cal = figures.get("samvad", {}).get("calibration", {})
    top = figures.get("samvad", {}).get("pg_top_statements", [])
    extra = ["## Most frequent PostgreSQL statements (whole run)", "",
             *[f"- {calls} x `{query}`" for calls, query in top], ""]
    if cal.get("turns"):
        extra += ["## Redis commands per calibration turn", ""]
        extra += [f"- turn {r['turn']} `{r['send'][:20]}`: {r['commands']}" for r in cal["turns"]]
    (out / "report.md").write_text("# Samvad benchmark report\n\n" + section + "\n"
                                   + "\n".join(extra) + "\n")
    if benchmarks_md is not None:
        update_benchmarks(benchmarks_md, figures_markdown(figures, f"bench/results/{PLOT}",
                                                          previous))


def update_benchmarks(path: Path, section: str) -> None:
    """Replace the figures between the markers of BENCHMARKS.md (append them if absent)."""
    block = f"{BEGIN}\n{section}\n{END}"
    text = path.read_text() if path.exists() else "# Benchmarks\n\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        text = head + block + tail
    else:
        text = text.rstrip() + "\n\n## Latest figures\n\n" + block + "\n"
    path.write_text(text)
