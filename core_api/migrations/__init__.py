"""Alembic migrations of the core API; run with `samvad db upgrade`."""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config

SCRIPT_LOCATION = Path(__file__).parent


def alembic_config(sqlalchemy_url: str) -> Config:
    """An Alembic config for ``sqlalchemy_url`` without an alembic.ini on disk."""
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    config.set_main_option("sqlalchemy.url", sqlalchemy_url.replace("%", "%%"))
    return config


def upgrade_on_connection(connection: object, revision: str = "head") -> None:
    """Run ``alembic upgrade`` on an open sync connection (inside ``AsyncConnection.run_sync``)."""
    from alembic import command

    config = alembic_config("sqlite://")
    config.attributes["connection"] = connection
    command.upgrade(config, revision)
