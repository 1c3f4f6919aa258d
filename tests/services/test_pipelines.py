"""tests/integration/test_pipelines.py, run against an in-process server."""

from tests.integration.test_pipelines import *  # noqa: F403
