"""The bots file: valid shapes load; every mistake names the bot and the field."""

from pathlib import Path

import pytest

from botgateway.contract import ForwardConfig, Header, PluginConfig, SecretSource, Signing
from botgateway.service.bots import BotConfig, load_bots, parse_bots
from botgateway.service.errors import ConfigError

pytestmark = pytest.mark.unit

KNOWN = frozenset({"forward", "telegram-echo", "discard", "my-plugin"})


def one(bot: dict[str, object], env: dict[str, str] | None = None) -> BotConfig:
    [parsed] = parse_bots({"bots": [bot]}, env or {}, handler_types=KNOWN)
    return parsed


def base(**changes: object) -> dict[str, object]:
    bot: dict[str, object] = {"slug": "support", "token": "123:ABC", "handler": {"type": "discard"}}
    bot.update(changes)
    return {k: v for k, v in bot.items() if v is not None}


def refused(bot: dict[str, object], env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        one(bot, env)
    return str(info.value)


def test_the_design_example_loads(tmp_path: Path) -> None:
    path = tmp_path / "bots.yaml"
    path.write_text(
        """
bots:
  - slug: support                 # [a-z0-9-], 1..63
    token: "123:ABC"
    webhookSecret: "s3cret"
    chatOrdering: false
    handler:
      type: forward
      url: http://backend:8000/updates
      timeoutSeconds: 10
"""
    )
    [bot] = load_bots(path, {}, handler_types=KNOWN)
    assert bot.slug == "support"
    assert bot.token == "123:ABC"
    assert bot.webhook_secret == "s3cret"
    assert bot.chat_ordering is False
    assert bot.handler == ForwardConfig(url="http://backend:8000/updates", timeout_seconds=10.0)


def test_token_and_secret_from_files_relative_to_the_bots_file(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("555:FROMFILE\n")
    (tmp_path / "secret").write_text("file-secret\n")
    path = tmp_path / "bots.yaml"
    path.write_text(
        "bots:\n  - slug: a\n    tokenFile: token\n    webhookSecretFile: "
        f"{tmp_path / 'secret'}\n    handler: {{type: discard}}\n"
    )
    [bot] = load_bots(path, {})
    assert (bot.token, bot.webhook_secret) == ("555:FROMFILE", "file-secret")


def test_token_and_secret_from_environment() -> None:
    bot = one(
        base(token=None, tokenEnv="BOT_TOKEN", webhookSecretEnv="HOOK"),
        {"BOT_TOKEN": "9:ENV", "HOOK": "env-secret"},
    )
    assert (bot.token, bot.webhook_secret) == ("9:ENV", "env-secret")


def test_tokens_and_secrets_stay_out_of_repr() -> None:
    bot = one(base(webhookSecret="hidden-secret"))
    assert "123:ABC" not in repr(bot)
    assert "hidden-secret" not in repr(bot)


def test_chat_ordering_and_plugin_options() -> None:
    bot = one(base(chatOrdering=True, handler={"type": "my-plugin", "options": {"level": 3}}))
    assert bot.chat_ordering is True
    assert bot.handler == PluginConfig("my-plugin", {"level": 3})


@pytest.mark.parametrize(
    ("bot", "env", "field"),
    [
        (base(slug=None), {}, "'slug'"),
        (base(slug="Support"), {}, "'slug'"),
        (base(slug="x" * 64), {}, "'slug'"),
        (base(token=None), {}, "'token'"),
        (base(tokenEnv="T"), {"T": "1:A"}, "'tokenEnv'"),
        (base(token=None, tokenEnv="MISSING"), {}, "'tokenEnv'"),
        (base(token=None, tokenFile="/does/not/exist"), {}, "'tokenFile'"),
        (base(token="not a token"), {}, "'token'"),
        (base(webhookSecret="has space"), {}, "'webhookSecret'"),
        (base(webhookSecret=None, webhookSecretEnv="NOPE"), {}, "'webhookSecretEnv'"),
        (base(chatOrdering="yes"), {}, "'chatOrdering'"),
        (base(handler=None), {}, "'handler'"),
        (base(handler="forward"), {}, "'handler'"),
        (base(handler={"url": "http://x"}), {}, "'handler.type'"),
        (base(handler={"type": "nope"}), {}, "'handler.type'"),
        (base(handler={"type": "forward"}), {}, "'handler.url'"),
        (base(handler={"type": "forward", "url": "ftp://x"}), {}, "'handler.url'"),
        (
            base(handler={"type": "forward", "url": "http://x", "timeoutSeconds": 0}),
            {},
            "'handler.timeoutSeconds'",
        ),
        (
            base(handler={"type": "forward", "url": "http://x", "timeoutSeconds": "10"}),
            {},
            "'handler.timeoutSeconds'",
        ),
        (
            base(handler={"type": "forward", "url": "http://x", "retries": 3}),
            {},
            "'handler.retries'",
        ),
        (
            base(handler={"type": "forward", "url": "http://x", "timeoutSecond": 3}),
            {},
            "'handler.timeoutSecond'",
        ),
        (base(handler={"type": "discard", "url": "http://x"}), {}, "'handler.url'"),
        (base(handler={"type": "telegram-echo", "retries": 3}), {}, "'handler.retries'"),
        (base(handler={"type": "discard", "options": {}}), {}, "'handler.options'"),
        (base(handler={"type": "my-plugin", "level": 3}), {}, "'handler.level'"),
        (base(handler={"type": "my-plugin", "options": [1]}), {}, "'handler.options'"),
        (base(tokn="1:A"), {}, "'tokn'"),
    ],
)
def test_mistakes_name_the_bot_and_the_field(
    bot: dict[str, object], env: dict[str, str], field: str
) -> None:
    message = refused(bot, env)
    assert "bots[0]" in message
    assert f"field {field}" in message
    if bot.get("slug") == "support":
        assert "'support'" in message


def test_duplicate_slugs_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"bots\[1\].*duplicate slug"):
        parse_bots({"bots": [base(), base()]}, {})


@pytest.mark.parametrize("document", [None, [], {"bots": []}, {"bots": "x"}, {"bot": []}])
def test_the_top_level_shape_is_checked(document: object) -> None:
    with pytest.raises(ConfigError):
        parse_bots(document, {})


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bots.yaml"
    path.write_text("bots:\n  - slug: a\n   token: [\n")
    with pytest.raises(ConfigError, match=r"bots.yaml: not valid YAML \(line \d+"):
        load_bots(path, {})


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"missing\.yaml: cannot read"):
        load_bots(tmp_path / "missing.yaml", {})


def test_token_value_is_never_in_an_error_message() -> None:
    message = refused(base(token="123:ABC", tokenEnv="T"), {"T": "456:SECRETVALUE"})
    assert "SECRETVALUE" not in message
    assert "123:ABC" not in message


def forward_with(**options: object) -> dict[str, object]:
    return base(handler={"type": "forward", "url": "http://b/", **options})


CURRENT_KEY = "c" * 32
PREVIOUS_KEY = "p" * 64


def test_signing_keys_and_header_secrets_are_read_where_the_bots_file_says(
    tmp_path: Path,
) -> None:
    (tmp_path / "signing").write_text(f"{CURRENT_KEY}\n{PREVIOUS_KEY}\n")
    path = tmp_path / "bots.yaml"
    path.write_text(
        """
bots:
  - slug: support
    token: "123:ABC"
    handler:
      type: forward
      url: http://backend:8000/updates
      signing: {secretFile: signing}
      headers:
        - {name: Authorization, valueEnv: BACKEND_AUTHORIZATION}
        - {name: X-Tenant, value: acme}
"""
    )
    [bot] = load_bots(path, {"BACKEND_AUTHORIZATION": "Bearer t0ken"})
    assert isinstance(bot.handler, ForwardConfig)
    assert bot.handler.signing == Signing(SecretSource("value", f"{CURRENT_KEY}\n{PREVIOUS_KEY}"))
    assert bot.handler.headers == (
        Header("Authorization", SecretSource("value", "Bearer t0ken")),
        Header("X-Tenant", SecretSource("value", "acme")),
    )
    assert CURRENT_KEY not in repr(bot)
    assert "t0ken" not in repr(bot)


@pytest.mark.parametrize(
    ("options", "env", "field", "problem"),
    [
        ({"signing": {"secretEnv": "KEY"}}, {}, "handler.signing.secretEnv", "not set"),
        (
            {"signing": {"secretEnv": "KEY"}},
            {"KEY": "short-SECRETVALUE"},
            "handler.signing.secretEnv",
            "32 to 256",
        ),
        (
            {"signing": {"secretEnv": "KEY"}},
            {"KEY": " ".join(["k" * 32 + "SECRETVALUE"] * 5)},
            "handler.signing.secretEnv",
            "1 to 4 keys",
        ),
        (
            {"signing": {"secret": CURRENT_KEY}},
            {},
            "handler.signing.secret",
            "secretFile or secretEnv",
        ),
        (
            {"headers": [{"name": "Authorization", "valueEnv": "AUTH"}]},
            {"AUTH": "Bearer SECRETVALUE\nX-Injected: 1"},
            "handler.headers[0].valueEnv",
            "one line",
        ),
        (
            {"headers": [{"name": "Connection", "value": "close"}]},
            {},
            "handler.headers[0].name",
            "hop-by-hop",
        ),
    ],
)
def test_a_bad_handler_secret_names_the_field_never_the_value(
    options: dict[str, object], env: dict[str, str], field: str, problem: str
) -> None:
    message = refused(forward_with(**options), env)
    assert f"bot 'support' (bots[0]): field '{field}'" in message
    assert problem in message
    assert "SECRETVALUE" not in message
    assert CURRENT_KEY not in message
