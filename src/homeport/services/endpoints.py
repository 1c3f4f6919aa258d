"""CreateEndpoint, DescribeEndpoint, ListEndpoints, DeleteEndpoint, UpdateEndpoint,
UpdateEndpointWeightsAndCapacities.

The service records what the user wants — the endpoint's *target*: which config, and per variant its
container, instance count and weight, copied from the config and model so that deleting those later
changes nothing — and wakes the endpoint controller, which makes the instances match.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from homeport.core.arns import arn
from homeport.core.states import REDEPLOYABLE, UPDATABLE, EndpointStatus, move
from homeport.errors import ResourceLimitExceeded, ValidationError
from homeport.services import deployments, events, listing
from homeport.services import notifications as messages
from homeport.services.async_invocations import backlog_metrics
from homeport.services.context import Context, insert_new, public
from homeport.services.endpoint_configs import EndpointConfigService
from homeport.services.models import ModelService, deployable
from homeport.store import Kind, async_queue, notifications

RECENT = 20  # notifications DescribeEndpoint shows


class EndpointService:
    def __init__(self, ctx: Context, models: ModelService, configs: EndpointConfigService) -> None:
        self.ctx = ctx
        self.models = models
        self.configs = configs

    # --- create / describe / list / delete -----------------------------------------------------------

    def create(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["EndpointName"]
        endpoint_arn = arn(self.ctx.settings, "endpoint", name)
        store = self.ctx.store
        with store.transaction() as conn:
            config = self.configs.get(conn, params["EndpointConfigName"])
            target = self._target(conn, config, current=None, retain=False)
            if "DeploymentConfig" in params:  # kept for later updates (RetainDeploymentConfig), as SageMaker does
                deployments.check(conn, params["DeploymentConfig"], [], target["variants"], bool(target.get("shadows")))
            if store.count(conn, Kind.ENDPOINT) >= self.ctx.settings.max_endpoints:
                raise ResourceLimitExceeded(
                    f"This server allows at most {self.ctx.settings.max_endpoints} endpoints "
                    "(HOMEPORT_MAX_ENDPOINTS); delete one first."
                )
            now = self.ctx.clock.now()
            doc: dict[str, Any] = {
                "EndpointName": name,
                "EndpointArn": endpoint_arn,
                "EndpointConfigName": config["EndpointConfigName"],
                "ProductionVariants": [variant_summary(v, 0.0, 0) for v in target["variants"]],
                "EndpointStatus": EndpointStatus.CREATING.value,
                "CreationTime": now,
                "LastModifiedTime": now,
                "_target": target,
                "_serving": None,
            }
            if "async" in target:
                doc["AsyncInferenceConfig"] = target["async"]
            if "DeploymentConfig" in params:
                doc["LastDeploymentConfig"] = params["DeploymentConfig"]
            self._test_topics(conn, name, target)
            insert_new(
                self.ctx,
                conn,
                Kind.ENDPOINT,
                doc,
                name=name,
                arn=endpoint_arn,
                label="endpoint",
                tags=params.get("Tags", []),
                status=doc["EndpointStatus"],
            )
            events.endpoint(conn, self.ctx.settings, doc, now)
        self.ctx.wake()
        return {"EndpointArn": endpoint_arn}

    def get(self, conn: Any, name: str) -> dict[str, Any]:
        doc = self.ctx.store.get(conn, Kind.ENDPOINT, name)
        if doc is None:
            raise ValidationError(f'Could not find endpoint "{name}".')
        return doc

    def describe(self, name: str) -> dict[str, Any]:
        with self.ctx.store.reading() as conn:
            stored = self.get(conn, name)
            doc = public(stored)
            capture = (stored["_serving"] or stored["_target"]).get("capture")
            if capture:
                doc["DataCaptureConfig"] = capture_summary(capture)
            if "AsyncInferenceConfig" in doc:  # homeport's own fields, which boto3 drops; the CLI shows them
                instances = sum(v["CurrentInstanceCount"] for v in doc["ProductionVariants"])
                stats = async_queue.stats(conn, name)
                doc["HomeportAsyncQueue"] = {
                    **backlog_metrics(stats, instances, self.ctx.clock.now()),
                    "NotificationFailures": notifications.failed_attempts(conn, name),
                }
                doc["HomeportNotifications"] = [n.to_json() for n in notifications.recent(conn, name, RECENT)]
        return doc

    def list(self, params: dict[str, Any]) -> dict[str, Any]:
        return listing.list_reply(
            self.ctx.store,
            Kind.ENDPOINT,
            params,
            "Endpoints",
            ("EndpointName", "EndpointArn", "CreationTime", "LastModifiedTime", "EndpointStatus"),
            "StatusEquals",
        )

    def delete(self, name: str) -> dict[str, Any]:
        store = self.ctx.store
        with store.transaction() as conn:
            doc = self.get(conn, name)
            move(doc, "EndpointStatus", EndpointStatus.DELETING)
            now = doc["LastModifiedTime"] = self.ctx.clock.now()
            store.replace(conn, Kind.ENDPOINT, name, doc, status=doc["EndpointStatus"])
            events.endpoint(conn, self.ctx.settings, doc, now)
        self.ctx.wake()
        return {}

    # --- updates -------------------------------------------------------------------------------------

    def update(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["EndpointName"]
        store = self.ctx.store
        with store.transaction() as conn:
            doc = self._updatable(conn, name, REDEPLOYABLE)
            config = self.configs.get(conn, params["EndpointConfigName"])
            if not _serverless(doc["_serving"]) and any("ServerlessConfig" in v for v in config["ProductionVariants"]):
                raise ValidationError(
                    f"Endpoint {name} runs on instances and cannot be updated to serverless variants (an endpoint "
                    "can move from serverless to instances, not back); create a new endpoint for them."
                )
            excluded = {p["VariantPropertyType"] for p in params.get("ExcludeRetainedVariantProperties", [])}
            doc["_target"] = self._target(
                conn,
                config,
                current=doc["_serving"],
                retain=params.get("RetainAllVariantProperties", False),
                excluded=excluded,
            )
            config_of_update = params.get("DeploymentConfig")
            if config_of_update is None and params.get("RetainDeploymentConfig", False):
                config_of_update = doc.get("LastDeploymentConfig")
            if config_of_update is not None:
                serving, target = doc["_serving"], doc["_target"]
                if _serverless(serving) or _serverless(target):
                    raise ValidationError(
                        "homeport does not run deployment guardrails on serverless endpoints yet: leave out "
                        "DeploymentConfig, and the update replaces the endpoint's variant all at once."
                    )
                shadows = bool(serving.get("shadows") or target.get("shadows"))
                deployments.check(conn, config_of_update, serving["variants"], target["variants"], shadows)
                doc["LastDeploymentConfig"] = config_of_update
            deployment = deployments.start(config_of_update, self.ctx.clock.now())
            if deployment is None:
                doc.pop("_deployment", None)
            else:
                doc["_deployment"] = deployment
            self._mark_updating(conn, doc)
            self._test_topics(conn, name, doc["_target"])
        self.ctx.wake()
        return {"EndpointArn": doc["EndpointArn"]}

    def update_weights_and_capacities(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["EndpointName"]
        with self.ctx.store.transaction() as conn:
            doc = self._updatable(conn, name)
            self._set_capacities(conn, doc, params["DesiredWeightsAndCapacities"])
            self._test_topics(conn, name, doc["_target"])
        self.ctx.wake()
        return {"EndpointArn": doc["EndpointArn"]}

    def scale_from_zero(self, name: str) -> bool:
        """An async endpoint at zero instances with work queued gets one instance, in its heaviest variant.

        SageMaker leaves this to a HasBacklogWithoutCapacity step-scaling policy and its CloudWatch alarm, which
        take minutes to fire; homeport starts the instance as soon as the request is queued.
        """
        with self.ctx.store.transaction() as conn:
            doc = self.ctx.store.get(conn, Kind.ENDPOINT, name)
            if doc is None or doc["EndpointStatus"] != EndpointStatus.IN_SERVICE.value or doc["_serving"] is None:
                return False
            variants = doc["_serving"]["variants"]
            if "async" not in doc["_serving"] or any(v["Count"] for v in variants):
                return False
            heaviest = max(variants, key=lambda v: v["Weight"])
            self._set_capacities(conn, doc, [{"VariantName": heaviest["VariantName"], "DesiredInstanceCount": 1}])
        self.ctx.wake()
        return True

    def _set_capacities(self, conn: Any, doc: dict[str, Any], desired_list: Sequence[dict[str, Any]]) -> None:
        name = doc["EndpointName"]
        target = {**doc["_serving"], "variants": [dict(v) for v in doc["_serving"]["variants"]]}
        by_name = {v["VariantName"]: v for v in target["variants"]}
        unknown = [d["VariantName"] for d in desired_list if d["VariantName"] not in by_name]
        if unknown:
            raise ValidationError(
                f'The variant(s) "[{", ".join(unknown)}]" is/are not present in endpoint "{name}"; '
                f"its variants are {', '.join(by_name)}."
            )
        for desired in desired_list:
            variant = by_name[desired["VariantName"]]
            _update_serverless(variant, desired)
            if "DesiredWeight" in desired:
                variant["Weight"] = desired["DesiredWeight"]
            if "DesiredInstanceCount" in desired:
                count = desired["DesiredInstanceCount"]
                self._check_count(variant["VariantName"], count)
                if count == 0 and "async" not in target:
                    raise ValidationError(
                        f"DesiredInstanceCount for variant {variant['VariantName']} must be at least 1: only "
                        "asynchronous endpoints can scale to zero instances."
                    )
                variant["Count"] = count
        if sum(v["Weight"] for v in target["variants"]) <= 0:
            raise ValidationError("At least one variant must keep a DesiredWeight above 0.")
        doc["_target"] = target
        doc.pop("_deployment", None)  # capacity changes move at once, as SageMaker's do
        self._mark_updating(conn, doc)

    def set_shadow_weight(self, conn: Any, name: str, variant: str, weight: float) -> None:
        """A shadow variant's share of the requests, changed where it runs (an inference experiment's
        SamplingPercentage): no instance starts or stops, the router picks it up at the controller's next tick."""
        doc = self.get(conn, name)
        for deployment in (doc["_serving"], doc["_target"]):
            for shadow in (deployment or {}).get("shadows", []):
                if shadow["VariantName"] == variant:
                    shadow["Weight"] = weight
        doc["LastModifiedTime"] = self.ctx.clock.now()
        self.ctx.store.replace(conn, Kind.ENDPOINT, name, doc, status=doc["EndpointStatus"])
        self.ctx.wake()

    def _updatable(self, conn: Any, name: str, statuses: frozenset[EndpointStatus] = UPDATABLE) -> dict[str, Any]:
        doc = self.get(conn, name)
        if EndpointStatus(doc["EndpointStatus"]) not in statuses or doc["_serving"] is None:
            raise ValidationError(
                f'Cannot update in-progress endpoint "{doc["EndpointArn"]}" (status {doc["EndpointStatus"]}); '
                "wait until it is InService."
            )
        return doc

    def _test_topics(self, conn: Any, name: str, target: dict[str, Any]) -> None:
        """As SageMaker does on CreateEndpoint and updates: a TestNotification to each topic."""
        for topic in sorted(set(messages.topics(target.get("async")).values())):
            notifications.add(conn, name, topic, messages.test_notification(), self.ctx.clock.now())

    def _mark_updating(self, conn: Any, doc: dict[str, Any]) -> None:
        move(doc, "EndpointStatus", EndpointStatus.UPDATING)
        now = doc["LastModifiedTime"] = self.ctx.clock.now()
        doc.pop("FailureReason", None)
        self.ctx.store.replace(conn, Kind.ENDPOINT, doc["EndpointName"], doc, status=doc["EndpointStatus"])
        events.endpoint(conn, self.ctx.settings, doc, now)

    def _check_count(self, variant: str, count: int) -> None:
        limit = self.ctx.settings.max_instances_per_variant
        if count > limit:
            raise ResourceLimitExceeded(
                f"Variant {variant} asks for {count} instances; this server allows at most {limit} per variant."
            )

    def _target(
        self,
        conn: Any,
        config: dict[str, Any],
        current: dict[str, Any] | None,
        retain: bool,
        excluded: set[str] | frozenset[str] = frozenset(),
    ) -> dict[str, Any]:
        """What the controller must deploy for `config`, with every model resolved now."""
        previous = {v["VariantName"]: v for v in (current or {}).get("variants", [])}
        variants = [
            self._resolved(conn, spec, previous.get(spec["VariantName"]) if retain else None, excluded)
            for spec in config["ProductionVariants"]
        ]
        target: dict[str, Any] = {"config": config["EndpointConfigName"], "variants": variants}
        if "ShadowProductionVariants" in config:  # copies of the production traffic, their replies dropped
            target["shadows"] = [
                self._resolved(conn, spec, None, excluded) for spec in config["ShadowProductionVariants"]
            ]
        if "AsyncInferenceConfig" in config:
            target["async"] = config["AsyncInferenceConfig"]
        capture = (current or {}).get("capture")
        if retain and "DataCaptureConfig" not in excluded:  # the serving endpoint's capture, whatever the config's
            if capture:
                target["capture"] = capture
        elif "DataCaptureConfig" in config:
            target["capture"] = config["DataCaptureConfig"]
        for kind, what in (("async", "an asynchronous endpoint"), ("shadows", "an endpoint with shadow variants")):
            named = [(v["ModelName"], _named_by_request(v)) for v in variants + target.get("shadows", [])]
            refused = [(model, how) for model, how in named if how]
            if kind in target and refused:
                raise ValidationError(
                    f"Model {refused[0][0]} needs {refused[0][1]} in each request, which {what} cannot send. Serve "
                    "it from a real-time endpoint without shadows."
                )
        return target

    def _resolved(
        self, conn: Any, spec: dict[str, Any], old: dict[str, Any] | None, excluded: set[str] | frozenset[str]
    ) -> dict[str, Any]:
        """One variant of a config as the controller deploys it; `old`: the live variant whose count and weight
        an update retains."""
        model = self.models.deployable_model(conn, spec["ModelName"])
        container, runtime = deployable(model)
        if "ServerlessConfig" in spec:  # no instances to count: the controller sizes it by its traffic
            return {
                "VariantName": spec["VariantName"],
                "ModelName": spec["ModelName"],
                "Serverless": dict(spec["ServerlessConfig"]),
                "Count": 0,
                "Weight": spec["InitialVariantWeight"],
                "Runtime": runtime,
                "Container": container,
            }
        count = spec["InitialInstanceCount"]
        weight = spec["InitialVariantWeight"]
        if old is not None and "Serverless" not in old:  # serverless to instances: the config's count
            count = count if "DesiredInstanceCount" in excluded else old["Count"]
            weight = weight if "DesiredWeight" in excluded else old["Weight"]
        return {
            "VariantName": spec["VariantName"],
            "ModelName": spec["ModelName"],
            "InstanceType": spec["InstanceType"],
            "Count": count,
            "Weight": weight,
            "Runtime": runtime,
            "Container": container,
            **({"VolumeSizeInGB": spec["VolumeSizeInGB"]} if "VolumeSizeInGB" in spec else {}),
        }


def _named_by_request(variant: dict[str, Any]) -> str | None:
    """What each request to the variant must name: a multi-model container's TargetModel, a Direct model's
    TargetContainerHostname; None when nothing."""
    container = variant["Container"]
    if container.get("Mode") == "MultiModel":
        return "a TargetModel (Mode=MultiModel)"
    if container.get("ExecutionMode") == "Direct":
        return "a TargetContainerHostname (InferenceExecutionConfig Mode Direct)"
    return None


def variant_summary(
    variant: dict[str, Any], current_weight: float, current_count: int, current: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A variant as DescribeEndpoint shows it; `current`: the serving variant of that name, if one serves.
    A serverless variant shows its configs where an instance variant shows its counts."""
    container = variant["Container"]
    deployed = [c["Image"] for c in container.get("Pipeline", [container])]
    summary: dict[str, Any] = {
        "VariantName": variant["VariantName"],
        "DeployedImages": [{"SpecifiedImage": image, "ResolvedImage": image} for image in deployed],
        "CurrentWeight": current_weight,
        "DesiredWeight": variant["Weight"],
    }
    if "Serverless" not in variant:
        return {**summary, "CurrentInstanceCount": current_count, "DesiredInstanceCount": variant["Count"]}
    if current is not None and "Serverless" in current:
        summary["CurrentServerlessConfig"] = current["Serverless"]
        summary["CurrentInstanceCount"] = current_count  # homeport's warm instances now (SageMaker shows none)
    summary["DesiredServerlessConfig"] = variant["Serverless"]
    return summary


def capture_summary(capture: dict[str, Any]) -> dict[str, Any]:
    """DescribeEndpoint's DataCaptureConfig: what the serving config captures."""
    enabled = capture.get("EnableCapture", True)
    summary = {
        "EnableCapture": enabled,
        "CaptureStatus": "Started" if enabled else "Stopped",
        "CurrentSamplingPercentage": capture["InitialSamplingPercentage"],
        "DestinationS3Uri": capture["DestinationS3Uri"],
    }
    if "KmsKeyId" in capture:
        summary["KmsKeyId"] = capture["KmsKeyId"]
    return summary


def _serverless(deployment: dict[str, Any] | None) -> bool:
    return any("Serverless" in v for v in (deployment or {}).get("variants", []))


def _update_serverless(variant: dict[str, Any], desired: dict[str, Any]) -> None:
    """UpdateEndpointWeightsAndCapacities on a variant: a serverless one takes a ServerlessUpdateConfig and no
    DesiredInstanceCount, an instance one the other way round."""
    name = variant["VariantName"]
    if "Serverless" not in variant:
        if "ServerlessUpdateConfig" in desired:
            raise ValidationError(f"Variant {name} runs on instances: ServerlessUpdateConfig is for serverless ones.")
        return
    if "DesiredInstanceCount" in desired:
        raise ValidationError(
            f"Variant {name} is serverless and has no instance count: change its MaxConcurrency or "
            "ProvisionedConcurrency with ServerlessUpdateConfig instead of DesiredInstanceCount."
        )
    update = desired.get("ServerlessUpdateConfig", {})
    config = {**variant["Serverless"], **update}
    if config.get("ProvisionedConcurrency", 0) > config["MaxConcurrency"]:
        raise ValidationError(
            f"ProvisionedConcurrency ({config['ProvisionedConcurrency']}) of variant {name} must not exceed its "
            f"MaxConcurrency ({config['MaxConcurrency']})."
        )
    variant["Serverless"] = config
