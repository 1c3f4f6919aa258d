"""Monitoring executions: each one a processing job over a window of an endpoint's captured data, and
ListMonitoringExecutions.

An execution's processing job reads the window's capture folders (`<endpoint>/<variant>/yyyy/mm/dd/hh`, one input
each, as SageMaker lays them out under `/opt/ml/processing/input/endpoint`) and the baseline's files, and writes its
report under `<output S3Uri>/<endpoint>/<schedule>/yyyy/mm/dd/hh`. Over a BatchTransformInput it reads, instead, the
objects listed by the manifests that transform jobs started in the window's hours captured (their inputs, or for model
quality their outputs), and reports under `<output S3Uri>/<schedule>/yyyy/mm/dd/hh`. The execution takes its job's
status when the job ends: Completed, or CompletedWithViolations when the report lists violations.
"""

from __future__ import annotations

import json
import math
import secrets
from datetime import UTC, datetime
from typing import Any

from homeport.core.arns import arn
from homeport.core.monitoring_schedule import Window, hours
from homeport.errors import HomeportError
from homeport.objects.locations import UnreachableObject
from homeport.services import listing
from homeport.services.context import Context, public
from homeport.services.monitoring_definitions import (
    DEFAULT_MAX_RUNTIME_S,
    data_input,
    dataset_format,
    endpoint_of,
)
from homeport.services.processing_jobs import ProcessingJobService
from homeport.store import Kind

KIND = Kind.MONITORING_EXECUTION
ENDED = ("Completed", "CompletedWithViolations", "Failed", "Stopped")
CAPTURE_FORMAT = {"sagemakerCaptureJson": {"captureIndexNames": ["endpointInput", "endpointOutput"]}}
BASELINE_ROOT = "/opt/ml/processing/baseline"
GROUND_TRUTH_ROOT = "/opt/ml/processing/groundtruth"
ATTRIBUTES = (  # a model quality job's EndpointInput fields, as the analyzer's environment names them
    ("inference_attribute", "InferenceAttribute"),
    ("probability_attribute", "ProbabilityAttribute"),
    ("probability_threshold_attribute", "ProbabilityThresholdAttribute"),
)
SUMMARY = (
    "MonitoringScheduleName",
    "ScheduledTime",
    "CreationTime",
    "LastModifiedTime",
    "MonitoringExecutionStatus",
    "ProcessingJobArn",
    "EndpointName",
    "FailureReason",
    "MonitoringJobDefinitionName",
    "MonitoringType",
)


class NoData(Exception):
    """The execution has nothing to analyze; the message says why (its FailureReason)."""


class MonitoringExecutionService:
    def __init__(self, ctx: Context, jobs: ProcessingJobService) -> None:
        self.ctx = ctx
        self.jobs = jobs

    def start(
        self, conn: Any, schedule: dict[str, Any], definition: dict[str, Any], scheduled: float, span: Window
    ) -> dict[str, Any]:
        """Record the execution scheduled at `scheduled`, and its processing job, in `conn`'s transaction; an
        execution with no data to read is recorded Failed, saying so."""
        now = self.ctx.clock.now()
        name = schedule["MonitoringScheduleName"]
        endpoint = endpoint_of(definition)
        stamp = datetime.fromtimestamp(scheduled, UTC)
        job_name = f"monitoring-{name[:26].rstrip('-')}-{stamp:%Y%m%d%H%M}-{secrets.token_hex(3)}"
        doc: dict[str, Any] = {
            "MonitoringScheduleName": name,
            "ScheduledTime": scheduled,
            "CreationTime": now,
            "LastModifiedTime": now,
            "MonitoringExecutionStatus": "InProgress",
            **({"EndpointName": endpoint} if endpoint else {}),
            "MonitoringType": schedule["MonitoringType"],
            "_key": job_name,
        }
        if "MonitoringJobDefinitionName" in schedule["MonitoringScheduleConfig"]:
            doc["MonitoringJobDefinitionName"] = schedule["MonitoringScheduleConfig"]["MonitoringJobDefinitionName"]
        store = self.ctx.store
        try:
            params = self._job(conn, job_name, schedule, definition, span, stamp)
            job = self.jobs.insert(conn, params)
        except (NoData, HomeportError, UnreachableObject) as exc:  # recorded: the schedule moves on to its next run
            reason = exc.message if isinstance(exc, HomeportError) else str(exc)
            doc.update(MonitoringExecutionStatus="Failed", FailureReason=reason[:1024])
            execution_arn = arn(self.ctx.settings, "processing-job", job_name)
        else:
            execution_arn = doc["ProcessingJobArn"] = job["ProcessingJobArn"]
            doc["_job"] = job_name
            doc["_report"] = params["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"]
        store.insert(conn, KIND, doc, name=job_name, arn=execution_arn, status=doc["MonitoringExecutionStatus"])
        return doc

    def _job(
        self,
        conn: Any,
        job_name: str,
        schedule: dict[str, Any],
        definition: dict[str, Any],
        span: Window,
        stamp: datetime,
    ) -> dict[str, Any]:
        """The CreateProcessingJob request that runs one execution."""
        given = data_input(definition)
        local = given["LocalPath"].rstrip("/")
        # Whole seconds, as inferenceTime has them: the end rounds up, so that what came in its last second counts.
        start, end = (_iso(t) for t in (math.floor(span.start), math.ceil(span.end)))
        name = schedule["MonitoringScheduleName"]
        output = definition["MonitoringOutputConfig"]["MonitoringOutputs"][0]["S3Output"]
        environment = {
            "dataset_source": local,
            "output_path": output["LocalPath"],
            "start_time": start,
            "end_time": end,
            "sagemaker_monitoring_schedule_name": name,
        }
        endpoint_name = endpoint_of(definition)
        if endpoint_name is None:
            model_quality = "GroundTruthS3Input" in definition
            inputs = self._captured_batches(given, span, local, "output" if model_quality else "input")
            report = f"{output['S3Uri'].rstrip('/')}/{name}/{stamp:%Y/%m/%d/%H}"
            environment.update(dataset_format=json.dumps(dataset_format(given)))
            environment.update(monitoring_input_type="BATCH_TRANSFORM_INPUT")
        else:
            inputs, destination = self._captured(conn, endpoint_name, span, local, (start, end))
            report = f"{output['S3Uri'].rstrip('/')}/{endpoint_name}/{name}/{stamp:%Y/%m/%d/%H}"
            environment.update(dataset_format=json.dumps(CAPTURE_FORMAT), sagemaker_endpoint_name=endpoint_name)
            environment.update(sagemaker_endpoint_datacapture_prefix=f"{destination}/{endpoint_name}")
        environment.update(definition.get("Environment", {}))
        for key, uri in self._baseline(conn, definition.get("BaselineConfig", {})).items():
            file_name = uri.rsplit("/", 1)[-1]
            inputs.append(_input(key, uri, f"{BASELINE_ROOT}/{key}"))
            environment[f"baseline_{key}"] = f"{BASELINE_ROOT}/{key}/{file_name}"
        if "FeaturesAttribute" in given:
            environment.setdefault("features_attribute", given["FeaturesAttribute"])
        if "GroundTruthS3Input" in definition:
            inputs += self._labels(definition["GroundTruthS3Input"]["S3Uri"], span, start)
            environment.update(analysis_type="MODEL_QUALITY", ground_truth_source=GROUND_TRUTH_ROOT)
            for key, field in ATTRIBUTES:
                if field in given:
                    environment.setdefault(key, str(given[field]))
        app = definition["MonitoringAppSpecification"]
        return {
            "ProcessingJobName": job_name,
            "ProcessingInputs": inputs,
            "ProcessingOutputConfig": {
                "Outputs": [
                    {
                        "OutputName": "monitoring_output",
                        "S3Output": {"S3Uri": report, "LocalPath": output["LocalPath"], "S3UploadMode": "EndOfJob"},
                    }
                ]
            },
            "ProcessingResources": definition["MonitoringResources"],
            "AppSpecification": {
                k: app[k] for k in ("ImageUri", "ContainerEntrypoint", "ContainerArguments") if k in app
            },
            "Environment": environment,
            "RoleArn": definition["RoleArn"],
            "StoppingCondition": definition.get("StoppingCondition", {"MaxRuntimeInSeconds": DEFAULT_MAX_RUNTIME_S}),
        }

    def _captured(
        self, conn: Any, endpoint_name: str, span: Window, local: str, bounds: tuple[str, str]
    ) -> tuple[list[dict[str, Any]], str]:
        """The endpoint's capture folders of the window, one input each, and its capture destination."""
        store = self.ctx.store
        endpoint = store.get(conn, Kind.ENDPOINT, endpoint_name)
        config = endpoint and store.get(conn, Kind.ENDPOINT_CONFIG, endpoint["EndpointConfigName"])
        capture = (config or {}).get("DataCaptureConfig")
        if endpoint is None or not capture:
            raise NoData(f"The endpoint {endpoint_name} does not exist or does not capture data.")
        destination = capture["DestinationS3Uri"].rstrip("/")
        variants = [v["VariantName"] for v in endpoint.get("ProductionVariants", [])]
        variants += [v["VariantName"] for v in endpoint.get("ShadowProductionVariants", [])]
        inputs: list[dict[str, Any]] = []
        for variant in variants:
            for hour in hours(span):
                folder = f"{endpoint_name}/{variant}/{datetime.fromtimestamp(hour, UTC):%Y/%m/%d/%H}"
                uri = f"{destination}/{folder}/"
                if self.ctx.objects.list_prefix(uri):
                    inputs.append(_input(f"endpoint-{len(inputs) + 1}", uri, f"{local}/{folder}"))
        if not inputs:
            raise NoData(
                f"Job inputs had no data: the endpoint {endpoint_name} captured nothing between {bounds[0]} and "
                f"{bounds[1]}."
            )
        return inputs, destination

    def _captured_batches(
        self, batch_input: dict[str, Any], span: Window, local: str, direction: str
    ) -> list[dict[str, Any]]:
        """The manifests that transform jobs started in the window's hours wrote (of their inputs, or for model
        quality of their outputs), one ManifestFile input each."""
        root = batch_input["DataCapturedDestinationS3Uri"].rstrip("/")
        inputs: list[dict[str, Any]] = []
        for hour in hours(span):
            folder = f"{datetime.fromtimestamp(hour, UTC):%Y/%m/%d/%H}"
            for ref in self.ctx.objects.list_prefix(f"{root}/{direction}/{folder}/"):
                if ref.url.endswith(".manifest"):
                    job = ref.url.rsplit("/", 1)[1][: -len(".manifest")]
                    entry = _input(f"batch-{len(inputs) + 1}", ref.url, f"{local}/{folder}/{job}")
                    entry["S3Input"]["S3DataType"] = "ManifestFile"
                    inputs.append(entry)
        if not inputs:
            raise NoData(
                f"Job inputs had no data: no transform job captured its {direction} under {root}/{direction}/ in "
                f"the hours of {_iso(span.start)} to {_iso(span.end)}."
            )
        return inputs

    def _labels(self, uri: str, span: Window, start: str) -> list[dict[str, Any]]:
        """The ground truth folders (`yyyy/mm/dd/hh`, by when the labels were collected) from the window's start up
        to now: labels come after the inferences they are for."""
        root = uri.rstrip("/")
        found: list[dict[str, Any]] = []
        for hour in hours(Window(span.start, max(span.end, self.ctx.clock.now()))):
            folder = f"{datetime.fromtimestamp(hour, UTC):%Y/%m/%d/%H}"
            if self.ctx.objects.list_prefix(f"{root}/{folder}/"):
                found.append(
                    _input(f"groundtruth-{len(found) + 1}", f"{root}/{folder}/", f"{GROUND_TRUTH_ROOT}/{folder}")
                )
        if not found:
            raise NoData(f"Job inputs had no ground truth: there are no labels under {root}/ since {start}.")
        return found

    def _baseline(self, conn: Any, baseline: dict[str, Any]) -> dict[str, str]:
        """The baseline's files: those it names, or the outputs of the baselining job it names."""
        found = {}
        if "ConstraintsResource" in baseline:
            found["constraints"] = baseline["ConstraintsResource"]["S3Uri"]
        if "StatisticsResource" in baseline:
            found["statistics"] = baseline["StatisticsResource"]["S3Uri"]
        job_name = baseline.get("BaseliningJobName")
        if job_name and len(found) < 2:
            job = self.ctx.store.get(conn, Kind.PROCESSING_JOB, job_name)
            outputs = (job or {}).get("ProcessingOutputConfig", {}).get("Outputs", [])
            if job is None or job["ProcessingJobStatus"] != "Completed" or not outputs:
                raise NoData(f"The baselining job {job_name} does not exist or has not completed with an output.")
            folder = outputs[0]["S3Output"]["S3Uri"].rstrip("/")
            found.setdefault("constraints", f"{folder}/constraints.json")
            found.setdefault("statistics", f"{folder}/statistics.json")
        return found

    # --- following the processing job ------------------------------------------------------------------------------

    def settle(self, name: str, job: dict[str, Any] | None) -> None:
        """An execution whose processing job has ended (or is gone) takes its outcome."""
        status: str = "Failed"
        reason: str | None = "The execution's processing job was deleted."
        if job is not None:
            status, reason = job["ProcessingJobStatus"], job.get("FailureReason")
        store = self.ctx.store
        with store.reading() as conn:
            doc = store.get(conn, KIND, name)
        if doc is None or doc["MonitoringExecutionStatus"] in ENDED:
            return
        if status == "Completed":
            violations = self._violations(doc["_report"])
            if violations is None:
                status, reason = "Failed", "The analyzer wrote no readable constraint_violations.json."
            elif violations:
                status = "CompletedWithViolations"
        with store.transaction() as conn:
            doc = store.get(conn, KIND, name)
            if doc is None or doc["MonitoringExecutionStatus"] in ENDED:
                return
            doc["MonitoringExecutionStatus"] = status
            if reason and status == "Failed":
                doc["FailureReason"] = reason[:1024]
            doc["LastModifiedTime"] = self.ctx.clock.now()
            store.replace(conn, KIND, name, doc, status=status)

    def _violations(self, report: str) -> int | None:
        """How many violations the report lists: 0 when the job wrote none (a container of your own may not); None
        when what it wrote is not a violations report."""
        try:
            with self.ctx.objects.open(f"{report}/constraint_violations.json") as stream:
                raw = stream.read(64 << 20)
        except (UnreachableObject, OSError):
            return 0
        try:
            document = json.loads(raw)
        except ValueError:
            return None
        found = document.get("violations") if isinstance(document, dict) else None
        return len(found) if isinstance(found, list) else None

    # --- reading -------------------------------------------------------------------------------------------------

    def of(self, conn: Any, schedule: str | None = None) -> list[dict[str, Any]]:
        docs = self.ctx.store.all(conn, KIND)
        return [d for d in docs if schedule is None or d["MonitoringScheduleName"] == schedule]

    def summary(self, doc: dict[str, Any]) -> dict[str, Any]:
        return {k: doc[k] for k in SUMMARY if k in doc}

    def list(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.ctx.store.reading() as conn:
            docs = self.of(conn, params.get("MonitoringScheduleName"))
        summaries = matching([self.summary(public(d)) for d in docs], params)
        return listing.filtered_reply(
            summaries, params, "MonitoringExecutionSummaries", "MonitoringScheduleName", "MonitoringExecutionStatus"
        )


def matching(summaries: list[dict[str, Any]], params: dict[str, Any]) -> list[dict[str, Any]]:
    """The summaries a List call's EndpointName, MonitoringJobDefinitionName and MonitoringTypeEquals keep."""
    for key, field in (
        ("EndpointName", "EndpointName"),
        ("MonitoringJobDefinitionName", "MonitoringJobDefinitionName"),
        ("MonitoringTypeEquals", "MonitoringType"),
    ):
        if key in params:
            summaries = [s for s in summaries if s.get(field) == params[key]]
    return summaries


def _iso(when: float) -> str:
    return datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _input(name: str, uri: str, local: str) -> dict[str, Any]:
    source = {"S3Uri": uri, "LocalPath": local, "S3DataType": "S3Prefix", "S3InputMode": "File"}
    return {"InputName": name, "S3Input": source}
