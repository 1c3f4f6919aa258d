"""tests/integration/test_s3_models.py, run against an in-process server."""

from tests.integration.test_s3_models import *  # noqa: F403
