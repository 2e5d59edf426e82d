"""Memory stays bounded when large bodies arrive at once: `botgateway serve` as a real process,
32 concurrent 64 MiB bodies, its peak resident set measured from /proc/<pid>/status.

Half the bodies declare their size (Content-Length) and are refused on the header alone; half
come chunked with no declared size and are refused once the limit is passed. Either way a body
is never held beyond the limit (plus the stream's read buffer), so the peak grows by about
`CLIENTS * (limit + slack)`, not by `CLIENTS * 64 MiB` (2 GiB) as it would if a body were read
whole: the bound below is under the size of one such body.

Each client expects a 413 status line. Half stop sending once it arrives (as a well-behaved
client does); the others push all 64 MiB regardless, which the server drains and discards (for
at most aiohttp's 10 s lingering time, after which it closes: their sending may then end in a
reset, which is the clean close we accept, the 413 having arrived first).
"""

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import pytest

from tests.support.serve_process import start_serve
from tests.support.service import count

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not Path("/proc/self/status").exists(), reason="peak RSS is read from Linux /proc"
    ),
]

MIB = 1024 * 1024
CLIENTS = 32
BODY = 64 * MIB
CHUNK = MIB
LIMIT = MIB
"""The default BOTGATEWAY_MAX_BODY_BYTES."""
SLACK = 512 * 1024
"""Per request beyond the limit: the read buffer (aiohttp reads in up to 64 KiB pieces and
pauses the socket at twice that) and the allocator's rounding."""
BOUND = CLIENTS * (LIMIT + SLACK)
"""48 MiB: every client's limit-sized buffer alive at the same instant, the worst case, and
still less than one 64 MiB body."""

BOTS = "bots:\n  - slug: big\n    token: '1:x'\n    handler: {type: discard}\n"


@dataclass
class Outcome:
    status: int | None = None
    sent: int = 0
    reset: bool = False


async def big_request(host: str, port: int, *, declared: bool, stop_at_answer: bool) -> Outcome:
    outcome = Outcome()
    reader, writer = await asyncio.open_connection(host, port)
    framing = f"Content-Length: {BODY}" if declared else "Transfer-Encoding: chunked"
    writer.write(
        (
            "POST /webhook/big HTTP/1.1\r\nHost: gateway.test\r\n"
            f"Content-Type: application/json\r\n{framing}\r\n\r\n"
        ).encode()
    )
    answered = asyncio.Event()

    async def read_answer() -> None:
        head = b""
        while b"\r\n" not in head:
            piece = await reader.read(4096)
            if not piece:
                return
            head += piece
        outcome.status = int(head.split(b" ", 2)[1])
        answered.set()

    answer = asyncio.create_task(read_answer())
    piece = b"[" + b" " * (CHUNK - 1)  # never a valid update, so a 200 cannot happen by accident
    try:
        for _ in range(BODY // CHUNK):
            if stop_at_answer and answered.is_set():
                break
            writer.write(piece if declared else b"%x\r\n%s\r\n" % (CHUNK, piece))
            await writer.drain()
            outcome.sent += CHUNK
        else:
            if not declared:
                writer.write(b"0\r\n\r\n")
                await writer.drain()
    except ConnectionError:
        outcome.reset = True
    try:
        await asyncio.wait_for(answer, timeout=30)
    except ConnectionError:
        outcome.reset = True
    writer.close()
    try:
        await writer.wait_closed()
    except ConnectionError:
        outcome.reset = True
    return outcome


async def test_concurrent_huge_bodies_keep_memory_bounded(
    tmp_path: Path, database_url: str
) -> None:
    serve = await start_serve(tmp_path, database_url, BOTS)
    try:
        url = urlsplit(serve.url)
        assert url.hostname is not None
        assert url.port is not None
        async with aiohttp.ClientSession() as http:
            # warm up: the code paths of a 200 and a 413 are loaded before the baseline
            async with http.post(f"{serve.url}/webhook/big", json={"update_id": 1}) as r:
                assert r.status == 200
            async with http.post(
                f"{serve.url}/webhook/big",
                data=b"x" * (LIMIT + 1),
                headers={"Content-Type": "application/json"},
            ) as r:
                assert r.status == 413
            before_rows = await count(database_url)
            baseline = serve.status_kib("VmHWM")

            outcomes = await asyncio.gather(
                *(
                    big_request(
                        url.hostname, url.port, declared=i % 2 == 0, stop_at_answer=i % 4 < 2
                    )
                    for i in range(CLIENTS)
                )
            )
            peak = serve.status_kib("VmHWM")

            assert [o.status for o in outcomes] == [413] * CLIENTS, outcomes
            assert await count(database_url) == before_rows, "a 413 stored something"
            grown = (peak - baseline) * 1024
            print(
                f"\nVmHWM {baseline} kB -> {peak} kB (+{grown / MIB:.1f} MiB, bound"
                f" {BOUND / MIB:.0f} MiB); {sum(o.sent for o in outcomes) / MIB:.0f} MiB sent,"
                f" {sum(o.reset for o in outcomes)} resets"
            )
            assert grown < BOUND, f"peak RSS grew by {grown / MIB:.1f} MiB"

            async with http.post(f"{serve.url}/webhook/big", json={"update_id": 2}) as r:
                assert r.status == 200
            assert await count(database_url) == before_rows + 1
    finally:
        code = await serve.stop()
    assert code == 0, serve.log
    assert "Traceback" not in serve.log, serve.log
    errors = [line for line in serve.lines if _level(line) in ("error", "critical")]
    assert not errors, errors


def _level(line: str) -> str:
    try:
        return str(json.loads(line).get("level", ""))
    except ValueError:
        return ""
