"""tests/integration/test_shadow_variants.py, run against an in-process server."""

from tests.integration.test_shadow_variants import *  # noqa: F403
