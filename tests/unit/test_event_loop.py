"""`serve` and `dev` run on uvloop when it is installed, unless BOTGATEWAY_EVENT_LOOP says not."""

import asyncio
import importlib.util

import pytest
import uvloop

from botgateway.cli import main
from botgateway.queue import SettingsError
from botgateway.service.runner import loop_factory, run

pytestmark = pytest.mark.unit


async def running_loop() -> type:
    return type(asyncio.get_running_loop())


def test_uvloop_is_the_default_and_asyncio_turns_it_off() -> None:
    assert run(running_loop, "auto") is uvloop.Loop
    assert run(running_loop, "uvloop") is uvloop.Loop
    assert run(running_loop, "asyncio") is not uvloop.Loop
    assert loop_factory("asyncio") is None


def test_without_uvloop_auto_falls_back_and_uvloop_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name: None if name == "uvloop" else real(name)
    )
    assert loop_factory("auto") is None
    with pytest.raises(SettingsError, match=r"BOTGATEWAY_EVENT_LOOP='uvloop'.*not installed"):
        loop_factory("uvloop")


def test_bad_event_loop_exits_2_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BOTGATEWAY_EVENT_LOOP", "tokio")
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert "BOTGATEWAY_EVENT_LOOP='tokio' is invalid: expected auto or uvloop or asyncio" in err
    assert "Traceback" not in err


def test_commands_other_than_serve_and_dev_ignore_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BOTGATEWAY_EVENT_LOOP", "tokio")
    monkeypatch.setenv("DATABASE_URL", "not a url")
    main(["migrate"])
    assert "BOTGATEWAY_EVENT_LOOP" not in capsys.readouterr().err
