"""A private PostgreSQL server for tests: initdb and pg_ctl in a temporary folder, on a free loopback
port, removed afterwards. Finds the binaries on PATH, in /usr/local/bin, or where Debian's
postgresql package puts them (/usr/lib/postgresql/<version>/bin). initdb refuses to run as root:
as root, the cluster belongs to the `postgres` user the package creates, and runs as it."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

USER = "tune"  # the database superuser the cluster is made with (trust auth, loopback only)


def binaries() -> tuple[str, str] | None:
    """(initdb, pg_ctl), or None when PostgreSQL is not installed."""
    places = [os.path.dirname(shutil.which("initdb") or ""), "/usr/local/bin"]
    places += sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                     key=lambda p: [int(x) for x in p.split("/")[4].split(".") if x.isdigit()],
                     reverse=True)
    for folder in filter(None, places):
        initdb, pg_ctl = Path(folder, "initdb"), Path(folder, "pg_ctl")
        if initdb.is_file() and pg_ctl.is_file():
            return str(initdb), str(pg_ctl)
    return None


def free_port() -> int:
    """A loopback port nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_owner(cmd: list[str]) -> list[str]:
    """The command as the cluster's owner: `postgres` when we are root, else ourselves."""
    if os.geteuid() != 0:
        return cmd
    return ["runuser", "-u", "postgres", "--", *cmd]


@contextmanager
def server() -> Iterator[str]:
    """Start a throwaway cluster; yields its SQLAlchemy URL; stops and deletes it afterwards."""
    found = binaries()
    if found is None:
        raise FileNotFoundError("PostgreSQL's initdb and pg_ctl were not found")
    initdb, pg_ctl = found
    folder = Path(tempfile.mkdtemp(prefix="playground-pg-"))  # not under pytest's 0700 folders
    data, port = folder / "data", free_port()
    try:
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(folder, owner.pw_uid, owner.pw_gid)
        _run(_as_owner([initdb, "-D", str(data), "-U", USER, "--auth=trust", "--no-sync",
                        "-E", "UTF8", "--no-instructions"]))
        options = (f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c max_connections=50")
        _run(_as_owner([pg_ctl, "-D", str(data), "-o", options, "-l", str(folder / "server.log"),
                        "-w", "-t", "60", "start"]))
        try:
            yield f"postgresql+psycopg2://{USER}@127.0.0.1:{port}/postgres"
        finally:
            _run(_as_owner([pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"]))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _run(cmd: list[str]) -> None:
    """Run a setup command; its output goes into the error when it fails."""
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
