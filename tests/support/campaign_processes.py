"""Campaigns and workers as real ``interphase`` processes, and what a kill may not change."""

from __future__ import annotations

import os
import subprocess
import sys

from sqlalchemy import select

from interphase.store import Store
from interphase.store.tables import ResultRow


def interphase(db: str, *args: str) -> subprocess.Popen[bytes]:
    """Start ``interphase --db DB ARGS`` (stdout discarded, stderr kept for the test's message)."""
    env = {**os.environ, "PYBAMM_DISABLE_TELEMETRY": "true", "COLUMNS": "200"}
    return subprocess.Popen([sys.executable, "-m", "interphase.cli.main", "--db", db, *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)


def acknowledged(db: str) -> dict[str, str]:
    """Result id -> payload hash of every stored result (empty before the schema exists)."""
    store = Store(db)
    try:
        if not store.revision():
            return {}
        with store.engine.connect() as connection:
            return dict(connection.execute(select(ResultRow.id, ResultRow.payload_hash)).all())
    finally:
        store.close()
