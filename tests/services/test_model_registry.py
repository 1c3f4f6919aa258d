"""tests/integration/test_model_registry.py, run against an in-process server."""

from tests.integration.test_model_registry import *  # noqa: F403

# It starts a server process of its own.
del test_the_approval_gate_deploys_only_approved_versions  # noqa: F821
del test_versions_created_and_approved_are_events_at_the_webhook  # noqa: F821
# It runs the CLI.
del test_homeport_registry_lists_groups_and_a_groups_versions  # noqa: F821
del test_a_transform_jobs_state_changes_are_events_too  # noqa: F821
del test_every_event_is_kept_in_a_log_group_that_homeport_events_reads  # noqa: F821
