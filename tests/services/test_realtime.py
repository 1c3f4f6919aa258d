"""tests/integration/test_realtime.py, run against an in-process server."""

from tests.integration.test_realtime import *  # noqa: F403
