"""A ``samvad`` command under cProfile that profiles only between SIGUSR1 (start) and
SIGUSR2 (stop, and write the profile), on the CPU time of its main thread.

``samvad bench --profile`` runs each worker process this way and signals it around its
profiled load, so the profile is the worker under load: not its start-up (imports), not
the calibration, and, with CPU time as the clock, not the time it waits for I/O. cProfile
rather than py-spy: it sees through SQLAlchemy's greenlets.

Run: ``python -m bench.profiled OUT.prof worker --processes 1``, then ``kill -USR1 PID``
and later ``kill -USR2 PID``.
"""

from __future__ import annotations

import cProfile
import signal
import sys
import time
from pathlib import Path
from types import FrameType


def main() -> None:
    out = Path(sys.argv[1])
    profiler = cProfile.Profile(time.thread_time)  # the thread it profiles: CPU time

    def start(signum: int, frame: FrameType | None) -> None:
        profiler.enable()

    def stop(signum: int, frame: FrameType | None) -> None:
        profiler.disable()
        profiler.dump_stats(out)

    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, stop)
    from samvad.cli import app

    app(args=sys.argv[2:], prog_name="samvad")


if __name__ == "__main__":
    main()
