"""One processing job's execution: download its inputs to their `/opt/ml/processing/…` paths (the job's own
directory here, which is also the command's working directory), run its ContainerEntrypoint with those paths
rewritten in it, in its ContainerArguments and in its Environment's values, and upload each output path's
files under its S3Uri. A path written into the script itself is not rewritten: there is no container here.
Output goes to `logs/processing-jobs/<job>/algo-1.log` (the CloudWatch Logs stream `<job>/algo-1-<epoch>`)."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from homeport.controllers import job_process
from homeport.controllers.job_process import JobFailed
from homeport.controllers.provisioning import log_tail
from homeport.core.states import ProcessingJobStatus, move
from homeport.engines.jobs import JobSpec
from homeport.errors import HomeportError
from homeport.monitoring import METRICS_DIR
from homeport.objects.locations import UnreachableObject
from homeport.services import events
from homeport.services.metrics import MetricService
from homeport.services.processing_jobs import PROCESSING_ROOT, is_analyzer, local_path
from homeport.store import Kind

log = logging.getLogger(__name__)

METRICS_FOLDER = ".cloudwatch"  # a monitoring container's /opt/ml/output/metrics/cloudwatch, in the job's folder
# SageMaker's namespaces (their spelling differs), for an endpoint's schedules and a batch transform's.
DATA_METRICS = ("/aws/sagemaker/Endpoints/data-metric", "/aws/sagemaker/ModelMonitoring/data-metric")
MODEL_METRICS = ("aws/sagemaker/Endpoints/model-metrics", "aws/sagemaker/ModelMonitoring/model-metrics")
PYTHONS = {"python", "python3", "python3.11", "python3.12", "python3.13"}  # run with homeport's own interpreter


class ProcessingJobRun(job_process.JobRun):
    folder, label = "processing", "ProcessingJob"

    async def _stopped(self) -> None:
        self._end(ProcessingJobStatus.STOPPED)

    def _fail(self, reason: str) -> None:
        self._end(ProcessingJobStatus.FAILED, reason)

    async def _run(self) -> None:
        started = self.ctx.clock.now()
        self._update(ProcessingStartTime=started)
        await asyncio.to_thread(self._prepare)
        budget = self.doc["StoppingCondition"]["MaxRuntimeInSeconds"] - (self.ctx.clock.now() - started)
        instance_type = self.doc["ProcessingResources"]["ClusterConfig"]["InstanceType"]
        spec = JobSpec(self._argv(), self._environment(), self.base, self.log_path, instance_type)
        self._job = await job_process.launch(self.engine, spec)
        code = await job_process.finish(self._job, budget)
        if code is None:
            self._end(ProcessingJobStatus.STOPPED, exit_message="Processing job exceeded MaxRuntimeInSeconds")
            return
        if code != 0:
            raise JobFailed(
                f"AlgorithmError: the processing command exited with code {code}: {log_tail(self.log_path)}"
            )
        await asyncio.to_thread(self._upload)
        self._publish()
        self._end(ProcessingJobStatus.COMPLETED)

    def _path(self, container_path: str) -> Path:
        return self.base.joinpath(*local_path(container_path).parts)

    def _prepare(self) -> None:
        shutil.rmtree(self.base, ignore_errors=True)
        (self.base / "config").mkdir(parents=True)
        config = {
            k: self.doc[k] for k in ("ProcessingJobArn", "ProcessingJobName", "AppSpecification") if k in self.doc
        }
        (self.base / "config" / "processingjobconfig.json").write_text(json.dumps(config, default=str))
        resources = {"current_host": "algo-1", "hosts": ["algo-1"]}
        (self.base / "config" / "resourceconfig.json").write_text(json.dumps(resources))
        for item in self.doc.get("ProcessingInputs", []):
            source = item["S3Input"]
            prefix_source = {"S3DataType": source["S3DataType"], "S3Uri": source["S3Uri"]}
            job_process.download(
                self.ctx.objects, prefix_source, self._path(source["LocalPath"]), f"input {item['InputName']}"
            )
        for item in self.doc.get("ProcessingOutputConfig", {}).get("Outputs", []):
            self._path(item["S3Output"]["LocalPath"]).mkdir(parents=True, exist_ok=True)

    def _argv(self) -> list[str]:
        """The entry point and arguments, each /opt/ml/processing/ path pointed at the job's directory."""
        app = self.doc["AppSpecification"]
        if is_analyzer(app["ImageUri"]) and not app.get("ContainerEntrypoint"):
            return [sys.executable, "-m", "homeport.monitoring"]  # the analyzer's baseline, from its environment
        argv = [a.replace(PROCESSING_ROOT, f"{self.base}/") for a in app["ContainerEntrypoint"]]
        argv += [a.replace(PROCESSING_ROOT, f"{self.base}/") for a in app.get("ContainerArguments", [])]
        if argv[0] in PYTHONS:
            argv[0] = sys.executable
        elif shutil.which(argv[0]) is None:
            raise JobFailed(
                f"ClientError: the ContainerEntrypoint command {argv[0]!r} is not installed on this machine."
            )
        return argv

    def _environment(self) -> dict[str, str]:
        own = {k: v.replace(PROCESSING_ROOT, f"{self.base}/") for k, v in self.doc.get("Environment", {}).items()}
        return {
            **own,
            "PROCESSING_JOB_NAME": self.name,
            METRICS_DIR: str(self.base / METRICS_FOLDER),
            "SAGEMAKER_REGION": self.ctx.settings.region,
            "PYTHONUNBUFFERED": "1",
        }

    def _upload(self) -> None:
        """Each output path's files, under its S3Uri at their paths relative to it (EndOfJob; Continuous too)."""
        for item in self.doc.get("ProcessingOutputConfig", {}).get("Outputs", []):
            target = item["S3Output"]
            folder = self._path(target["LocalPath"])
            for path in sorted(p for p in folder.rglob("*") if p.is_file()):
                url = f"{target['S3Uri'].rstrip('/')}/{path.relative_to(folder).as_posix()}"
                try:
                    self.ctx.objects.put_files(url, [path])
                except (UnreachableObject, OSError) as exc:
                    raise JobFailed(f"ClientError: output {item['OutputName']}: cannot write {url}: {exc}") from None

    def _publish(self) -> None:
        """A monitoring execution's metrics (the JSON Lines of MetricDatum it left in its metrics folder), to
        CloudWatch under Model Monitor's namespace."""
        environment = self.doc.get("Environment", {})
        folder = self.base / METRICS_FOLDER
        if "sagemaker_monitoring_schedule_name" not in environment or not folder.is_dir():
            return
        endpoint = bool(environment.get("sagemaker_endpoint_name"))
        data = []
        try:
            for path in sorted(p for p in folder.iterdir() if p.is_file()):
                for line in path.read_text().splitlines():
                    if line.strip():
                        datum = json.loads(line)
                        datum["Timestamp"] = datetime.fromisoformat(datum["Timestamp"]).timestamp()
                        data.append(datum)
            if data:
                namespaces = MODEL_METRICS if environment.get("analysis_type") == "MODEL_QUALITY" else DATA_METRICS
                MetricService(self.ctx).put({"Namespace": namespaces[0 if endpoint else 1], "MetricData": data})
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise JobFailed(f"ClientError: the job's CloudWatch metrics cannot be read: {exc}") from None
        except HomeportError as exc:
            raise JobFailed(f"ClientError: the job's CloudWatch metrics cannot be published: {exc.message}") from None

    def _update(self, status: ProcessingJobStatus | None = None, **changes: Any) -> None:
        store = self.ctx.store
        with store.transaction() as conn:
            doc = store.get(conn, Kind.PROCESSING_JOB, self.name)
            if doc is None:
                return
            before = doc["ProcessingJobStatus"]
            if status is not None:
                move(doc, "ProcessingJobStatus", status)
            doc.update(changes)
            now = doc["LastModifiedTime"] = self.ctx.clock.now()
            store.replace(conn, Kind.PROCESSING_JOB, self.name, doc, status=doc["ProcessingJobStatus"])
            if doc["ProcessingJobStatus"] != before:
                events.ml_job(conn, self.ctx.settings, "ProcessingJob", doc, now)
            self.doc = doc

    def _end(self, status: ProcessingJobStatus, reason: str | None = None, exit_message: str | None = None) -> None:
        changes: dict[str, Any] = {"ProcessingEndTime": self.ctx.clock.now()}
        if reason:
            changes["FailureReason"] = reason[:1024]
        if exit_message:
            changes["ExitMessage"] = exit_message
        self._update(status, **changes)
        self.ctx.wake()  # a monitoring execution waits on its job's end
        log.info("processing job %s: %s%s", self.name, status.value, f" ({reason})" if reason else "")

    def mark_stopped(self) -> None:
        self._end(ProcessingJobStatus.STOPPED)
