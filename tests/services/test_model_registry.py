"""tests/integration/test_model_registry.py, run against an in-process server."""

from tests.integration.test_model_registry import *  # noqa: F403
