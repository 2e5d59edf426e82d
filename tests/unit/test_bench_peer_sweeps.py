"""The pure parts of the bench's peer sweeps: graphile-worker's points and how several of its
processes make one drain, and picking the best point of a sweep."""

import re
from pathlib import Path

import pytest

from tests.bench import graphile_bench
from tests.bench.defaults_bench import SweepResults
from tests.bench.graphile_bench import (
    STAMP,
    SWEEP,
    GraphilePoint,
    GraphileResults,
    GraphileUnavailable,
    combine,
    cores,
    install,
    lock_digest,
    parse_point,
    parse_points,
)
from tests.bench.procrastinate_bench import ProcrastinatePoint, Swept
from tests.bench.sweep import Sweep
from tests.bench.workload import Drained

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("text", "point"),
    [
        ("1x32", GraphilePoint(1, 32)),
        ("2x32:lq500:cb10", GraphilePoint(2, 32, 500, 10)),
        ("1x64:cb0", GraphilePoint(1, 64, complete_batch_ms=0)),
    ],
)
def test_a_graphile_point_reads_back_its_own_label(text: str, point: GraphilePoint) -> None:
    assert parse_point(text) == point
    assert point.label() == text


def test_the_default_sweep_round_trips_through_its_labels() -> None:
    assert parse_points(",".join(p.label() for p in SWEEP)) == SWEEP


@pytest.mark.parametrize("text", ["32", "0x8", "1x8:lq", "1x8:batch5", "ax8"])
def test_a_malformed_graphile_point_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=re.escape(repr(text))):
        parse_point(text)


def test_graphile_arguments_keep_negative_values_attached() -> None:
    assert GraphilePoint(1, 8).args() == [
        "--concurrency=8",
        "--local-queue=-1",
        "--complete-batch-delay=-1",
    ]


def _report(started: int, finished: int, done: int, all_done: bool) -> dict[str, object]:
    return {
        "started_at_ms": started,
        "finished_at_ms": finished,
        "done": done,
        "finished": all_done,
    }


def test_processes_sharing_a_backlog_finish_when_the_first_sees_it_empty() -> None:
    drained = combine([_report(1_000, 3_000, 100, True), _report(1_200, 3_010, 100, True)], 100)
    assert drained == Drained(100, 2.0, finished=True)


def test_a_budgeted_drain_counts_the_most_any_process_saw_done() -> None:
    drained = combine([_report(1_000, 4_000, 60, False), _report(1_500, 4_500, 70, False)], 100)
    assert drained == Drained(70, 3.5, finished=False)


def test_each_side_is_compared_at_its_best_point() -> None:
    slow, fast = GraphilePoint(1, 32), GraphilePoint(1, 64, 1000, 0)
    results = GraphileResults(
        ours=SweepResults({256: [Drained(100, 2, True)], 512: [Drained(100, 1, True)]}),
        graphile=Sweep(
            {
                slow: [Drained(100, 10, True), Drained(100, 5, True)],
                fast: [Drained(100, 8, True)],
            }
        ),
        version="0",
    )
    assert results.ours.tuned == 512
    assert results.graphile_tuned == slow
    assert results.graphile.best(slow) == 20
    assert results.graphile_unbatched == slow


def test_procrastinate_is_compared_at_its_fastest_point() -> None:
    one, many = ProcrastinatePoint(1, 4, 4), ProcrastinatePoint(2, 256, 4)
    swept = Swept({one: Drained(700, 1, True), many: Drained(376, 1, False)}, enqueue_s=1)
    assert swept.best == one


def test_node_cores_add_up_the_processes_over_the_drain() -> None:
    reports = [
        {"started_at_ms": 0, "finished_at_ms": 2_000, "cpu_ms": 1_000},
        {"started_at_ms": 500, "finished_at_ms": 2_000, "cpu_ms": 500},
    ]
    cpu = cores(reports, pg=0.5, busy=1.5)
    assert cpu.server == 0.75
    assert cpu.others == 0.25


def test_graphile_is_skipped_with_a_reason_without_npm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(graphile_bench.shutil, "which", lambda tool: None)
    with pytest.raises(GraphileUnavailable, match="`node` is not on PATH"):
        install(lambda _: None, install_dir=tmp_path)


def test_an_installed_lock_file_is_not_installed_again(tmp_path: Path) -> None:
    (tmp_path / "node_modules").mkdir()
    (tmp_path / STAMP).write_text(lock_digest())
    said: list[str] = []
    assert install(said.append, install_dir=tmp_path) == (tmp_path / "node_modules").resolve()
    assert said == []
