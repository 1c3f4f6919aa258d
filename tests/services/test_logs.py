"""tests/integration/test_logs.py against an in-process server: the Logs API's own tests. Those that read what
instances print stay in the integration tier (an in-process instance's output is the test process's own)."""

from tests.integration.test_logs import (  # noqa: F401
    group,
    logs,
    test_bad_reads_get_the_logs_error,
    test_filter_log_events_interleaves_streams_filters_and_pages,
    test_get_log_events_pages_forward_and_back,
    test_group_pages_retention_removal_and_reading_back_to_the_start,
    test_groups_and_streams_are_listed_in_pages,
    test_put_log_events_rejects_what_cloudwatch_rejects,
)
