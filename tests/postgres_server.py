"""A real PostgreSQL server for tests: Debian's postgresql, a cluster made in a folder of its own (initdb runs
as the postgres user: it refuses root), listening on 127.0.0.1 only, stopped with pg_ctl on that folder."""
from __future__ import annotations

import contextlib
import glob
import os
import shlex
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path


def postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def _as_postgres(command: list[str]) -> list[str]:
    return ["su", "postgres", "-c", shlex.join(command)] if os.geteuid() == 0 else command


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """Yields a postgresql:// URL of a fresh cluster's database."""
    binaries = postgres_bin()
    assert binaries, "PostgreSQL is not installed (apt-get install postgresql)"
    # Its own folder under /tmp: pytest's folders are closed to the postgres user.
    folder = Path(tempfile.mkdtemp(prefix="studio-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
    data = folder / "data"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    try:
        subprocess.run(_as_postgres([str(binaries / "initdb"), "-D", str(data), "-A", "trust", "--no-sync",
                                     "-U", "studio"]), check=True, capture_output=True)
        subprocess.run(_as_postgres([str(binaries / "pg_ctl"), "-D", str(data), "-w", "-l", str(folder / "pg.log"),
                                     "-o", f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off",
                                     "start"]), check=True, capture_output=True)
        yield f"postgresql://studio@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(_as_postgres([str(binaries / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]),
                       capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)
