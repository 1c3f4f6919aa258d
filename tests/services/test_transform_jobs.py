"""tests/integration/test_transform_jobs.py, against an in-process server: all but the tests whose probe model
reads its own process environment (in-process, every instance shares the server's) or whose instance is killed."""

from tests.integration.test_transform_jobs import (  # noqa: F401
    test_a_malformed_binary_record_fails_its_file_at_its_offset,
    test_a_model_that_cannot_start_fails_the_job,
    test_a_record_over_the_payload_limit_fails_its_file_and_the_others_complete,
    test_an_output_bucket_that_does_not_exist_fails_the_job_before_any_work,
    test_bad_requests_get_the_errors_sagemaker_clients_expect,
    test_csv_input_filter_join_and_output_filter,
    test_gzip_input_is_decompressed_and_split,
    test_list_filters_sorts_and_pages,
    test_manifest_file_lists_the_inputs,
    test_model_error_fails_the_file_with_the_models_message,
    test_no_input_objects_fails_the_job,
    test_single_record_sends_one_record_per_request,
    test_split_none_object_over_the_payload_limit_fails,
    test_stop_ends_the_job_within_seconds_and_leaves_no_partial_output,
    test_tags_given_at_create_are_listed_and_can_change,
    test_xgboost_predictions_match_in_order_for_several_files,
)
