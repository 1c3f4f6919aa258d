"""tests/integration/test_identity.py against an in-process server."""

from tests.integration.test_identity import (  # noqa: F401
    test_get_caller_identity_names_the_signing_key,
    test_what_homeport_does_not_have_is_refused_in_xml,
)
