"""tests/services/test_cloudwatch.py with the server's state in PostgreSQL."""

from tests.services.test_cloudwatch import *  # noqa: F403
