"""Test support: a private PostgreSQL server for the state database tests.

Usage in a test module (the tests directory is on sys.path under pytest's default import mode):

    from postgres_server import fresh_postgres_url, postgres_server  # noqa: F401  (fixtures)

- `postgres_server` (session): starts `initdb` + `pg_ctl` in a temporary directory on a free
  loopback port (as the `postgres` system user when running as root, since initdb refuses
  root), and stops it at the end of the session. With GRIDLEDGER_TEST_POSTGRES_URL set
  (an admin URL such as postgresql+psycopg://postgres@127.0.0.1:5432/postgres), that
  server is used instead and nothing is started.
- `fresh_postgres_url` (function): a new, empty database on that server for one test,
  dropped afterwards; yields its `postgresql+psycopg://` URL.
If PostgreSQL's binaries are missing the fixture FAILS (it does not skip): install the
Debian package `postgresql` (binaries in /usr/lib/postgresql/<version>/bin).
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

SERVER_START_TIMEOUT_S = 60
ENV_URL = "GRIDLEDGER_TEST_POSTGRES_URL"
_database_numbers = itertools.count()


@dataclass
class PostgresServer:
    admin_url: str  # postgresql+psycopg://... of a maintenance database

    def _admin(self) -> psycopg.Connection:
        url = make_url(self.admin_url)
        return psycopg.connect(
            host=url.host, port=url.port, user=url.username, password=url.password,
            dbname=url.database or "postgres", autocommit=True,
        )  # fmt: skip

    def create_database(self, name: str) -> str:
        with self._admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            try:  # a natural-language default collation, so tests prove the key column's COLLATE "C"
                conn.execute(
                    f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8' "
                    "LOCALE 'C' LOCALE_PROVIDER icu ICU_LOCALE 'en-US'"
                )
            except psycopg.Error:  # a server without ICU
                conn.execute(f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8'")
        return make_url(self.admin_url).set(database=name).render_as_string(hide_password=False)

    def drop_database(self, name: str) -> None:
        with self._admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def find_postgres_bindir() -> Path | None:
    """The directory holding initdb and pg_ctl: PATH first, then Debian's versioned directories."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(os.path.realpath(on_path)).parent
    for bindir in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(bindir, "initdb").exists() and Path(bindir, "pg_ctl").exists():
            return Path(bindir)
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(command: list[str], as_user: list[str]) -> None:
    done = subprocess.run(as_user + command, capture_output=True, text=True, timeout=SERVER_START_TIMEOUT_S)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    if os.environ.get(ENV_URL):
        yield PostgresServer(os.environ[ENV_URL])
        return
    bindir = find_postgres_bindir()
    if bindir is None:
        pytest.fail(
            "PostgreSQL is not installed: no initdb/pg_ctl on PATH or in /usr/lib/postgresql/*/bin. "
            f"Install the Debian package `postgresql`, or set {ENV_URL} to an admin URL of a running server."
        )
    root = Path(tempfile.mkdtemp(prefix="gridledger-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        shutil.chown(root, user="postgres", group="postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = root / "data", _free_port()
    log_file = root / "server.log"
    try:
        _run([str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C"], as_user)
        options = (
            f"-c listen_addresses=127.0.0.1 -p {port} -k {root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"  # a throwaway test server
        )
        _run([str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log_file), "-w", "-t", str(SERVER_START_TIMEOUT_S),
              "-o", options, "start"], as_user)  # fmt: skip
    except Exception as exc:
        log = log_file.read_text() if log_file.exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        pytest.fail(f"could not start a private PostgreSQL server: {exc}\n{log}")
    try:
        yield PostgresServer(f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres")
    finally:
        subprocess.run(as_user + [str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
                       capture_output=True, timeout=SERVER_START_TIMEOUT_S)  # fmt: skip
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def fresh_postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    name = f"gridledger_test_{os.getpid()}_{next(_database_numbers)}"
    url = postgres_server.create_database(name)
    yield url
    postgres_server.drop_database(name)
