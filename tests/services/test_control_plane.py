"""The control plane's tests (tests/integration/test_control_plane.py), run against an in-process server."""

from tests.integration.test_control_plane import *  # noqa: F403
