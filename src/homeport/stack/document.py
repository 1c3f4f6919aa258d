"""A deployment file: what `homeport plan` and `homeport apply` read.

A YAML or JSON document lists resources in the API's own shapes, each one the input of the call that creates it
(CreateModel, CreateEndpointConfig, CreateEndpoint, RegisterScalableTarget, PutScalingPolicy, PutMetricAlarm,
CreateMonitoringSchedule). Models and endpoint configs cannot change in SageMaker, so each one's name on the server
is its declared name and a digest of its content: a changed model is a new model, a new endpoint config and an
UpdateEndpoint, and an unchanged one is recognized by its name alone.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STACK_TAG = "homeport:stack"
NAME_TAG = "homeport:name"  # a model's or endpoint config's declared name, before its digest
DIGEST_CHARS = 8
MAX_NAME = 63  # ModelName, EndpointConfigName
NAMESPACE = "sagemaker"


class StackError(Exception):
    """A deployment file that cannot be planned: the message says where and what to fix."""


@dataclass(frozen=True)
class Section:
    """One top-level list of the file: its key, the service and operation that create its items, and what names
    one."""

    key: str
    service: str
    operation: str
    name: tuple[str, ...]  # the fields that identify an item


SECTIONS = (
    Section("Models", "sagemaker", "CreateModel", ("ModelName",)),
    Section("EndpointConfigs", "sagemaker", "CreateEndpointConfig", ("EndpointConfigName",)),
    Section("Endpoints", "sagemaker", "CreateEndpoint", ("EndpointName",)),
    Section("ScalableTargets", "application-autoscaling", "RegisterScalableTarget", ("ResourceId",)),
    Section("ScalingPolicies", "application-autoscaling", "PutScalingPolicy", ("ResourceId", "PolicyName")),
    Section("Alarms", "cloudwatch", "PutMetricAlarm", ("AlarmName",)),
    Section("MonitoringSchedules", "sagemaker", "CreateMonitoringSchedule", ("MonitoringScheduleName",)),
)
# What an endpoint may declare beyond CreateEndpoint's input: UpdateEndpoint's, for the updates apply makes.
ENDPOINT_EXTRAS = ("RetainAllVariantProperties", "ExcludeRetainedVariantProperties")


@dataclass
class Stack:
    """A deployment file, read and checked: each section's items keyed by their name on the server."""

    name: str
    items: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # section key -> name -> params
    declared: dict[str, str] = field(default_factory=dict)  # a model's or config's server name -> declared name

    def section(self, key: str) -> dict[str, dict[str, Any]]:
        return self.items.get(key, {})


def load(path: str | Path, variables: Mapping[str, str] | None = None, stack: str | None = None) -> Stack:
    """Read a deployment file, substitute `${NAME}` from `variables` (then the environment), and check each item
    against its operation's input shape in botocore's service models."""
    import yaml  # JSON is YAML too

    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise StackError(f"Cannot read {path}: {e.strerror}.") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise StackError(f"{path} is neither YAML nor JSON: {e}") from None
    if not isinstance(doc, dict):
        raise StackError(f"{path} must hold a mapping of sections (Models, EndpointConfigs, Endpoints, …).")
    doc = substitute(doc, {**os.environ, **(variables or {})})
    return parse(doc, stack or doc.get("Stack") or path.stem)


def substitute(value: Any, lookup: Mapping[str, str], where: str = "") -> Any:
    """`${NAME}` in any string, from `lookup`; `$${` is a literal `${`. A name with no value is an error, not an
    empty string: a CI variable left unset must not deploy a half-written resource."""

    def one(match: re.Match[str]) -> str:
        if match.group(0).startswith("$$"):
            return match.group(0)[1:]
        name = match.group(1)
        if name not in lookup:
            raise StackError(
                f"{where or 'the file'}: ${{{name}}} has no value; set the environment variable or pass "
                f"--var {name}=VALUE."
            )
        return lookup[name]

    if isinstance(value, str):
        return re.sub(r"\$?\$\{([A-Za-z_][A-Za-z0-9_]*)\}", one, value)
    if isinstance(value, list):
        return [substitute(v, lookup, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {k: substitute(v, lookup, f"{where}.{k}" if where else str(k)) for k, v in value.items()}
    return value


def parse(doc: dict[str, Any], name: str) -> Stack:
    known = {s.key for s in SECTIONS} | {"Stack"}
    unknown = sorted(set(doc) - known)
    if unknown:
        raise StackError(f"Unknown section(s) {', '.join(unknown)}; a deployment file has {', '.join(sorted(known))}.")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}", str(name)):
        raise StackError(
            f'Stack name "{name}" must be 1-128 letters, digits, ".", "_" or "-", starting with one of the first two.'
        )
    stack = Stack(str(name))
    for section in SECTIONS:
        items = doc.get(section.key) or []
        if not isinstance(items, list):
            raise StackError(f"{section.key} must be a list of {section.operation} inputs.")
        stack.items[section.key] = {}
        for i, item in enumerate(items):
            where = f"{section.key}[{i}]"
            if not isinstance(item, dict):
                raise StackError(f"{where} must be a mapping: the input of {section.operation}.")
            params = _defaults(section, dict(item))
            _validate(section, params, where)
            key = "/".join(str(params.get(n, "")) for n in section.name)
            if key in stack.items[section.key]:
                raise StackError(f"{where} declares {key} a second time.")
            stack.items[section.key][key] = params
    _name_by_content(stack)
    return stack


def _defaults(section: Section, params: dict[str, Any]) -> dict[str, Any]:
    if section.service == "application-autoscaling":
        params.setdefault("ServiceNamespace", NAMESPACE)
        params.setdefault("ScalableDimension", "sagemaker:variant:DesiredInstanceCount")
    return params


@functools.cache
def _service_model(service: str) -> Any:
    import botocore.session

    return botocore.session.get_session().get_service_model(service)  # loading one takes a tenth of a second


def _validate(section: Section, params: dict[str, Any], where: str) -> None:
    from botocore.exceptions import ParamValidationError
    from botocore.validate import validate_parameters

    model = _service_model(section.service)
    shape = model.operation_model(section.operation).input_shape
    checked = {k: v for k, v in params.items() if not (section.key == "Endpoints" and k in ENDPOINT_EXTRAS)}
    if section.key == "Endpoints":
        update = model.operation_model("UpdateEndpoint").input_shape
        extras = {k: params[k] for k in ENDPOINT_EXTRAS if k in params}
        try:
            validate_parameters({"EndpointName": "x", "EndpointConfigName": "x", **extras}, update)
        except ParamValidationError as e:
            raise StackError(f"{where}: {_report(e)}") from None
    try:
        validate_parameters(checked, shape)
    except ParamValidationError as e:
        raise StackError(f"{where}: {_report(e)}") from None


def _report(error: Exception) -> str:
    return str(getattr(error, "kwargs", {}).get("report", error)).replace("\n", "; ")


def _name_by_content(stack: Stack) -> None:
    """Rename each model and endpoint config to `NAME-DIGEST`, and point what refers to them at the new names."""
    models = stack.items["Models"]
    renamed_models = {}
    for declared, params in list(models.items()):
        server = _named(declared, params, "ModelName")
        renamed_models[declared] = server
        stack.declared[server] = declared
    stack.items["Models"] = {renamed_models[k]: {**p, "ModelName": renamed_models[k]} for k, p in models.items()}

    configs = stack.items["EndpointConfigs"]
    renamed_configs = {}
    for declared, params in list(configs.items()):
        params = dict(params)
        for key in ("ProductionVariants", "ShadowProductionVariants"):
            params[key] = [
                {**v, "ModelName": renamed_models.get(v["ModelName"], v["ModelName"])} if "ModelName" in v else v
                for v in params.get(key, [])
            ]
            if not params[key]:
                del params[key]
        server = _named(declared, params, "EndpointConfigName")
        renamed_configs[declared] = server
        stack.declared[server] = declared
        configs[declared] = {**params, "EndpointConfigName": server}
    stack.items["EndpointConfigs"] = {renamed_configs[k]: p for k, p in configs.items()}

    for params in stack.items["Endpoints"].values():
        params["EndpointConfigName"] = renamed_configs.get(params["EndpointConfigName"], params["EndpointConfigName"])


def _named(declared: str, params: dict[str, Any], name_field: str) -> str:
    if len(declared) > MAX_NAME - DIGEST_CHARS - 1:
        raise StackError(
            f'{name_field} "{declared}" is over {MAX_NAME - DIGEST_CHARS - 1} characters: apply adds "-" and '
            f"{DIGEST_CHARS} characters of its content's digest, and the name on the server may have {MAX_NAME}."
        )
    content = {k: v for k, v in params.items() if k not in (name_field, "Tags")}
    digest = hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()
    return f"{declared}-{digest[:DIGEST_CHARS]}"
