"""Real-time endpoints end to end: boto3 → homeport serve → a real model instance."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest
from botocore.exceptions import ClientError

from tests.conftest import csv_rows, deploy, wait_in_service


@pytest.fixture(scope="module")
def endpoint(sm: Any, xgb_model: dict[str, Any]) -> str:
    return deploy(sm, xgb_model["url"])["endpoint"]


def expected(xgb_model: dict[str, Any], x: np.ndarray) -> np.ndarray:
    import xgboost

    return xgb_model["booster"].predict(xgboost.DMatrix(x))


def test_csv_predictions_are_the_models(runtime: Any, endpoint: str, xgb_model: dict[str, Any]) -> None:
    x = xgb_model["x"][:50]
    reply = runtime.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Accept="text/csv", Body=csv_rows(x))
    got = np.array([float(v) for v in reply["Body"].read().decode().split()])
    np.testing.assert_allclose(got, expected(xgb_model, x), rtol=1e-6)
    assert reply["ContentType"].startswith("text/csv")
    assert reply["InvokedProductionVariant"] == "v1"


def test_json_and_jsonlines_replies(runtime: Any, endpoint: str, xgb_model: dict[str, Any]) -> None:
    import json

    x = xgb_model["x"][:3]
    want = expected(xgb_model, x)
    reply = runtime.invoke_endpoint(
        EndpointName=endpoint, ContentType="text/csv", Accept="application/json", Body=csv_rows(x)
    )
    scores = [p["score"] for p in json.loads(reply["Body"].read())["predictions"]]
    np.testing.assert_allclose(scores, want, rtol=1e-6)
    reply = runtime.invoke_endpoint(
        EndpointName=endpoint, ContentType="text/csv", Accept="application/jsonlines", Body=csv_rows(x)
    )
    lines = reply["Body"].read().decode().strip().splitlines()
    np.testing.assert_allclose([json.loads(line)["score"] for line in lines], want, rtol=1e-6)


def test_concurrent_single_rows_each_get_their_own_answer(
    runtime: Any, endpoint: str, xgb_model: dict[str, Any]
) -> None:
    x = xgb_model["x"][:40]
    want = expected(xgb_model, x)
    got: dict[int, float] = {}

    def one(i: int) -> None:
        reply = runtime.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body=csv_rows(x[i : i + 1]))
        got[i] = float(reply["Body"].read())

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(x))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    np.testing.assert_allclose([got[i] for i in range(len(x))], want, rtol=1e-6)


def error_of(call: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as info:
        call()
    return dict(info.value.response)


def test_model_errors_carry_the_original_status(runtime: Any, endpoint: str) -> None:
    wrong_width = error_of(lambda: runtime.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body=b"1,2"))
    assert wrong_width["Error"]["Code"] == "ModelError"
    assert wrong_width["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert wrong_width["OriginalStatusCode"] == 400
    assert wrong_width["OriginalMessage"]
    assert "log-group:/aws/sagemaker/Endpoints/" in wrong_width["LogStreamArn"]
    bad_type = error_of(
        lambda: runtime.invoke_endpoint(EndpointName=endpoint, ContentType="image/png", Body=b"\x89PNG")
    )
    assert bad_type["Error"]["Code"] == "ModelError" and bad_type["OriginalStatusCode"] == 415
    bad_accept = error_of(
        lambda: runtime.invoke_endpoint(
            EndpointName=endpoint, ContentType="text/csv", Accept="application/xml", Body=b"1,2,3,4"
        )
    )
    assert bad_accept["OriginalStatusCode"] == 406
    # CSV rows sent with no ContentType: the algorithm container reads LIBSVM by default, and must refuse them
    # rather than score every row as an empty one.
    untyped = error_of(lambda: runtime.invoke_endpoint(EndpointName=endpoint, Body=b"0.1,0.2,0.3,0.4\n0.5,0.6,0.7,0.8"))
    assert untyped["OriginalStatusCode"] == 400 and "text/csv" in untyped["OriginalMessage"]


def test_runtime_validation_errors(runtime: Any, endpoint: str) -> None:
    missing = error_of(
        lambda: runtime.invoke_endpoint(EndpointName="no-such-endpoint", ContentType="text/csv", Body=b"1")
    )
    assert missing["Error"]["Code"] == "ValidationError"
    assert missing["Error"]["Message"] == "Endpoint no-such-endpoint of account 000000000000 not found."
    variant = error_of(
        lambda: runtime.invoke_endpoint(
            EndpointName=endpoint, ContentType="text/csv", TargetVariant="nope", Body=b"1,2,3,4"
        )
    )
    assert variant["Error"]["Code"] == "ValidationError" and "TargetVariant" in variant["Error"]["Message"]
    big = error_of(
        lambda: runtime.invoke_endpoint(
            EndpointName=endpoint, ContentType="text/csv", Body=b"1" * (6 * 1024 * 1024 + 1)
        )
    )
    assert big["Error"]["Code"] == "ValidationError" and "6 MB" in big["Error"]["Message"]


def test_target_variant_and_weights(sm: Any, runtime: Any, xgb_model: dict[str, Any]) -> None:
    names = deploy(sm, xgb_model["url"], variants=2)
    body = csv_rows(xgb_model["x"][:1])
    for variant in ("v1", "v2"):
        reply = runtime.invoke_endpoint(
            EndpointName=names["endpoint"], ContentType="text/csv", TargetVariant=variant, Body=body
        )
        assert reply["InvokedProductionVariant"] == variant
    sm.update_endpoint_weights_and_capacities(
        EndpointName=names["endpoint"], DesiredWeightsAndCapacities=[{"VariantName": "v1", "DesiredWeight": 0.0}]
    )
    described = wait_in_service(sm, names["endpoint"])
    weights = {v["VariantName"]: v["CurrentWeight"] for v in described["ProductionVariants"]}
    assert weights == {"v1": 0.0, "v2": 1.0}
    seen = {
        runtime.invoke_endpoint(EndpointName=names["endpoint"], ContentType="text/csv", Body=body)[
            "InvokedProductionVariant"
        ]
        for _ in range(20)
    }
    assert seen == {"v2"}
    sm.delete_endpoint(EndpointName=names["endpoint"])


def test_not_in_service_endpoint_is_refused(sm: Any, runtime: Any, tmp_path: Any) -> None:
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"not a tarball")
    names = deploy(sm, junk.as_uri(), wait=False)
    with pytest.raises(Exception):  # noqa: B017 - the waiter stops on Failed
        wait_in_service(sm, names["endpoint"])
    described = sm.describe_endpoint(EndpointName=names["endpoint"])
    assert described["EndpointStatus"] == "Failed"
    assert "not a readable .tar.gz" in described["FailureReason"]
    err = error_of(lambda: runtime.invoke_endpoint(EndpointName=names["endpoint"], ContentType="text/csv", Body=b"1"))
    assert err["Error"]["Code"] == "ValidationError" and "status Failed" in err["Error"]["Message"]
    sm.delete_endpoint(EndpointName=names["endpoint"])
    sm.get_waiter("endpoint_deleted").wait(EndpointName=names["endpoint"], WaiterConfig={"Delay": 0.2})
