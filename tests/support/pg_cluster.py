"""A throwaway PostgreSQL cluster for tests and benchmarks.

The cluster lives in a temporary directory, listens on a free port of 127.0.0.1 only,
trusts every local connection and is stopped and deleted when the process exits.
As root the server runs as the ``postgres`` system user, because PostgreSQL refuses
to run as root.

A watchdog process (this file run as a script) holds a pipe from the owner; when the
owner dies without cleaning up (SIGKILL, or SIGTERM, which skips ``atexit``), the pipe
closes and the watchdog stops the server and deletes its directory.
"""

from __future__ import annotations

import atexit
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

PG_ROOT = Path("/usr/lib/postgresql")
START_ATTEMPTS = 3
PG_SUPERUSER = "postgres"


class PostgresUnavailableError(RuntimeError):
    """No PostgreSQL server binaries on this machine, or the cluster did not start."""


def find_pg_bin() -> Path | None:
    """The ``bin`` directory of the newest PostgreSQL installed, or None.

    ``INTERPHASE_PG_BIN`` overrides the search; otherwise ``/usr/lib/postgresql/*/bin``
    (Debian's layout) is searched, then the ``PATH``.
    """
    override = os.environ.get("INTERPHASE_PG_BIN")
    if override:
        return Path(override) if (Path(override) / "initdb").exists() else None
    candidates = []
    if PG_ROOT.is_dir():
        for child in PG_ROOT.iterdir():
            if (child / "bin" / "initdb").exists():
                try:
                    candidates.append((float(child.name), child / "bin"))
                except ValueError:
                    continue
    if candidates:
        return max(candidates)[1]
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PostgresCluster:
    """One PostgreSQL cluster in a temporary directory.

    Args:
        bin_dir: Directory holding ``initdb`` and ``pg_ctl``.
        durable: Keep ``fsync`` on. Tests that only check transaction semantics turn
            it off for speed; benchmarks keep it on so that PostgreSQL is compared
            with SQLite's ``synchronous=FULL`` on equal terms.

    Example:
        >>> cluster = PostgresCluster(find_pg_bin())
        >>> url = cluster.start()  # postgresql+psycopg://postgres@127.0.0.1:PORT/postgres
        >>> cluster.stop()
    """

    def __init__(self, bin_dir: Path, durable: bool = True) -> None:
        self.bin_dir = bin_dir
        self.durable = durable
        self.root: Path | None = None
        self.port: int | None = None
        self._watchdog: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the cluster's ``postgres`` database."""
        if self.port is None:
            raise PostgresUnavailableError("the cluster is not running")
        return f"postgresql+psycopg://{PG_SUPERUSER}@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, check: bool = True) -> None:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if os.geteuid() == 0:
            # PostgreSQL refuses to run as root; runuser keeps arguments unquoted.
            command = ["runuser", "-u", "postgres", "--", *command]
        completed = subprocess.run(command, capture_output=True, text=True, check=False,
                                   timeout=120)
        if check and completed.returncode != 0:
            raise PostgresUnavailableError(
                f"{' '.join(args[:2])} failed ({completed.returncode}): "
                f"{completed.stderr.strip() or completed.stdout.strip()}{self._server_log()}"
            )

    def _server_log(self) -> str:
        log = self.root / "server.log" if self.root else None
        if log is None or not log.exists():
            return ""
        return "\nserver.log:\n" + "\n".join(log.read_text(errors="replace").splitlines()[-20:])

    def start(self) -> str:
        """Create and start the cluster; stopping is registered with ``atexit``.

        Returns:
            The URL of its ``postgres`` database.

        Raises:
            PostgresUnavailableError: If ``initdb`` or ``pg_ctl start`` fails.
        """
        self.root = Path(tempfile.mkdtemp(prefix="interphase-pg-"))
        atexit.register(self.stop)
        self._watchdog = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), str(self.bin_dir), str(self.root)],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,  # so that a signal to our process group spares it
        )
        try:
            return self._init_and_start()
        except BaseException:
            self.stop()
            raise

    def _init_and_start(self) -> str:
        assert self.root is not None
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.root, user.pw_uid, user.pw_gid)
        data = self.root / "data"
        initdb = ["initdb", "-D", str(data), "-A", "trust", "-U", PG_SUPERUSER, "-E", "UTF8"]
        self._run(*initdb, *([] if self.durable else ["--no-sync"]))
        last_error: PostgresUnavailableError | None = None
        for _ in range(START_ATTEMPTS):  # another process may take the port we picked
            port = _free_port()
            options = f"-p {port} -k {self.root} -c listen_addresses=127.0.0.1"
            if not self.durable:
                options += " -c fsync=off"
            try:
                self._run("pg_ctl", "-D", str(data), "-l", str(self.root / "server.log"), "-w",
                          "-t", "60", "-o", options, "start")
            except PostgresUnavailableError as exc:
                last_error = exc
                continue
            self.port = port
            return self.url
        raise last_error or PostgresUnavailableError("pg_ctl start failed")

    def stop(self) -> None:
        """Stop the server and delete its directory; safe to call twice."""
        root, self.root, self.port = self.root, None, None
        if root is None:
            return
        try:
            if (root / "data" / "postmaster.pid").exists():
                self._run("pg_ctl", "-D", str(root / "data"), "-m", "immediate", "-w", "stop",
                          check=False)
        finally:
            shutil.rmtree(root, ignore_errors=True)
            self._release_watchdog()

    def _release_watchdog(self) -> None:
        watchdog, self._watchdog = self._watchdog, None
        if watchdog is None:
            return
        assert watchdog.stdin is not None
        watchdog.stdin.close()  # EOF: the watchdog finds nothing left and exits
        try:
            watchdog.wait(timeout=30)
        except subprocess.TimeoutExpired:
            watchdog.kill()
            watchdog.wait()


def start_cluster(durable: bool = True) -> PostgresCluster:
    """Start a throwaway cluster from the newest PostgreSQL installed.

    Args:
        durable: Keep ``fsync`` on (see :class:`PostgresCluster`).

    Raises:
        PostgresUnavailableError: If no PostgreSQL binaries are installed, or it fails.
    """
    bin_dir = find_pg_bin()
    if bin_dir is None:
        raise PostgresUnavailableError(
            "no PostgreSQL server binaries (looked in $INTERPHASE_PG_BIN, or else in "
            f"{PG_ROOT}/*/bin and on PATH); install Debian's 'postgresql' or set "
            "INTERPHASE_TEST_PG_URL"
        )
    cluster = PostgresCluster(bin_dir, durable=durable)
    cluster.start()
    return cluster


def server_url(stack: ExitStack) -> str:
    """A PostgreSQL server for a benchmark: ``INTERPHASE_TEST_PG_URL``, or a throwaway cluster.

    The cluster (durable, as a real one) is stopped when ``stack`` closes.
    """
    given = os.environ.get("INTERPHASE_TEST_PG_URL")
    if given:
        from interphase.store.engine import resolve_url

        return resolve_url(given)
    cluster = start_cluster(durable=True)
    stack.callback(cluster.stop)
    return cluster.url


def _admin_connect(server_url: str):  # noqa: ANN202 - psycopg is an optional dependency
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(server_url)
    return psycopg.connect(host=url.host, port=url.port, user=url.username,
                           password=url.password, dbname=url.database or "postgres",
                           autocommit=True)


def create_database(server_url: str, prefix: str = "interphase_test") -> str:
    """Create an empty database with a unique name on the server of ``server_url``.

    Args:
        server_url: SQLAlchemy URL of any database on the server (``.../postgres``).
        prefix: Start of the new database's name.

    Returns:
        The SQLAlchemy URL of the new database.
    """
    from sqlalchemy.engine import make_url

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with _admin_connect(server_url) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def drop_database(server_url: str, database_url: str) -> None:
    """Drop the database of ``database_url``, closing any connection still open to it."""
    from sqlalchemy.engine import make_url

    name = make_url(database_url).database
    with _admin_connect(server_url) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def temporary_database(server_url: str, prefix: str = "interphase_test") -> Iterator[str]:
    """A fresh database for the duration of a ``with`` block; dropped afterwards."""
    database_url = create_database(server_url, prefix)
    try:
        yield database_url
    finally:
        drop_database(server_url, database_url)


def _stop_when_owner_exits(bin_dir: str, root: str) -> None:
    """Watchdog: wait for EOF on stdin (the owner closed it or died), then clean up."""
    sys.stdin.buffer.read()
    cluster = PostgresCluster(Path(bin_dir))
    cluster.root = Path(root)
    cluster.stop()


if __name__ == "__main__":
    _stop_when_owner_exits(*sys.argv[1:3])
