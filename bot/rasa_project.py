"""Where the Rasa NLU project, its environment and its trained model live.

The model is named after a fingerprint of the project files (config, domain, training
data), so an unchanged project is never trained twice and a changed one never serves a
stale model. ``make rasa`` (``samvad nlu train``) trains to :func:`model_path` with :func:`train`;
``samvad nlu serve`` and the tests serve it. ``python -m bot.rasa_project`` prints the path.
"""

from __future__ import annotations

import hashlib
import io
import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

RASA_VERSION = "3.6.21"
PROJECT_DIR = Path(__file__).with_name("rasa")
REPO_DIR = Path(__file__).resolve().parent.parent
VENV_DIR = REPO_DIR / ".venv-rasa"
MODELS_DIR = PROJECT_DIR / "models"
# Quiet, offline, private: no TensorFlow chatter, no telemetry.
RASA_ENV = {"TF_CPP_MIN_LOG_LEVEL": "2", "RASA_TELEMETRY_ENABLED": "false"}


def project_files() -> list[Path]:
    """The files a model is trained from, in a stable order."""
    files = [PROJECT_DIR / "config.yml", PROJECT_DIR / "domain.yml"]
    files += sorted((PROJECT_DIR / "data").glob("*.yml"))
    return files


def fingerprint() -> str:
    """A short hash of the project files' names and contents (and the Rasa version)."""
    digest = hashlib.sha256(RASA_VERSION.encode())
    for path in project_files():
        digest.update(path.relative_to(PROJECT_DIR).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def model_name() -> str:
    return f"samvad-nlu-{fingerprint()}"


def model_path() -> Path:
    """The trained model for the project as it is now (it may not exist yet)."""
    return MODELS_DIR / f"{model_name()}.tar.gz"


def rasa_executable() -> Path:
    return VENV_DIR / "bin" / "rasa"


# What `rasa train nlu` prints that is worth showing: the component being trained, its
# epochs (tqdm bars, shown every PROGRESS_EVERY_S), where the model went, and any error.
_COMPONENT = re.compile(r"(Starting to train|Finished training) component '([^']+)'")
_EPOCHS = re.compile(r"^Epochs:\s+(\d+)%\|.*?\|\s*(\d+)/(\d+) \[([^<\]]+)<([^,\]]+)")
_ALARM = re.compile(r"\b(ERROR|CRITICAL|Traceback|Error:)")
PROGRESS_EVERY_S = 20.0
QUIET_FOR_S = 30.0


def _condense(line: str) -> str | None:
    """The short form of a line of Rasa's training output, or None to keep it in the log."""
    if match := _COMPONENT.search(line):
        return f"{'training' if match[1].startswith('Starting') else 'trained '} {match[2]}"
    if match := _EPOCHS.search(line):
        return f"epoch {match[2]}/{match[3]} ({match[1]} %, ~{match[5].strip()} left)"
    if "Your Rasa model is trained" in line:
        return "model written"
    if _ALARM.search(line):
        return line.strip()
    return None


def train(log_path: Path, say: Callable[[str], None] = print) -> Path:
    """Train the NLU model of the project as it is now into :func:`model_path`.

    Rasa's whole output goes to ``log_path``; ``say`` gets a condensed line now and then
    (component started and finished, epochs, errors, or "still training" when Rasa is quiet),
    each with the time elapsed. Older models are removed once the new one is in place.
    Raises ``RuntimeError`` (with the log's tail) when training fails.
    """
    target = model_path()
    MODELS_DIR.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".training-", dir=MODELS_DIR))
    env = {**os.environ, **RASA_ENV, "RASA_MAX_CACHE_SIZE": "0",
           "RASA_CACHE_DIRECTORY": str(work / ".cache")}
    command = [str(rasa_executable()), "train", "nlu", "--config", str(PROJECT_DIR / "config.yml"),
               "--domain", str(PROJECT_DIR / "domain.yml"), "--nlu", str(PROJECT_DIR / "data"),
               "--out", str(work), "--fixed-model-name", model_name()]
    start = time.monotonic()

    def stamp(text: str) -> None:
        minutes, seconds = divmod(int(time.monotonic() - start), 60)
        say(f"    [{minutes:2d}:{seconds:02d}] {text}")

    lines: queue.Queue[str | None] = queue.Queue()
    try:
        with log_path.open("w", encoding="utf-8") as log:
            process = subprocess.Popen(command, stdout=subprocess.PIPE,  # noqa: S603 - our venv
                                       stderr=subprocess.STDOUT, env=env)
            output = process.stdout
            assert isinstance(output, io.BufferedReader)  # a buffered pipe: it has read1

            def pump() -> None:  # tqdm ends its updates with \r: split on both
                pending = b""
                for chunk in iter(lambda: output.read1(4096), b""):
                    pending += chunk
                    *done, pending = re.split(rb"[\r\n]", pending)
                    for raw in done:
                        if raw.strip():
                            lines.put(raw.decode("utf-8", "replace"))
                if pending.strip():
                    lines.put(pending.decode("utf-8", "replace"))
                lines.put(None)

            threading.Thread(target=pump, daemon=True).start()
            last_said = last_epoch = time.monotonic()
            while True:
                try:
                    line = lines.get(timeout=QUIET_FOR_S)
                except queue.Empty:
                    stamp("still training")
                    last_said = time.monotonic()
                    continue
                if line is None:
                    break
                log.write(line + "\n")
                short = _condense(line)
                now = time.monotonic()
                if short and short.startswith("epoch "):
                    if now - last_epoch < PROGRESS_EVERY_S and "(100 %" not in short:
                        continue
                    last_epoch = now
                if short:
                    stamp(short)
                    last_said = now
                elif now - last_said > QUIET_FOR_S:
                    stamp("still training")
                    last_said = now
            code = process.wait()
        if code != 0:
            tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-40:])
            raise RuntimeError(f"rasa train nlu exited with {code}; the log ends:\n{tail}")
        for old in MODELS_DIR.glob("samvad-nlu-*.tar.gz"):
            old.unlink()
        (work / f"{model_name()}.tar.gz").replace(target)
        return target
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    print(model_name() if sys.argv[1:] == ["name"] else model_path())
