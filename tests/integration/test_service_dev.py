"""`botgateway dev` as a newcomer runs it: a banner with a curl line that posts an update and
shows it processed; Ctrl-C stops cleanly. With DATABASE_URL set it uses that database. Its
embedded PostgreSQL ends with it, however it is stopped, and a killed dev's is cleaned up by the
next one."""

import asyncio
import re
import signal
import socket
from pathlib import Path

import asyncpg
import pytest

from tests.support.cluster import free_port
from tests.support.dev_process import DevProcess, gone, start_dev, stop_postmaster
from tests.support.service import count, wait_until

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("database", ["DATABASE_URL", "embedded"])
async def test_dev_prints_a_working_curl_line_and_stops_on_ctrl_c(
    database_url: str, tmp_path: Path, database: str
) -> None:
    data_dir = tmp_path / "dev" if database == "embedded" else None
    dev = await start_dev(data_dir=data_dir, env={"DATABASE_URL": database_url})
    try:
        await dev.running(timeout=30)
        curl = dev.line_with("curl ")
        shell = await asyncio.create_subprocess_shell(
            curl, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        output, _ = await asyncio.wait_for(shell.communicate(), 30)
        text = output.decode()
        assert shell.returncode == 0, text
        assert '"ok": true' in text
        stats = text.splitlines()[-1].split()  # the (all) row of `botgateway jobs stats`
        assert stats[0] == "(all)", text
        assert stats[3] == "1", text
        if data_dir is None:
            await wait_until(lambda: count(database_url, "status = 'done'"), message="done")
        else:
            assert str(data_dir / "pgdata") in dev.output
        await wait_until(lambda: "job done" in dev.output, message="log line")
        assert await dev.signal(signal.SIGINT, timeout=20) == 0
    finally:
        await dev.kill()
    assert "stopped" in dev.output
    assert "Traceback" not in dev.output


async def stopped_cleanly(dev: DevProcess, sig: signal.Signals) -> None:
    """`sig` ends dev with 0, and its PostgreSQL with it: no server process for the data
    directory survives, and dev's last word on it is that it stopped."""
    postmaster = dev.postmaster
    assert postmaster is not None
    try:
        assert await dev.signal(sig) == 0, dev.output
        assert await gone(postmaster), f"PostgreSQL pid {postmaster} outlived dev:\n{dev.output}"
    finally:
        stop_postmaster(postmaster)
    assert (
        dev.lines[-1].strip()
        == f"botgateway dev: the embedded PostgreSQL (pid {postmaster}) stopped"
    )
    assert "Traceback" not in dev.output


@pytest.mark.parametrize(
    "sig", [signal.SIGHUP, signal.SIGTERM, signal.SIGINT], ids=lambda sig: sig.name
)
async def test_dev_stops_its_postgresql_on_hangup_terminate_and_ctrl_c(
    tmp_path: Path, sig: signal.Signals
) -> None:
    dev = await start_dev(data_dir=tmp_path)
    try:
        await dev.running()
        await stopped_cleanly(dev, sig)
    finally:
        await dev.kill()
        stop_postmaster(dev.postmaster)


async def test_dev_after_a_kill_9_stops_the_orphaned_postgresql_and_runs_its_own(
    tmp_path: Path,
) -> None:
    killed = await start_dev(data_dir=tmp_path)
    try:
        await killed.running()
        orphan = killed.postmaster
        await killed.signal(signal.SIGKILL)
    finally:
        await killed.kill()
    assert orphan is not None
    assert not await gone(orphan, timeout=0), "the test needs a PostgreSQL the kill left running"
    dev = await start_dev(data_dir=tmp_path)
    try:
        await dev.running()
        assert await gone(orphan, timeout=0), dev.output
        assert f"forgot botgateway dev pid(s) {killed.process.pid}" in dev.output
        assert f"stopped the PostgreSQL (pid {orphan}) a killed botgateway dev left" in dev.output
        assert dev.postmaster not in (None, orphan)
        await stopped_cleanly(dev, signal.SIGINT)
    finally:
        await dev.kill()
        stop_postmaster(orphan)
        stop_postmaster(dev.postmaster)


async def test_the_printed_database_url_connects(tmp_path: Path) -> None:
    dev = await start_dev(data_dir=tmp_path)
    try:
        await dev.running()
        migrated = re.search(r"database (\S+) migrated", dev.output)
        assert migrated is not None, dev.output
        assert f"  database {migrated[1]}" in dev.output  # the banner repeats it
        connection = await asyncpg.connect(migrated[1])
        try:
            assert await connection.fetchval("SELECT count(*) FROM gateway_jobs") == 0
        finally:
            await connection.close()
        await stopped_cleanly(dev, signal.SIGINT)
    finally:
        await dev.kill()
        stop_postmaster(dev.postmaster)


async def test_an_exported_database_url_that_fails_says_where_it_came_from() -> None:
    url = f"postgresql://gw:hunter2@127.0.0.1:{free_port()}/gw"
    dev = await start_dev(data_dir=None, env={"DATABASE_URL": url})
    try:
        assert await dev.exit_code() == 1
    finally:
        await dev.kill()
    assert "database unavailable" in dev.output
    assert "DATABASE_URL is set in your environment" in dev.output
    assert "`unset DATABASE_URL` to get the embedded one" in dev.output
    assert "hunter2" not in dev.output
    assert "Traceback" not in dev.output


async def test_a_busy_port_fails_before_dev_touches_the_database(database_url: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        dev = await start_dev("--port", port, data_dir=None, env={"DATABASE_URL": database_url})
        try:
            assert await dev.exit_code() == 1
        finally:
            await dev.kill()
    [only] = dev.output.strip().splitlines()  # no migration, no worker, no janitor round
    assert only.startswith(f"botgateway: cannot listen on 127.0.0.1:{port}: "), dev.output
