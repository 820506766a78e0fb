"""Where the Rasa NLU project, its environment and its trained model live.

The model is named after a fingerprint of the project files (config, domain, training
data), so an unchanged project is never trained twice and a changed one never serves a
stale model. ``make rasa`` trains to :func:`model_path`; ``samvad nlu serve`` and the
tests serve it. ``python -m bot.rasa_project`` prints the path (for the Makefile).
"""

from __future__ import annotations

import hashlib
import sys
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


if __name__ == "__main__":
    print(model_name() if sys.argv[1:] == ["name"] else model_path())
