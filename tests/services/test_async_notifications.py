"""tests/integration/test_async_notifications.py, run against an in-process server."""

from tests.integration.test_async_notifications import *  # noqa: F403
