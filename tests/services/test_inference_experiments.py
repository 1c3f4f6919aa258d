"""tests/integration/test_inference_experiments.py, run against an in-process server."""

from tests.integration.test_inference_experiments import *  # noqa: F403
