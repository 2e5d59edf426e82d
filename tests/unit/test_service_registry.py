"""Handler registry: built-ins, plugins from the `botgateway.handlers` entry-point group."""

from pathlib import Path

import aiohttp
import pytest

from botgateway.service.bots import BotConfig
from botgateway.service.errors import ConfigError
from botgateway.service.handlers import (
    HandlerContext,
    available_handler_types,
    build_handler,
    load_factory,
    registry,
)
from botgateway.service.handlers.registry import BUILTINS
from botgateway.telegram import TelegramClient
from tests.support.service import handler_config

pytestmark = pytest.mark.unit


@pytest.fixture
def plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dist = tmp_path / "bg_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: bg-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[botgateway.handlers]\n"
        "test-plugin = tests.support.plugin_handler:create\n"
        "picky = tests.support.plugin_handler:refuse\n"
        "discard = tests.support.plugin_handler:create\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))


def context(kind: str, session: aiohttp.ClientSession) -> HandlerContext:
    bot = BotConfig("b", "1:A", handler=handler_config(kind))
    return HandlerContext(bot, session, TelegramClient(session, "http://127.0.0.1:9", "1:A"))


def test_builtins() -> None:
    assert {"forward", "telegram-echo", "discard"} <= available_handler_types()


@pytest.mark.usefixtures("plugins")
def test_plugins_are_found_and_cannot_replace_builtins() -> None:
    assert {"test-plugin", "picky"} <= available_handler_types()
    from tests.support import plugin_handler

    assert load_factory("test-plugin") is plugin_handler.create
    assert load_factory("discard") is BUILTINS["discard"]


@pytest.mark.usefixtures("plugins")
async def test_a_plugin_refusing_its_settings_is_a_config_error() -> None:
    async with aiohttp.ClientSession() as session:
        with pytest.raises(ConfigError, match=r"bot 'b': field 'handler'.*label is required"):
            build_handler(context("picky", session))


async def test_unknown_type_is_a_config_error() -> None:
    async with aiohttp.ClientSession() as session:
        with pytest.raises(ConfigError, match=r"handler\.type"):
            build_handler(context("nobody", session))


async def test_a_key_error_inside_a_plugin_is_its_settings_not_an_unknown_type(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def picky(context: object) -> object:
        raise KeyError("label")

    monkeypatch.setattr(registry, "load_factory", lambda kind: picky)
    async with aiohttp.ClientSession() as session:
        with pytest.raises(ConfigError, match=r"field 'handler': the 'picky' handler refused"):
            build_handler(context("picky", session))
