"""tests/integration/test_batch_capture.py, run against an in-process server."""

from tests.integration.test_batch_capture import *  # noqa: F403

# It runs the CLI.
del test_homeport_monitor_takes_a_schedule_name  # noqa: F821
