"""tests/integration/test_cloudwatch.py, against an in-process server: the tests that finish in a second or two.
Those that wait out metric periods, or send the CBOR and query protocols through clients of their own, stay in
the integration tier only."""

from tests.integration.test_cloudwatch import (  # noqa: F401
    test_a_refused_put_writes_nothing,
    test_alarm_tags_are_set_at_creation_and_by_tag_resource,
    test_bad_alarms_are_refused_and_a_failed_delete_deletes_nothing,
    test_bad_metric_requests_get_the_cloudwatch_error,
    test_large_put_metric_data_arrives_gzipped_and_whole,
    test_metric_math_in_get_metric_data_and_in_an_alarm,
    test_pages_of_metric_data_alarms_and_history,
    test_user_metric_statistics_percentiles_and_listing,
)
