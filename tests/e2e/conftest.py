"""The `e2e` tier: one kind cluster for the session (see harness.py), always deleted at the end.

The tier runs only when asked (`make e2e`, or BOTGATEWAY_E2E=1): it builds images and creates a
cluster, minutes of work that `make test` must not start on every machine that has Docker.
Without Docker, or without kind and the means to build it, every test skips with one line that
says what is missing.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator

import pytest

from tests.e2e.harness import KindEnvironment, built_images, find_tools, unavailable


@pytest.fixture(scope="session")
def say(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """A line in the test output as it happens (figures and progress)."""
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")

    def write(line: str) -> None:
        if reporter is None:  # pragma: no cover - pytest without its terminal (-p no:terminal)
            print(line, flush=True)
            return
        # Past the output capture: the figures belong in the run's output, pass or fail.
        if capture is not None:
            with capture.global_and_fixture_disabled():
                reporter.write_line(line)
        else:
            reporter.write_line(line)

    return write


@pytest.fixture(scope="session")
def e2e(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    say: Callable[[str], None],
) -> Iterator[KindEnvironment]:
    reason = unavailable()
    if reason:  # the test modules skip themselves at import; this covers any other module
        pytest.skip(reason)
    tools = find_tools(build=True)
    assert not isinstance(tools, str)
    images = built_images()
    if isinstance(images, str):
        pytest.fail(f"e2e: {images}")

    env = KindEnvironment(tools, images, tmp_path_factory.mktemp("kind"), say)
    try:
        env.up()
    except BaseException:
        env.dump("the environment did not come up")
        env.down()
        raise
    try:
        yield env
    finally:
        env.down()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "call" and report.failed:
        item.stash[FAILED] = True
    return report


FAILED = pytest.StashKey[bool]()


@pytest.fixture(autouse=True)
def diagnostics_on_failure(request: pytest.FixtureRequest) -> Iterator[None]:
    """The cluster as the failed test left it: later tests (deletions, uninstalls) change it."""
    yield
    if request.node.stash.get(FAILED, False) and "e2e" in request.fixturenames:
        env: KindEnvironment = request.getfixturevalue("e2e")
        env.dump(f"{request.node.name} failed")
