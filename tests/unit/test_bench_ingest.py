"""The pure parts of the ingest bench: reading wrk's output, its request bodies, the choice of
load generator and the best-of-sweep selection."""

import re

import pytest

from tests.bench.loadgen import body
from tests.bench.service_bench import Cpu, Load, best_load, choose_loadgen, sweep_table
from tests.bench.wrk_loadgen import WRK_SCRIPT, Setting, parse, parse_settings

WRK_OUTPUT = """Running 5s test @ http://127.0.0.1:4242/webhook/bench
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     3.10ms  512.00us  20.00ms   90.00%
    Req/Sec    20.6k     1.2k    22.0k    70.00%
  103000 requests in 5.00s, 10.80MB read
  Non-2xx or 3xx responses: 3
Requests/sec:  20600.00
Transfer/sec:      2.16MB
{"wrk":{"duration_us":5000000,"requests":103000,"sent":103064,"bytes":11324000,\
"errors":{"connect":0,"read":1,"write":0,"status":3,"timeout":2},\
"latency_us":{"p50":2900,"p90":3600,"p99":7250,"max":20000,"mean":3100.0}}}
"""


def test_parse_reads_the_json_line_of_the_script() -> None:
    result = parse(WRK_OUTPUT)

    assert result.seconds == 5.0
    assert result.requests == 103_000
    assert result.sent == 103_064
    assert result.non_2xx == 3
    assert result.socket_errors == 3
    assert result.ok == 102_997
    assert result.req_per_s == pytest.approx(102_997 / 5)
    assert (result.p50_ms, result.p90_ms, result.p99_ms, result.max_ms) == (2.9, 3.6, 7.25, 20.0)


def test_parse_without_the_script_line_says_so() -> None:
    with pytest.raises(ValueError, match=r"webhook\.lua"):
        parse("Running 5s test @ http://127.0.0.1:1/\nRequests/sec: 1.00\n")


def test_the_lua_body_is_the_same_update_the_python_generator_sends() -> None:
    template = re.search(r"local BODY = '(.*)'", WRK_SCRIPT.read_text())
    assert template is not None
    for update_id in (1, 63, 64, 100_000_001):
        chat = 100_000 + update_id % 64
        args = (update_id, update_id, 1_700_000_000 + update_id, chat, chat, update_id)
        assert (template.group(1) % args).encode() == body(update_id)


def test_parse_settings() -> None:
    assert parse_settings("1x64, 2x128") == (Setting(1, 64), Setting(2, 128))
    assert Setting(2, 128).label == "-t2 -c128"
    with pytest.raises(ValueError, match="threads <= connections"):
        parse_settings("4x2")


def test_choose_loadgen() -> None:
    assert choose_loadgen("auto", "/usr/bin/wrk") == ("/usr/bin/wrk", None)
    assert choose_loadgen("python", "/usr/bin/wrk") == (None, None)
    wrk, why = choose_loadgen("auto", None)
    assert wrk is None
    assert why is not None
    assert "apt-get install wrk" in why
    with pytest.raises(RuntimeError, match="not installed"):
        choose_loadgen("wrk", None)


def _load(name: str, rate: float, setting: str, server_cpu: float = 0.5) -> Load:
    return Load(name, rate, int(rate), Cpu(server_cpu, 0.1, 0.1, 0.0), setting=setting)


def test_best_load_keeps_every_run() -> None:
    runs = [_load("a", 100, "wrk -t1 -c64"), _load("a", 300, "wrk -t2 -c128"), _load("a", 200, "x")]

    best = best_load(runs)

    assert best.req_per_s == 300
    assert best.setting == "wrk -t2 -c128"
    assert best.rounds == (100, 300, 200)


def test_sweep_table_shows_each_servers_best_per_setting() -> None:
    runs = {
        "bare": [_load("bare", 1000, "s1", 0.5), _load("bare", 2000, "s1", 0.5)],
        "ours": [_load("ours", 500, "s2", 0.5)],
    }

    lines = sweep_table(runs).splitlines()

    assert lines[0].split() == ["s1", "s2"]
    assert lines[1].split() == ["bare", "2,000/s", "250us", "-"]
    assert lines[2].split() == ["ours", "-", "500/s", "1000us"]
