"""`homeport plan` and `homeport apply` against real servers: a deployment file creates a model, endpoint config,
endpoint, scaling and an alarm; applying it again changes nothing; a changed model rolls out as an UpdateEndpoint
with the declared blue/green deployment and the replaced model and config are deleted; what leaves the file leaves
the server; and the same file promotes the deployment to a second server. boto3 checks each result."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import KEYS, ROLE, XGBOOST_IMAGE, assert_scores, boto_client, csv_rows, unique
from tests.integration.test_cli import homeport


def document(name: str, *, env: str = "1", scaling: bool = True, alarm: bool = True) -> dict[str, Any]:
    """A deployment file for endpoint `name`: the model's Environment is what a test changes to make a new one."""
    resource = f"endpoint/{name}/variant/AllTraffic"
    doc: dict[str, Any] = {
        "Stack": name,
        "Models": [
            {
                "ModelName": name,
                "ExecutionRoleArn": ROLE,
                "PrimaryContainer": {
                    "Image": XGBOOST_IMAGE,
                    "ModelDataUrl": "${MODEL_URL}",
                    "Environment": {"GENERATION": env},
                },
            }
        ],
        "EndpointConfigs": [
            {
                "EndpointConfigName": name,
                "ProductionVariants": [
                    {
                        "VariantName": "AllTraffic",
                        "ModelName": name,
                        "InstanceType": "ml.m5.large",
                        "InitialInstanceCount": 1,
                    }
                ],
            }
        ],
        "Endpoints": [
            {
                "EndpointName": name,
                "EndpointConfigName": name,
                "DeploymentConfig": {
                    "BlueGreenUpdatePolicy": {
                        "TrafficRoutingConfiguration": {
                            "Type": "ALL_AT_ONCE",
                            "WaitIntervalInSeconds": 1,
                        },
                        "TerminationWaitInSeconds": 0,
                    }
                },
            }
        ],
    }
    if scaling:
        doc["ScalableTargets"] = [{"ResourceId": resource, "MinCapacity": 1, "MaxCapacity": 3}]
        doc["ScalingPolicies"] = [
            {
                "PolicyName": "invocations",
                "ResourceId": resource,
                "PolicyType": "TargetTrackingScaling",
                "TargetTrackingScalingPolicyConfiguration": {
                    "TargetValue": 100.0,
                    "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
                },
            }
        ]
    if alarm:
        doc["Alarms"] = [
            {
                "AlarmName": f"{name}-errors",
                "Namespace": "AWS/SageMaker",
                "MetricName": "Invocation5XXErrors",
                "Dimensions": [
                    {"Name": "EndpointName", "Value": name},
                    {"Name": "VariantName", "Value": "AllTraffic"},
                ],
                "Statistic": "Sum",
                "Period": 60,
                "EvaluationPeriods": 1,
                "Threshold": 1.0,
                "ComparisonOperator": "GreaterThanOrEqualToThreshold",
                "TreatMissingData": "notBreaching",
            }
        ]
    return doc


def write(tmp_path: Path, doc: dict[str, Any], yaml_file: bool = True) -> Path:
    import yaml

    path = tmp_path / ("stack.yaml" if yaml_file else "stack.json")
    path.write_text(yaml.safe_dump(doc) if yaml_file else json.dumps(doc))
    return path


def run(command: str, path: Path, url: str, model_url: str, *more: str) -> Any:
    return homeport(command, "-f", str(path), "--var", f"MODEL_URL={model_url}", *more, url=url)


def ours(sm: Any, name: str) -> tuple[list[str], list[str]]:
    """The models and endpoint configs on the server that apply named for `name`."""
    mine = re.compile(rf"{re.escape(name)}-[0-9a-f]{{8}}")
    models = [m["ModelName"] for m in sm.list_models(NameContains=name, MaxResults=100)["Models"]]
    configs = [
        c["EndpointConfigName"] for c in sm.list_endpoint_configs(NameContains=name, MaxResults=100)["EndpointConfigs"]
    ]
    return sorted(filter(mine.fullmatch, models)), sorted(filter(mine.fullmatch, configs))


def test_apply_creates_then_changes_nothing_then_rolls_out_a_change_then_deletes(
    server: Any, sm: Any, xgb_model: dict[str, Any], tmp_path: Path
) -> None:
    name = f"{unique('stack')}-x"  # no other name contains it
    path = write(tmp_path, document(name))
    url, model_url = server.url, xgb_model["url"]

    planned = run("plan", path, url, model_url, "--detailed-exitcode")
    assert planned.returncode == 2, planned.stderr
    for line in ("+ model", "+ endpoint config", f"+ endpoint {name}", "+ scalable target", "+ scaling policy",
                 f"+ alarm {name}-errors", "6 to create, 0 to update, 0 to delete"):  # fmt: skip
        assert line in planned.stdout, planned.stdout
    assert sm.list_endpoints(NameContains=name)["Endpoints"] == []  # a plan changes nothing

    applied = run("apply", path, url, model_url)
    assert applied.returncode == 0, applied.stderr
    endpoint = sm.describe_endpoint(EndpointName=name)
    assert endpoint["EndpointStatus"] == "InService"
    (model,), (config,) = ours(sm, name)
    assert endpoint["EndpointConfigName"] == config and config.startswith(f"{name}-") and model.startswith(f"{name}-")
    tags = {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=endpoint["EndpointArn"])["Tags"]}
    assert tags["homeport:stack"] == name
    aas = boto_client("application-autoscaling", url)
    target = aas.describe_scalable_targets(
        ServiceNamespace="sagemaker", ResourceIds=[f"endpoint/{name}/variant/AllTraffic"]
    )
    assert [(t["MinCapacity"], t["MaxCapacity"]) for t in target["ScalableTargets"]] == [(1, 3)]
    cw = boto_client("cloudwatch", url)
    alarm = cw.describe_alarms(AlarmNames=[f"{name}-errors"])["MetricAlarms"][0]
    assert {"Key": "homeport:stack", "Value": name} in cw.list_tags_for_resource(ResourceARN=alarm["AlarmArn"])["Tags"]
    runtime = boto_client("sagemaker-runtime", url)
    x = xgb_model["x"][:3]
    reply = runtime.invoke_endpoint(EndpointName=name, ContentType="text/csv", Body=csv_rows(x))
    assert_scores(reply["Body"].read(), xgb_model, x)

    # Idempotent: the same file again plans nothing and makes no call.
    again = run("plan", path, url, model_url, "--detailed-exitcode")
    assert again.returncode == 0 and "no changes" in again.stdout, again.stdout + again.stderr
    assert "no changes" in run("apply", path, url, model_url).stdout
    as_data = json.loads(run("plan", path, url, model_url, "--json").stdout)
    assert as_data == {"Stack": name, "Changes": [], "UnderWay": {}}

    # A changed model: a new model and config, an UpdateEndpoint with the file's blue/green deployment, and the
    # old ones deleted.
    changed = document(name, env="2")
    changed["ScalableTargets"][0]["MaxCapacity"] = 4
    path = write(tmp_path, changed)
    planned = run("plan", path, url, model_url)
    assert f"~ endpoint {name}" in planned.stdout and "blue/green all at once" in planned.stdout, planned.stdout
    assert "~ scalable target" in planned.stdout and "- model" not in planned.stdout  # the old one still serves
    applied = run("apply", path, url, model_url)
    assert applied.returncode == 0, applied.stderr
    endpoint = sm.describe_endpoint(EndpointName=name)
    (new_model,), (new_config,) = ours(sm, name)
    assert new_model != model and new_config != config and endpoint["EndpointConfigName"] == new_config
    assert (
        endpoint["LastDeploymentConfig"]["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]["Type"]
        == "ALL_AT_ONCE"
    )
    assert f"- endpoint config {config}" in applied.stdout and f"- model {model}" in applied.stdout
    described = sm.describe_model(ModelName=new_model)
    assert described["PrimaryContainer"]["Environment"] == {"GENERATION": "2"}
    target = aas.describe_scalable_targets(
        ServiceNamespace="sagemaker", ResourceIds=[f"endpoint/{name}/variant/AllTraffic"]
    )
    assert target["ScalableTargets"][0]["MaxCapacity"] == 4

    # What leaves the file leaves the server: scaling and alarm first, then the endpoint and all it used.
    path = write(tmp_path, document(name, env="2", scaling=False, alarm=False))
    applied = run("apply", path, url, model_url)
    assert applied.returncode == 0, applied.stderr
    assert (
        aas.describe_scalable_targets(
            ServiceNamespace="sagemaker", ResourceIds=[f"endpoint/{name}/variant/AllTraffic"]
        )["ScalableTargets"]
        == []
    )
    assert (
        aas.describe_scaling_policies(ServiceNamespace="sagemaker", ResourceId=f"endpoint/{name}/variant/AllTraffic")[
            "ScalingPolicies"
        ]
        == []
    )
    assert cw.describe_alarms(AlarmNames=[f"{name}-errors"])["MetricAlarms"] == []
    path = write(tmp_path, {"Stack": name}, yaml_file=False)  # JSON too
    applied = run("apply", path, url, model_url, "--json")
    assert applied.returncode == 0, applied.stderr
    made = json.loads(applied.stdout)
    assert [(c["Action"], c["Kind"]) for c in made["Changes"]] == [
        ("delete", "endpoint"),
        ("delete", "endpoint config"),
        ("delete", "model"),
    ] and made["Rounds"] == 2  # the endpoint first; what it used once it is gone
    assert sm.list_endpoints(NameContains=name)["Endpoints"] == []
    assert ours(sm, name) == ([], [])


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from homeport.server.process import ServerProcess

    with ServerProcess(tmp_path_factory.mktemp("production"), env={"HOMEPORT_LOG_LEVEL": "warning", **KEYS}) as proc:
        yield proc


def test_the_same_file_promotes_the_deployment_to_a_second_server(
    server: Any, production: Any, xgb_model: dict[str, Any], tmp_path: Path
) -> None:
    name = f"{unique('promoted')}-x"
    path = write(tmp_path, document(name, scaling=False, alarm=False))
    for url in (server.url, production.url):  # staging, then production
        applied = run("apply", path, url, xgb_model["url"])
        assert applied.returncode == 0, applied.stderr
    staging_sm, production_sm = boto_client("sagemaker", server.url), boto_client("sagemaker", production.url)
    assert ours(staging_sm, name) == ours(production_sm, name)  # the same names: the same content
    runtime = boto_client("sagemaker-runtime", production.url)
    x = xgb_model["x"][:2]
    assert_scores(
        runtime.invoke_endpoint(EndpointName=name, ContentType="text/csv", Body=csv_rows(x))["Body"].read(),
        xgb_model,
        x,
    )
    for url in (server.url, production.url):
        assert run("apply", write(tmp_path, {"Stack": name}), url, xgb_model["url"]).returncode == 0


def test_bad_files_and_refused_calls_say_what_to_fix(
    server: Any, sm: Any, xgb_model: dict[str, Any], tmp_path: Path
) -> None:
    name = f"{unique('badstack')}-x"
    cases: list[tuple[Any, str]] = [
        ({"Stack": name, "Modles": []}, "Unknown section(s) Modles"),
        ({"Stack": name, "Models": {"ModelName": "x"}}, "Models must be a list"),
        ({"Stack": name, "Models": [{"ModelName": name, "PrimaryContainer": {"Image": 7}}]}, "Models[0]: Invalid type"),
        ({"Stack": name, "Models": [{"PrimaryContainer": {}}]}, 'Missing required parameter in input: "ModelName"'),
        ({"Stack": name, "Models": [{"ModelName": "m" * 60}]}, "is over 54 characters"),
        ({"Stack": name, "Alarms": [{"AlarmName": "${NOT_SET_ANYWHERE}"}]}, "${NOT_SET_ANYWHERE} has no value"),
        ({"Stack": "bad name!"}, 'Stack name "bad name!"'),
        (
            {
                "Stack": name,
                "Endpoints": [
                    {"EndpointName": name, "EndpointConfigName": "x"},
                    {"EndpointName": name, "EndpointConfigName": "y"},
                ],
            },
            f"declares {name} a second time",
        ),
    ]
    for doc, message in cases:
        planned = run("plan", write(tmp_path, doc), server.url, xgb_model["url"])
        assert planned.returncode == 1 and message in planned.stderr, (doc, planned.stderr)
    (tmp_path / "broken.yaml").write_text("Models: [unclosed")
    broken = homeport("plan", "-f", str(tmp_path / "broken.yaml"), url=server.url)
    assert broken.returncode == 1 and "neither YAML nor JSON" in broken.stderr
    missing = homeport("plan", "-f", str(tmp_path / "absent.yaml"), url=server.url)
    assert missing.returncode == 1 and "Cannot read" in missing.stderr
    unpaired = homeport("plan", "-f", str(tmp_path / "broken.yaml"), "--var", "NO_VALUE", url=server.url)
    assert unpaired.returncode == 1 and '--var "NO_VALUE" must be NAME=VALUE' in unpaired.stderr

    # The server's refusal stops the apply at that call, with the API's code and message.
    doc = {"Stack": name, "Endpoints": [{"EndpointName": name, "EndpointConfigName": "no-such-config"}]}
    refused = run("apply", write(tmp_path, doc), server.url, xgb_model["url"])
    assert refused.returncode == 1 and f"create endpoint {name}: ValidationException" in refused.stderr, refused.stderr
    assert sm.list_endpoints(NameContains=name)["Endpoints"] == []


def test_a_monitoring_schedule_is_created_updated_and_deleted_with_the_file(
    server: Any, sm: Any, bucket: str, xgb_model: dict[str, Any], tmp_path: Path
) -> None:
    name = f"{unique('watched')}-x"
    doc = document(name, scaling=False, alarm=False)
    doc["EndpointConfigs"][0]["DataCaptureConfig"] = {
        "EnableCapture": True,
        "InitialSamplingPercentage": 100,
        "DestinationS3Uri": f"s3://{bucket}/capture",
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
    }
    url, model_url = server.url, xgb_model["url"]
    assert run("apply", write(tmp_path, doc), url, model_url).returncode == 0
    definition = f"{name}-dq"  # job definitions are created with their own call (docs/deployments-as-code.md)
    sm.create_data_quality_job_definition(
        JobDefinitionName=definition,
        DataQualityAppSpecification={
            "ImageUri": "156813124566.dkr.ecr.us-east-1.amazonaws.com/sagemaker-model-monitor-analyzer"
        },
        DataQualityJobInput={"EndpointInput": {"EndpointName": name, "LocalPath": "/opt/ml/processing/input"}},
        DataQualityJobOutputConfig={
            "MonitoringOutputs": [
                {"S3Output": {"S3Uri": f"s3://{bucket}/reports", "LocalPath": "/opt/ml/processing/output"}}
            ]
        },
        JobResources={"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 20}},
        RoleArn=ROLE,
    )
    config = {
        "ScheduleConfig": {"ScheduleExpression": "cron(0 * ? * * *)"},
        "MonitoringJobDefinitionName": definition,
        "MonitoringType": "DataQuality",
    }
    doc["MonitoringSchedules"] = [{"MonitoringScheduleName": name, "MonitoringScheduleConfig": config}]
    applied = run("apply", write(tmp_path, doc), url, model_url)
    assert applied.returncode == 0 and f"+ monitoring schedule {name}" in applied.stdout, (
        applied.stdout + applied.stderr
    )
    described = sm.describe_monitoring_schedule(MonitoringScheduleName=name)
    assert described["MonitoringScheduleConfig"]["ScheduleConfig"]["ScheduleExpression"] == "cron(0 * ? * * *)"
    tags = sm.list_tags(ResourceArn=described["MonitoringScheduleArn"])["Tags"]
    assert {"Key": "homeport:stack", "Value": name} in tags

    config["ScheduleConfig"]["ScheduleExpression"] = "cron(0 */6 ? * * *)"
    applied = run("apply", write(tmp_path, doc), url, model_url)
    assert applied.returncode == 0 and f"~ monitoring schedule {name}" in applied.stdout, applied.stdout
    described = sm.describe_monitoring_schedule(MonitoringScheduleName=name)
    assert described["MonitoringScheduleConfig"]["ScheduleConfig"]["ScheduleExpression"] == "cron(0 */6 ? * * *)"

    applied = run("apply", write(tmp_path, {"Stack": name}), url, model_url)
    assert applied.returncode == 0 and f"- monitoring schedule {name}" in applied.stdout, applied.stdout
    assert sm.list_monitoring_schedules(NameContains=name)["MonitoringScheduleSummaries"] == []
    assert sm.list_endpoints(NameContains=name)["Endpoints"] == []
    sm.delete_data_quality_job_definition(JobDefinitionName=definition)
