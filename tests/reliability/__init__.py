"""The reliability proof: real gateway processes under load while workers are SIGKILLed and
PostgreSQL restarts; no update answered 200 may be lost. `make reliability` runs it at length;
tests/integration/test_reliability.py runs a bounded version inside `make test`."""
