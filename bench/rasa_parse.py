"""Rasa's parse latency: one ``POST /model/parse`` at a time, as the bot asks it.

The bot asks Rasa once per free-text message and waits for the answer (``bot.rasa_nlu``,
with a 300 ms budget), so what matters is the time of one parse with nothing else in
flight: this sends the held-out evaluation texts (``tests/bot/nlu_eval/heldout.yml``:
five languages, typos and all) one after the other and prints p50, p95, p99 and the
slowest. One unmeasured pass over the texts comes first: a fresh server builds its
TensorFlow graphs for each new input length, which a server that has run a while has done.
Start Rasa first (``samvad nlu serve``, or ``make run``)::

    python -m bench.rasa_parse --url http://127.0.0.1:5005 --rounds 3
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import httpx
import yaml

HELDOUT = Path(__file__).resolve().parent.parent / "tests" / "bot" / "nlu_eval" / "heldout.yml"
_ANNOTATION = re.compile(r"\[([^\]]+)\](?:\([^)]*\)|\{[^}]*\})")


def texts(path: Path = HELDOUT) -> list[str]:
    """The example texts of a Rasa NLU file (``- text`` lines, annotations removed)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    found = []
    for block in data.get("nlu") or ():
        for line in str(block.get("examples") or "").splitlines():
            text = line.strip().removeprefix("- ").strip()
            if text:  # "[ਸੜਕ](complaint_type)" is typed "ਸੜਕ"
                found.append(_ANNOTATION.sub(r"\1", text))
    return found


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def measure(url: str, samples: list[str], rounds: int) -> list[float]:
    """Milliseconds of each parse (after one unmeasured pass)."""
    parse = url.rstrip("/") + "/model/parse"
    times = []
    with httpx.Client(timeout=10.0) as http:
        for text in samples:
            http.post(parse, json={"text": text}).raise_for_status()
        for _ in range(rounds):
            for text in samples:
                start = time.perf_counter()
                response = http.post(parse, json={"text": text})
                times.append((time.perf_counter() - start) * 1000)
                response.raise_for_status()
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.rasa_parse", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:5005", help="the Rasa server")
    parser.add_argument("--rounds", type=int, default=3, help="passes over the texts")
    parser.add_argument("--texts", type=Path, default=HELDOUT, help="a Rasa NLU YAML file")
    options = parser.parse_args(argv)
    samples = texts(options.texts)
    times = measure(options.url, samples, options.rounds)
    print(f"{len(times)} parses ({len(samples)} texts x {options.rounds}), one at a time: "
          f"p50 {percentile(times, 0.50):.1f} ms, p95 {percentile(times, 0.95):.1f} ms, "
          f"p99 {percentile(times, 0.99):.1f} ms, max {max(times):.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
