"""tests/integration/test_async_scaling.py, run against an in-process server."""

from tests.integration.test_async_scaling import *  # noqa: F403
