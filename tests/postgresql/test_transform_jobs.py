"""tests/services/test_transform_jobs.py with the server's state in PostgreSQL."""

from tests.services.test_transform_jobs import *  # noqa: F403
