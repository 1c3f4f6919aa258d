"""tests/services/test_control_plane.py with the server's state in PostgreSQL."""

from tests.services.test_control_plane import *  # noqa: F403
