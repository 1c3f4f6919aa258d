"""CreateEndpointConfig, DescribeEndpointConfig, ListEndpointConfigs, DeleteEndpointConfig."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from homeport.core.arns import arn
from homeport.errors import ResourceLimitExceeded, ValidationError
from homeport.services import listing
from homeport.services.context import Context, insert_new, public
from homeport.services.models import ModelService
from homeport.store import Kind

# Parts of the API that later issues build; refused now rather than accepted and ignored.
NOT_YET = {
    "ExplainerConfig": "explainers",
}
VARIANT_NOT_YET = {
    "ManagedInstanceScaling": "managed instance scaling",
    "RoutingConfig": "routing strategies",
}


class EndpointConfigService:
    def __init__(self, ctx: Context, models: ModelService) -> None:
        self.ctx = ctx
        self.models = models

    def create(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["EndpointConfigName"]
        for key, what in NOT_YET.items():
            if key in params:
                raise ValidationError(f"homeport does not support {what} ({key}) yet; remove {key}.")
        variants = [self._variant(v) for v in params["ProductionVariants"]]
        shadows = [self._variant(v) for v in params.get("ShadowProductionVariants", [])]
        if shadows and (len(variants) != 1 or len(shadows) != 1):
            raise ValidationError(
                "With ShadowProductionVariants, give exactly one production variant and one shadow variant "
                f"(this config has {len(variants)} and {len(shadows)})."
            )
        if shadows and "AsyncInferenceConfig" in params:
            raise ValidationError("Shadow variants are for real-time endpoints: remove AsyncInferenceConfig.")
        names = [v["VariantName"] for v in [*variants, *shadows]]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValidationError(
                f"Variant names must be unique within an endpoint config: "
                f"{', '.join(duplicates)} appears more than once."
            )
        serverless = [v["VariantName"] for v in [*variants, *shadows] if "ServerlessConfig" in v]
        if serverless:
            _check_serverless(params, serverless, len(variants), bool(shadows))
        if sum(v["InitialVariantWeight"] for v in variants) <= 0:
            raise ValidationError("At least one production variant needs an InitialVariantWeight above 0.")
        config_arn = arn(self.ctx.settings, "endpoint-config", name)
        doc: dict[str, Any] = {
            "EndpointConfigName": name,
            "EndpointConfigArn": config_arn,
            "ProductionVariants": variants,
            "CreationTime": self.ctx.clock.now(),
        }
        if shadows:
            doc["ShadowProductionVariants"] = shadows
        if "AsyncInferenceConfig" in params:
            doc["AsyncInferenceConfig"] = _async_config(params["AsyncInferenceConfig"])
        if "DataCaptureConfig" in params:
            doc["DataCaptureConfig"] = _capture_config(params["DataCaptureConfig"])
        for key in ("KmsKeyId", "ExecutionRoleArn", "VpcConfig", "EnableNetworkIsolation"):
            if key in params:
                doc[key] = params[key]
        store = self.ctx.store
        with store.transaction() as conn:
            for variant in [*variants, *shadows]:
                model = self.models.get(conn, variant["ModelName"])
                if "ServerlessConfig" in variant:
                    _check_serverless_model(variant["VariantName"], model)
            insert_new(
                self.ctx,
                conn,
                Kind.ENDPOINT_CONFIG,
                doc,
                name=name,
                arn=config_arn,
                label="endpoint configuration",
                tags=params.get("Tags", []),
            )
        return {"EndpointConfigArn": config_arn}

    def _variant(self, variant: dict[str, Any]) -> dict[str, Any]:
        name = variant["VariantName"]
        for key, what in VARIANT_NOT_YET.items():
            if key in variant:
                raise ValidationError(f"homeport does not support {what} ({key}) yet; variant {name}.")
        if not variant.get("ModelName"):
            raise ValidationError(f"Variant {name} needs a ModelName: the model it serves.")
        if "ServerlessConfig" in variant:
            _check_serverless_variant(variant)
            return {**variant, "InitialVariantWeight": variant.get("InitialVariantWeight", 1.0)}
        if "InstanceType" not in variant or "InitialInstanceCount" not in variant:
            raise ValidationError(
                f"Variant {name} needs either InstanceType and InitialInstanceCount (instances) or a "
                "ServerlessConfig (serverless)."
            )
        limit = self.ctx.settings.max_instances_per_variant
        if variant["InitialInstanceCount"] > limit:
            raise ResourceLimitExceeded(
                f"Variant {name} asks for {variant['InitialInstanceCount']} instances; this server allows "
                f"at most {limit} per variant (HOMEPORT_MAX_INSTANCES_PER_VARIANT)."
            )
        return {**variant, "InitialVariantWeight": variant.get("InitialVariantWeight", 1.0)}

    def get(self, conn: Any, name: str) -> dict[str, Any]:
        doc = self.ctx.store.get(conn, Kind.ENDPOINT_CONFIG, name)
        if doc is None:
            raise ValidationError(f'Could not find endpoint configuration "{name}".')
        return doc

    def describe(self, name: str) -> dict[str, Any]:
        with self.ctx.store.reading() as conn:
            return public(self.get(conn, name))

    def list(self, params: dict[str, Any]) -> dict[str, Any]:
        return listing.list_reply(
            self.ctx.store,
            Kind.ENDPOINT_CONFIG,
            params,
            "EndpointConfigs",
            ("EndpointConfigName", "EndpointConfigArn", "CreationTime"),
        )

    def delete(self, name: str) -> dict[str, Any]:
        # As in SageMaker, a config in use may be deleted: the endpoint keeps what it deployed.
        with self.ctx.store.transaction() as conn:
            self.get(conn, name)
            self.ctx.store.delete(conn, Kind.ENDPOINT_CONFIG, name)
        return {}


# What a serverless variant cannot have: they describe instances.
SERVERLESS_EXCLUDES = (
    "InstanceType",
    "InitialInstanceCount",
    "InstancePools",
    "AcceleratorType",
    "VolumeSizeInGB",
    "InferenceAmiVersion",
    "CapacityReservationConfig",
    "VariantInstanceProvisionTimeoutInSeconds",
    "CoreDumpConfig",
    "EnableSSMAccess",
)


def _check_serverless_variant(variant: dict[str, Any]) -> None:
    name, config = variant["VariantName"], variant["ServerlessConfig"]
    given = [key for key in SERVERLESS_EXCLUDES if key in variant]
    if given:
        raise ValidationError(
            f"Variant {name} has a ServerlessConfig and {', '.join(given)}: a serverless variant has no instances to "
            f"describe; remove {', '.join(given)}."
        )
    memory = config["MemorySizeInMB"]
    if memory % 1024:
        raise ValidationError(
            f"ServerlessConfig.MemorySizeInMB of variant {name} is {memory}: use 1024, 2048, 3072, 4096, 5120 or 6144."
        )
    provisioned = config.get("ProvisionedConcurrency")
    if provisioned is not None and provisioned > config["MaxConcurrency"]:
        raise ValidationError(
            f"ServerlessConfig.ProvisionedConcurrency ({provisioned}) of variant {name} must not exceed its "
            f"MaxConcurrency ({config['MaxConcurrency']})."
        )


def _check_serverless(params: dict[str, Any], serverless: list[str], variants: int, shadows: bool) -> None:
    """What SageMaker does not support on a serverless endpoint."""
    if shadows:
        raise ValidationError("Serverless variants cannot be used with ShadowProductionVariants.")
    if variants > 1:
        raise ValidationError(
            f"A serverless endpoint has exactly one production variant; this config has {variants} "
            f"(serverless: {', '.join(serverless)})."
        )
    for key in ("AsyncInferenceConfig", "DataCaptureConfig", "VpcConfig", "EnableNetworkIsolation"):
        if params.get(key):
            raise ValidationError(f"{key} is not supported for serverless endpoints; remove it or use instances.")


def _check_serverless_model(variant: str, model: dict[str, Any]) -> None:
    name = model["ModelName"]
    containers = model.get("Containers") or [model.get("PrimaryContainer") or {}]
    if len(containers) > 1:
        raise ValidationError(
            f"Model {name} of variant {variant} has {len(containers)} containers: serverless endpoints do not "
            "support inference pipelines or multi-container models."
        )
    if containers[0].get("Mode") == "MultiModel":
        raise ValidationError(
            f"Model {name} of variant {variant} is a multi-model container (Mode MultiModel): serverless endpoints "
            "serve one model."
        )
    for key in ("VpcConfig", "EnableNetworkIsolation"):
        if model.get(key):
            raise ValidationError(
                f"Model {name} of variant {variant} sets {key}, which serverless endpoints do not support."
            )


def _async_config(config: dict[str, Any]) -> dict[str, Any]:
    """AsyncInferenceConfig as SageMaker takes it; outputs must go to s3:// (the object store)."""
    output = config["OutputConfig"]
    for key in ("SuccessTopic", "ErrorTopic"):
        topic = output.get("NotificationConfig", {}).get(key)
        if topic and not _is_webhook(topic):
            raise ValidationError(
                f"AsyncInferenceConfig.OutputConfig.NotificationConfig.{key} is {topic!r}: homeport cannot publish "
                "to SNS; give an http:// or https:// URL instead, and homeport POSTs each notification there as "
                "the JSON message SageMaker would publish."
            )
    if "S3OutputPath" not in output:
        raise ValidationError("AsyncInferenceConfig.OutputConfig needs an S3OutputPath: where results are written.")
    for key in ("S3OutputPath", "S3FailurePath"):
        if key in output and not output[key].startswith("s3://"):
            raise ValidationError(f"AsyncInferenceConfig.OutputConfig.{key} must be an s3:// URI, not {output[key]!r}.")
    return config


def _capture_config(config: dict[str, Any]) -> dict[str, Any]:
    """DataCaptureConfig as SageMaker takes it: captures go to an s3:// prefix."""
    check_capture_destination(config["DestinationS3Uri"])
    return {"EnableCapture": True, **config}


def check_capture_destination(destination: str) -> None:
    """An endpoint's or a transform job's DataCaptureConfig.DestinationS3Uri: an s3:// prefix."""
    if not destination.startswith("s3://") or len(destination) <= len("s3://"):
        raise ValidationError(
            f"DataCaptureConfig.DestinationS3Uri must be an s3:// URI (s3://bucket/prefix), not {destination!r}."
        )


def _is_webhook(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)
