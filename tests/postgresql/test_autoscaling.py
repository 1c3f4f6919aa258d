"""tests/services/test_autoscaling.py with the server's state in PostgreSQL."""

from tests.services.test_autoscaling import *  # noqa: F403
