"""tests/integration/test_s3.py, against an in-process server: all but the tests of the raw wire (a key with
`../` in its path, which httpx normalises away from what botocore signed, and aws-chunked uploads)."""

from tests.integration.test_s3 import (  # noqa: F401
    filled,
    test_bad_bucket_names_are_refused,
    test_bucket_lifecycle,
    test_conditional_get,
    test_conditional_writes,
    test_content_md5_is_checked,
    test_copy_object,
    test_delete_objects,
    test_empty_object,
    test_key_too_long,
    test_list_all_in_utf8_order,
    test_list_objects_v1_pages_with_markers,
    test_list_with_delimiter_and_prefix,
    test_multipart_refusals,
    test_multipart_upload,
    test_overwrite_replaces_whole,
    test_paginating_gives_everything_once,
    test_put_get_head_delete,
    test_put_into_missing_bucket,
    test_ranges,
    test_small_and_large_objects_replace_each_other,
    test_start_after_and_bad_token,
    test_unsatisfiable_range,
    test_upload_and_download_file,
)
