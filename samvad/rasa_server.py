"""The Rasa NLU server beside ``samvad serve --rasa`` (what ``make run`` runs).

Rasa reads free text better than the built-in matcher, so a local serve uses it when it
can: when ``SAMVAD_RASA_URL`` names no server already, ``.venv-rasa`` exists and the model
of the Rasa project as it is now is trained (``make rasa`` builds both), Rasa is started on
127.0.0.1:5005 (another free port when that one is taken), the app is pointed at it, and
it is stopped with the server. Its model takes some seconds to load; until Rasa answers,
the built-in matcher does, as whenever Rasa is slow or away (``bot.rasa_nlu``).
``why_not`` says why it cannot start, for the one line that says free text is read by the
built-in matcher.
"""

from __future__ import annotations

import os
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bot.rasa_project import MODELS_DIR, RASA_ENV, model_path, rasa_executable

DEFAULT_PORT = 5005
STOP_WAIT_S = 10.0


def why_not() -> str | None:
    """Why Rasa cannot be started here (what to run to have it), or None when it can."""
    if not rasa_executable().exists():
        return "no .venv-rasa: `make rasa` installs Rasa and trains its model"
    if not model_path().exists():
        if any(MODELS_DIR.glob("samvad-nlu-*.tar.gz")):
            return "the Rasa model is older than bot/rasa: `make rasa` trains it again"
        return "no trained Rasa model: `make rasa` trains it"
    return None


def _free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def _any_free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class LocalRasa:
    """A Rasa server this process started."""

    process: subprocess.Popen[bytes]
    url: str
    model: Path
    log: Path

    def stop(self) -> None:
        """Stop it (SIGTERM, then SIGKILL after ``STOP_WAIT_S``)."""
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(STOP_WAIT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start(log: Path, host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> LocalRasa:
    """Start ``rasa run --enable-api`` with the current model; its output goes to ``log``.

    The caller checks ``why_not()`` first. Rasa runs in its own session, so a Ctrl-C in
    the terminal reaches the server, which then stops Rasa (``LocalRasa.stop``).
    """
    if not _free(host, port):
        port = _any_free_port(host)
    model = model_path()
    log.parent.mkdir(parents=True, exist_ok=True)
    command = [str(rasa_executable()), "run", "--enable-api", "-i", host, "-p", str(port),
               "--model", str(model)]
    with log.open("ab") as output:
        process = subprocess.Popen(  # noqa: S603 - our own venv's rasa, fixed arguments
            command, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, **RASA_ENV}, start_new_session=True)
    return LocalRasa(process, f"http://{host}:{port}", model, log)
