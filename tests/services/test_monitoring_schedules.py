"""tests/integration/test_monitoring_schedules.py, run against an in-process server."""

from tests.integration.test_monitoring_schedules import *  # noqa: F403

# It stops and starts a server process of its own.
del test_an_execution_under_way_when_the_server_restarts_runs_again_and_ends  # noqa: F821
