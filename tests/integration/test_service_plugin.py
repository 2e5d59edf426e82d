"""A third-party handler found through the `botgateway.handlers` entry-point group.

The plugin is "installed" as a throw-away dist-info directory on sys.path, which is exactly
what importlib.metadata reads for an installed distribution, so nothing is added to the
project's own metadata for a test."""

from pathlib import Path

import aiohttp
import pytest

from botgateway.contract import PluginConfig
from botgateway.service.bots import BotConfig
from botgateway.service.handlers import available_handler_types
from tests.support import plugin_handler
from tests.support.service import TOKEN, count, post, running, settings_for, text_update, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def installed_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dist = tmp_path / "botgateway_test_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: botgateway-test-plugin\nVersion: 1.0\n"
    )
    (dist / "entry_points.txt").write_text(
        "[botgateway.handlers]\n"
        "test-plugin = tests.support.plugin_handler:create\n"
        "forward = tests.support.plugin_handler:create\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    plugin_handler.SEEN.clear()


@pytest.mark.usefixtures("installed_plugin")
async def test_plugin_handler_runs_through_the_worker(database_url: str) -> None:
    assert "test-plugin" in available_handler_types()
    plugin_bot = BotConfig(
        slug="plug",
        token=TOKEN,
        handler=PluginConfig("test-plugin", options={"label": "from-yaml"}),
    )
    async with running(settings_for(database_url, plugin_bot)) as svc:
        async with aiohttp.ClientSession() as http:
            assert (await post(http, f"{svc.url}/webhook/plug", text_update(8, 1))).status == 200
        await wait_until(lambda: count(database_url, "status = 'done'"), message="job done")
    assert plugin_handler.SEEN == [("plug", 8, "from-yaml")]


def test_without_the_plugin_the_type_is_unknown() -> None:
    assert "test-plugin" not in available_handler_types()
