"""tests/integration/test_frameworks.py, run against an in-process server."""

from tests.integration.test_frameworks import *  # noqa: F403
