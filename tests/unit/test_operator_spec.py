from typing import Any

import pytest

from botgateway.contract import PluginConfig, dump_handler
from botgateway.operator.errors import SpecError
from botgateway.operator.spec import parse_spec, validate_webhook_secret

pytestmark = pytest.mark.unit


def minimal(**overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "database": {"secretRef": {"name": "db"}},
        "bots": [
            {
                "slug": "support",
                "tokenSecretRef": {"name": "support-bot"},
                "handler": {"type": "forward", "url": "http://backend:8000/updates"},
            }
        ],
    }
    spec.update(overrides)
    return spec


def test_minimal_spec_gets_the_crd_defaults() -> None:
    spec = parse_spec("gw", "bots", minimal())

    assert spec.database.name == "db"
    assert spec.database.key == "DATABASE_URL"
    assert spec.bots[0].token.key == "token"
    assert spec.bots[0].webhook_secret is None
    assert spec.generated_secret_slugs == ("support",)
    assert spec.scaling.replicas == 1
    assert not spec.scaling.automatic
    assert spec.webhook.register
    assert spec.webhook.max_connections == 40
    assert spec.janitor.schedule == "*/15 * * * *"
    assert spec.public_base_url is None


def test_ingress_host_makes_the_webhook_url() -> None:
    spec = parse_spec("gw", "bots", minimal(ingress={"host": "bots.example.com"}))
    assert spec.webhook_url("support") == "https://bots.example.com/webhook/support"


def test_public_base_url_wins_over_the_ingress() -> None:
    spec = parse_spec(
        "gw",
        "bots",
        minimal(
            ingress={"host": "bots.example.com"},
            webhook={"publicBaseUrl": "http://127.0.0.1:9000/"},
        ),
    )
    assert spec.webhook_url("a") == "http://127.0.0.1:9000/webhook/a"


def test_automatic_scaling() -> None:
    spec = parse_spec("gw", "bots", minimal(scaling={"minReplicas": 2, "maxReplicas": 6}))
    assert spec.scaling.automatic
    assert (spec.scaling.min_replicas, spec.scaling.max_replicas) == (2, 6)
    assert spec.scaling.pending_jobs_per_replica == 100


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"bots": []}, "at least one bot"),
        ({"database": {}}, "spec.database.secretRef"),
        ({"scaling": {"minReplicas": 5, "maxReplicas": 2}}, r"minReplicas \(5\) must be <="),
        ({"scaling": {"replicas": 2, "maxReplicas": 3}}, "either replicas or"),
        ({"janitor": {"doneRetention": "a week"}}, "spec.janitor.doneRetention"),
        ({"scaling": {"replicas": "2"}}, "whole number"),
    ],
)
def test_bad_specs_name_the_field(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        parse_spec("gw", "bots", minimal(**overrides))


def test_bad_bot_fields() -> None:
    bot = minimal()["bots"][0]
    with pytest.raises(SpecError, match="slug"):
        parse_spec("gw", "bots", minimal(bots=[{**bot, "slug": "Bad_Slug"}]))
    with pytest.raises(SpecError, match="unique"):
        parse_spec("gw", "bots", minimal(bots=[bot, bot]))
    with pytest.raises(SpecError, match=r"spec\.bots\[0\]\.handler\.url: required"):
        parse_spec("gw", "bots", minimal(bots=[{**bot, "handler": {"type": "forward"}}]))
    retries = {"type": "forward", "url": "http://b/", "retries": 3}
    with pytest.raises(SpecError, match=r"spec\.bots\[0\]\.handler\.retries: not an option"):
        parse_spec("gw", "bots", minimal(bots=[{**bot, "handler": retries}]))


def test_handler_keeps_plugin_settings() -> None:
    handler = {"type": "my-plugin", "options": {"colour": "blue"}}
    spec = parse_spec("gw", "bots", minimal(bots=[{**minimal()["bots"][0], "handler": handler}]))
    assert spec.bots[0].handler == PluginConfig("my-plugin", {"colour": "blue"})
    assert dump_handler(spec.bots[0].handler) == handler


@pytest.mark.parametrize("secret", ["", "has space", "x" * 257, "ümlaut"])
def test_webhook_secret_must_suit_telegram(secret: str) -> None:
    with pytest.raises(SpecError, match="A-Z, a-z, 0-9"):
        validate_webhook_secret("a", secret)


def test_webhook_secret_accepts_telegram_alphabet() -> None:
    validate_webhook_secret("a", "Az09_-" * 10)
