"""The documentation's reference sections, generated from the code so they cannot drift from it.

Each section is derived, not listed by hand: the BotGateway fields are walked from the CRD's
OpenAPI schema (`operator/crd.py`, which also feeds `kubectl explain`); the environment variables
are what each settings class actually reads (every `from_env` runs against a recording mapping)
plus what the commands read straight from `os.environ` (found in the source); the bots-file
fields are the parser's own field sets, with defaults recorded while it parses a sample bot and
required fields found by leaving each one out; the metrics are collected from a live registry.
Only one-line descriptions are kept here, and a variable or field read by the code without a
description, or a description of something no longer read, is an error.

    python -m botgateway.reference --write docs   # `make docs`: rewrite the blocks
    python -m botgateway.reference --check docs   # exit 1 when a page is stale

The pages under `docs/` hold each section, once, between `<!-- generated: NAME -->` and
`<!-- end generated -->`; which page holds which block is the pages' choice.
"""
