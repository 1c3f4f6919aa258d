"""One ASGI application on one port: the control plane, the runtime API, the S3 face, homeport's health."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from homeport.api import query, rpcv2
from homeport.api.asgi import ClientGone, Receive, Scope, Send, respond
from homeport.api.auth.authenticator import (
    CONSOLE,
    CONTROL,
    HEALTH,
    METRICS,
    RUNTIME,
    S3,
    Authenticator,
    face,
    json_refusal,
    read_hashed,
    signing_service,
)
from homeport.api.auth.refusals import json_error
from homeport.api.auth.sigv4 import AuthFailure
from homeport.api.runtime import MAX_BODY, RuntimeApi
from homeport.api.s3.handlers import ExternalS3Notice, S3Api
from homeport.api.s3.handlers import refuse as s3_refuse
from homeport.api.service_api import CBOR, JSON, MAX_REQUEST_BYTES, QUERY, CallerHandler, ServiceApi
from homeport.errors import UnknownOperation, UnknownPath

Lifespan = Callable[[], Awaitable[None]]
AsgiApp = Callable[[Scope, Receive, Send], Awaitable[None]]
PROMETHEUS = b"text/plain; version=0.0.4; charset=utf-8"

log = logging.getLogger(__name__)


class App:
    def __init__(
        self,
        control: list[ServiceApi],
        runtime: RuntimeApi,
        s3: S3Api | ExternalS3Notice,
        auth: Authenticator,
        startup: Lifespan,
        shutdown: Lifespan,
        metrics: Callable[[], bytes] = lambda: b"",
        console: AsgiApp | None = None,
    ) -> None:
        self.control = {api.prefix: api for api in control}
        # Query-protocol requests name no target: the service they are for is the one their signature names.
        self.by_signing_name = {api.signing_name: api for api in control}
        self.runtime = runtime
        self.s3 = s3
        self.auth = auth
        self.startup = startup
        self.shutdown = shutdown
        self.metrics = metrics  # the Prometheus exposition
        self.console = console  # the web console at /console: it signs its users in itself

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            try:
                await self.http(scope, receive, send)
            except ClientGone:
                log.info("%s %s: the client closed the connection mid-body", scope["method"], scope["path"])
        elif kind == "lifespan":
            await self.lifespan(receive, send)

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        where = face(scope)
        if where == S3:
            try:
                verified = self.auth.verify(scope)
            except AuthFailure as failure:
                await s3_refuse(scope, failure, send)
                return
            await self.s3(scope, receive, send, verified)
            return
        if where == HEALTH:
            await respond(send, 200, b'{"status":"ok"}', [(b"content-type", b"application/json")])
            return
        if where == METRICS:
            await respond(send, 200, self.metrics(), [(b"content-type", PROMETHEUS)])
            return
        if where == CONSOLE and self.console is not None:
            await self.console(scope, receive, send)
            return
        # The JSON faces sign their body's hash without sending it: read the (bounded) body, then verify. An
        # oversized body is still hashed (up to a hard cap), so its refusal goes only to a signed request.
        limit = MAX_BODY if where == RUNTIME else MAX_REQUEST_BYTES
        body, digest = await read_hashed(receive, limit)
        cbor = rpcv2.operation_from_path(scope["path"])
        try:
            caller = self.auth.verify(scope, body, body_sha256=digest).access_key_id
        except AuthFailure as failure:
            # Refused in the wire format the client will parse.
            error = json_error(failure)
            if cbor is not None:
                headers, payload = rpcv2.encode_error(error.code, error.message, True)
                await respond(send, error.status, payload, headers)
            elif where == CONTROL and query.is_query(scope["headers"]) and not _has_target(scope):
                payload = query.encode_error("", error.code, error.message, True, "")
                await respond(send, error.status, payload, [(b"content-type", query.CONTENT_TYPE)])
            else:
                await json_refusal(send, failure)
            return
        if where == RUNTIME:
            path = scope["path"]
            if path.endswith("/async-invocations"):
                await self.runtime.invoke_async(scope, send, path[len("/endpoints/") : -len("/async-invocations")])
            elif path.endswith("/invocations-response-stream"):
                name = path[len("/endpoints/") : -len("/invocations-response-stream")]
                await self.runtime.invoke_stream(scope, body, send, name)
            else:
                await self.runtime.invoke(scope, body, send, path[len("/endpoints/") : -len("/invocations")])
            return
        if where == CONTROL:
            target = _has_target(scope)
            if cbor is not None:
                (prefix, operation), wire = cbor, CBOR
                api = self.control.get(prefix)
            elif target is not None:
                prefix, _, operation = target.decode("latin-1").partition(".")
                api, wire = self.control.get(prefix), JSON
            else:
                api, operation, wire = self.by_signing_name.get(signing_service(scope) or ""), "", QUERY
            if api is not None:
                await api(body, send, operation, scope["headers"], wire, caller)
                return
            if wire == QUERY:  # a service homeport does not have (IAM): refused in the XML the client parses
                unknown = UnknownOperation(f"homeport does not implement the {signing_service(scope)} service.")
                payload = query.encode_error("", "InvalidAction", unknown.message, True, "")
                await respond(send, unknown.status, payload, [(b"content-type", query.CONTENT_TYPE)])
                return
        unknown = UnknownPath(f"homeport has no operation at {scope['method']} {scope['path']}.")
        await respond(
            send,
            unknown.status,
            json.dumps({"__type": unknown.code, "message": unknown.message}).encode(),
            [(b"content-type", b"application/json"), (b"x-amzn-errortype", unknown.code.encode())],
        )

    async def lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return


def _has_target(scope: Scope) -> bytes | None:
    """The X-Amz-Target header of a JSON-protocol request (None for the query and CBOR protocols)."""
    return next((value for name, value in scope["headers"] if name == b"x-amz-target"), None)


Handlers = dict[str, Callable[[dict[str, Any]], dict[str, Any]]]


def sagemaker_handlers(services: Any) -> Handlers:
    """The SageMaker operations homeport implements, each bound to its service method."""
    m, c, e, t = services.models, services.endpoint_configs, services.endpoints, services.tags
    j, x = services.transform_jobs, services.inference_experiments
    return {
        "CreateModel": m.create,
        "DescribeModel": lambda p: m.describe(p["ModelName"]),
        "ListModels": m.list,
        "DeleteModel": lambda p: m.delete(p["ModelName"]),
        "CreateEndpointConfig": c.create,
        "DescribeEndpointConfig": lambda p: c.describe(p["EndpointConfigName"]),
        "ListEndpointConfigs": c.list,
        "DeleteEndpointConfig": lambda p: c.delete(p["EndpointConfigName"]),
        "CreateEndpoint": e.create,
        "DescribeEndpoint": lambda p: e.describe(p["EndpointName"]),
        "ListEndpoints": e.list,
        "DeleteEndpoint": lambda p: e.delete(p["EndpointName"]),
        "UpdateEndpoint": e.update,
        "UpdateEndpointWeightsAndCapacities": e.update_weights_and_capacities,
        "CreateTransformJob": j.create,
        "DescribeTransformJob": lambda p: j.describe(p["TransformJobName"]),
        "ListTransformJobs": j.list,
        "StopTransformJob": lambda p: j.stop(p["TransformJobName"]),
        "CreateTrainingJob": services.training_jobs.create,
        "DescribeTrainingJob": lambda p: services.training_jobs.describe(p["TrainingJobName"]),
        "ListTrainingJobs": services.training_jobs.list,
        "StopTrainingJob": lambda p: services.training_jobs.stop(p["TrainingJobName"]),
        "CreateProcessingJob": services.processing_jobs.create,
        "DescribeProcessingJob": lambda p: services.processing_jobs.describe(p["ProcessingJobName"]),
        "ListProcessingJobs": services.processing_jobs.list,
        "StopProcessingJob": lambda p: services.processing_jobs.stop(p["ProcessingJobName"]),
        "CreateInferenceExperiment": x.create,
        "DescribeInferenceExperiment": lambda p: x.describe(p["Name"]),
        "ListInferenceExperiments": x.list,
        "StartInferenceExperiment": lambda p: x.start(p["Name"]),
        "StopInferenceExperiment": x.stop,
        "UpdateInferenceExperiment": x.update,
        "DeleteInferenceExperiment": lambda p: x.delete(p["Name"]),
        **monitoring_handlers(services),
        **registry_handlers(services),
        "AddTags": lambda p: t.add(p["ResourceArn"], p["Tags"]),
        "ListTags": lambda p: t.list(p["ResourceArn"], p.get("MaxResults", 50), p.get("NextToken")),
        "DeleteTags": lambda p: t.delete(p["ResourceArn"], p["TagKeys"]),
    }


def monitoring_handlers(services: Any) -> Handlers:
    """Model Monitor's operations: data and model quality job definitions, monitoring schedules and their
    executions."""
    d, q, s = (
        services.data_quality_job_definitions,
        services.model_quality_job_definitions,
        services.monitoring_schedules,
    )
    return {
        "CreateModelQualityJobDefinition": q.create,
        "DescribeModelQualityJobDefinition": lambda p: q.describe(p["JobDefinitionName"]),
        "ListModelQualityJobDefinitions": q.list,
        "DeleteModelQualityJobDefinition": lambda p: q.delete(p["JobDefinitionName"]),
        "CreateDataQualityJobDefinition": d.create,
        "DescribeDataQualityJobDefinition": lambda p: d.describe(p["JobDefinitionName"]),
        "ListDataQualityJobDefinitions": d.list,
        "DeleteDataQualityJobDefinition": lambda p: d.delete(p["JobDefinitionName"]),
        "CreateMonitoringSchedule": s.create,
        "DescribeMonitoringSchedule": lambda p: s.describe(p["MonitoringScheduleName"]),
        "ListMonitoringSchedules": s.list,
        "UpdateMonitoringSchedule": s.update,
        "DeleteMonitoringSchedule": lambda p: s.delete(p["MonitoringScheduleName"]),
        "StartMonitoringSchedule": lambda p: s.start(p["MonitoringScheduleName"]),
        "StopMonitoringSchedule": lambda p: s.stop(p["MonitoringScheduleName"]),
        "ListMonitoringExecutions": s.executions.list,
    }


def registry_handlers(services: Any) -> Handlers:
    """The model registry: model package groups and their versions."""
    g, m = services.model_package_groups, services.model_packages
    return {
        "CreateModelPackageGroup": g.create,
        "DescribeModelPackageGroup": lambda p: g.describe(p["ModelPackageGroupName"]),
        "ListModelPackageGroups": g.list,
        "DeleteModelPackageGroup": lambda p: g.delete(p["ModelPackageGroupName"]),
        "CreateModelPackage": m.create,
        "DescribeModelPackage": lambda p: m.describe(p["ModelPackageName"]),
        "ListModelPackages": m.list,
        "UpdateModelPackage": m.update,
        "DeleteModelPackage": lambda p: m.delete(p["ModelPackageName"]),
    }


def cloudwatch_handlers(services: Any) -> Handlers:
    """The CloudWatch operations homeport implements: metrics and metric alarms."""
    metrics, alarms = services.metrics, services.alarms
    return {
        "PutMetricData": metrics.put,
        "GetMetricStatistics": metrics.statistics,
        "GetMetricData": metrics.data,
        "ListMetrics": metrics.list,
        "PutMetricAlarm": alarms.put,
        "DescribeAlarms": alarms.describe,
        "DescribeAlarmsForMetric": alarms.describe_for_metric,
        "DescribeAlarmHistory": alarms.history,
        "DeleteAlarms": alarms.delete,
        "SetAlarmState": alarms.set_state,
        "TagResource": alarms.tag,
        "UntagResource": alarms.untag,
        "ListTagsForResource": alarms.list_tags,
    }


def logs_handlers(services: Any) -> Handlers:
    """The CloudWatch Logs operations homeport implements: its containers' output, and PutLogEvents."""
    logs = services.logs
    return {
        "CreateLogGroup": logs.create_group,
        "DeleteLogGroup": logs.delete_group,
        "DescribeLogGroups": logs.describe_groups,
        "PutRetentionPolicy": logs.put_retention,
        "DeleteRetentionPolicy": logs.delete_retention,
        "CreateLogStream": logs.create_stream,
        "DeleteLogStream": logs.delete_stream,
        "DescribeLogStreams": logs.describe_streams,
        "PutLogEvents": logs.put_events,
        "GetLogEvents": logs.get_events,
        "FilterLogEvents": logs.filter_events,
    }


def sts_callers(account_id: str) -> dict[str, CallerHandler]:
    """STS GetCallerIdentity: the account is homeport's, the identity the key that signed the request."""

    def identity(_: dict[str, Any], caller: str) -> dict[str, Any]:
        return {"UserId": caller, "Account": account_id, "Arn": f"arn:aws:iam::{account_id}:user/{caller}"}

    return {"GetCallerIdentity": identity}


def autoscaling_handlers(services: Any) -> Handlers:
    """The Application Auto Scaling operations homeport implements, for SageMaker endpoint variants."""
    s = services.scaling
    return {
        "RegisterScalableTarget": s.register,
        "DescribeScalableTargets": s.describe_targets,
        "DeregisterScalableTarget": s.deregister,
        "PutScalingPolicy": s.put_policy,
        "DescribeScalingPolicies": s.describe_policies,
        "DeleteScalingPolicy": s.delete_policy,
        "DescribeScalingActivities": s.describe_activities,
        "PutScheduledAction": s.put_scheduled,
        "DescribeScheduledActions": s.describe_scheduled,
        "DeleteScheduledAction": s.delete_scheduled,
    }
