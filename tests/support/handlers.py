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
OPTIONS = st.dictionaries(
    st.sampled_from(["url", "timeoutSeconds", "options", "retries", "timeoutSecond"]),
    VALUES,
    max_size=3,
)
HANDLERS = st.builds(lambda kind, options: {"type": kind, **options}, TYPES, OPTIONS)
VALID_URL = st.sampled_from(["http://backend:8000/updates", "https://b.example/x"])
GOOD_HANDLERS = (
    st.builds(lambda u, t: {"type": "forward", "url": u, **t}, VALID_URL,
              st.just({}) | st.builds(lambda s: {"timeoutSeconds": s}, st.integers(1, 300)))
    | st.sampled_from([{"type": "discard"}, {"type": "telegram-echo"}])
    | st.builds(lambda o: {"type": "my-plugin", "options": o},
                st.dictionaries(st.text(max_size=3), st.integers(-1000, 1000), max_size=2))
)  # fmt: skip
