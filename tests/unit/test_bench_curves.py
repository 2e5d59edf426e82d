"""The curves bench's pure logic: sizes, rounds, ratios to the small case, cliffs."""

from tests.bench.curves import Curve, Point, cliffs, decades, describe, per_update_us, with_round
from tests.bench.curves_bench import CurvesSetup, backlog_for


def curve(*points: tuple[int, tuple[float, ...]]) -> Curve:
    return Curve("bots", "bots served", tuple(Point(x, rates) for x, rates in points))


def test_decades_run_from_the_smallest_to_the_largest() -> None:
    assert decades(10_000, 10_000_000) == (10_000, 100_000, 1_000_000, 10_000_000)


def test_a_largest_size_off_the_decades_ends_the_list() -> None:
    assert decades(10_000, 3_000_000) == (10_000, 100_000, 1_000_000, 3_000_000)


def test_a_largest_size_below_the_smallest_is_measured_alone() -> None:
    assert decades(10_000, 5_000) == (5_000,)


def test_rounds_gather_per_point_in_order_of_first_sight() -> None:
    points = with_round((), 1, 100.0)
    points = with_round(points, 10, 90.0)
    points = with_round(points, 1, 120.0)
    assert points == (Point(1, (100.0, 120.0)), Point(10, (90.0,)))


def test_each_point_is_read_by_its_best_round_against_the_first_point() -> None:
    c = curve((1, (100.0, 50.0)), (10_000, (40.0, 80.0)))
    assert c.vs_first(10_000) == 0.8
    assert c.top.x == 10_000


def test_a_point_below_seven_tenths_of_the_small_case_is_a_cliff() -> None:
    c = curve((1, (100.0,)), (10, (70.0,)), (100, (69.0,)), (1000, (150.0,)))
    assert [p.x for p in cliffs(c)] == [100]


def test_the_table_marks_cliffs() -> None:
    c = curve((1, (100.0,)), (10_000, (30.0,)))
    lines = describe(c).splitlines()
    assert "a cliff" in lines[2]
    assert "0.30x" in lines[2]
    assert "a cliff" not in lines[1]


def test_cpu_per_update_in_microseconds() -> None:
    assert per_update_us(0.5, 10_000) == 50.0
    assert per_update_us(1.0, 0) == 0.0


def test_a_points_cpu_per_job_is_the_least_of_its_rounds() -> None:
    points = with_round((), 1, 100.0, 30.0, 60.0)
    points = with_round(points, 1, 90.0, 25.0, 70.0)
    assert (points[0].gateway_us, points[0].postgres_us) == (25.0, 60.0)


def test_a_point_with_a_control_is_read_against_it_not_the_first_point() -> None:
    c = Curve(
        "rows",
        "rows",
        (Point(10, (100.0,)), Point(1000, (50.0,))),
        controls=(Point(10, (100.0,)), Point(1000, (60.0,))),
    )
    assert round(c.vs_first(1000), 3) == 0.833
    assert cliffs(c) == []
    assert "vs control" in describe(c)


def test_with_controls_the_first_point_can_be_a_cliff_too() -> None:
    c = Curve("rows", "rows", (Point(10, (50.0,)),), controls=(Point(10, (100.0,)),))
    assert [p.x for p in cliffs(c)] == [10]


def test_the_bots_curve_drains_ten_jobs_per_bot_at_its_largest_point() -> None:
    setup = CurvesSetup(jobs=20_000, bots=(1, 10_000))
    assert backlog_for("bots", setup) == 100_000
    assert backlog_for("processes", setup) == 20_000
    assert backlog_for("bots", CurvesSetup(jobs=20_000, bots=(1, 10))) == 20_000
