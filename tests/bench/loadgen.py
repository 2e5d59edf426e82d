"""The service bench's load generator, run as its own process (`python -m tests.bench.loadgen`)
so it never shares an event loop or a core's time slice with the server under test.

Two modes, both bounded and self-stopping, loopback only, one aiohttp client session with a
fixed number of connections:

- `closed`: `--connections` loops, each posting its next update as soon as the previous answer
  arrived, for `--warmup` + `--seconds`; the rate counts answers received inside the measured
  window.
- `paced`: open loop at `--rate` updates/s for `--warmup` + `--seconds`: each update is sent on
  its schedule whether or not earlier ones were answered (the connection limit still bounds what
  is in flight). `measured_from_id` is the first update sent after the warm-up.

Every update is a real-shaped text message with a unique `update_id` (from `--first-id` up) and
the bot's secret header. Stdout is JSON lines: `{"event": "window-start"}` and
`{"event": "window-end"}` around the measured window, then `{"result": {...}}`, whose
`statuses` counts the answers inside the window and `answers` every answer (an error without an
answer counts under its exception's name).
"""

import argparse
import asyncio
import json
import math
import resource
import sys
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from .workload import update

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
REQUEST_TIMEOUT_S = 30.0
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


UPDATE_ID_HEADER = "X-Bench-Update-Id"
"""Names the update without its body: the latency probe in the server cannot read a body the
webhook has already consumed."""


def event(name: str) -> None:
    """A progress line for the bench (stdout is line-delimited JSON; the last line is the
    result)."""
    print(json.dumps({"event": name}), flush=True)


def body(update_id: int) -> bytes:
    return json.dumps(update(update_id), separators=(",", ":")).encode()


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an ascending sequence (0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


class Client:
    def __init__(self, http: aiohttp.ClientSession, url: str, secret: str | None) -> None:
        self._http = http
        self._url = url
        self._headers = {"Content-Type": "application/json"}
        if secret:
            self._headers[SECRET_HEADER] = secret

    async def post(self, update_id: int) -> int | str:
        """The answer's status, or the name of the error when there was none."""
        try:
            headers = {**self._headers, UPDATE_ID_HEADER: str(update_id)}
            async with self._http.post(
                self._url, data=body(update_id), headers=headers
            ) as response:
                await response.read()
                return response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            return type(exc).__name__


def session(connections: int) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=connections, limit_per_host=connections)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    return aiohttp.ClientSession(connector=connector, timeout=timeout)


async def closed(
    url: str, secret: str | None, connections: int, warmup: float, seconds: float, first_id: int
) -> dict[str, Any]:
    statuses: Counter[str] = Counter()
    answers: Counter[str] = Counter()
    next_id = first_id
    async with session(connections) as http:
        client = Client(http, url, secret)
        begun = time.perf_counter()
        start = begun + warmup
        end = start + seconds
        cpu: list[float] = []

        async def loop() -> None:
            nonlocal next_id
            while time.perf_counter() < end:
                update_id = next_id
                next_id += 1
                status = await client.post(update_id)
                answers[str(status)] += 1
                if start <= time.perf_counter() < end:
                    statuses[str(status)] += 1

        async def clock() -> None:
            """Tell the bench when the measured window opens and closes (it samples the
            server's CPU then), and note this process's own CPU."""
            await asyncio.sleep(warmup)
            event("window-start")
            cpu.append(cpu_seconds())
            await asyncio.sleep(max(0.0, end - time.perf_counter()))
            cpu.append(cpu_seconds())
            event("window-end")

        await asyncio.gather(clock(), *(loop() for _ in range(connections)))
    return {
        "mode": "closed",
        "connections": connections,
        "seconds": seconds,
        "sent": next_id - first_id,
        "statuses": dict(statuses),
        "answers": dict(answers),
        "ok": statuses.get("200", 0),
        "req_per_s": statuses.get("200", 0) / seconds,
        "cpu_fraction": (cpu[1] - cpu[0]) / seconds,
    }


async def paced(
    url: str,
    secret: str | None,
    connections: int,
    rate: float,
    warmup: float,
    seconds: float,
    first_id: int,
) -> dict[str, Any]:
    warmup_n = round(rate * warmup)
    total = warmup_n + round(rate * seconds)
    statuses: Counter[str] = Counter()
    answers: Counter[str] = Counter()
    latencies: list[float] = []
    late: list[float] = []
    async with session(connections) as http:
        client = Client(http, url, secret)

        async def one(k: int, due: float) -> None:
            status = await client.post(first_id + k)
            answers[str(status)] += 1
            if k >= warmup_n:
                statuses[str(status)] += 1
                latencies.append((time.perf_counter() - due) * 1000)

        tasks = []
        origin = time.perf_counter() + 0.01
        cpu_at_start = 0.0
        for k in range(total):
            due = origin + k / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if k == warmup_n:
                event("window-start")
                cpu_at_start = cpu_seconds()
            if k >= warmup_n:
                late.append((time.perf_counter() - due) * 1000)
            tasks.append(asyncio.create_task(one(k, due)))
        sent_for = time.perf_counter() - origin
        cpu = cpu_seconds() - cpu_at_start
        event("window-end")
        await asyncio.gather(*tasks)
    latencies.sort()
    late.sort()
    measured = total - warmup_n
    return {
        "mode": "paced",
        "connections": connections,
        "rate": rate,
        "seconds": seconds,
        "sent": total,
        "measured": measured,
        "measured_from_id": first_id + warmup_n,
        "achieved_rate": total / sent_for if sent_for > 0 else 0.0,
        "statuses": dict(statuses),
        "answers": dict(answers),
        "ok": statuses.get("200", 0),
        "client_p50_ms": percentile(latencies, 50),
        "client_p99_ms": percentile(latencies, 99),
        "send_late_p99_ms": percentile(late, 99),
        "cpu_fraction": cpu / seconds,
    }


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.loadgen", description=__doc__)
    parser.add_argument("mode", choices=("closed", "paced"))
    parser.add_argument("--url", required=True, help="http://127.0.0.1:PORT/webhook/SLUG")
    parser.add_argument("--secret")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=500.0, help="paced: updates per second")
    parser.add_argument("--first-id", type=int, default=1)
    args = parser.parse_args(argv)
    host = urlsplit(args.url).hostname
    if host not in LOOPBACK:
        parser.error(f"--url must be a loopback address, not {host!r}")
    if args.connections < 1 or args.seconds <= 0 or args.warmup < 0 or args.rate <= 0:
        parser.error("--connections, --seconds and --rate must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.mode == "closed":
        run = closed(
            args.url, args.secret, args.connections, args.warmup, args.seconds, args.first_id
        )
    else:
        run = paced(
            args.url,
            args.secret,
            args.connections,
            args.rate,
            args.warmup,
            args.seconds,
            args.first_id,
        )
    result = asyncio.run(run)
    print(json.dumps({"result": result}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
