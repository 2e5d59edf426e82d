"""The seed gateway's Go queue, compiled at test time and driven from Python.

The seed document (`shared/seeds/000_9a3436755a2c9b22.txt`) is a saved web page whose body is the
Go `queue.go` of the older gateway. `build_harness` extracts that source, puts it in a temporary
Go module next to our own command-line harness (`seed_harness/main.go.tmpl`) and builds it with a
pgx v5 driver from the Go module proxy. `SeedQueue` runs the binary against a database, so tests
exercise the seed's own SQL and Go code, unchanged, against a botgateway-migrated schema.

Nothing of the seed is stored in this repository: it is read from the document on every build.
"""

import asyncio
import json
import os
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

SEED_NAME = "000_9a3436755a2c9b22.txt"
SEED_FILE_ENV = "BOTGATEWAY_SEED_FILE"
HARNESS_TEMPLATE = Path(__file__).with_name("seed_harness") / "main.go.tmpl"

# pgx v5 through database/sql encodes the seed's []byte payload for a jsonb parameter as JSON
# text. (lib/pq v1.10 does too by default, but with `binary_parameters=yes` it sends the bytes in
# binary format and PostgreSQL refuses them: "unsupported jsonb version number 123".)
PGX_MODULE = "github.com/jackc/pgx/v5"
PGX_VERSION = "v5.7.5"

GO_MOD = f"""module seedq

go 1.23

require {PGX_MODULE} {PGX_VERSION}
"""

# The seed's MarkFailed calls `truncate`, which lives in another file of the seed gateway.
# Provided only when the extracted source does not define it.
GO_TRUNCATE_SHIM = """package main

// truncate keeps at most n bytes of s (the seed gateway defines it outside queue.go).
func truncate(s string, n int) string {
\tif len(s) <= n {
\t\treturn s
\t}
\treturn s[:n]
}
"""

_SOURCE_STARTS = ("// Phase 2b", "package main")


class HarnessBuildError(RuntimeError):
    """The seed's Go source could not be extracted or the harness did not build."""


def seed_file(repo_root: Path) -> Path:
    """Where the seed document is: `$BOTGATEWAY_SEED_FILE`, else `<repo>/../shared/seeds/`."""
    override = os.environ.get(SEED_FILE_ENV)
    if override:
        return Path(override)
    return repo_root.parent / "shared" / "seeds" / SEED_NAME


def extract_go_source(document: str) -> str:
    """The Go source of queue.go: from its first line (`// Phase 2b` or `package main`) to the
    end. Everything before is the saved page's chrome (file path, commit, CI badges, message)."""
    lines = document.replace("\r\n", "\n").split("\n")
    for index, line in enumerate(lines):
        if line.lstrip().startswith(_SOURCE_STARTS):
            source = "\n".join(lines[index:]).strip() + "\n"
            break
    else:
        raise HarnessBuildError("no Go source in the seed document (no `package main` line)")
    for needed in ("package main", "type PostgresQueue struct", "func NewPostgresQueue("):
        if needed not in source:
            raise HarnessBuildError(f"the seed's Go source has no {needed!r}")
    return source


def build_harness(seed: Path, workdir: Path) -> Path:
    """Write the Go module (seed queue.go + our main.go) into `workdir`, build it, return the
    binary. The Go build and module caches are the user's usual ones, so rebuilds are quick."""
    source = extract_go_source(seed.read_text(encoding="utf-8"))
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "go.mod").write_text(GO_MOD)
    (workdir / "queue.go").write_text(source)
    (workdir / "main.go").write_text(HARNESS_TEMPLATE.read_text(encoding="utf-8"))
    if "func truncate(" not in source:
        (workdir / "shims.go").write_text(GO_TRUNCATE_SHIM)
    binary = workdir / "seedq"
    _go(workdir, "mod", "tidy")
    _go(workdir, "build", "-o", str(binary), ".")
    return binary


def _go(workdir: Path, *args: str) -> None:
    result = subprocess.run(["go", *args], cwd=workdir, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-30:])
        raise HarnessBuildError(f"`go {' '.join(args)}` failed in {workdir}:\n{tail}")


@dataclass(frozen=True)
class SeedJob:
    """A job as the seed's Pop returns it."""

    id: int
    bot_slug: str
    handler_type: str
    update_id: int
    payload: Any
    """The payload, parsed from JSON."""
    attempts: int
    next_retry_at: datetime
    status: str
    last_error: str


class SeedError(RuntimeError):
    """The seed's Go code returned an error (the harness exited non-zero)."""


class SeedQueue:
    """The seed's `PostgresQueue` methods, each one run of the harness binary."""

    def __init__(self, binary: Path, database_url: str) -> None:
        self.binary = binary
        self.database_url = database_url

    async def enqueue(
        self, bot_slug: str, update_id: int, payload: str, handler_type: str = "forward"
    ) -> None:
        """`EnqueueWithDefaults`, the seed webhook's call."""
        await self._run("enqueue", bot_slug, str(update_id), payload, handler_type)

    async def pop(self) -> SeedJob | None:
        out = await self._run("pop")
        if out == "none":
            return None
        fields = json.loads(out)
        fields["next_retry_at"] = datetime.fromisoformat(fields["next_retry_at"])
        return SeedJob(**fields)

    async def mark_done(self, job_id: int) -> None:
        await self._run("done", str(job_id))

    async def mark_failed(self, job_id: int, attempt: int, message: str, max_attempts: int) -> None:
        await self._run("failed", str(job_id), str(attempt), message, str(max_attempts))

    async def purge_done(self, older_than_seconds: int) -> int:
        return int(await self._run("purge", str(older_than_seconds)))

    async def recover_stuck(self, stuck_for_seconds: int) -> int:
        return int(await self._run("recover", str(stuck_for_seconds)))

    async def drain(self, loops: int, budget_s: float) -> str:
        """`loops` goroutines of Pop + MarkDone until the queue is empty or `budget_s` has
        passed; the harness's JSON line `{"jobs", "seconds", "finished"}`."""
        return await self._run("drain", str(loops), f"{budget_s:g}", timeout_s=budget_s + 60)

    async def _run(self, *args: str, timeout_s: float = 60) -> str:
        process = await asyncio.create_subprocess_exec(
            str(self.binary),
            *args,
            env={**os.environ, "DATABASE_URL": self.database_url},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=timeout_s)
        if process.returncode != 0:
            raise SeedError(
                f"seedq {args[0]} exited {process.returncode}: {stderr.decode().strip()}"
            )
        return stdout.decode().strip()
