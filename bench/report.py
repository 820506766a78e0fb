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
    flat: dict[str, Any] = {
        "samvad_turns_per_s": samvad.get("max_turns_per_s"),
        "ceiling_requests_per_s": figures.get("ceiling", {}).get("max_turns_per_s"),
        "rasa_turns_per_s": figures.get("rasa", {}).get("max_turns_per_s"),
        **{k: v for k, v in figures.get("ratios", {}).items()},
    }
    for row in samvad.get("open", []):
        pct = round(row["fraction"] * 100)
        for q in ("p50_ms", "p95_ms", "p99_ms"):
            flat[f"latency_{q}_at_{pct}pct"] = row[q]
    cpu = samvad.get("cpu_ms_per_turn", {})
    flat["cpu_ms_per_turn_samvad"] = cpu.get("samvad_processes")
    flat["cpu_ms_per_turn_with_pg_redis"] = cpu.get("with_postgres_and_redis")
    under = samvad.get("per_turn_under_load", {})
    flat["redis_commands_per_turn"] = under.get("redis_commands")
    flat["redis_round_trips_per_turn"] = under.get("redis_read_events")
    cal = samvad.get("calibration", {})
    flat["redis_round_trips_per_menu_turn"] = cal.get("redis_read_events_per_menu_turn")
    flat["redis_commands_per_menu_turn"] = cal.get("redis_commands_per_menu_turn")
    flat["pg_statements_per_turn"] = under.get("pg_statements")
    flat["pg_statements_per_complaint"] = cal.get("pg_statements_per_complaint")
    session = samvad.get("session_bytes", {})
    flat["session_bytes_mean"] = session.get("mean")
    flat["session_bytes_max"] = session.get("max")
    for group, pids in samvad.get("rss_mb", {}).items():
        flat[f"rss_mb_{group}"] = round(sum(pids.values()), 1)
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
    if "skipped" in data or not data:
        return [f"*{name}: not measured ({data.get('skipped', 'absent')}).*", ""]
    lines = [f"**{name}**: maximum {_fmt(data['max_turns_per_s'])} /s (closed loop, best of "
             f"concurrency {', '.join(str(r['concurrency']) for r in data['closed'])})", "",
             "| load | offered /s | answered /s | lost | p50 ms | p95 ms | p99 ms |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for row in data["closed"]:
        lines.append(f"| closed c={row['concurrency']} | - | {_fmt(row['throughput'])} | "
                     f"{row['lost']} | {_fmt(row['p50_ms'])} | {_fmt(row['p95_ms'])} | "
                     f"{_fmt(row['p99_ms'])} |")
    for row in data["open"]:
        lines.append(f"| open {row['fraction']:.0%} | {_fmt(row['achieved_offer'])} | "
                     f"{_fmt(row['throughput'])} | {row['lost']} | {_fmt(row['p50_ms'])} | "
                     f"{_fmt(row['p95_ms'])} | {_fmt(row['p99_ms'])} |")
    return [*lines, ""]


def targets_table(figures: dict[str, Any]) -> list[str]:
    """The issue's targets against this run's figures."""
    flat = headline(figures)
    scale = figures.get("scale", {})

    def check(value: Any, ok: Any) -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "not measured"
        return "met" if ok(value) else "NOT met"

    bill = max((v for k, v in scale.items() if isinstance(v, (int, float)) and
                k.startswith("after_bill_by_") and k.endswith("_p99_ms")), default=None)
    rows = [
        ("turns/s >= 25 % of the ceiling", flat.get("samvad_over_ceiling"),
         lambda v: v >= 0.25),
        (">= 50x the Rasa peer", flat.get("samvad_over_rasa"), lambda v: v >= 50),
        ("p99 <= 50 ms at 50 % of the maximum", flat.get("latency_p99_ms_at_50pct"),
         lambda v: v <= 50),
        ("<= 2 Redis round trips for a menu turn (whole pipeline)",
         flat.get("redis_round_trips_per_menu_turn"), lambda v: v <= 2),
        ("session <= 1 KB (largest seen)", flat.get("session_bytes_max"),
         lambda v: v <= 1024),
        (f"bill lookup p99 <= 10 ms at 1M bills (scale: {_fmt(scale.get('rows_bills'), 0)}"
         " bills, with indexes)", bill,
         lambda v: v <= 10),
    ]
    lines = ["| target | this run | |", "|---|---:|---|"]
    lines += [f"| {name} | {_fmt(value, 4 if value is not None and value < 0.1 else 2)} | "
              f"{check(value, ok)} |" for name, value, ok in rows]
    return lines


def figures_markdown(figures: dict[str, Any], plot_link: str) -> str:
    """The figures section (report.md and BENCHMARKS.md share it)."""
    flat = headline(figures)
    m = figures.get("machine", {})
    o = figures.get("options", {})
    samvad = figures.get("samvad", {})
    lines = [
        f"Machine: {m.get('cpu')}, {m.get('cores')} cores, {m.get('memory_gb')} GB, Linux "
        f"{m.get('kernel')}, Python {m.get('python')}; load average at start "
        f"{_fmt(m.get('loadavg_at_start'), 2)}. Run: `samvad serve --workers "
        f"{o.get('workers')}` + {o.get('bot_workers')} x `samvad worker`, "
        f"{_fmt(o.get('duration_s'), 0)} s per load step{' (SMOKE)' if o.get('smoke') else ''};"
        f" PostgreSQL fsync on; wall time {_fmt(figures.get('wall_s'), 0)} s.", "",
        "| figure | value |", "|---|---:|",
    ]
    names = {
        "samvad_turns_per_s": "Samvad turns/s, every reply delivered (max)",
        "ceiling_requests_per_s": "Ceiling (bare FastAPI) requests/s (max)",
        "rasa_turns_per_s": "Rasa peer turns/s (max)",
        "samvad_over_ceiling": "Samvad / ceiling",
        "samvad_over_rasa": "Samvad / Rasa",
        "samvad_over_ceiling_by_cpu": "Samvad / ceiling by CPU per turn (cores to spare)",
        "samvad_over_rasa_by_cpu": "Samvad / Rasa by CPU per turn (cores to spare)",
    }
    for key, value in flat.items():
        digits = 4 if "_over_" in key else 2
        lines.append(f"| {names.get(key, key.replace('_', ' '))} | {_fmt(value, digits)} |")
    wrk = figures.get("ceiling", {}).get("wrk")
    if wrk:
        lines.append(f"| ceiling by wrk (64 connections) requests/s | "
                     f"{_fmt(wrk['requests_per_s'])} |")
    lines += ["", *targets_table(figures), "",
              f"![throughput and latency vs offered load]({plot_link})", ""]
    for name in SYSTEMS:
        lines += _load_table(name, figures.get(name, {}))
    cal = samvad.get("calibration", {})
    if cal.get("turns"):
        lines += ["Per turn, one citizen at a time (background loops' share subtracted):", "",
                  "| # | sends | kind | replies | Redis cmds | Redis round trips | PG stmts |",
                  "|---:|---|---|---:|---:|---:|---:|"]
        for row in cal["turns"]:
            lines.append(f"| {row['turn']} | `{row['send'][:24]}` | {row['kind']} | "
                         f"{row['replies']} | {_fmt(row['redis_commands'])} | "
                         f"{_fmt(row['redis_read_events'])} | {_fmt(row['pg_statements'])} |")
        lines.append("")
    scale = figures.get("scale", {})
    if scale:
        lines += ["Scale (bench.scale):", "", "| figure | value |", "|---|---:|"]
        lines += [f"| {k} | {_fmt(v, 2)} |" for k, v in scale.items()
                  if not isinstance(v, (dict, list))]
        lines.append("")
    return "\n".join(lines)


def write_outputs(figures: dict[str, Any], out: Path, benchmarks_md: Path | None) -> None:
    out.mkdir(parents=True, exist_ok=True)
    payload = {"headline": headline(figures), **figures}
    (out / "figures.json").write_text(json.dumps(payload, indent=2, default=str) + "\n")
    plot(figures, out / PLOT)
    section = figures_markdown(figures, PLOT)
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
        update_benchmarks(benchmarks_md, figures_markdown(figures, f"bench/results/{PLOT}"))


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
