"""tests/integration/test_monitoring_schedules.py, run against an in-process server."""

from tests.integration.test_monitoring_schedules import *  # noqa: F403

# It stops and starts a server process of its own.
del test_an_execution_under_way_when_the_server_restarts_runs_again_and_ends  # noqa: F821
# It runs the CLI.
del test_homeport_monitor_shows_the_schedules_executions_and_drift_per_feature  # noqa: F821
