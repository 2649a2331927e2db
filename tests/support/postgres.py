"""A throwaway PostgreSQL for the tests: the one given, or one started here."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    """Starts a cluster with scripts/pg-up.sh and stops it by its PID."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="gw-pg-"))
        self.port = free_port()
        self.pid: int | None = None

    @staticmethod
    def available() -> str | None:
        """None when a cluster can be started here, else why not."""
        if os.geteuid() != 0:
            return "starting PostgreSQL needs root (runuser -u postgres)"
        if not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")):
            return "PostgreSQL is not installed (apt-get install postgresql)"
        return None

    def start(self) -> str:
        subprocess.run(["bash", str(ROOT / "scripts/pg-up.sh"), str(self.dir), str(self.port)], check=True)
        self.pid = int((self.dir / "data/postmaster.pid").read_text().split()[0])
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        if self.pid:
            pgbin = sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1]
            # "immediate": a throwaway cluster needs no shutdown checkpoint.
            subprocess.run(["runuser", "-u", "postgres", "--", str(pgbin / "pg_ctl"), "-D", str(self.dir / "data"),
                            "-m", "immediate", "-w", "-t", "20", "stop"], capture_output=True, check=False)
            try:
                os.kill(self.pid, signal.SIGKILL)  # only if pg_ctl could not stop it
            except ProcessLookupError:
                pass
        shutil.rmtree(self.dir, ignore_errors=True)
