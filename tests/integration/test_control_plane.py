"""The SageMaker control plane for models, endpoint configs, endpoints and tags, driven by boto3.

Every refused request is checked three ways: the exact AWS error code, a message that names the field or
says what to fix, and that nothing was left behind (Describe says not found, List does not show it).

Tests that need an endpoint to reach InService (a working `python -m homeport.runtime`) live in
`TestNeedsRuntime`; select or skip them with `-k NeedsRuntime`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.util
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore import xform_name
from botocore.exceptions import ClientError

from tests.conftest import ROLE, XGBOOST_IMAGE, boto_client, deploy, unique, wait_in_service

ACCOUNT_REGION = "arn:aws:sagemaker:us-east-1:000000000000"
PV = "productionVariants.1.member."
ROLLING = {
    "RollingUpdatePolicy": {"MaximumBatchSize": {"Type": "INSTANCE_COUNT", "Value": 1}, "WaitIntervalInSeconds": 0}
}

HAS_RUNTIME = importlib.util.find_spec("homeport.runtime.__main__") is not None
needs_runtime = pytest.mark.skipif(
    not HAS_RUNTIME,
    reason="`python -m homeport.runtime` does not exist yet, so no endpoint can reach InService",
)


# --- helpers ---------------------------------------------------------------------------------------------


def name(kind: str) -> str:
    """A name no other test module uses: conftest's counter plus this module's own prefix."""
    return unique(f"cp-{kind}")


def refused(call: Callable[..., Any], **params: Any) -> tuple[str, str]:
    """Call an operation that must fail; return its AWS error code and message."""
    with pytest.raises(ClientError) as info:
        call(**params)
    error = info.value.response["Error"]
    return error["Code"], error.get("Message", "")


def refused_wire(raw: Any, operation: str, body: Any) -> tuple[str, str]:
    """Send `body` as the operation's JSON as it is, for values boto3's serializer cannot even encode
    (a string where a structure goes, an unknown member). Still a boto3 call: signing, the wire and the
    error parsing are boto3's; only the request body is swapped just before signing."""
    event = f"before-sign.sagemaker.{operation}"

    def swap(request: Any, **_: Any) -> None:
        request.data = json.dumps(body).encode()

    raw.meta.events.register_first(event, swap, unique_id="cp-swap-body")
    try:
        return refused(getattr(raw, xform_name(operation)))
    finally:
        raw.meta.events.unregister(event, unique_id="cp-swap-body")


def all_model_names(sm: Any) -> list[str]:
    return [m["ModelName"] for m in sm.get_paginator("list_models").paginate().build_full_result()["Models"]]


def model_gone(sm: Any, model: str) -> None:
    code, message = refused(sm.describe_model, ModelName=model)
    assert code == "ValidationException"
    assert "Could not find model" in message
    listed = sm.list_models(NameContains=model, MaxResults=100)["Models"]
    assert model not in [m["ModelName"] for m in listed]


def config_gone(sm: Any, config: str) -> None:
    code, message = refused(sm.describe_endpoint_config, EndpointConfigName=config)
    assert code == "ValidationException"
    assert "Could not find endpoint configuration" in message
    listed = sm.list_endpoint_configs(NameContains=config, MaxResults=100)["EndpointConfigs"]
    assert config not in [c["EndpointConfigName"] for c in listed]


def endpoint_gone(sm: Any, endpoint: str) -> None:
    code, message = refused(sm.describe_endpoint, EndpointName=endpoint)
    assert code == "ValidationException"
    assert "Could not find endpoint" in message
    listed = sm.list_endpoints(NameContains=endpoint, MaxResults=100)["Endpoints"]
    assert endpoint not in [e["EndpointName"] for e in listed]


def arn_untagged(sm: Any, arn: str) -> None:
    """The ARN is not a resource any more: its tags went with it."""
    code, _ = refused(sm.list_tags, ResourceArn=arn)
    assert code == "ValidationException"


def container(url: str, image: str = XGBOOST_IMAGE) -> dict[str, Any]:
    return {"Image": image, "ModelDataUrl": url}


def variant(model: str, variant_name: str = "v1", **extra: Any) -> dict[str, Any]:
    return {
        "VariantName": variant_name,
        "ModelName": model,
        "InitialInstanceCount": 1,
        "InstanceType": "ml.m5.large",
        **extra,
    }


def make_model(sm: Any, url: str, model: str | None = None, **extra: Any) -> str:
    model = model or name("model")
    sm.create_model(ModelName=model, PrimaryContainer=container(url), ExecutionRoleArn=ROLE, **extra)
    return model


def make_config(sm: Any, model: str, config: str | None = None, **extra: Any) -> str:
    config = config or name("config")
    sm.create_endpoint_config(EndpointConfigName=config, ProductionVariants=[variant(model)], **extra)
    return config


def wait_status(sm: Any, endpoint: str, wanted: str, limit_s: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + limit_s
    while True:
        desc = sm.describe_endpoint(EndpointName=endpoint)
        if desc["EndpointStatus"] == wanted:
            return dict(desc)
        assert time.monotonic() < deadline, f"{endpoint} still {desc['EndpointStatus']}, wanted {wanted}"
        time.sleep(0.1)


def wait_gone(sm: Any, endpoint: str, limit_s: float = 60.0) -> None:
    deadline = time.monotonic() + limit_s
    while True:
        try:
            sm.describe_endpoint(EndpointName=endpoint)
        except ClientError as exc:
            assert exc.response["Error"]["Code"] == "ValidationException"
            return
        assert time.monotonic() < deadline, f"{endpoint} was not deleted in {limit_s} s"
        time.sleep(0.1)


def all_pages(call: Callable[..., dict[str, Any]], key: str, **params: Any) -> list[list[dict[str, Any]]]:
    pages = []
    token = None
    for _ in range(100):
        reply = call(**params, **({"NextToken": token} if token else {}))
        pages.append(reply[key])
        token = reply.get("NextToken")
        if not token:
            return pages
    raise AssertionError("pagination did not end")


# --- fixtures --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def raw(server: Any) -> Any:
    """A client that sends what it is given: botocore's own parameter checks are off, so the server judges."""
    return boto_client("sagemaker", server.url, parameter_validation=False)


@pytest.fixture(scope="module")
def model(sm: Any, xgb_model: dict[str, Any]) -> str:
    """A model the endpoint-config tests can point at."""
    return make_model(sm, xgb_model["url"])


@pytest.fixture(scope="module")
def garbage_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A file that exists (so CreateModel accepts it) but is not a tar.gz (so the endpoint fails)."""
    path: Path = tmp_path_factory.mktemp("garbage") / "model.tar.gz"
    path.write_bytes(b"this is not a gzip-compressed tar archive\n" * 20)
    return path.as_uri()


@pytest.fixture
def failing_endpoint(sm: Any, garbage_url: str) -> Iterator[dict[str, str]]:
    names = deploy(sm, garbage_url, wait=False)
    yield names
    with contextlib.suppress(ClientError):
        sm.delete_endpoint(EndpointName=names["endpoint"])


# --- models ----------------------------------------------------------------------------------------------


class TestModels:
    def test_create_describe_list_delete(self, sm: Any, xgb_model: dict[str, Any]) -> None:
        model = name("Model-MixedCase")
        reply = sm.create_model(ModelName=model, PrimaryContainer=container(xgb_model["url"]), ExecutionRoleArn=ROLE)
        arn = f"{ACCOUNT_REGION}:model/{model.lower()}"
        assert reply["ModelArn"] == arn

        desc = sm.describe_model(ModelName=model)
        assert desc["ModelName"] == model
        assert desc["ModelArn"] == arn
        assert desc["ExecutionRoleArn"] == ROLE
        assert desc["PrimaryContainer"]["Image"] == XGBOOST_IMAGE
        assert desc["PrimaryContainer"]["ModelDataUrl"] == xgb_model["url"]
        assert isinstance(desc["CreationTime"], dt.datetime)
        assert abs(desc["CreationTime"].timestamp() - time.time()) < 60

        listed = sm.list_models(NameContains=model)["Models"]
        assert [(m["ModelName"], m["ModelArn"]) for m in listed] == [(model, arn)]

        sm.delete_model(ModelName=model)
        model_gone(sm, model)
        arn_untagged(sm, arn)

    def test_duplicate(self, sm: Any, xgb_model: dict[str, Any]) -> None:
        model = make_model(sm, xgb_model["url"])
        code, message = refused(
            sm.create_model, ModelName=model, ExecutionRoleArn=ROLE, PrimaryContainer=container(xgb_model["url"])
        )
        assert code == "ValidationException"
        assert "Cannot create already existing model" in message
        assert f"model/{model.lower()}" in message
        # The original is untouched.
        assert sm.describe_model(ModelName=model)["PrimaryContainer"]["ModelDataUrl"] == xgb_model["url"]

    def test_missing_model_name(self, raw: Any, sm: Any, xgb_model: dict[str, Any]) -> None:
        code, message = refused(raw.create_model, PrimaryContainer=container(xgb_model["url"]), ExecutionRoleArn=ROLE)
        assert code == "ValidationException"
        assert "modelName" in message and "must not be null" in message

    @pytest.mark.parametrize("bad", ["bad_name", "-leading-dash", "trailing-dash-", "has space", "x" * 64])
    def test_bad_name(self, raw: Any, sm: Any, xgb_model: dict[str, Any], bad: str) -> None:
        code, message = refused(
            raw.create_model, ModelName=bad, PrimaryContainer=container(xgb_model["url"]), ExecutionRoleArn=ROLE
        )
        assert code == "ValidationException"
        assert "modelName" in message
        assert "regular expression pattern" in message or "length less than or equal to 63" in message
        assert bad not in all_model_names(sm)

    def test_wrong_types(self, raw: Any, sm: Any, xgb_model: dict[str, Any]) -> None:
        model = name("model")
        code, message = refused_wire(
            raw, "CreateModel", {"ModelName": model, "PrimaryContainer": "xgboost", "ExecutionRoleArn": ROLE}
        )
        assert code == "ValidationException"
        assert "primaryContainer" in message and "structure" in message
        model_gone(sm, model)

        code, message = refused(
            raw.create_model,
            ModelName=model,
            ExecutionRoleArn=ROLE,
            PrimaryContainer={**container(xgb_model["url"]), "Environment": {"A": 1}},
        )
        assert code == "ValidationException"
        assert "primaryContainer.environment" in message and "string" in message
        model_gone(sm, model)

        code, message = refused(
            raw.create_model,
            ModelName=model,
            ExecutionRoleArn=ROLE,
            PrimaryContainer=container(xgb_model["url"]),
            EnableNetworkIsolation="yes",
        )
        assert code == "ValidationException"
        assert "enableNetworkIsolation" in message and "boolean" in message
        model_gone(sm, model)

    def test_unknown_parameter(self, raw: Any, sm: Any, xgb_model: dict[str, Any]) -> None:
        model = name("model")
        code, message = refused_wire(
            raw,
            "CreateModel",
            {
                "ModelName": model,
                "ExecutionRoleArn": ROLE,
                "PrimaryContainer": container(xgb_model["url"]),
                "Colour": "blue",
            },
        )
        assert code == "ValidationException"
        assert "colour" in message.lower()
        model_gone(sm, model)

    def test_unknown_image(self, sm: Any, xgb_model: dict[str, Any]) -> None:
        model = name("model")
        image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/my-own-thing:latest"
        code, message = refused(
            sm.create_model, ModelName=model, ExecutionRoleArn=ROLE, PrimaryContainer=container(xgb_model["url"], image)
        )
        assert code == "ValidationException"
        assert image in message
        # It says what would work.
        assert "sagemaker-xgboost" in message and "sagemaker-scikit-learn" in message
        model_gone(sm, model)

    def test_missing_model_data(self, sm: Any, tmp_path: Path) -> None:
        model = name("model")
        url = (tmp_path / "nowhere" / "model.tar.gz").as_uri()
        code, message = refused(
            sm.create_model, ModelName=model, PrimaryContainer=container(url), ExecutionRoleArn=ROLE
        )
        assert code == "ValidationException"
        assert "Could not access model data" in message
        assert "nowhere/model.tar.gz" in message
        model_gone(sm, model)

    def test_bad_model_data_url_scheme(self, raw: Any, sm: Any) -> None:
        model = name("model")
        code, message = refused(
            raw.create_model,
            ModelName=model,
            ExecutionRoleArn=ROLE,
            PrimaryContainer=container("ftp://example.com/model.tar.gz"),
        )
        assert code == "ValidationException"
        assert "modelDataUrl" in message
        model_gone(sm, model)

    def test_direct_containers_need_hostnames(self, sm: Any, xgb_model: dict[str, Any]) -> None:
        model = name("model")
        code, message = refused(
            sm.create_model,
            ModelName=model,
            ExecutionRoleArn=ROLE,
            Containers=[container(xgb_model["url"]), container(xgb_model["url"])],
            InferenceExecutionConfig={"Mode": "Direct"},
        )
        assert code == "ValidationException"
        assert "ContainerHostname" in message
        model_gone(sm, model)

    def test_single_entry_containers_accepted(self, sm: Any, xgb_model: dict[str, Any]) -> None:
        model = name("model")
        sm.create_model(ModelName=model, ExecutionRoleArn=ROLE, Containers=[container(xgb_model["url"])])
        desc = sm.describe_model(ModelName=model)
        assert desc["Containers"][0]["Image"] == XGBOOST_IMAGE
        sm.delete_model(ModelName=model)

    def test_container_required(self, sm: Any, xgb_model: dict[str, Any]) -> None:
        model = name("model")
        code, message = refused(sm.create_model, ModelName=model, ExecutionRoleArn=ROLE)
        assert code == "ValidationException"
        assert "PrimaryContainer" in message
        model_gone(sm, model)

        code, message = refused(
            sm.create_model,
            ModelName=model,
            ExecutionRoleArn=ROLE,
            PrimaryContainer=container(xgb_model["url"]),
            Containers=[container(xgb_model["url"])],
        )
        assert code == "ValidationException"
        assert "PrimaryContainer" in message and "Containers" in message
        model_gone(sm, model)

    def test_multi_model_mode_needs_its_prefix(self, sm: Any) -> None:
        model = name("model")
        code, message = refused(
            sm.create_model,
            ModelName=model,
            ExecutionRoleArn=ROLE,
            PrimaryContainer={"Image": "homeport/xgboost", "Mode": "MultiModel"},
        )
        assert code == "ValidationException"
        assert "Mode=MultiModel" in message and "ModelDataUrl" in message
        model_gone(sm, model)

    def test_bad_tags_leave_no_model(self, raw: Any, sm: Any, xgb_model: dict[str, Any]) -> None:
        model = name("model")
        bad_tag_lists = [
            ([{"Key": "", "Value": "x"}], "tags.1.member.key"),
            ([{"Key": "k" * 129, "Value": "x"}], "tags.1.member.key"),
            ([{"Key": "ok", "Value": "v" * 257}], "tags.1.member.value"),
            ([{"Value": "no key"}], "tags.1.member.key"),
            ([{"Key": f"k{i}", "Value": "v"} for i in range(51)], "tags"),
            ("not-a-list", "tags"),
        ]
        for tags, field in bad_tag_lists:
            code, message = refused_wire(
                raw,
                "CreateModel",
                {
                    "ModelName": model,
                    "ExecutionRoleArn": ROLE,
                    "PrimaryContainer": container(xgb_model["url"]),
                    "Tags": tags,
                },
            )
            assert code == "ValidationException", tags
            assert field in message, (field, message)
            model_gone(sm, model)

    def test_tag_key_pattern(self, raw: Any, sm: Any, xgb_model: dict[str, Any]) -> None:
        # TagKey's pattern is ([\p{L}\p{Z}\p{N}_.:/=+\-@]*): '#', '!' and '*' are not allowed.
        model = name("model")
        code, message = refused(
            raw.create_model,
            ModelName=model,
            ExecutionRoleArn=ROLE,
            PrimaryContainer=container(xgb_model["url"]),
            Tags=[{"Key": "bad#key!", "Value": "v"}],
        )
        assert code == "ValidationException"
        assert "tags.1.member.key" in message
        model_gone(sm, model)

    def test_describe_and_delete_missing(self, sm: Any) -> None:
        missing = name("never-made")
        code, message = refused(sm.describe_model, ModelName=missing)
        assert code == "ValidationException"
        assert "Could not find model" in message and missing.lower() in message
        code, message = refused(sm.delete_model, ModelName=missing)
        assert code == "ValidationException"
        assert "Could not find model" in message

    def test_delete_then_recreate_has_fresh_tags(self, sm: Any, xgb_model: dict[str, Any]) -> None:
        model = make_model(sm, xgb_model["url"], Tags=[{"Key": "team", "Value": "a"}])
        arn = sm.describe_model(ModelName=model)["ModelArn"]
        assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "a"}]
        sm.delete_model(ModelName=model)
        model_gone(sm, model)
        make_model(sm, xgb_model["url"], model=model)
        assert sm.list_tags(ResourceArn=arn)["Tags"] == []
        sm.delete_model(ModelName=model)


# --- endpoint configs ------------------------------------------------------------------------------------


class TestEndpointConfigs:
    def test_create_describe_defaults_weight(self, sm: Any, model: str) -> None:
        config = name("Config-MixedCase")
        reply = sm.create_endpoint_config(
            EndpointConfigName=config,
            ProductionVariants=[
                variant(model, "first"),
                variant(model, "second", InitialVariantWeight=3.0, InitialInstanceCount=2),
            ],
        )
        arn = f"{ACCOUNT_REGION}:endpoint-config/{config.lower()}"
        assert reply["EndpointConfigArn"] == arn

        desc = sm.describe_endpoint_config(EndpointConfigName=config)
        assert desc["EndpointConfigName"] == config
        assert desc["EndpointConfigArn"] == arn
        assert isinstance(desc["CreationTime"], dt.datetime)
        variants = {v["VariantName"]: v for v in desc["ProductionVariants"]}
        assert list(variants) == ["first", "second"]
        assert variants["first"]["InitialVariantWeight"] == 1.0
        assert variants["first"]["InitialInstanceCount"] == 1
        assert variants["first"]["ModelName"] == model
        assert variants["first"]["InstanceType"] == "ml.m5.large"
        assert variants["second"]["InitialVariantWeight"] == 3.0
        assert variants["second"]["InitialInstanceCount"] == 2

        listed = sm.list_endpoint_configs(NameContains=config)["EndpointConfigs"]
        assert [(c["EndpointConfigName"], c["EndpointConfigArn"]) for c in listed] == [(config, arn)]

        sm.delete_endpoint_config(EndpointConfigName=config)
        config_gone(sm, config)
        arn_untagged(sm, arn)

    def test_duplicate(self, sm: Any, model: str) -> None:
        config = make_config(sm, model)
        code, message = refused(
            sm.create_endpoint_config, EndpointConfigName=config, ProductionVariants=[variant(model, "other")]
        )
        assert code == "ValidationException"
        assert "Cannot create already existing endpoint configuration" in message
        assert f"endpoint-config/{config.lower()}" in message
        desc = sm.describe_endpoint_config(EndpointConfigName=config)
        assert [v["VariantName"] for v in desc["ProductionVariants"]] == ["v1"]

    def test_missing_model(self, sm: Any) -> None:
        config = name("config")
        missing = name("no-such-model")
        code, message = refused(
            sm.create_endpoint_config, EndpointConfigName=config, ProductionVariants=[variant(missing)]
        )
        assert code == "ValidationException"
        assert "Could not find model" in message and missing.lower() in message
        config_gone(sm, config)

    def test_one_missing_model_among_good_ones(self, sm: Any, model: str) -> None:
        config = name("config")
        code, message = refused(
            sm.create_endpoint_config,
            EndpointConfigName=config,
            ProductionVariants=[variant(model, "good"), variant(name("gone"), "bad")],
        )
        assert code == "ValidationException"
        assert "Could not find model" in message
        config_gone(sm, config)

    def test_duplicate_variant_names(self, sm: Any, model: str) -> None:
        config = name("config")
        code, message = refused(
            sm.create_endpoint_config,
            EndpointConfigName=config,
            ProductionVariants=[variant(model, "same"), variant(model, "same")],
        )
        assert code == "ValidationException"
        assert "same" in message and "unique" in message
        config_gone(sm, config)

    def test_instance_count_over_server_limit(self, sm: Any, model: str) -> None:
        config = name("config")
        code, message = refused(
            sm.create_endpoint_config,
            EndpointConfigName=config,
            ProductionVariants=[variant(model, InitialInstanceCount=17)],
        )
        assert code == "ResourceLimitExceeded"
        assert "17" in message and "16" in message
        config_gone(sm, config)
        # The limit itself is allowed.
        sm.create_endpoint_config(
            EndpointConfigName=config, ProductionVariants=[variant(model, InitialInstanceCount=16)]
        )
        sm.delete_endpoint_config(EndpointConfigName=config)

    @pytest.mark.parametrize(
        ("change", "member", "constraint"),
        [
            ({"InitialInstanceCount": 0}, PV + "initialInstanceCount", "greater than or equal"),
            ({"InitialInstanceCount": "two"}, PV + "initialInstanceCount", "integer"),
            ({"InitialVariantWeight": -1.0}, PV + "initialVariantWeight", "greater than or equal"),
            ({"InitialVariantWeight": "heavy"}, PV + "initialVariantWeight", "number"),
            ({"InstanceType": "ml.bogus"}, PV + "instanceType", "enum value set"),
            ({"VariantName": "under_score"}, PV + "variantName", "regular expression"),
        ],
    )
    def test_bad_variant(
        self, raw: Any, sm: Any, model: str, change: dict[str, Any], member: str, constraint: str
    ) -> None:
        config = name("config")
        spec = {**variant(model), **change}
        code, message = refused_wire(
            raw, "CreateEndpointConfig", {"EndpointConfigName": config, "ProductionVariants": [spec]}
        )
        assert code == "ValidationException"
        assert member in message and constraint in message, message
        config_gone(sm, config)

    def test_bogus_instance_type_lists_choices(self, raw: Any, sm: Any, model: str) -> None:
        config = name("config")
        code, message = refused(
            raw.create_endpoint_config,
            EndpointConfigName=config,
            ProductionVariants=[variant(model, InstanceType="ml.bogus")],
        )
        assert code == "ValidationException"
        assert "ml.bogus" in message and "ml.t2.medium" in message
        config_gone(sm, config)

    def test_missing_or_empty_variants(self, raw: Any, sm: Any) -> None:
        config = name("config")
        code, message = refused(raw.create_endpoint_config, EndpointConfigName=config)
        assert code == "ValidationException"
        assert "productionVariants" in message and "must not be null" in message
        config_gone(sm, config)
        code, message = refused(raw.create_endpoint_config, EndpointConfigName=config, ProductionVariants=[])
        assert code == "ValidationException"
        assert "productionVariants" in message
        config_gone(sm, config)

    def test_bad_config_name(self, raw: Any, sm: Any, model: str) -> None:
        code, message = refused(
            raw.create_endpoint_config, EndpointConfigName="no_underscores", ProductionVariants=[variant(model)]
        )
        assert code == "ValidationException"
        assert "endpointConfigName" in message and "regular expression" in message
        listed = sm.list_endpoint_configs(NameContains="underscores", MaxResults=100)["EndpointConfigs"]
        assert "no_underscores" not in [c["EndpointConfigName"] for c in listed]

    def test_variant_without_model(self, raw: Any, sm: Any) -> None:
        # ProductionVariant.ModelName is optional in the service model (inference-component endpoints
        # leave it out), but a variant that names neither a model nor serverless settings is refused.
        config = name("config")
        spec = {"VariantName": "v1", "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}
        code, message = refused(raw.create_endpoint_config, EndpointConfigName=config, ProductionVariants=[spec])
        assert code == "ValidationException"
        assert "ModelName" in message
        config_gone(sm, config)

    def test_all_weights_zero(self, sm: Any, model: str) -> None:
        config = name("config")
        code, message = refused(
            sm.create_endpoint_config,
            EndpointConfigName=config,
            ProductionVariants=[
                variant(model, "a", InitialVariantWeight=0.0),
                variant(model, "b", InitialVariantWeight=0.0),
            ],
        )
        assert code == "ValidationException"
        assert "InitialVariantWeight" in message
        config_gone(sm, config)

    @pytest.mark.parametrize(
        ("key", "value"),
        [
            (
                "ExplainerConfig",
                {"ClarifyExplainerConfig": {"ShapConfig": {"ShapBaselineConfig": {"ShapBaseline": "1,2"}}}},
            ),
        ],
    )
    def test_unsupported_config_features(self, sm: Any, model: str, key: str, value: dict[str, Any]) -> None:
        config = name("config")
        code, message = refused(
            sm.create_endpoint_config, EndpointConfigName=config, ProductionVariants=[variant(model)], **{key: value}
        )
        assert code == "ValidationException"
        assert key.split("Config")[0] in message and "not support" in message
        config_gone(sm, config)

    def test_serverless_variant_with_instances_refused(self, sm: Any, model: str) -> None:
        config = name("config")
        spec = {
            "VariantName": "v1",
            "ModelName": model,
            "ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 5},
            "InitialInstanceCount": 1,
        }
        code, message = refused(sm.create_endpoint_config, EndpointConfigName=config, ProductionVariants=[spec])
        assert code == "ValidationException"
        assert "ServerlessConfig" in message and "remove InitialInstanceCount" in message
        config_gone(sm, config)

    def test_describe_and_delete_missing(self, sm: Any) -> None:
        missing = name("never-made")
        for call in (sm.describe_endpoint_config, sm.delete_endpoint_config):
            code, message = refused(call, EndpointConfigName=missing)
            assert code == "ValidationException"
            assert "Could not find endpoint configuration" in message and missing in message

    def test_bad_tags_leave_no_config(self, raw: Any, sm: Any, model: str) -> None:
        config = name("config")
        code, message = refused(
            raw.create_endpoint_config,
            EndpointConfigName=config,
            ProductionVariants=[variant(model)],
            Tags=[{"Key": "", "Value": "v"}],
        )
        assert code == "ValidationException"
        assert "tags.1.member.key" in message
        config_gone(sm, config)

    def test_model_may_be_deleted_while_config_uses_it(self, sm: Any, xgb_model: dict[str, Any]) -> None:
        own = make_model(sm, xgb_model["url"])
        config = make_config(sm, own)
        sm.delete_model(ModelName=own)
        model_gone(sm, own)
        desc = sm.describe_endpoint_config(EndpointConfigName=config)
        assert desc["ProductionVariants"][0]["ModelName"] == own


# --- endpoints -------------------------------------------------------------------------------------------


class TestEndpoints:
    def test_missing_config(self, sm: Any) -> None:
        endpoint = name("endpoint")
        missing = name("no-such-config")
        code, message = refused(sm.create_endpoint, EndpointName=endpoint, EndpointConfigName=missing)
        assert code == "ValidationException"
        assert "Could not find endpoint configuration" in message and missing in message
        endpoint_gone(sm, endpoint)

    def test_config_whose_model_was_deleted(self, sm: Any, xgb_model: dict[str, Any]) -> None:
        own = make_model(sm, xgb_model["url"])
        config = make_config(sm, own)
        sm.delete_model(ModelName=own)
        endpoint = name("endpoint")
        code, message = refused(sm.create_endpoint, EndpointName=endpoint, EndpointConfigName=config)
        assert code == "ValidationException"
        assert "Could not find model" in message
        endpoint_gone(sm, endpoint)

    def test_a_rolling_batch_over_half_the_variant_is_refused(self, sm: Any, model: str) -> None:
        config = make_config(sm, model)
        endpoint = name("endpoint")
        code, message = refused(
            sm.create_endpoint, EndpointName=endpoint, EndpointConfigName=config, DeploymentConfig=ROLLING
        )
        assert code == "ValidationException"
        assert "MaximumBatchSize must be between 5% and 50%" in message and "is 100%" in message
        endpoint_gone(sm, endpoint)

    def test_missing_members_and_bad_name(self, raw: Any, sm: Any, model: str) -> None:
        config = make_config(sm, model)
        code, message = refused(raw.create_endpoint, EndpointName=name("endpoint"))
        assert code == "ValidationException"
        assert "endpointConfigName" in message and "must not be null" in message
        code, message = refused(raw.create_endpoint, EndpointConfigName=config)
        assert code == "ValidationException"
        assert "endpointName" in message and "must not be null" in message
        code, message = refused(raw.create_endpoint, EndpointName="not.valid", EndpointConfigName=config)
        assert code == "ValidationException"
        assert "endpointName" in message and "regular expression" in message
        code, message = refused(raw.create_endpoint, EndpointName=123, EndpointConfigName=config)
        assert code == "ValidationException"
        assert "endpointName" in message and "string" in message

    def test_bad_tags_leave_no_endpoint(self, raw: Any, sm: Any, model: str) -> None:
        config = make_config(sm, model)
        endpoint = name("endpoint")
        code, message = refused(
            raw.create_endpoint, EndpointName=endpoint, EndpointConfigName=config, Tags=[{"Key": "k", "Value": 5}]
        )
        assert code == "ValidationException"
        assert "tags.1.member.value" in message
        endpoint_gone(sm, endpoint)

    def test_describe_update_delete_missing(self, sm: Any, model: str) -> None:
        missing = name("never-made")
        for call in (sm.describe_endpoint, sm.delete_endpoint):
            code, message = refused(call, EndpointName=missing)
            assert code == "ValidationException"
            assert "Could not find endpoint" in message and missing in message
        code, message = refused(sm.update_endpoint, EndpointName=missing, EndpointConfigName=make_config(sm, model))
        assert code == "ValidationException"
        assert "Could not find endpoint" in message

    def test_failed_endpoint_lifecycle(self, sm: Any, failing_endpoint: dict[str, str]) -> None:
        endpoint, config = failing_endpoint["endpoint"], failing_endpoint["config"]
        arn = f"{ACCOUNT_REGION}:endpoint/{endpoint.lower()}"
        desc = sm.describe_endpoint(EndpointName=endpoint)
        assert desc["EndpointArn"] == arn
        assert desc["EndpointName"] == endpoint
        assert desc["EndpointConfigName"] == config
        assert desc["EndpointStatus"] in ("Creating", "Failed")
        assert isinstance(desc["CreationTime"], dt.datetime)
        assert isinstance(desc["LastModifiedTime"], dt.datetime)

        # Duplicates are refused whatever state the first one is in.
        code, message = refused(sm.create_endpoint, EndpointName=endpoint, EndpointConfigName=config)
        assert code == "ValidationException"
        assert "Cannot create already existing endpoint" in message and arn in message

        failed = wait_status(sm, endpoint, "Failed")
        reason = failed["FailureReason"].lower()
        assert "archive" in reason or "tar.gz" in reason
        assert failed["EndpointArn"] == arn

        listed = sm.list_endpoints(NameContains=endpoint)["Endpoints"]
        assert [(e["EndpointName"], e["EndpointArn"], e["EndpointStatus"]) for e in listed] == [
            (endpoint, arn, "Failed")
        ]

        # A Failed endpoint cannot be updated: only deleted.
        code, message = refused(sm.update_endpoint, EndpointName=endpoint, EndpointConfigName=config)
        assert code == "ValidationException"
        assert endpoint.lower() in message and "InService" in message
        code, message = refused(
            sm.update_endpoint_weights_and_capacities,
            EndpointName=endpoint,
            DesiredWeightsAndCapacities=[{"VariantName": "v1", "DesiredWeight": 2.0}],
        )
        assert code == "ValidationException"
        assert "InService" in message
        assert sm.describe_endpoint(EndpointName=endpoint)["EndpointStatus"] == "Failed"

        sm.delete_endpoint(EndpointName=endpoint)
        wait_gone(sm, endpoint)
        endpoint_gone(sm, endpoint)
        arn_untagged(sm, arn)

    def test_update_while_creating(self, sm: Any, failing_endpoint: dict[str, str]) -> None:
        endpoint, config = failing_endpoint["endpoint"], failing_endpoint["config"]
        status = sm.describe_endpoint(EndpointName=endpoint)["EndpointStatus"]
        assert status in ("Creating", "Failed")
        code, message = refused(sm.update_endpoint, EndpointName=endpoint, EndpointConfigName=config)
        assert code == "ValidationException"
        assert endpoint.lower() in message

    def test_config_may_be_deleted_while_endpoint_uses_it(self, sm: Any, failing_endpoint: dict[str, str]) -> None:
        endpoint, config = failing_endpoint["endpoint"], failing_endpoint["config"]
        sm.delete_endpoint_config(EndpointConfigName=config)
        config_gone(sm, config)
        assert sm.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"] == config


# --- lists -----------------------------------------------------------------------------------------------


def names_of(items: list[dict[str, Any]], key: str) -> list[str]:
    return [item[key] for item in items]


@pytest.fixture(scope="module")
def listed_models(sm: Any, xgb_model: dict[str, Any]) -> dict[str, Any]:
    stem = name("lsm")
    names = [f"{stem}-{letter}" for letter in "cabed"]  # creation order differs from name order
    times = []
    for n in names:
        make_model(sm, xgb_model["url"], model=n)
        times.append(sm.describe_model(ModelName=n)["CreationTime"])
    return {"stem": stem, "names": names, "times": times}


@pytest.fixture(scope="module")
def listed_configs(sm: Any, model: str) -> dict[str, Any]:
    stem = name("lsc")
    names = [f"{stem}-{letter}" for letter in "cabed"]
    times = []
    for n in names:
        make_config(sm, model, config=n)
        times.append(sm.describe_endpoint_config(EndpointConfigName=n)["CreationTime"])
    return {"stem": stem, "names": names, "times": times}


@pytest.fixture(scope="module")
def listed_endpoints(sm: Any, garbage_url: str) -> Iterator[dict[str, Any]]:
    stem = name("lse")
    own_model = make_model(sm, garbage_url)
    config = make_config(sm, own_model)
    names = [f"{stem}-{letter}" for letter in "cabed"]
    times = []
    for n in names:
        sm.create_endpoint(EndpointName=n, EndpointConfigName=config)
        times.append(sm.describe_endpoint(EndpointName=n)["CreationTime"])
    for n in names:
        wait_status(sm, n, "Failed")
    yield {"stem": stem, "names": names, "times": times}
    for n in names:
        with contextlib.suppress(ClientError):
            sm.delete_endpoint(EndpointName=n)


CASES = {
    "models": ("list_models", "Models", "ModelName", "listed_models"),
    "configs": ("list_endpoint_configs", "EndpointConfigs", "EndpointConfigName", "listed_configs"),
    "endpoints": ("list_endpoints", "Endpoints", "EndpointName", "listed_endpoints"),
}


@pytest.fixture(params=list(CASES))
def listing(request: pytest.FixtureRequest, sm: Any) -> dict[str, Any]:
    operation, items_key, name_key, fixture = CASES[request.param]
    made = request.getfixturevalue(fixture)
    return {**made, "call": getattr(sm, operation), "operation": operation, "items": items_key, "key": name_key}


class TestLists:
    def test_name_contains_is_case_insensitive(self, listing: dict[str, Any]) -> None:
        call, items, key, stem = listing["call"], listing["items"], listing["key"], listing["stem"]
        for needle in (stem, stem.upper(), stem.title()):
            found = names_of(call(NameContains=needle, MaxResults=100)[items], key)
            assert sorted(found) == sorted(listing["names"]), needle
        one = listing["names"][2]
        assert names_of(call(NameContains=one.upper())[items], key) == [one]
        assert call(NameContains=stem + "-zzz")[items] == []

    def test_default_sort_is_creation_time_descending(self, listing: dict[str, Any]) -> None:
        found = names_of(listing["call"](NameContains=listing["stem"])[listing["items"]], listing["key"])
        assert found == listing["names"][::-1]

    @pytest.mark.parametrize(
        ("sort_by", "order"),
        [
            ("Name", "Ascending"),
            ("Name", "Descending"),
            ("CreationTime", "Ascending"),
            ("CreationTime", "Descending"),
        ],
    )
    def test_sort(self, listing: dict[str, Any], sort_by: str, order: str) -> None:
        found = names_of(
            listing["call"](NameContains=listing["stem"], SortBy=sort_by, SortOrder=order)[listing["items"]],
            listing["key"],
        )
        expected = sorted(listing["names"]) if sort_by == "Name" else list(listing["names"])
        assert found == (expected if order == "Ascending" else expected[::-1])

    @pytest.mark.parametrize("page_size", [1, 2, 3])
    def test_pagination(self, listing: dict[str, Any], page_size: int) -> None:
        pages = all_pages(
            listing["call"],
            listing["items"],
            NameContains=listing["stem"],
            MaxResults=page_size,
            SortBy="Name",
            SortOrder="Ascending",
        )
        assert all(len(page) <= page_size for page in pages)
        assert all(pages[:-1]), "only the last page may be short"
        found = [item[listing["key"]] for page in pages for item in page]
        assert len(found) == len(set(found)), "a name appears on two pages"
        assert found == sorted(listing["names"])
        assert len(pages) == -(-len(listing["names"]) // page_size)

    def test_paginator(self, sm: Any, listing: dict[str, Any]) -> None:
        paginator = sm.get_paginator(listing["operation"])
        pages = list(paginator.paginate(NameContains=listing["stem"], PaginationConfig={"PageSize": 2}))
        assert len(pages) == 3
        found = [item[listing["key"]] for page in pages for item in page[listing["items"]]]
        assert found == listing["names"][::-1]
        full = paginator.paginate(NameContains=listing["stem"]).build_full_result()
        assert names_of(full[listing["items"]], listing["key"]) == listing["names"][::-1]

    def test_creation_time_window(self, listing: dict[str, Any]) -> None:
        call, items, key, stem = listing["call"], listing["items"], listing["key"], listing["stem"]
        first, last = min(listing["times"]), max(listing["times"])
        early, late = first - dt.timedelta(seconds=2), last + dt.timedelta(seconds=2)
        everything = sorted(listing["names"])
        assert sorted(names_of(call(NameContains=stem, CreationTimeAfter=early)[items], key)) == everything
        assert call(NameContains=stem, CreationTimeAfter=late)[items] == []
        assert sorted(names_of(call(NameContains=stem, CreationTimeBefore=late)[items], key)) == everything
        assert call(NameContains=stem, CreationTimeBefore=early)[items] == []
        both = call(NameContains=stem, CreationTimeAfter=early, CreationTimeBefore=late)[items]
        assert sorted(names_of(both, key)) == everything

    @pytest.mark.parametrize("token", ["garbage!!", "not-a-token", "Zm9v", "eyJvZmZzZXQiOiAtMX0="])
    def test_garbage_next_token(self, listing: dict[str, Any], token: str) -> None:
        code, message = refused(listing["call"], NextToken=token)
        assert code == "ValidationException"
        assert "NextToken" in message

    def test_max_results_out_of_range(self, raw: Any, listing: dict[str, Any]) -> None:
        call = getattr(raw, listing["operation"])
        for bad in (0, 101):
            code, message = refused(call, MaxResults=bad)
            assert code == "ValidationException"
            assert "maxResults" in message

    def test_bad_sort_values(self, raw: Any, listing: dict[str, Any]) -> None:
        call = getattr(raw, listing["operation"])
        code, message = refused(call, SortBy="Size")
        assert code == "ValidationException"
        assert "sortBy" in message and "Name" in message
        code, message = refused(call, SortOrder="Sideways")
        assert code == "ValidationException"
        assert "sortOrder" in message and "Ascending" in message
        code, message = refused(call, NameContains="no_underscores")
        assert code == "ValidationException"
        assert "nameContains" in message


class TestListEndpointsStatus:
    def test_status_equals(self, sm: Any, listed_endpoints: dict[str, Any]) -> None:
        stem = listed_endpoints["stem"]
        failed = sm.list_endpoints(NameContains=stem, StatusEquals="Failed", MaxResults=100)["Endpoints"]
        assert sorted(names_of(failed, "EndpointName")) == sorted(listed_endpoints["names"])
        assert {e["EndpointStatus"] for e in failed} == {"Failed"}
        assert sm.list_endpoints(NameContains=stem, StatusEquals="InService")["Endpoints"] == []
        assert sm.list_endpoints(NameContains=stem, StatusEquals="Creating")["Endpoints"] == []

    def test_sort_by_status(self, sm: Any, listed_endpoints: dict[str, Any]) -> None:
        found = sm.list_endpoints(NameContains=listed_endpoints["stem"], SortBy="Status")["Endpoints"]
        assert sorted(names_of(found, "EndpointName")) == sorted(listed_endpoints["names"])

    def test_bad_status(self, raw: Any) -> None:
        code, message = refused(raw.list_endpoints, StatusEquals="Sleeping")
        assert code == "ValidationException"
        assert "statusEquals" in message and "InService" in message


# --- tags ------------------------------------------------------------------------------------------------


class TestTags:
    def test_round_trip_on_model(self, sm: Any, xgb_model: dict[str, Any]) -> None:
        model = make_model(sm, xgb_model["url"], Tags=[{"Key": "team", "Value": "ml"}])
        arn = sm.describe_model(ModelName=model)["ModelArn"]
        assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "ml"}]

        added = sm.add_tags(
            ResourceArn=arn, Tags=[{"Key": "stage", "Value": "dev"}, {"Key": "team", "Value": "platform"}]
        )
        assert added["Tags"] == [{"Key": "stage", "Value": "dev"}, {"Key": "team", "Value": "platform"}]
        tags = {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=arn)["Tags"]}
        assert tags == {"stage": "dev", "team": "platform"}

        sm.delete_tags(ResourceArn=arn, TagKeys=["team", "not-there"])
        assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "stage", "Value": "dev"}]

        sm.add_tags(ResourceArn=arn, Tags=[{"Key": "empty", "Value": ""}])
        tags = {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=arn)["Tags"]}
        assert tags == {"stage": "dev", "empty": ""}

    def test_tags_at_create_on_config_and_endpoint(self, sm: Any, model: str, garbage_url: str) -> None:
        config = make_config(sm, model, Tags=[{"Key": "kind", "Value": "config"}])
        config_arn = sm.describe_endpoint_config(EndpointConfigName=config)["EndpointConfigArn"]
        assert sm.list_tags(ResourceArn=config_arn)["Tags"] == [{"Key": "kind", "Value": "config"}]

        bad_config = make_config(sm, make_model(sm, garbage_url))
        endpoint = name("endpoint")
        reply = sm.create_endpoint(
            EndpointName=endpoint, EndpointConfigName=bad_config, Tags=[{"Key": "kind", "Value": "endpoint"}]
        )
        try:
            tags = sm.list_tags(ResourceArn=reply["EndpointArn"])["Tags"]
            assert tags == [{"Key": "kind", "Value": "endpoint"}]
            sm.add_tags(ResourceArn=reply["EndpointArn"], Tags=[{"Key": "more", "Value": "1"}])
            assert len(sm.list_tags(ResourceArn=reply["EndpointArn"])["Tags"]) == 2
        finally:
            sm.delete_endpoint(EndpointName=endpoint)
        wait_gone(sm, endpoint)
        arn_untagged(sm, reply["EndpointArn"])

    def test_missing_arn(self, sm: Any) -> None:
        arn = f"{ACCOUNT_REGION}:model/{name('never-made')}"
        for call, params in (
            (sm.add_tags, {"Tags": [{"Key": "k", "Value": "v"}]}),
            (sm.list_tags, {}),
            (sm.delete_tags, {"TagKeys": ["k"]}),
        ):
            code, message = refused(call, ResourceArn=arn, **params)
            assert code == "ValidationException"
            assert arn in message

    def test_too_many_tags_adds_none(self, sm: Any, xgb_model: dict[str, Any]) -> None:
        model = make_model(sm, xgb_model["url"], Tags=[{"Key": f"k{i:02d}", "Value": "v"} for i in range(45)])
        arn = sm.describe_model(ModelName=model)["ModelArn"]
        code, message = refused(
            sm.add_tags, ResourceArn=arn, Tags=[{"Key": f"new{i}", "Value": "v"} for i in range(10)]
        )
        assert code == "ValidationException"
        assert "50" in message
        tags = sm.list_tags(ResourceArn=arn)["Tags"]
        assert len(tags) == 45 and not any(t["Key"].startswith("new") for t in tags)

    def test_bad_tag_input(self, raw: Any, sm: Any, xgb_model: dict[str, Any]) -> None:
        model = make_model(sm, xgb_model["url"])
        arn = sm.describe_model(ModelName=model)["ModelArn"]
        for tags, field in (
            ([{"Key": "", "Value": "v"}], "tags.1.member.key"),
            ([{"Key": "k" * 129, "Value": "v"}], "tags.1.member.key"),
            ([{"Key": f"k{i}", "Value": "v"} for i in range(51)], "tags"),
        ):
            code, message = refused(raw.add_tags, ResourceArn=arn, Tags=tags)
            assert code == "ValidationException"
            assert field in message
        code, message = refused(raw.add_tags, ResourceArn=arn)
        assert code == "ValidationException"
        assert "tags" in message and "must not be null" in message
        code, message = refused(raw.delete_tags, ResourceArn=arn, TagKeys=[])
        assert code == "ValidationException"
        assert "tagKeys" in message
        assert sm.list_tags(ResourceArn=arn)["Tags"] == []


# --- endpoints that reach InService (need the model runtime) ---------------------------------------------


@needs_runtime
class TestNeedsRuntime:
    def test_in_service_describe_update_delete(self, sm: Any, xgb_model: dict[str, Any]) -> None:
        names = deploy(sm, xgb_model["url"])
        endpoint = names["endpoint"]
        try:
            desc = wait_in_service(sm, endpoint)
            assert desc["EndpointArn"] == f"{ACCOUNT_REGION}:endpoint/{endpoint.lower()}"
            assert desc["EndpointConfigName"] == names["config"]
            [summary] = desc["ProductionVariants"]
            assert summary["VariantName"] == "v1"
            assert summary["CurrentInstanceCount"] == summary["DesiredInstanceCount"] == 1
            assert summary["CurrentWeight"] == 1.0
            assert "FailureReason" not in desc
            listed = sm.list_endpoints(NameContains=endpoint, StatusEquals="InService")["Endpoints"]
            assert names_of(listed, "EndpointName") == [endpoint]

            # Refused updates leave the endpoint as it was: a rolling batch of 1 instance is all of this variant.
            code, message = refused(
                sm.update_endpoint,
                EndpointName=endpoint,
                EndpointConfigName=names["config"],
                DeploymentConfig=ROLLING,
            )
            assert code == "ValidationException"
            assert "MaximumBatchSize must be between 5% and 50% of variant v1's 1 instance(s)" in message
            code, message = refused(
                sm.update_endpoint_weights_and_capacities,
                EndpointName=endpoint,
                DesiredWeightsAndCapacities=[{"VariantName": "v1", "DesiredInstanceCount": 17}],
            )
            assert code == "ResourceLimitExceeded"
            code, message = refused(
                sm.update_endpoint_weights_and_capacities,
                EndpointName=endpoint,
                DesiredWeightsAndCapacities=[{"VariantName": "nope", "DesiredWeight": 1.0}],
            )
            assert code == "ValidationException"
            assert "nope" in message
            assert sm.describe_endpoint(EndpointName=endpoint)["EndpointStatus"] == "InService"

            # A real update: the endpoint moves to the new config and its variants.
            config2 = name("config")
            sm.create_endpoint_config(
                EndpointConfigName=config2, ProductionVariants=[variant(names["model"], "v2", InitialVariantWeight=2.0)]
            )
            sm.update_endpoint(EndpointName=endpoint, EndpointConfigName=config2)
            assert sm.describe_endpoint(EndpointName=endpoint)["EndpointStatus"] in ("Updating", "InService")
            desc = wait_in_service(sm, endpoint)
            assert desc["EndpointConfigName"] == config2
            summaries = [(v["VariantName"], v["CurrentWeight"]) for v in desc["ProductionVariants"]]
            assert summaries == [("v2", 2.0)]
        finally:
            sm.delete_endpoint(EndpointName=endpoint)
        wait_gone(sm, endpoint)
        endpoint_gone(sm, endpoint)
