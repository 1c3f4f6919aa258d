"""State-change events, as SageMaker sends them to EventBridge: kept in a CloudWatch Logs group, and delivered to
the webhooks in HOMEPORT_EVENT_WEBHOOKS.

Each event is EventBridge's envelope (`version`, `id`, `detail-type`, `source` `aws.sagemaker`, `account`, `time`,
`region`, `resources`, `detail`), written in the transaction that makes the change, so none is lost to a crash:
to the log group LOG_GROUP (one stream per detail type, as an EventBridge rule with a CloudWatch Logs target would
keep them; `homeport events` reads it), and to the notifications outbox, from which the notifier delivers it to
each webhook at least once, with retries. EventBridge may deliver an event more than once too: a receiver drops
repeats by the envelope's `id`, which every attempt repeats.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

from homeport.settings import Settings
from homeport.store import log_events, notifications

LOG_GROUP = "/aws/events/homeport"
SOURCE = "events"  # the outbox's source column
MODEL_PACKAGE = "SageMaker Model Package State Change"
TRANSFORM_JOB = "SageMaker Transform Job State Change"
ML_JOBS = {
    "TrainingJob": "SageMaker Training Job State Change",
    "ProcessingJob": "SageMaker Processing Job State Change",
}
ENDPOINT = "SageMaker Endpoint State Change"
ENDPOINT_DEPLOYMENT = "SageMaker Endpoint Deployment State Change"
ENDPOINT_DETAIL = ("EndpointName", "EndpointArn", "EndpointConfigName", "ProductionVariants", "FailureReason")
TRANSFORM_TIMES = ("CreationTime", "TransformStartTime", "TransformEndTime", "LastModifiedTime")
PACKAGE_DETAIL = (
    "ModelPackageGroupName",
    "ModelPackageVersion",
    "ModelPackageArn",
    "CreationTime",
    "InferenceSpecification",
    "ModelPackageStatus",
    "ModelPackageStatusDetails",
    "CertifyForMarketplace",
    "ModelApprovalStatus",
    "MetadataProperties",
    "ModelMetrics",
    "LastModifiedTime",
)


def webhooks(settings: Settings) -> list[str]:
    return [url.strip() for url in settings.event_webhooks.split(",") if url.strip()]


def envelope(settings: Settings, detail_type: str, resource: str, detail: dict[str, Any], now: float) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": "aws.sagemaker",
        "account": settings.account_id,
        "time": _iso(now),
        "region": settings.region,
        "resources": [resource],
        "detail": detail,
    }


def stream_name(detail_type: str) -> str:
    """The log stream of a detail type: "SageMaker Endpoint State Change" -> "endpoint-state-change"."""
    return detail_type.removeprefix("SageMaker ").lower().replace(" ", "-")


def publish(conn: Any, settings: Settings, detail_type: str, resource: str, detail: dict[str, Any], now: float) -> None:
    """Log the event and queue it for every webhook, in `conn`'s transaction."""
    event = envelope(settings, detail_type, resource, detail, now)
    ms = int(now * 1000)
    log_events.add_group(conn, LOG_GROUP, ms)
    stream = log_events.stream(conn, LOG_GROUP, stream_name(detail_type))
    stream_id = stream["id"] if stream else log_events.add_stream(conn, LOG_GROUP, stream_name(detail_type), ms)
    log_events.append(conn, stream_id, [(ms, json.dumps(event, separators=(",", ":")))], ms)
    for url in webhooks(settings):
        notifications.add(conn, SOURCE, url, event, now, event=detail_type[len("SageMaker ") :][:32])


def model_package(conn: Any, settings: Settings, doc: dict[str, Any], now: float) -> None:
    """A version was created, or its approval changed."""
    detail = {k: doc[k] for k in PACKAGE_DETAIL if k in doc}
    _millis(detail, doc)
    publish(conn, settings, MODEL_PACKAGE, doc["ModelPackageArn"], detail, now)


def transform_job(conn: Any, settings: Settings, doc: dict[str, Any], now: float) -> None:
    """A transform job entered a status: its DescribeTransformJob shape, times in ISO 8601 (as EventBridge's
    example has them)."""
    detail = {k: v for k, v in doc.items() if not k.startswith("_")}
    for key in TRANSFORM_TIMES:
        if key in detail:
            detail[key] = _iso(detail[key])
    publish(conn, settings, TRANSFORM_JOB, doc["TransformJobArn"], detail, now)


def ml_job(conn: Any, settings: Settings, label: str, doc: dict[str, Any], now: float) -> None:
    """A training job entered a status or a secondary status, or a processing job a status: its Describe shape,
    its times in epoch milliseconds (strings for a training job, as EventBridge's example has them)."""
    detail = {k: _job_millis(k, v, label) for k, v in doc.items() if not k.startswith("_")}
    if "SecondaryStatusTransitions" in detail:
        detail["SecondaryStatusTransitions"] = [
            {k: _job_millis(k, v, label) for k, v in step.items()} for step in detail["SecondaryStatusTransitions"]
        ]
    publish(conn, settings, ML_JOBS[label], doc[f"{label}Arn"], detail, now)


def _job_millis(key: str, value: Any, label: str) -> Any:
    if not key.endswith("Time") or not isinstance(value, int | float):
        return value
    return str(int(value * 1000)) if label == "TrainingJob" else int(value * 1000)


def endpoint(conn: Any, settings: Settings, doc: dict[str, Any], now: float, *, deployment: bool = False) -> None:
    """An endpoint entered a status, spelled as EventBridge's example spells it (IN_SERVICE, not InService); or,
    with `deployment`, its deployment moved to its next step, with the PendingDeploymentSummary of that step."""
    detail = {k: doc[k] for k in ENDPOINT_DETAIL if k in doc}
    detail["EndpointStatus"] = re.sub(r"(?<=[a-z])(?=[A-Z])", "_", doc["EndpointStatus"]).upper()
    _millis(detail, doc)
    if deployment:
        detail["PendingDeploymentSummary"] = _all_millis(doc["PendingDeploymentSummary"])
    publish(conn, settings, ENDPOINT_DEPLOYMENT if deployment else ENDPOINT, doc["EndpointArn"], detail, now)


def _all_millis(value: Any, key: str = "") -> Any:
    """Every time (a key ending in Time) in a document as epoch milliseconds."""
    if isinstance(value, dict):
        return {k: _all_millis(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_all_millis(v) for v in value]
    return int(value * 1000) if key.endswith("Time") and isinstance(value, int | float) else value


def _iso(when: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))


def _millis(detail: dict[str, Any], doc: dict[str, Any]) -> None:
    """The document's creation and change times in `detail` as epoch milliseconds, as EventBridge's examples give
    them for model packages and endpoints."""
    for key in ("CreationTime", "LastModifiedTime"):
        if key in doc:
            detail[key] = int(doc[key] * 1000)
