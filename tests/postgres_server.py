"""Start a throwaway PostgreSQL server for tests (initdb + pg_ctl on a free port, in a temp folder)."""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import free_port


def _binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for root in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (root / name).exists():
            return str(root / name)
    return None


def server_port() -> int:
    """A free port below the kernel's ephemeral range: no ``bind(0)`` elsewhere (another test's server)
    can be handed it while the server is stopped for a restart, so it can always start on it again."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return free_port()
    if low <= 12_000:
        return free_port()
    rng = random.Random()
    for _ in range(100):
        port = rng.randrange(10_000, low)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    return free_port()


def available() -> bool:
    return _binary("initdb") is not None and _binary("pg_ctl") is not None


class PostgresServer:
    """A throwaway server that a test can also stop and start again (same folder, port and data)."""

    def __init__(self) -> None:
        initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
        assert initdb and pg_ctl, "PostgreSQL server binaries (initdb, pg_ctl) are not installed"
        self.pg_ctl = pg_ctl
        self.folder = Path(tempfile.mkdtemp(prefix="pertinent-pg-"))
        self.data, self.port = self.folder / "data", server_port()
        self.as_root = os.geteuid() == 0
        if self.as_root:
            shutil.chown(self.folder, "postgres", "postgres")
        self._run(initdb, "-D", str(self.data), "-U", "pertinent", "--auth=trust", "-E", "UTF8")
        self.url = f"postgresql+psycopg://pertinent@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        command = ["runuser", "-u", "postgres", "--", *args] if self.as_root else list(args)
        subprocess.run(command, check=True, capture_output=True, cwd=self.folder)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(  # -t: a loaded machine may need more than pg_ctl's default 60 s
            self.pg_ctl,
            "-D",
            str(self.data),
            "-l",
            str(self.folder / "log"),
            "-w",
            "-t",
            "600",
            "-o",
            options,
            "start",
        )

    def stop(self, mode: str = "immediate") -> None:
        self._run(self.pg_ctl, "-D", str(self.data), "-m", mode, "-t", "600", "stop")

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


@contextmanager
def postgres_server() -> Iterator[str]:
    """Yield a ``postgresql+psycopg://`` URL of a fresh server; stop and remove it afterwards.

    PostgreSQL refuses to run as root, so as root the server runs as the ``postgres`` system user.
    """
    server = PostgresServer()
    server.start()
    try:
        yield server.url
    finally:
        server.stop()
        server.remove()
