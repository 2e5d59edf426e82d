"""The `e2e` tier: one kind cluster for the session (see harness.py), always deleted at the end.

The tier runs only when asked (`make e2e`, or BOTGATEWAY_E2E=1): it builds an image and creates a
cluster, minutes of work that `make test` must not start on every machine that has Docker.
Without Docker, or without kind and the means to build it, every test skips with one line that
says what is missing.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.harness import KindEnvironment, find_tools, unavailable


@pytest.fixture(scope="session")
def e2e(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[KindEnvironment]:
    reason = unavailable()
    if reason:  # test_kind.py skips itself at import; this covers other modules of the tier
        pytest.skip(reason)
    tools = find_tools(build=True)
    assert not isinstance(tools, str)

    reporter = request.config.pluginmanager.get_plugin("terminalreporter")

    def say(line: str) -> None:
        if reporter is not None:
            reporter.write_line(line)
        else:  # pragma: no cover - pytest without its terminal (xdist workers, -p no:terminal)
            print(line, flush=True)

    env = KindEnvironment(tools, tmp_path_factory.mktemp("kind"), say)
    try:
        env.up()
    except BaseException:
        env.dump("the environment did not come up")
        env.down()
        raise
    try:
        yield env
    finally:
        if request.session.testsfailed:
            env.dump(f"{request.session.testsfailed} test(s) failed")
        env.down()
