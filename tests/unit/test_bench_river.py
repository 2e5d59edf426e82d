"""The `river` bench part's pure logic: sweeps and their best points, the harnesses' JSON, the
figures, and the cached Go build's decision to rebuild."""

from pathlib import Path

import pytest

from tests.bench.defaults_bench import SweepResults, sweep_table
from tests.bench.gobuild import cached_build, sources_digest
from tests.bench.river_bench import (
    RiverPoint,
    RiverResults,
    RiverSetup,
    figures,
    parse_drained,
    parse_inserted,
    tables,
)
from tests.bench.sweep import Sweep
from tests.bench.workload import Drained

pytestmark = pytest.mark.unit


def rate(per_second: float, finished: bool = True) -> Drained:
    return Drained(int(per_second), 1.0, finished)


def test_best_round_of_each_setting_and_best_setting() -> None:
    sweep: Sweep[int] = Sweep()
    for key, value in [(8, 100), (16, 300), (8, 250), (16, 200), (32, 280)]:
        sweep.add(key, rate(value))
    assert sweep.best(8) == 250
    assert sweep.best(16) == 300
    assert sweep.best_key() == 16
    assert sweep.best_key(lambda k: k != 16) == 32
    assert list(sweep.drains) == [8, 16, 32]  # the order measured


def test_best_key_needs_a_setting() -> None:
    with pytest.raises(ValueError, match="no measured setting"):
        Sweep[int]().best_key()


def test_table_marks_best_and_budgeted_rounds() -> None:
    sweep: Sweep[int] = Sweep()
    sweep.add(2, rate(1_000, finished=False))
    sweep.add(2, rate(1_200))
    sweep.add(4, rate(900))
    lines = sweep.table("goroutines", str, [2]).splitlines()
    assert lines[0].split() == ["goroutines", "best", "jobs/s", "rounds"]
    assert lines[1].split() == ["2", "1,200", "1,000*,", "1,200", "<-", "best"]
    assert lines[2].split() == ["4", "900", "900"]


def test_defaults_tuned_ignores_the_default() -> None:
    results = SweepResults()
    results.add(None, rate(900))
    results.add(32, rate(500))
    results.add(64, rate(700))
    assert results.tuned == 64
    assert "64" in sweep_table(results).splitlines()[-1]
    assert sweep_table(results).splitlines()[-1].endswith("<- tuned best")


def test_parse_drained_reads_the_last_json_line() -> None:
    out = 'some log\n{"jobs": 500, "seconds": 0.25, "finished": true, "cpu_seconds": 0.1}\n'
    assert parse_drained(out) == Drained(500, 0.25, True)
    budgeted = parse_drained('{"jobs": 10, "seconds": 2, "finished": false}')
    assert budgeted.per_second == 5
    assert not budgeted.finished


@pytest.mark.parametrize(
    ("out", "error"),
    [
        ("", "no JSON result"),
        ("no json here", "no JSON result"),
        ('{"jobs": 0, "seconds": 1, "finished": false}', "completed nothing"),
    ],
)
def test_parse_drained_refuses_empty_results(out: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        parse_drained(out)


def test_parse_inserted() -> None:
    assert parse_inserted('{"inserted": 1000, "seconds": 0.5}', 1000) == 2000
    with pytest.raises(ValueError, match="inserted 999 of 1000"):
        parse_inserted('{"inserted": 999, "seconds": 0.5}', 1000)


def test_river_points_cover_the_grid() -> None:
    setup = RiverSetup(max_workers=(100, 2000), fetch_cooldowns_ms=(1, 100))
    points = setup.river_points()
    assert len(points) == 2 * 2 * 2
    assert RiverPoint("empty", 2000, 1) in points
    assert points[0].label() == "update, 100 workers, cooldown 1ms"


def measured() -> RiverResults:
    results = RiverResults()
    results.ours.add(256, rate(15_000))
    results.ours.add(512, rate(20_000))
    for point, value in [
        (RiverPoint("update", 1000, 1), 10_000),
        (RiverPoint("update", 2000, 1), 12_500),
        (RiverPoint("empty", 1000, 1), 25_000),
        (RiverPoint("empty", 2000, 100), 20_000),
    ]:
        results.river.add(point, rate(value))
    results.seed.add(16, rate(2_000))
    results.seed.add(32, rate(4_000))
    results.ours_enqueue.extend([30_000, 40_000])
    results.river_insert.update(update=[20_000, 25_000], empty=[90_000])
    return results


def test_figures_compare_best_against_best() -> None:
    out, rows = figures(measured(), RiverSetup(jobs=1_000, rounds=2))
    assert out["drain_vs_river_payload"] == pytest.approx(20_000 / 12_500)
    assert out["drain_vs_river_empty"] == pytest.approx(20_000 / 25_000)
    assert out["drain_vs_seed_go"] == pytest.approx(5)
    assert out["enqueue_vs_river"] == pytest.approx(40_000 / 25_000)
    assert out["river_update_best_max_workers"] == 2000
    assert out["river_empty_best_fetch_cooldown_ms"] == 1
    assert out["river_ours_best_worker_concurrency"] == 512
    assert out["seed_go_best_goroutines"] == 32
    met = {row.metric: row.met for row in rows}
    assert met == {
        "drain_vs_river_payload": True,
        "drain_vs_river_empty": False,
        "drain_vs_seed_go": True,
        "enqueue_vs_river": True,
    }


def test_tables_mark_each_best() -> None:
    text = tables(measured())
    best = [line for line in text.splitlines() if line.endswith("<- best")]
    assert [line.split()[0] for line in best] == ["512", "update,", "empty,", "32"]


def test_cached_build_rebuilds_only_when_sources_change(tmp_path: Path) -> None:
    binary = tmp_path / "out" / "tool"
    builds: list[str] = []

    def build() -> None:
        builds.append("built")
        binary.write_text("binary")

    said: list[str] = []
    cached_build(binary, [b"v1"], build, said.append)
    cached_build(binary, [b"v1"], build, said.append)
    assert len(builds) == 1
    assert said[-1].endswith("up to date")
    cached_build(binary, [b"v2"], build, said.append)
    assert len(builds) == 2
    assert sources_digest([b"ab", b"c"]) != sources_digest([b"a", b"bc"])
