"""tests/integration/test_autoscaling.py, against an in-process server: the API's round trips and refusals. The
tests that wait for scaling to act stay in the integration tier only."""

from tests.integration.test_autoscaling import (  # noqa: F401
    clients,
    test_targets_policies_and_schedules_round_trip_and_refuse_bad_input,
)
