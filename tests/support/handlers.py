"""Hypothesis strategies for `handler:` mappings: the odd and the wrong (unknown options, typos,
options on the wrong type, bad values) as well as the good, for the contract's property tests."""

from hypothesis import strategies as st

from botgateway.contract import BUILTIN

TYPES = st.sampled_from([*BUILTIN, "my-plugin"]) | st.text(max_size=3)
URLS = st.sampled_from(
    ["http://backend:8000/u", "https://x.example/a?b#c", "http://[::1]:80/", "ftp://x", "http://",
     "http://a b", "https://u@h/", "http://x\n"]
) | st.text(max_size=12)  # fmt: skip
VALUES = (
    URLS
    | st.booleans()
    | st.integers(-5, 400)
    | st.floats(-1, 400, allow_nan=False, allow_infinity=False)
    | st.dictionaries(st.text(max_size=3), st.integers(-1000, 1000), max_size=2)
    | st.lists(st.integers(-1000, 1000), max_size=2)
)
HEADER_NAMES = st.sampled_from(
    ["Authorization", "authorization", "X-Tenant", "Connection", "host", "User-Agent",
     "X-Botgateway-Signature", "x-botgateway-bot", "Bad Name", "", "a"]
)  # fmt: skip
HEADER_VALUES = st.sampled_from(["Bearer t", "", "a\nb", "x\r", "ok"]) | st.integers(0, 2)
SECRET_REFS = st.sampled_from([{"name": "s", "key": "k"}, {"name": "s"}, {}, {"key": "k"}, "s"])
HEADERS = st.lists(
    st.fixed_dictionaries(
        {"name": HEADER_NAMES},
        optional={
            "value": HEADER_VALUES,
            "valueFrom": st.builds(lambda ref: {"secretKeyRef": ref}, SECRET_REFS) | VALUES,
            "valueFile": st.just("/x"),
        },
    ),
    max_size=3,
)
"""`headers` in a BotGateway's form, with the mistakes a person makes."""
SIGNINGS = st.builds(lambda ref: {"secretRef": ref}, SECRET_REFS) | st.sampled_from(
    [{}, {"secretFile": "/k"}, {"secretRef": {"name": "s"}, "secretEnv": "K"}, "k"]
)
"""`signing` in a BotGateway's form, with the mistakes a person makes."""
OPTIONS = st.dictionaries(
    st.sampled_from(["url", "timeoutSeconds", "options", "retries", "timeoutSecond"]),
    VALUES,
    max_size=3,
) | st.fixed_dictionaries(
    {"url": st.just("http://b/")}, optional={"signing": SIGNINGS, "headers": HEADERS | VALUES}
)
HANDLERS = st.builds(lambda kind, options: {"type": kind, **options}, TYPES, OPTIONS)
VALID_URL = st.sampled_from(["http://backend:8000/updates", "https://b.example/x"])
GOOD_SECRET_OPTIONS = st.fixed_dictionaries(
    {},
    optional={
        "signing": st.just({"secretRef": {"name": "sign"}}),
        "headers": st.just(
            [{"name": "Authorization", "valueFrom": {"secretKeyRef": {"name": "a", "key": "b"}}},
             {"name": "X-Tenant", "value": "acme"}]
        ),
    },
)  # fmt: skip
GOOD_HANDLERS = (
    st.builds(lambda u, t, o: {"type": "forward", "url": u, **t, **o}, VALID_URL,
              st.just({}) | st.builds(lambda s: {"timeoutSeconds": s}, st.integers(1, 300)),
              GOOD_SECRET_OPTIONS)
    | st.sampled_from([{"type": "discard"}, {"type": "telegram-echo"}])
    | st.builds(lambda o: {"type": "my-plugin", "options": o},
                st.dictionaries(st.text(max_size=3), st.integers(-1000, 1000), max_size=2))
)  # fmt: skip
