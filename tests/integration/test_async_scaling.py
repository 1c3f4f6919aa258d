"""An async endpoint scaled to zero instances, and back up by the first request, against a real `homeport serve`."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from homeport.cli.queue import raw_describe
from tests.conftest import XGBOOST_IMAGE, assert_scores, csv_rows, deploy, wait_in_service
from tests.integration.test_async_inference import deploy_async, result
from tests.integration.test_lifecycle import until


def scale(sm: Any, endpoint: str, count: int) -> None:
    sm.update_endpoint_weights_and_capacities(
        EndpointName=endpoint, DesiredWeightsAndCapacities=[{"VariantName": "v1", "DesiredInstanceCount": count}]
    )


def instances(sm: Any, endpoint: str) -> tuple[int, int]:
    """(current, desired) instance counts of the endpoint's variant."""
    (variant,) = sm.describe_endpoint(EndpointName=endpoint)["ProductionVariants"]
    return variant["CurrentInstanceCount"], variant["DesiredInstanceCount"]


def test_a_request_to_an_endpoint_at_zero_instances_starts_one(
    sm: Any, runtime: Any, s3: Any, bucket: str, xgb_model: dict[str, Any]
) -> None:
    endpoint = deploy_async(sm, xgb_model["url"], bucket, image=XGBOOST_IMAGE)
    scale(sm, endpoint, 0)
    wait_in_service(sm, endpoint)
    assert instances(sm, endpoint) == (0, 0)
    queue = raw_describe(sm, endpoint)["HomeportAsyncQueue"]
    assert queue["ApproximateBacklogSize"] == 0 and queue["HasBacklogWithoutCapacity"] == 0

    x = xgb_model["x"][:10]
    s3.put_object(Bucket=bucket, Key="zero/rows.csv", Body=csv_rows(x))
    replies = [
        runtime.invoke_endpoint_async(
            EndpointName=endpoint, InputLocation=f"s3://{bucket}/zero/rows.csv", ContentType="text/csv"
        )
        for _ in range(3)
    ]
    for reply in replies:
        kind, body = result(s3, reply)
        assert kind == "output"
        assert_scores(body, xgb_model, x)
    until(lambda: instances(sm, endpoint) == (1, 1))  # one instance for all three, as a scaling policy would
    assert sm.describe_endpoint(EndpointName=endpoint)["EndpointStatus"] == "InService"

    # Back to zero, and up again: the same path every time.
    scale(sm, endpoint, 0)
    wait_in_service(sm, endpoint)
    until(lambda: instances(sm, endpoint) == (0, 0))
    again = runtime.invoke_endpoint_async(
        EndpointName=endpoint, InputLocation=f"s3://{bucket}/zero/rows.csv", ContentType="text/csv"
    )
    assert result(s3, again)[0] == "output"


def test_only_async_endpoints_scale_to_zero(sm: Any, xgb_model: dict[str, Any]) -> None:
    endpoint = deploy(sm, xgb_model["url"])["endpoint"]
    with pytest.raises(ClientError) as err:
        scale(sm, endpoint, 0)
    assert err.value.response["Error"]["Code"] == "ValidationException"
    assert "only asynchronous endpoints can scale to zero" in err.value.response["Error"]["Message"]
    assert sm.describe_endpoint(EndpointName=endpoint)["EndpointStatus"] == "InService"
    assert instances(sm, endpoint) == (1, 1)
