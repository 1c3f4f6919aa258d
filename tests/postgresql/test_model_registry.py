"""tests/services/test_model_registry.py with the server's state in PostgreSQL."""

from tests.services.test_model_registry import *  # noqa: F403
