"""Generated `DeploymentConfig`s on CreateEndpoint: well-formed ones with every size, wait, timeout and alarm
combination (so that SageMaker's own rules are what decides), and ones from botocore's shape with broken values.
Each is kept or refused with a 4xx, never a 5xx, and a refused one leaves no endpoint behind."""

from __future__ import annotations

import itertools
import sys
from collections import Counter
from typing import Any

from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import ROLE, XGBOOST_IMAGE, boto_client
from tests.services.test_fuzz_api import CLIENT_SIDE, EXAMPLES, value_for

NAMES = (f"fuzz-deploy-{n}" for n in itertools.count())
SIZE = st.fixed_dictionaries(
    {"Type": st.sampled_from(["INSTANCE_COUNT", "CAPACITY_PERCENT"]), "Value": st.integers(min_value=1, max_value=120)}
)
WAIT = st.integers(min_value=0, max_value=3600)
ROUTING = st.fixed_dictionaries(
    {"Type": st.sampled_from(["ALL_AT_ONCE", "CANARY", "LINEAR"]), "WaitIntervalInSeconds": WAIT},
    optional={"CanarySize": SIZE, "LinearStepSize": SIZE},
)
BLUE_GREEN = st.fixed_dictionaries(
    {"TrafficRoutingConfiguration": ROUTING},
    optional={"TerminationWaitInSeconds": WAIT, "MaximumExecutionTimeoutInSeconds": st.integers(600, 28800)},
)
ROLLING = st.fixed_dictionaries({"MaximumBatchSize": SIZE, "WaitIntervalInSeconds": WAIT})
ALARMS = st.lists(st.fixed_dictionaries({"AlarmName": st.sampled_from(["fuzz-alarm", "no-such-alarm"])}), min_size=1)
WELL_FORMED = st.fixed_dictionaries(
    {},
    optional={
        "BlueGreenUpdatePolicy": BLUE_GREEN,
        "RollingUpdatePolicy": ROLLING,
        "AutoRollbackConfiguration": st.fixed_dictionaries({"Alarms": ALARMS}),
    },
)


def test_deployment_configs_get_a_4xx_or_are_kept(server: Any, xgb_model: dict[str, Any]) -> None:
    sm = boto_client("sagemaker", server.url, parameter_validation=False)
    cw = boto_client("cloudwatch", server.url)
    cw.put_metric_alarm(
        AlarmName="fuzz-alarm",
        Namespace="Homeport/Tests",
        MetricName="fuzz",
        Statistic="Maximum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1.0,
        ComparisonOperator="GreaterThanThreshold",
    )
    container = {"Image": XGBOOST_IMAGE, "ModelDataUrl": xgb_model["url"]}
    sm.create_model(ModelName="fuzz-deploy", PrimaryContainer=container, ExecutionRoleArn=ROLE)
    variant = {
        "VariantName": "v1",
        "ModelName": "fuzz-deploy",
        "InitialInstanceCount": 4,
        "InstanceType": "ml.m5.large",
    }
    sm.create_endpoint_config(EndpointConfigName="fuzz-deploy", ProductionVariants=[variant])
    failures: list[str] = []
    tally: Counter[str] = Counter()
    broken = value_for(sm.meta.service_model.shape_for("DeploymentConfig"), depth=1)

    @settings(
        max_examples=EXAMPLES * 8,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(config=st.one_of(WELL_FORMED, WELL_FORMED, WELL_FORMED, broken))
    def one(config: Any) -> None:
        name = next(NAMES)
        try:
            sm.create_endpoint(EndpointName=name, EndpointConfigName="fuzz-deploy", DeploymentConfig=config)
        except ClientError as exc:
            status = exc.response["ResponseMetadata"]["HTTPStatusCode"]
            tally[exc.response["Error"]["Message"].split(":")[0][:50]] += 1
            if status >= 500:
                failures.append(f"{status} {exc.response['Error']}: {config!r:.300}")
            assert name not in [e["EndpointName"] for e in sm.list_endpoints(NameContains=name)["Endpoints"]]
        except CLIENT_SIDE:
            tally["not sendable"] += 1  # botocore could not serialize it: nothing reached the server
        else:
            tally["kept"] += 1
            sm.delete_endpoint(EndpointName=name)

    one()
    print(f"generated deployment configs: {dict(tally)}", file=sys.stderr)  # pytest -s shows how far they got
    assert failures == []
    assert tally["kept"] > 0  # the generator reaches valid configs too, not only refusals
