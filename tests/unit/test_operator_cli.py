import pytest

from botgateway.cli import build_parser, main
from botgateway.operator.crd import crd_yaml
from botgateway.operator.settings import OperatorSettings

pytestmark = pytest.mark.unit


def test_operator_is_a_botgateway_command() -> None:
    args = build_parser().parse_args(["operator", "-n", "bots", "-n", "more"])
    assert args.namespaces == ["bots", "more"]
    assert not args.all_namespaces


def test_print_crd(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["operator", "--print-crd"]) == 0
    assert capsys.readouterr().out == crd_yaml()


def test_namespaces_are_required(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BOTGATEWAY_NAMESPACES", raising=False)
    assert main(["operator"]) == 2
    assert "--namespace NS" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("variable", "value"), [("BOTGATEWAY_OPERATOR_INTERVAL", "soon"), ("LOG_FORMAT", "yaml")]
)
def test_bad_setting_is_refused_by_name(
    variable: str,
    value: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(variable, value)
    assert main(["operator", "-n", "bots"]) == 2
    assert f"{variable}={value!r} is invalid" in capsys.readouterr().err


def test_settings_from_env() -> None:
    settings = OperatorSettings.from_env(
        {
            "BOTGATEWAY_IMAGE": "r/bg:1",
            "TELEGRAM_API_BASE": "http://127.0.0.1:9",
            "BOTGATEWAY_OPERATOR_INTERVAL": "2m",
        }
    )
    assert settings.default_image == "r/bg:1"
    assert settings.telegram_api_base == "http://127.0.0.1:9"
    assert settings.interval_seconds == 120
    assert OperatorSettings.from_env({}).telegram_api_base == "https://api.telegram.org"
