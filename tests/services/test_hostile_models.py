"""tests/integration/test_hostile_models.py, run against an in-process server."""

from tests.integration.test_hostile_models import *  # noqa: F403
