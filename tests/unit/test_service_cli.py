"""`botgateway serve` refuses bad settings in one line, exit 2, naming the variable or the bot."""

from pathlib import Path

import pytest

from botgateway.cli import build_parser, main

pytestmark = pytest.mark.unit


def test_serve_and_dev_are_registered() -> None:
    args = build_parser().parse_args(
        ["serve", "--host", "127.0.0.1", "--port", "9", "--role", "worker"]
    )
    assert (args.host, args.port, args.role) == ("127.0.0.1", 9, "worker")
    build_parser().parse_args(["dev"])


def test_bad_variable_exits_2_naming_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@127.0.0.1:1/d")
    monkeypatch.setenv("BOTGATEWAY_CONFIG", "/nonexistent.yaml")
    monkeypatch.setenv("WORKER_CONCURRENCY", "lots")
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert "WORKER_CONCURRENCY" in err
    assert "Traceback" not in err


def test_bad_bots_file_exits_2_naming_bot_and_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "bots.yaml"
    config.write_text(
        "bots:\n  - slug: support\n    tokenEnv: NOT_SET_ANYWHERE\n    handler: {type: discard}\n"
    )
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@127.0.0.1:1/d")
    monkeypatch.setenv("BOTGATEWAY_CONFIG", str(config))
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert "'support'" in err
    assert "'tokenEnv'" in err
