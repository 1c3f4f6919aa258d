"""Inference experiments (shadow tests) with boto3 against a real server: one runs a shadow variant beside the
production variant, its sampling changes while it runs, and it ends with the shadow promoted; the Schedule starts
and ends one; and SageMaker's refusals, each with its error code."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from homeport.server.process import ServerProcess
from tests.conftest import ROLE, XGBOOST_IMAGE, boto_client, csv_rows, deploy, unique
from tests.integration.test_deployments import new_config

INFRA = {
    "InfrastructureType": "RealTimeInference",
    "RealTimeInferenceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
}


@pytest.fixture(scope="module")
def sm(fast: ServerProcess) -> Any:
    return boto_client("sagemaker", fast.url)


@pytest.fixture(scope="module")
def runtime(fast: ServerProcess) -> Any:
    return boto_client("sagemaker-runtime", fast.url)


def model(sm: Any, url: str) -> str:
    name = unique("model")
    sm.create_model(
        ModelName=name, PrimaryContainer={"Image": XGBOOST_IMAGE, "ModelDataUrl": url}, ExecutionRoleArn=ROLE
    )
    return name


def experiment_params(endpoint: str, production: str, shadow: str, sampling: int = 100, **extra: Any) -> dict[str, Any]:
    return {
        "Name": unique("experiment"),
        "Type": "ShadowMode",
        "RoleArn": ROLE,
        "EndpointName": endpoint,
        "ModelVariants": [
            {"ModelName": production, "VariantName": "v1", "InfrastructureConfig": INFRA},
            {"ModelName": shadow, "VariantName": "shadow", "InfrastructureConfig": INFRA},
        ],
        "ShadowModeConfig": {
            "SourceModelVariantName": "v1",
            "ShadowModelVariants": [{"ShadowModelVariantName": "shadow", "SamplingPercentage": sampling}],
        },
        **extra,
    }


def until(what: Callable[[], Any], done: Callable[[Any], bool], limit_s: float = 60) -> Any:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        value = what()
        if done(value):
            return value
        time.sleep(0.2)
    raise AssertionError(f"not there after {limit_s:g} s: {value}")


def status_of(sm: Any, name: str) -> Callable[[], dict[str, Any]]:
    return lambda: sm.describe_inference_experiment(Name=name)


def test_a_shadow_test_runs_beside_production_and_its_winner_is_promoted(
    sm: Any, runtime: Any, fast: ServerProcess, xgb_model: dict[str, Any]
) -> None:
    names = deploy(sm, xgb_model["url"])
    endpoint, body = names["endpoint"], csv_rows(xgb_model["x"][:1])
    challenger = model(sm, xgb_model["url"])
    params = experiment_params(endpoint, names["model"], challenger, sampling=50, Description="try the challenger")
    arn = sm.create_inference_experiment(**params)["InferenceExperimentArn"]
    name = params["Name"]
    assert arn.endswith(f":inference-experiment/{name}")
    running = until(status_of(sm, name), lambda d: d["Status"] == "Running")
    assert [v["Status"] for v in running["ModelVariants"]] == ["InService", "InService"]
    assert running["EndpointMetadata"]["EndpointStatus"] == "InService"
    config = running["EndpointMetadata"]["EndpointConfigName"]
    assert config != names["config"] and config.startswith(name[:50])
    described = sm.describe_endpoint_config(EndpointConfigName=config)  # an ordinary config, the user can see
    assert described["ShadowProductionVariants"][0]["ModelName"] == challenger
    assert described["ShadowProductionVariants"][0]["InitialVariantWeight"] == 0.5

    # Production answers; the shadow gets its copies, and its own metrics to compare.
    for _ in range(40):
        runtime.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body=body)
    cw = boto_client("cloudwatch", fast.url)
    dims = [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": "shadow"}]
    until(
        lambda: cw.list_metrics(Namespace="AWS/SageMaker", MetricName="Invocations", Dimensions=dims)["Metrics"],
        bool,
    )

    # While it runs, the shadow's sampling can change (the endpoint's shadow weight follows, nothing restarts).
    sm.update_inference_experiment(
        Name=name,
        ShadowModeConfig={
            "SourceModelVariantName": "v1",
            "ShadowModelVariants": [{"ShadowModelVariantName": "shadow", "SamplingPercentage": 100}],
        },
        Description="all of it",
    )
    until(
        lambda: sm.describe_endpoint(EndpointName=endpoint)["ShadowProductionVariants"][0]["CurrentWeight"],
        lambda w: w == 1.0,
    )
    with pytest.raises(ClientError) as info:
        sm.update_inference_experiment(Name=name, ModelVariants=params["ModelVariants"][:1])
    assert info.value.response["Error"]["Code"] == "ConflictException"
    with pytest.raises(ClientError) as info:
        sm.delete_inference_experiment(Name=name)
    assert info.value.response["Error"]["Code"] == "ConflictException"

    sm.stop_inference_experiment(
        Name=name, ModelVariantActions={"shadow": "Promote", "v1": "Remove"}, Reason="the challenger won"
    )
    done = until(status_of(sm, name), lambda d: d["Status"] in ("Completed", "Cancelled"))
    assert done["Status"] == "Completed" and done["StatusReason"] == "the challenger won"
    assert {v["VariantName"]: v["Status"] for v in done["ModelVariants"]} == {"v1": "Deleted", "shadow": "InService"}
    assert done["CompletionTime"] >= done["CreationTime"] and done["Description"] == "all of it"
    desc = sm.describe_endpoint(EndpointName=endpoint)
    assert desc["EndpointStatus"] == "InService" and "ShadowProductionVariants" not in desc
    [variant] = desc["ProductionVariants"]
    assert variant["VariantName"] == "shadow"
    assert (
        sm.describe_endpoint_config(EndpointConfigName=desc["EndpointConfigName"])["ProductionVariants"][0]["ModelName"]
        == challenger
    )
    runtime.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body=body)

    listed = sm.list_inference_experiments(NameContains=name, StatusEquals="Completed")["InferenceExperiments"]
    assert [x["Name"] for x in listed] == [name]
    assert sm.list_inference_experiments(NameContains=name, StatusEquals="Running")["InferenceExperiments"] == []
    sm.delete_inference_experiment(Name=name)
    with pytest.raises(ClientError) as info:
        sm.describe_inference_experiment(Name=name)
    assert info.value.response["Error"]["Code"] == "ResourceNotFound"
    assert sm.describe_endpoint(EndpointName=endpoint)["EndpointStatus"] == "InService"  # the endpoint stays


def test_the_schedule_starts_and_ends_an_experiment_and_the_end_keeps_production(
    sm: Any, xgb_model: dict[str, Any]
) -> None:
    names = deploy(sm, xgb_model["url"])
    endpoint = names["endpoint"]
    now = time.time()
    params = experiment_params(
        endpoint,
        names["model"],
        model(sm, xgb_model["url"]),
        Schedule={"StartTime": now + 3600, "EndTime": now + 7200},
    )
    name = params["Name"]
    sm.create_inference_experiment(**params)
    time.sleep(1.5)
    created = sm.describe_inference_experiment(Name=name)
    assert created["Status"] == "Created" and [v["Status"] for v in created["ModelVariants"]] == ["Creating"] * 2
    with pytest.raises(ClientError) as info:
        sm.stop_inference_experiment(Name=name, ModelVariantActions={"shadow": "Remove"})
    assert info.value.response["Error"]["Code"] == "ConflictException"
    # Before it starts its schedule can move; StartInferenceExperiment starts it at once, and its StartTime is now.
    sm.update_inference_experiment(Name=name, Schedule={"StartTime": time.time() + 3600, "EndTime": time.time() + 7200})
    sm.start_inference_experiment(Name=name)
    until(status_of(sm, name), lambda d: d["Status"] == "Running")
    sm.update_inference_experiment(Name=name, Schedule={"EndTime": time.time() + 3})
    done = until(status_of(sm, name), lambda d: d["Status"] in ("Completed", "Cancelled"))
    assert done["Status"] == "Completed" and "EndTime" in done["StatusReason"]
    assert {v["VariantName"]: v["Status"] for v in done["ModelVariants"]} == {"v1": "InService", "shadow": "Deleted"}
    desc = sm.describe_endpoint(EndpointName=endpoint)
    assert [v["VariantName"] for v in desc["ProductionVariants"]] == ["v1"] and "ShadowProductionVariants" not in desc


def test_an_endpoint_updated_under_a_running_experiment_cancels_it(sm: Any, xgb_model: dict[str, Any]) -> None:
    names = deploy(sm, xgb_model["url"])
    params = experiment_params(names["endpoint"], names["model"], model(sm, xgb_model["url"]))
    sm.create_inference_experiment(**params)
    until(status_of(sm, params["Name"]), lambda d: d["Status"] == "Running")
    sm.update_endpoint(EndpointName=names["endpoint"], EndpointConfigName=names["config"])
    done = until(status_of(sm, params["Name"]), lambda d: d["Status"] in ("Completed", "Cancelled"))
    assert done["Status"] == "Cancelled" and "outside the experiment" in done["StatusReason"]


def test_what_sagemaker_refuses(sm: Any, xgb_model: dict[str, Any]) -> None:
    names = deploy(sm, xgb_model["url"])
    endpoint, production = names["endpoint"], names["model"]
    challenger = model(sm, xgb_model["url"])

    def refused(code: str, wanted: str, **changes: Any) -> None:
        params = {**experiment_params(endpoint, production, challenger), **changes}
        with pytest.raises(ClientError) as info:
            sm.create_inference_experiment(**params)
        error = info.value.response["Error"]
        assert (error["Code"], wanted in error["Message"]) == (code, True), error

    refused("ValidationException", "DataStorageConfig", DataStorageConfig={"Destination": "s3://b/capture"})
    refused("ValidationException", 'Could not find endpoint "nope"', EndpointName="nope")
    wrong = experiment_params(endpoint, production, challenger)["ShadowModeConfig"]
    swapped = {
        "SourceModelVariantName": "shadow",
        "ShadowModelVariants": [{"ShadowModelVariantName": "v1", "SamplingPercentage": 100}],
    }
    refused("ValidationException", 'one production variant named "shadow"', ShadowModeConfig=swapped)
    refused(
        "ValidationException",
        "ShadowModeConfig names two of the ModelVariants",
        ShadowModeConfig={**wrong, "SourceModelVariantName": "other"},
    )
    refused(
        "ValidationException",
        "at most 30 days",
        Schedule={"StartTime": time.time(), "EndTime": time.time() + 31 * 86400},
    )
    refused(
        "ValidationException", "EndTime must be after", Schedule={"StartTime": time.time(), "EndTime": time.time() - 10}
    )
    variants = experiment_params(endpoint, production, challenger)["ModelVariants"]
    refused(
        "ValidationException", "Could not find model", ModelVariants=[variants[0], {**variants[1], "ModelName": "nope"}]
    )

    params = experiment_params(endpoint, production, challenger)
    sm.create_inference_experiment(**params)
    with pytest.raises(ClientError) as info:  # the same name again
        sm.create_inference_experiment(**params)
    assert info.value.response["Error"]["Code"] == "ResourceInUse"
    refused("ResourceInUse", "already has inference experiment")  # a second one on the same endpoint
    until(status_of(sm, params["Name"]), lambda d: d["Status"] == "Running")
    for actions, wanted in (
        ({"shadow": "Promote", "v1": "Retain"}, "Remove production variant"),
        ({"v1": "Remove"}, "needs shadow variant"),
        ({"other": "Remove"}, "not other"),
    ):
        with pytest.raises(ClientError) as info:
            sm.stop_inference_experiment(Name=params["Name"], ModelVariantActions=actions)
        error = info.value.response["Error"]
        assert error["Code"] == "ValidationException" and wanted in error["Message"]
    with pytest.raises(ClientError) as info:
        sm.start_inference_experiment(Name=params["Name"])
    assert info.value.response["Error"]["Code"] == "ConflictException"
    for call in (sm.describe_inference_experiment, sm.start_inference_experiment, sm.delete_inference_experiment):
        with pytest.raises(ClientError) as info:
            call(Name="no-such-experiment")
        assert info.value.response["Error"]["Code"] == "ResourceNotFound"
    # Both variants retained: the experiment ends and the endpoint keeps its shadow.
    sm.stop_inference_experiment(
        Name=params["Name"], ModelVariantActions={"v1": "Retain", "shadow": "Retain"}, DesiredState="Cancelled"
    )
    done = until(status_of(sm, params["Name"]), lambda d: d["Status"] in ("Completed", "Cancelled"))
    assert done["Status"] == "Cancelled"
    assert sm.describe_endpoint(EndpointName=endpoint)["ShadowProductionVariants"][0]["VariantName"] == "shadow"


def test_before_it_starts_everything_can_change_and_a_stop_can_resize_what_it_keeps(
    sm: Any, xgb_model: dict[str, Any]
) -> None:
    names = deploy(sm, xgb_model["url"])
    endpoint, production = names["endpoint"], names["model"]
    later = {"StartTime": time.time() + 3600, "EndTime": time.time() + 7200}
    params = experiment_params(endpoint, production, model(sm, xgb_model["url"]), Schedule=later)
    name = params["Name"]
    sm.create_inference_experiment(**params)
    other = model(sm, xgb_model["url"])
    variants = [params["ModelVariants"][0], {**params["ModelVariants"][1], "ModelName": other}]
    sm.update_inference_experiment(Name=name, ModelVariants=variants, Description="another challenger")
    assert sm.describe_inference_experiment(Name=name)["ModelVariants"][1]["ModelName"] == other
    for bad, wanted in (
        ([variants[0], {**variants[1], "VariantName": "v1"}], "different VariantNames"),
        (
            [
                variants[0],
                {
                    **variants[1],
                    "InfrastructureConfig": {
                        **INFRA,
                        "RealTimeInferenceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 0},
                    },
                },
            ],
            "at least 1",
        ),
    ):
        with pytest.raises(ClientError) as info:
            sm.update_inference_experiment(Name=name, ModelVariants=bad)
        assert wanted in info.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as info:
        sm.update_inference_experiment(Name=name, DataStorageConfig={"Destination": "s3://b/capture"})
    assert "DataStorageConfig" in info.value.response["Error"]["Message"]

    # Its endpoint is busy when it is started (a new fleet starting): the start is refused, and the experiment
    # cancelled with why.
    sm.update_endpoint(EndpointName=endpoint, EndpointConfigName=new_config(sm, xgb_model["url"], count=1))
    with pytest.raises(ClientError) as info:
        sm.start_inference_experiment(Name=name)
    assert info.value.response["Error"]["Code"] == "ValidationException"
    cancelled = sm.describe_inference_experiment(Name=name)
    assert cancelled["Status"] == "Cancelled" and "could not be updated" in cancelled["StatusReason"]
    with pytest.raises(ClientError) as info:
        sm.update_inference_experiment(Name=name, Description="too late")
    assert info.value.response["Error"]["Code"] == "ConflictException"
    sm.delete_inference_experiment(Name=name)  # an ended experiment goes; the endpoint stays

    until(lambda: sm.describe_endpoint(EndpointName=endpoint)["EndpointStatus"], lambda s: s == "InService")
    params = experiment_params(endpoint, production, other)
    sm.create_inference_experiment(**params)
    until(status_of(sm, params["Name"]), lambda d: d["Status"] == "Running")
    renamed = {
        "SourceModelVariantName": "v1",
        "ShadowModelVariants": [{"ShadowModelVariantName": "v1", "SamplingPercentage": 10}],
    }
    with pytest.raises(ClientError) as info:
        sm.update_inference_experiment(Name=params["Name"], ShadowModeConfig=renamed)
    assert info.value.response["Error"]["Code"] == "ValidationException"
    # Both kept, the shadow resized: the endpoint moves to a config with 2 shadow instances.
    resized = {
        **params["ModelVariants"][1],
        "InfrastructureConfig": {
            **INFRA,
            "RealTimeInferenceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 2},
        },
    }
    sm.stop_inference_experiment(
        Name=params["Name"], ModelVariantActions={"v1": "Retain", "shadow": "Retain"}, DesiredModelVariants=[resized]
    )
    done = until(status_of(sm, params["Name"]), lambda d: d["Status"] in ("Completed", "Cancelled"))
    assert done["Status"] == "Completed"
    desc = sm.describe_endpoint(EndpointName=endpoint)
    assert [v["CurrentInstanceCount"] for v in desc["ShadowProductionVariants"]] == [2]


def test_deleting_the_endpoint_cancels_its_experiment_which_still_describes(sm: Any, xgb_model: dict[str, Any]) -> None:
    names = deploy(sm, xgb_model["url"])
    later = {"StartTime": time.time() + 3600, "EndTime": time.time() + 7200}
    params = experiment_params(names["endpoint"], names["model"], model(sm, xgb_model["url"]), Schedule=later)
    sm.create_inference_experiment(**params)
    sm.delete_endpoint(EndpointName=names["endpoint"])
    done = until(status_of(sm, params["Name"]), lambda d: d["Status"] == "Cancelled")
    assert done["StatusReason"] == "the endpoint was deleted"
    until(status_of(sm, params["Name"]), lambda d: d["EndpointMetadata"] == {"EndpointName": names["endpoint"]})
