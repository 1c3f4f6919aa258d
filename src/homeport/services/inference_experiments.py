"""Inference experiments (shadow tests): Create, Describe, List, Start, Stop, Update and Delete InferenceExperiment.

An experiment runs a shadow variant beside an endpoint's production variant for a while, so that the two can be
compared on the same requests, and ends by promoting one of them. homeport builds it from what the endpoint already
has: starting it creates an endpoint config with the production variant and the shadow variant (its weight is the
`SamplingPercentage` over the production variant's) and updates the endpoint to it; stopping it updates the endpoint
to a config with the variant kept (`ModelVariantActions`: the shadow `Promote`d, the production variant `Remove`d,
or the production variant `Retain`ed and the shadow removed). Both are ordinary endpoint configs and updates: they
show in ListEndpointConfigs and DescribeEndpoint, and a failed update leaves the endpoint on its old config, as any
update does. `controllers/experiments.py` starts and ends experiments on their `Schedule` and follows each update
to its end.
"""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Mapping
from typing import Any

from homeport.core.arns import arn
from homeport.errors import ConflictException, ResourceInUse, ResourceNotFound, ValidationError
from homeport.services import listing
from homeport.services.context import Context, public
from homeport.services.endpoint_configs import EndpointConfigService
from homeport.services.endpoints import EndpointService
from homeport.store import Kind
from homeport.store.db import Duplicate

DEFAULT_DURATION_S = 7 * 24 * 3600  # no Schedule: from now, for 7 days
MAX_DURATION_S = 30 * 24 * 3600
ACTIVE = frozenset({"Created", "Starting", "Running", "Updating", "Stopping"})
RUNNING = frozenset({"Starting", "Running", "Updating", "Stopping"})  # the endpoint is the experiment's
SUMMARY = (
    *("Name", "Type", "Schedule", "Status", "StatusReason", "Description"),
    *("CreationTime", "CompletionTime", "LastModifiedTime", "RoleArn"),
)


class InferenceExperimentService:
    def __init__(self, ctx: Context, configs: EndpointConfigService, endpoints: EndpointService) -> None:
        self.ctx = ctx
        self.configs = configs
        self.endpoints = endpoints

    # --- the API -----------------------------------------------------------------------------------------

    def create(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["Name"]
        if "DataStorageConfig" in params:
            raise ValidationError("homeport does not capture data yet (DataStorageConfig); remove DataStorageConfig.")
        now = self.ctx.clock.now()
        schedule = _schedule(params.get("Schedule"), now)
        experiment_arn = arn(self.ctx.settings, "inference-experiment", name)
        store = self.ctx.store
        with store.transaction() as conn:
            endpoint = self.endpoints.get(conn, params["EndpointName"])
            for other in store.all(conn, Kind.INFERENCE_EXPERIMENT):
                if other["EndpointMetadata"]["EndpointName"] == endpoint["EndpointName"] and other["Status"] in ACTIVE:
                    raise ResourceInUse(
                        f'Endpoint "{endpoint["EndpointName"]}" already has inference experiment "{other["Name"]}" '
                        f"({other['Status']}); stop or delete it first."
                    )
            variants = _variants(params["ModelVariants"], params["ShadowModeConfig"])
            self._check_endpoint(endpoint, variants["production"]["VariantName"])
            for variant in params["ModelVariants"]:
                self.configs.models.get(conn, variant["ModelName"])
            doc: dict[str, Any] = {
                "Arn": experiment_arn,
                "Name": name,
                "Type": params["Type"],
                "Schedule": schedule,
                "Status": "Created",
                "CreationTime": now,
                "LastModifiedTime": now,
                "RoleArn": params["RoleArn"],
                "EndpointMetadata": {"EndpointName": endpoint["EndpointName"]},
                "ModelVariants": params["ModelVariants"],
                "ShadowModeConfig": params["ShadowModeConfig"],
            }
            for key in ("Description", "KmsKey"):
                if key in params:
                    doc[key] = params[key]
            try:
                store.insert(conn, Kind.INFERENCE_EXPERIMENT, doc, name=name, arn=experiment_arn, status="Created")
            except Duplicate:
                raise ResourceInUse(f'Inference experiment "{name}" already exists.') from None
            store.put_tags(conn, experiment_arn, params.get("Tags", []))
        self.ctx.wake()
        return {"InferenceExperimentArn": experiment_arn}

    def describe(self, name: str) -> dict[str, Any]:
        with self.ctx.store.reading() as conn:
            doc = self._get(conn, name)
            endpoint = self.ctx.store.get(conn, Kind.ENDPOINT, doc["EndpointMetadata"]["EndpointName"])
        reply = public(doc)
        if endpoint is not None:
            reply["EndpointMetadata"] = {
                key: endpoint[key]
                for key in ("EndpointName", "EndpointConfigName", "EndpointStatus", "FailureReason")
                if key in endpoint
            }
        statuses = variant_statuses(doc)
        reply["ModelVariants"] = [{**v, "Status": statuses[v["VariantName"]]} for v in doc["ModelVariants"]]
        return reply

    def list(self, params: dict[str, Any]) -> dict[str, Any]:
        return listing.list_reply(
            self.ctx.store, Kind.INFERENCE_EXPERIMENT, params, "InferenceExperiments", SUMMARY, "StatusEquals"
        )

    def start(self, name: str) -> dict[str, Any]:
        """Start a Created experiment now, whatever its Schedule's StartTime."""
        doc = self.begin(name, only_when_due=False)
        return {"InferenceExperimentArn": doc["Arn"]}

    def stop(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["Name"]
        with self.ctx.store.reading() as conn:
            doc = self._get(conn, name)
        if doc["Status"] != "Running":
            raise ConflictException(
                f'Inference experiment "{name}" is {doc["Status"]}; only a Running experiment can be stopped.'
            )
        final = self._final_config(doc, params["ModelVariantActions"], params.get("DesiredModelVariants", []))
        self.end(
            name, params["ModelVariantActions"], final, params.get("DesiredState", "Completed"), params.get("Reason")
        )
        return {"InferenceExperimentArn": doc["Arn"]}

    def update(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["Name"]
        if "DataStorageConfig" in params:
            raise ValidationError("homeport does not capture data yet (DataStorageConfig); remove DataStorageConfig.")
        store = self.ctx.store
        with store.transaction() as conn:
            doc = self._get(conn, name)
            now = self.ctx.clock.now()
            if doc["Status"] == "Created":
                if "Schedule" in params:
                    doc["Schedule"] = _schedule(params["Schedule"], now)
                if "ModelVariants" in params or "ShadowModeConfig" in params:
                    models = params.get("ModelVariants", doc["ModelVariants"])
                    shadow = params.get("ShadowModeConfig", doc["ShadowModeConfig"])
                    production = _variants(models, shadow)["production"]
                    endpoint = self.endpoints.get(conn, doc["EndpointMetadata"]["EndpointName"])
                    self._check_endpoint(endpoint, production["VariantName"])
                    for variant in models:
                        self.configs.models.get(conn, variant["ModelName"])
                    doc["ModelVariants"], doc["ShadowModeConfig"] = models, shadow
            elif doc["Status"] == "Running":
                self._update_running(conn, doc, params, now)
            else:
                raise ConflictException(
                    f'Inference experiment "{name}" is {doc["Status"]}; it can be updated while Created or Running.'
                )
            if "Description" in params:
                doc["Description"] = params["Description"]
            doc["LastModifiedTime"] = now
            store.replace(conn, Kind.INFERENCE_EXPERIMENT, name, doc, status=doc["Status"])
        self.ctx.wake()
        return {"InferenceExperimentArn": doc["Arn"]}

    def delete(self, name: str) -> dict[str, Any]:
        store = self.ctx.store
        with store.transaction() as conn:
            doc = self._get(conn, name)
            if doc["Status"] in RUNNING:
                raise ConflictException(
                    f'Inference experiment "{name}" is {doc["Status"]}; stop it before deleting it (the endpoint '
                    "and its variants stay as they are)."
                )
            store.delete(conn, Kind.INFERENCE_EXPERIMENT, name)  # and its tags
        return {"InferenceExperimentArn": doc["Arn"]}

    # --- the moves the API and the controller share -------------------------------------------------------

    def begin(self, name: str, only_when_due: bool = True) -> dict[str, Any]:
        """Created → Starting: the experiment's endpoint config is made and the endpoint updated to it."""
        now = self.ctx.clock.now()
        with self.ctx.store.reading() as conn:
            doc = self._get(conn, name)
        if doc["Status"] != "Created":
            raise ConflictException(f'Inference experiment "{name}" is {doc["Status"]}; only a Created one starts.')
        if only_when_due and doc["Schedule"]["StartTime"] > now:
            return doc
        variants = _variants(doc["ModelVariants"], doc["ShadowModeConfig"])
        sampling = variants["sampling"] / 100
        config = self._make_config(
            name,
            {
                "ProductionVariants": [_production_variant(variants["production"], 1.0)],
                "ShadowProductionVariants": [_production_variant(variants["shadow"], sampling)],
            },
        )
        return self._move(name, "Created", "Starting", config, now)

    def end(
        self,
        name: str,
        actions: Mapping[str, str],
        final: dict[str, Any] | None,
        desired: str,
        reason: str | None,
    ) -> None:
        """Running → Stopping: the endpoint is updated to `final` (None: it keeps both variants)."""
        now = self.ctx.clock.now()
        config = self._make_config(name, final) if final is not None else None
        store = self.ctx.store
        with store.transaction() as conn:
            doc = self._get(conn, name)
            if doc["Status"] != "Running":
                raise ConflictException(f'Inference experiment "{name}" is {doc["Status"]}, no longer Running.')
            doc.update(_actions=dict(actions), _desired=desired, _final=config, Status="Stopping", LastModifiedTime=now)
            if reason:
                doc["StatusReason"] = reason
            store.replace(conn, Kind.INFERENCE_EXPERIMENT, name, doc, status="Stopping")
        if config is not None:
            self.endpoints.update(
                {"EndpointName": doc["EndpointMetadata"]["EndpointName"], "EndpointConfigName": config}
            )
        self.ctx.wake()

    def settle(self, name: str, status: str, reason: str | None = None) -> None:
        """Starting → Running, or the end: Completed or Cancelled (with why)."""
        store = self.ctx.store
        with store.transaction() as conn:
            doc = store.get(conn, Kind.INFERENCE_EXPERIMENT, name)
            if doc is None:
                return
            now = self.ctx.clock.now()
            doc.update(Status=status, LastModifiedTime=now)
            if status in ("Completed", "Cancelled"):
                doc["CompletionTime"] = now
            if reason:
                doc["StatusReason"] = reason[:1024]
            store.replace(conn, Kind.INFERENCE_EXPERIMENT, name, doc, status=status)

    def default_end(self, doc: dict[str, Any]) -> tuple[dict[str, str], dict[str, Any]]:
        """What the end of the Schedule does: the production variant stays, the shadow goes."""
        variants = _variants(doc["ModelVariants"], doc["ShadowModeConfig"])
        actions = {variants["production"]["VariantName"]: "Retain", variants["shadow"]["VariantName"]: "Remove"}
        final = self._final_config(doc, actions, [])
        assert final is not None
        return actions, final

    # --- helpers ----------------------------------------------------------------------------------------

    def _get(self, conn: Any, name: str) -> dict[str, Any]:
        doc = self.ctx.store.get(conn, Kind.INFERENCE_EXPERIMENT, name)
        if doc is None:
            raise ResourceNotFound(f'Could not find inference experiment "{name}".')
        return doc

    def _check_endpoint(self, endpoint: dict[str, Any], production: str) -> None:
        serving = endpoint.get("_serving") or {}
        variants = [v["VariantName"] for v in serving.get("variants", [])]
        if endpoint["EndpointStatus"] != "InService" or "async" in serving or variants != [production]:
            raise ValidationError(
                f"An inference experiment needs a real-time endpoint that is InService with one production variant "
                f'named "{production}" (the ShadowModeConfig SourceModelVariantName); endpoint '
                f'"{endpoint["EndpointName"]}" is {endpoint["EndpointStatus"]} with variant(s) {", ".join(variants)}.'
            )

    def _final_config(
        self, doc: dict[str, Any], actions: Mapping[str, str], desired: builtins.list[dict[str, Any]]
    ) -> dict[str, Any] | None:
        """The endpoint config a stop leaves (None: the endpoint keeps both variants), from the actions."""
        variants = _variants(doc["ModelVariants"], doc["ShadowModeConfig"])
        production, shadow = variants["production"], variants["shadow"]
        known = {production["VariantName"], shadow["VariantName"]}
        unknown = sorted(set(actions) - known) + sorted({d["VariantName"] for d in desired} - known)
        if unknown:
            raise ValidationError(
                f"ModelVariantActions and DesiredModelVariants name the experiment's variants "
                f"({', '.join(sorted(known))}), not {', '.join(unknown)}."
            )
        sized = {d["VariantName"]: d for d in desired}
        keep_production = actions.get(production["VariantName"], "Retain")
        keep_shadow = actions.get(shadow["VariantName"], "Retain")
        if keep_shadow == "Promote":
            if keep_production != "Remove":
                raise ValidationError(
                    f'To promote shadow variant "{shadow["VariantName"]}", Remove production variant '
                    f'"{production["VariantName"]}": an endpoint has one production variant beside a shadow.'
                )
            kept = sized.get(shadow["VariantName"], shadow)
            return {"ProductionVariants": [_production_variant(kept, 1.0)]}
        if keep_production == "Remove":
            raise ValidationError(
                f'Removing production variant "{production["VariantName"]}" needs shadow variant '
                f'"{shadow["VariantName"]}" promoted (Promote) to take its place.'
            )
        kept = sized.get(production["VariantName"], production)
        if keep_shadow == "Retain":
            if not desired:
                return None
            others = sized.get(shadow["VariantName"], shadow)
            return {
                "ProductionVariants": [_production_variant(kept, 1.0)],
                "ShadowProductionVariants": [_production_variant(others, variants["sampling"] / 100)],
            }
        return {"ProductionVariants": [_production_variant(kept, 1.0)]}

    def _make_config(self, name: str, spec: dict[str, Any]) -> str:
        config = f"{name[:50]}-{uuid.uuid4().hex[:8]}"
        self.configs.create({"EndpointConfigName": config, **spec})
        return config

    def _move(self, name: str, was: str, status: str, config: str, now: float) -> dict[str, Any]:
        store = self.ctx.store
        with store.transaction() as conn:
            doc = self._get(conn, name)
            if doc["Status"] != was:
                raise ConflictException(f'Inference experiment "{name}" is {doc["Status"]}, no longer {was}.')
            doc.update(Status=status, LastModifiedTime=now, _config=config)
            doc["Schedule"]["StartTime"] = min(doc["Schedule"]["StartTime"], now)  # started early: from now
            store.replace(conn, Kind.INFERENCE_EXPERIMENT, name, doc, status=status)
        try:
            self.endpoints.update(
                {"EndpointName": doc["EndpointMetadata"]["EndpointName"], "EndpointConfigName": config}
            )
        except ValidationError as exc:  # the endpoint moved on meanwhile (deleted, or updating)
            self.settle(name, "Cancelled", f"the endpoint could not be updated for the experiment: {exc.message}")
            raise
        self.ctx.wake()
        return doc

    def _update_running(self, conn: Any, doc: dict[str, Any], params: dict[str, Any], now: float) -> None:
        """While Running only the end of the Schedule and the shadow's SamplingPercentage change."""
        if "ModelVariants" in params:
            raise ConflictException("A Running experiment's ModelVariants cannot change; stop it and create another.")
        if "Schedule" in params:
            schedule = {**doc["Schedule"], **{k: v for k, v in params["Schedule"].items() if k == "EndTime"}}
            doc["Schedule"] = _schedule(schedule, now, started=True)
        if "ShadowModeConfig" in params:
            old, new = _variants(doc["ModelVariants"], doc["ShadowModeConfig"]), params["ShadowModeConfig"]
            changed = _variants(doc["ModelVariants"], new)
            if (changed["production"], changed["shadow"]) != (old["production"], old["shadow"]):
                raise ConflictException("A Running experiment's variants cannot change; only SamplingPercentage can.")
            self.endpoints.set_shadow_weight(
                conn,
                doc["EndpointMetadata"]["EndpointName"],
                changed["shadow"]["VariantName"],
                changed["sampling"] / 100,
            )
            doc["ShadowModeConfig"] = new


def variant_statuses(doc: dict[str, Any]) -> dict[str, str]:
    """Each model variant's ModelVariantStatus, from where the experiment is."""
    status, actions = doc["Status"], doc.get("_actions", {})
    out = {}
    for variant in doc["ModelVariants"]:
        removed = actions.get(variant["VariantName"]) == "Remove"
        if status in ("Created", "Starting"):
            out[variant["VariantName"]] = "Creating"
        elif status == "Stopping" and removed:
            out[variant["VariantName"]] = "Deleting"
        elif status in ("Completed", "Cancelled") and removed:
            out[variant["VariantName"]] = "Deleted"
        else:
            out[variant["VariantName"]] = "InService"
    return out


def _variants(models: builtins.list[dict[str, Any]], shadow_mode: dict[str, Any]) -> dict[str, Any]:
    """The production and shadow ModelVariants a ShadowModeConfig names, and the share the shadow samples."""
    by_name = {v["VariantName"]: v for v in models}
    if len(by_name) != len(models):
        raise ValidationError("ModelVariants need different VariantNames.")
    source = shadow_mode["SourceModelVariantName"]
    [shadow] = shadow_mode["ShadowModelVariants"]  # the model allows exactly one
    target = shadow["ShadowModelVariantName"]
    missing = [n for n in (source, target) if n not in by_name]
    if missing or source == target or len(models) != 2:
        raise ValidationError(
            "ShadowModeConfig names two of the ModelVariants: SourceModelVariantName (the production variant) and "
            f"ShadowModelVariantName (the shadow); ModelVariants has {', '.join(by_name) or 'none'}, "
            f"ShadowModeConfig names {source} and {target}."
        )
    for variant in models:
        infrastructure = variant["InfrastructureConfig"]
        if infrastructure["RealTimeInferenceConfig"]["InstanceCount"] < 1:
            raise ValidationError(f"Model variant {variant['VariantName']} needs an InstanceCount of at least 1.")
    return {"production": by_name[source], "shadow": by_name[target], "sampling": shadow.get("SamplingPercentage", 100)}


def _production_variant(variant: dict[str, Any], weight: float) -> dict[str, Any]:
    config = variant["InfrastructureConfig"]["RealTimeInferenceConfig"]
    return {
        "VariantName": variant["VariantName"],
        "ModelName": variant["ModelName"],
        "InstanceType": config["InstanceType"],
        "InitialInstanceCount": config["InstanceCount"],
        "InitialVariantWeight": weight,
    }


def _schedule(schedule: dict[str, Any] | None, now: float, started: bool = False) -> dict[str, float]:
    """StartTime and EndTime as epoch seconds: absent, from now for 7 days; at most 30 days long."""
    schedule = schedule or {}
    start = float(schedule.get("StartTime", now))  # the API layer hands timestamps over as epoch seconds
    if not started:
        start = max(start, now)
    end = float(schedule.get("EndTime", start + DEFAULT_DURATION_S))
    if end <= start or end <= now:
        raise ValidationError("The Schedule's EndTime must be after its StartTime and in the future.")
    if end - start > MAX_DURATION_S:
        raise ValidationError("An inference experiment runs for at most 30 days: bring the EndTime closer.")
    return {"StartTime": start, "EndTime": end}
