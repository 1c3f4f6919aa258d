"""tests/services/test_logs.py with the server's state in PostgreSQL."""

from tests.services.test_logs import *  # noqa: F403
