"""tests/integration/test_serverless.py, run against an in-process server."""

from tests.integration.test_serverless import *  # noqa: F403

# Its model sleeps as its process environment says, and instances in-process share this process's environment.
del test_a_request_past_max_concurrency_is_throttled_at_once  # noqa: F821
# Its limit is the instance process's own (RLIMIT_DATA): an instance in-process would limit the test run.
del test_memory_size_is_enforced_and_named  # noqa: F821
# It stops and starts a server process of its own.
del test_a_serverless_endpoint_comes_back_after_a_restart  # noqa: F821
