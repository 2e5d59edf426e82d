"""`botgateway serve` refuses bad settings in one line, exit 2, naming the variable or the bot."""

import argparse
from collections.abc import Iterator
from importlib import metadata
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


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["jobs", "list", "--limit", "-1"], "argument --limit: expected a whole number from 1"),
        (["jobs", "list", "--limit", "ten"], "argument --limit: expected a whole number from 1"),
        (["jobs", "list", "--limit", "0"], "argument --limit: expected a whole number from 1"),
        (["jobs", "retry", "--id", "0"], "argument --id: expected a whole number from 1"),
        (["jobs", "show", "-5"], "argument id: expected a whole number from 1"),
        (["jobs", "show", "x"], "argument id: expected a whole number from 1"),
        (["serve", "--port", "70000"], "argument --port: expected a whole number from 0 to 65535"),
        (["dev", "--port", "-1"], "argument --port: expected a whole number from 0 to 65535"),
    ],
)
def test_bad_arguments_exit_2_with_a_clear_message_before_any_database_call(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    expected: str,
) -> None:
    # a database that is not there: an argument that got through would fail with exit 1
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@127.0.0.1:1/d")
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert expected in err
    assert err.startswith("usage: botgateway")
    assert "Traceback" not in err


def test_version_comes_from_the_installed_package(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == f"botgateway {metadata.version('botgateway')}\n"


def every_argument(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ("botgateway",)
) -> Iterator[tuple[str, argparse.Action]]:
    """Each argument of each (sub)command, named by its command line."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from every_argument(sub, (*path, name))
        elif not isinstance(action, argparse._HelpAction):
            yield " ".join(path), action


def test_every_flag_of_every_command_has_help() -> None:
    arguments = list(every_argument(build_parser()))
    assert len(arguments) > 20  # the walk reached the subcommands
    missing = [
        f"{command} {'/'.join(action.option_strings) or action.dest}"
        for command, action in arguments
        if not action.help
    ]
    assert missing == []
