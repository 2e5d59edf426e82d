"""PgBouncer in front of the test PostgreSQL, started like the server itself: a config in a tmp
dir, a free port, the `pgbouncer` binary from the distribution (Debian's `pgbouncer`)."""

import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit, urlunsplit

BINARY = "pgbouncer"
POOL_SIZES = {"transaction": 3, "session": 60}
"""Server connections per database. Transaction mode: few, so clients share them as in
production. Session mode ties each client connection to a server one for its life, so the
pool must cover every client the tests open at once."""


def missing() -> str | None:
    """Why PgBouncer cannot run here, or None."""
    if shutil.which(BINARY) is None:
        return "pgbouncer not installed (apt-get install -y pgbouncer)"
    return None


@dataclass(frozen=True)
class PgBouncer:
    mode: str
    port: int

    def url_for(self, database_url: str) -> str:
        """The same database and user, through the pooler."""
        parts = urlsplit(database_url)
        user = parts.username or "postgres"
        auth = f"{user}:{parts.password}" if parts.password else user
        return urlunsplit(parts._replace(netloc=f"{auth}@127.0.0.1:{self.port}", query=""))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _server_address(base_url: str) -> tuple[str, int]:
    """Host (or socket directory) and port of the PostgreSQL behind `base_url`."""
    parts = urlsplit(base_url)
    socket_dir = parse_qs(parts.query).get("host", [""])[0]
    if socket_dir:
        # The embedded server listens on a socket only; its port is in the socket's name.
        [sock] = Path(socket_dir).glob(".s.PGSQL.*[0-9]")
        return socket_dir, int(sock.name.rsplit(".", 1)[1])
    return parts.hostname or "127.0.0.1", parts.port or 5432


def _config(base_url: str, mode: str, port: int, folder: Path) -> Path:
    host, server_port = _server_address(base_url)
    parts = urlsplit(base_url)
    user = parts.username or "postgres"
    (folder / "userlist.txt").write_text(f'"{user}" "{parts.password or ""}"\n')
    ini = folder / "pgbouncer.ini"
    ini.write_text(
        "\n".join(
            [
                "[databases]",
                f"* = host={host} port={server_port}",
                "[pgbouncer]",
                "listen_addr = 127.0.0.1",
                f"listen_port = {port}",
                "unix_socket_dir =",
                # the embedded server trusts local users; PgBouncer passes the password on
                # (md5) when TEST_DATABASE_URL carries one
                f"auth_type = {'md5' if parts.password else 'trust'}",
                f"auth_file = {folder / 'userlist.txt'}",
                f"pool_mode = {mode}",
                f"default_pool_size = {POOL_SIZES[mode]}",
                "max_client_conn = 2000",
                # After PostgreSQL restarts, PgBouncer waits this long before it connects again
                # (15 s by default: 2,051 updates answered 503 for a 0.35 s restart).
                "server_login_retry = 1",
                f"logfile = {folder / 'pgbouncer.log'}",
                f"pidfile = {folder / 'pgbouncer.pid'}",
                "",
            ]
        )
    )
    return ini


def _wait_listening(port: int, process: "subprocess.Popen[bytes]", log: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            text = log.read_text() if log.exists() else ""
            raise RuntimeError(f"pgbouncer exited with {process.returncode}: {text[-2000:]}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"pgbouncer did not listen on {port} within 15s")


@contextmanager
def pgbouncer(
    base_url: str, mode: str, folder: Path, *, run_as: str | None = None
) -> Iterator[PgBouncer]:
    """PgBouncer in `mode` in front of the server of `base_url`, until the block ends.
    `run_as`: the system user when we are root (PgBouncer refuses to run as root); the
    embedded server's own user can reach its socket directory."""
    port = _free_port()
    ini = _config(base_url, mode, port, folder)
    command = [BINARY, str(ini)]
    if os.geteuid() == 0:
        # Debian's package brings a `postgres` user, for a server reached over TCP.
        user = run_as or "postgres"
        pwd.getpwnam(user)
        for path in (folder, *folder.iterdir()):
            shutil.chown(path, user)
        command = [BINARY, "-u", user, str(ini)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        _wait_listening(port, process, folder / "pgbouncer.log")
        yield PgBouncer(mode, port)
    finally:
        process.send_signal(signal.SIGINT)  # PgBouncer's immediate shutdown
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
