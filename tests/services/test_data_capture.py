"""tests/integration/test_data_capture.py, run against an in-process server."""

from tests.integration.test_data_capture import *  # noqa: F403

# It stops and starts a server process of its own.
del test_nothing_captured_is_lost_on_a_graceful_stop  # noqa: F821
