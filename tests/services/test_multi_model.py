"""tests/integration/test_multi_model.py, run against an in-process server."""

from tests.integration.test_multi_model import *  # noqa: F403
