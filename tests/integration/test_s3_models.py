"""Models deployed from s3:// URIs (or the https:// URLs of S3 objects) in the embedded store, uploaded through
the S3 face."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from botocore.exceptions import ClientError, WaiterError

from tests.conftest import ROLE, XGBOOST_IMAGE, csv_rows, deploy, unique


@pytest.mark.parametrize("style", ["s3", "https"])
def test_deploy_from_s3_uri(sm: Any, runtime: Any, s3: Any, bucket: str, xgb_model: dict[str, Any], style: str) -> None:
    s3.upload_file(str(xgb_model["path"]), bucket, "models/abalone/model.tar.gz")
    url = {
        "s3": f"s3://{bucket}/models/abalone/model.tar.gz",
        "https": f"https://{bucket}.s3.us-east-1.amazonaws.com/models/abalone/model.tar.gz",  # the same object
    }[style]
    names = deploy(sm, url)
    x = xgb_model["x"][:5]
    reply = runtime.invoke_endpoint(EndpointName=names["endpoint"], ContentType="text/csv", Body=csv_rows(x))
    got = np.array([float(v) for v in reply["Body"].read().decode().split("\n")])
    want = xgb_model["booster"].inplace_predict(x)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    sm.delete_endpoint(EndpointName=names["endpoint"])


@pytest.mark.parametrize("missing", ["bucket", "key"])
def test_missing_s3_model_data_is_refused_at_create_model(sm: Any, bucket: str, missing: str) -> None:
    url = f"s3://{unique('absent')}/model.tar.gz" if missing == "bucket" else f"s3://{bucket}/absent/model.tar.gz"
    with pytest.raises(ClientError) as raised:
        sm.create_model(
            ModelName=unique("model"),
            PrimaryContainer={"Image": XGBOOST_IMAGE, "ModelDataUrl": url},
            ExecutionRoleArn=ROLE,
        )
    error = raised.value.response["Error"]
    assert error["Code"] == "ValidationException"
    assert url in error["Message"] and ("no bucket" in error["Message"] or "no object" in error["Message"])


def test_model_data_deleted_before_the_endpoint_fails_it_with_the_reason(
    sm: Any, s3: Any, bucket: str, xgb_model: dict[str, Any]
) -> None:
    url = f"s3://{bucket}/gone.tar.gz"
    s3.upload_file(str(xgb_model["path"]), bucket, "gone.tar.gz")
    model = unique("model")
    sm.create_model(
        ModelName=model, PrimaryContainer={"Image": XGBOOST_IMAGE, "ModelDataUrl": url}, ExecutionRoleArn=ROLE
    )
    s3.delete_object(Bucket=bucket, Key="gone.tar.gz")
    config = unique("config")
    sm.create_endpoint_config(
        EndpointConfigName=config,
        ProductionVariants=[
            {"VariantName": "v", "ModelName": model, "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}
        ],
    )
    endpoint = unique("endpoint")
    sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=config)
    with pytest.raises(WaiterError):  # the waiter gives up on Failed
        sm.get_waiter("endpoint_in_service").wait(
            EndpointName=endpoint, WaiterConfig={"Delay": 0.2, "MaxAttempts": 300}
        )
    described = sm.describe_endpoint(EndpointName=endpoint)
    assert described["EndpointStatus"] == "Failed"
    assert url in described["FailureReason"] and "no object" in described["FailureReason"]
