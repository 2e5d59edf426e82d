"""The contract between operator and gateway: one handler schema, read by the CRD and the bots
file parser alike, so what the API server accepts the gateway accepts, and the reverse."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from botgateway.contract import (
    BUILTIN,
    BotEntry,
    BotsFile,
    ContractError,
    DiscardConfig,
    ForwardConfig,
    Header,
    PluginConfig,
    SecretKeyRef,
    SecretSource,
    Signing,
    bots_file,
    dump_handler,
    handler_schema,
    parse_handler,
    secrets_of,
)
from botgateway.operator.crd import crd
from botgateway.operator.spec import parse_spec
from tests.support.bots_files import as_read, gateway_reads
from tests.support.crd_model import refusals
from tests.support.handlers import GOOD_HANDLERS, HANDLERS

pytestmark = pytest.mark.unit

CRASH_LOOP = {"type": "forward", "url": "http://backend/hook", "retries": 3}


def bot_schema() -> dict[str, Any]:
    schema = crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema["properties"]["spec"]["properties"]["bots"]  # type: ignore[no-any-return]


def test_the_crd_handler_schema_is_the_contracts() -> None:
    assert bot_schema()["items"]["properties"]["handler"] == handler_schema()


@pytest.mark.parametrize(
    ("handler", "field"),
    [
        (CRASH_LOOP, "handler.retries"),
        ({"type": "forward", "url": "http://b/", "timeoutSecond": 3}, "handler.timeoutSecond"),
        ({"type": "discard", "url": "http://b/"}, "handler.url"),
        ({"type": "telegram-echo", "timeoutSeconds": 3}, "handler.timeoutSeconds"),
        ({"type": "discard", "options": {"a": 1}}, "handler.options"),
        ({"type": "forward"}, "handler.url"),
        ({"type": "forward", "url": "ftp://b/"}, "handler.url"),
        ({"type": "forward", "url": "http://b/", "timeoutSeconds": 301}, "handler.timeoutSeconds"),
        ({"type": "my-plugin", "colour": "blue"}, "handler.colour"),
    ],
)
def test_refused_by_both_naming_the_field(handler: dict[str, Any], field: str) -> None:
    with pytest.raises(ContractError) as refused:
        parse_handler(handler)
    assert refused.value.field == field
    crd_says = refusals(handler_schema(), handler, "handler")
    assert crd_says
    assert all(field in message for message in crd_says), crd_says


def test_plugins_keep_their_options_under_options() -> None:
    handler = {"type": "my-plugin", "options": {"colour": "blue", "n": [1, 2]}}
    assert refusals(handler_schema(), handler) == []
    config = parse_handler(handler)
    assert config == PluginConfig("my-plugin", {"colour": "blue", "n": [1, 2]})
    assert dump_handler(config) == handler


def test_installed_plugins_are_checked_when_known() -> None:
    with pytest.raises(ContractError, match="unknown handler 'nope'; known: discard, forward"):
        parse_handler({"type": "nope"}, plugin_types={"my-plugin"})
    assert parse_handler({"type": "my-plugin"}, plugin_types={"my-plugin"}) == PluginConfig(
        "my-plugin"
    )


def test_every_builtin_type_refuses_an_option_it_lacks() -> None:
    for name in BUILTIN:
        with pytest.raises(ContractError, match=f"not an option of a {name} handler"):
            parse_handler({"type": name, "url": "http://b/", "retries": 1})


def test_dump_leaves_defaults_out_and_round_trips() -> None:
    document = bots_file.dump(
        BotsFile(
            (
                BotEntry("a", SecretSource("file", "/t"), ForwardConfig("http://b/")),
                BotEntry(
                    "b",
                    SecretSource("env", "TOKEN"),
                    DiscardConfig(),
                    webhook_secret=SecretSource("value", "s"),
                    chat_ordering=True,
                ),
            )
        )
    )
    assert document == {
        "bots": [
            {"slug": "a", "tokenFile": "/t", "handler": {"type": "forward", "url": "http://b/"}},
            {
                "slug": "b",
                "tokenEnv": "TOKEN",
                "webhookSecret": "s",
                "chatOrdering": True,
                "handler": {"type": "discard"},
            },
        ]
    }
    assert bots_file.dump(bots_file.parse(document)) == document


# -- property tests: the CRD and the gateway agree -------------------------------------------


def _gateway_accepts(handler: dict[str, Any]) -> bool:
    try:
        parse_handler(handler, form="resource")
    except ContractError:
        return False
    return True


@settings(max_examples=600, deadline=None)
@given(HANDLERS | GOOD_HANDLERS)
@example(CRASH_LOOP)
@example({"type": "forward", "url": "http://x\n"})
def test_crd_and_gateway_accept_the_same_handlers(handler: dict[str, Any]) -> None:
    crd_says = refusals(handler_schema(), handler, "handler")
    assert (crd_says == []) == _gateway_accepts(handler), crd_says


BOTS = st.lists(
    st.fixed_dictionaries(
        {
            "slug": st.from_regex(r"[a-z0-9-]{1,8}", fullmatch=True),
            "tokenSecretRef": st.just({"name": "t", "key": "token"}),
            "handler": HANDLERS | GOOD_HANDLERS,
        },
        optional={
            "webhookSecretRef": st.just({"name": "w", "key": "webhookSecret"}),
            "chatOrdering": st.booleans(),
        },
    ),
    min_size=1,
    max_size=4,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(BOTS)
def test_every_spec_the_crd_accepts_makes_a_bots_file_the_gateway_accepts(
    bots: list[dict[str, Any]],
) -> None:
    if refusals(bot_schema(), bots, "spec.bots"):
        return
    spec = parse_spec("gw", "bots", {"database": {"secretRef": {"name": "db"}}, "bots": bots})
    parsed = gateway_reads(spec)
    assert [b.handler for b in parsed] == [
        as_read(parse_handler(b["handler"], form="resource")) for b in bots
    ]
    assert [b.chat_ordering for b in parsed] == [b.get("chatOrdering", False) for b in bots]


# -- the forward handler's secrets: signing and static headers ------------------------------


def forward(**options: Any) -> dict[str, Any]:
    return {"type": "forward", "url": "http://b/", **options}


AUTH_FROM_SECRET = {
    "name": "Authorization",
    "valueFrom": {"secretKeyRef": {"name": "a", "key": "b"}},
}


@pytest.mark.parametrize(
    ("headers", "field", "problem"),
    [
        ([{"name": "Connection", "value": "close"}], "handler.headers[0].name", "hop-by-hop"),
        ([{"name": "transfer-encoding", "value": "x"}], "handler.headers[0].name", "hop-by-hop"),
        ([{"name": "Host", "value": "x"}], "handler.headers[0].name", "gateway sets"),
        ([{"name": "User-Agent", "value": "x"}], "handler.headers[0].name", "gateway sets"),
        (
            [{"name": "x-botgateway-signature", "value": "v1=forged"}],
            "handler.headers[0].name",
            "X-Botgateway-*",
        ),
        ([{"name": "Bad Name", "value": "x"}], "handler.headers[0].name", "header name"),
        ([{"name": "X-A", "value": "a\r\nX-B: b"}], "handler.headers[0].value", "one line"),
        ([{"name": "X-A"}], "handler.headers[0]", "give a value"),
        ([{**AUTH_FROM_SECRET, "value": "x"}], "handler.headers[0]", "one of value"),
        (
            [AUTH_FROM_SECRET, {"name": "authorization", "value": "x"}],
            "handler.headers",
            "twice",
        ),
    ],
)
def test_a_static_header_the_gateway_owns_or_cannot_send_is_refused_by_both(
    headers: list[dict[str, Any]], field: str, problem: str
) -> None:
    with pytest.raises(ContractError) as refused:
        parse_handler(forward(headers=headers), form="resource")
    assert (refused.value.field, problem in refused.value.problem) == (field, True)
    crd_says = refusals(handler_schema(), forward(headers=headers), "handler")
    assert crd_says
    unindexed = re.sub(r"\[\d+\]", "[]", field)
    assert any(unindexed in message for message in crd_says), crd_says


def test_the_bots_file_names_where_a_signing_key_is_never_the_key() -> None:
    with pytest.raises(ContractError) as inline:
        parse_handler(forward(signing={"secret": "k" * 32}))
    assert inline.value.field == "handler.signing.secret"
    assert "secretFile or secretEnv" in inline.value.problem
    with pytest.raises(ContractError) as ref:
        parse_handler(forward(signing={"secretRef": {"name": "s"}}))
    assert ref.value.field == "handler.signing.secretRef"
    assert parse_handler(forward(signing={"secretEnv": "KEY"})) == ForwardConfig(
        "http://b/", signing=Signing(SecretSource("env", "KEY"))
    )


def test_a_botgateway_names_secrets_by_reference_only() -> None:
    with pytest.raises(ContractError) as from_file:
        parse_handler(forward(signing={"secretFile": "/k"}), form="resource")
    assert from_file.value.field == "handler.signing.secretFile"
    assert refusals(handler_schema(), forward(signing={"secretFile": "/k"}), "handler")
    config = parse_handler(
        forward(
            signing={"secretRef": {"name": "sign"}},
            headers=[AUTH_FROM_SECRET, {"name": "X-Tenant", "value": "acme"}],
        ),
        form="resource",
    )
    assert secrets_of(config) == {
        "handler.signing.secret": SecretKeyRef("sign", "signingKey"),
        "handler.headers[0].value": SecretKeyRef("a", "b"),
    }


def test_signing_and_headers_round_trip_through_the_bots_file() -> None:
    handler = forward(
        signing={"secretFile": "/etc/k"},
        headers=[
            {"name": "Authorization", "valueFile": "/etc/a"},
            {"name": "X-Tenant", "value": "acme"},
            {"name": "X-Key", "valueEnv": "KEY"},
        ],
    )
    config = parse_handler(handler)
    assert isinstance(config, ForwardConfig)
    assert config.headers == (
        Header("Authorization", SecretSource("file", "/etc/a")),
        Header("X-Tenant", SecretSource("value", "acme")),
        Header("X-Key", SecretSource("env", "KEY")),
    )
    assert dump_handler(config) == handler
    with pytest.raises(ValueError, match="has no bots-file form"):
        dump_handler(parse_handler(forward(signing={"secretRef": {"name": "s"}}), form="resource"))
