"""tests/services/test_async_notifications.py with the server's state in PostgreSQL."""

from tests.services.test_async_notifications import *  # noqa: F403
