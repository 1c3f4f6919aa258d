"""tests/integration/test_user_code.py, run against an in-process server."""

from tests.integration.test_user_code import *  # noqa: F403
