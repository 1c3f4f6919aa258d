"""tests/integration/test_deployments.py, run against an in-process server."""

from tests.integration.test_deployments import *  # noqa: F403
