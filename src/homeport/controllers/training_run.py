"""One training job's execution: lay out its `/opt/ml` (configs, channels downloaded, script-mode code unpacked),
run the training process (`homeport.runtime.training`) within MaxRuntimeInSeconds, upload `model.tar.gz` (and
`output.tar.gz`), and record each step in SecondaryStatus, the final metrics and the times.

The process runs where the engine puts it (this machine, or a Ray node: engines/ray_job.py), its output in
`logs/training-jobs/<job>/algo-1.log` (the CloudWatch Logs stream `<job>/algo-1-<epoch>`). A stop or a timeout
sends SIGTERM to its process group, then SIGKILL after 120 s; what it saved to the model directory is still
uploaded, as SageMaker does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import shutil
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from homeport.controllers import job_process
from homeport.controllers.job_process import JobFailed
from homeport.controllers.provisioning import log_tail
from homeport.core.states import SecondaryStatus, TrainingJobStatus, move
from homeport.engines import requirements
from homeport.engines.base import Engine
from homeport.engines.jobs import JobSpec
from homeport.objects import archives
from homeport.objects.locations import UnreachableObject
from homeport.services import events
from homeport.services.context import Context
from homeport.services.training_jobs import enter, is_script_mode
from homeport.store import Kind

log = logging.getLogger(__name__)

HOST = "algo-1"
ISOLATED_CODE = "/opt/ml/input/data/code/"  # where the SDK points at its code channel under network isolation
# The built-in XGBoost algorithm's metrics, as its round lines print them: `[3]#011validation-rmse:1.61`.
XGBOOST_METRIC = re.compile(r"#011(train|validation)-([^:#\s]+):(-?[\d.]+(?:e[-+]?\d+)?)")
MAX_METRIC_LINE = 4096  # longer log lines are not searched for metrics
MAX_FINAL_METRICS = 40  # FinalMetricDataList's limit


class TrainingJobRun(job_process.JobRun):
    folder, label = "training", "TrainingJob"

    def __init__(self, ctx: Context, engine: Engine, doc: dict[str, Any]) -> None:
        super().__init__(ctx, engine, doc)
        self._packages = ""  # where script mode's requirements.txt was installed

    async def _stopped(self) -> None:
        url = await asyncio.to_thread(self._upload)
        self._end(TrainingJobStatus.STOPPED, SecondaryStatus.STOPPED, "Training job stopped by user.", url)

    async def _run(self) -> None:
        started = self.ctx.clock.now()
        self._update(SecondaryStatus.DOWNLOADING, "Downloading input data", TrainingStartTime=started)
        await asyncio.to_thread(self._prepare)
        self._update(SecondaryStatus.TRAINING, "Training in progress.")
        budget = self.doc["StoppingCondition"]["MaxRuntimeInSeconds"] - (self.ctx.clock.now() - started)
        code = await self._train(max(budget, 0.0))
        if code is None:
            url = await asyncio.to_thread(self._upload)
            reason = "Training job runtime exceeded MaxRuntimeInSeconds provided"
            self._end(TrainingJobStatus.STOPPED, SecondaryStatus.MAX_RUNTIME_EXCEEDED, reason, url)
            return
        if code != 0:
            raise JobFailed(self._failure_reason(code))
        self._update(SecondaryStatus.UPLOADING, "Uploading generated training model")
        url = await asyncio.to_thread(self._upload)
        metrics = await asyncio.to_thread(self._final_metrics)
        self._end(TrainingJobStatus.COMPLETED, SecondaryStatus.COMPLETED, "Training job completed", url, metrics)

    # --- the container's /opt/ml -------------------------------------------------------------------

    def _prepare(self) -> None:
        shutil.rmtree(self.base, ignore_errors=True)
        config = self.base / "input" / "config"
        for folder in (config, self.base / "model", self.base / "output" / "data", self.base / "code"):
            folder.mkdir(parents=True)
        (self.base / "output" / "intermediate").mkdir()
        channels = self.doc.get("InputDataConfig", [])
        mode = self.doc["AlgorithmSpecification"]["TrainingInputMode"]
        described = {
            c["ChannelName"]: {
                "TrainingInputMode": c.get("InputMode", mode),
                "S3DistributionType": c["DataSource"]["S3DataSource"].get("S3DataDistributionType", "FullyReplicated"),
                "RecordWrapperType": c.get("RecordWrapperType", "None"),
                **({"ContentType": c["ContentType"]} if "ContentType" in c else {}),
            }
            for c in channels
        }
        resources = {
            "current_host": HOST,
            "hosts": [HOST],
            "network_interface_name": "eth0",
            "current_instance_type": self.doc.get("ResourceConfig", {}).get("InstanceType", "local"),
        }
        (config / "hyperparameters.json").write_text(json.dumps(self.doc.get("HyperParameters", {})))
        (config / "inputdataconfig.json").write_text(json.dumps(described))
        (config / "resourceconfig.json").write_text(json.dumps(resources))
        for channel in channels:
            name = channel["ChannelName"]
            source = channel["DataSource"]["S3DataSource"]
            job_process.download(self.ctx.objects, source, self.base / "input" / "data" / name, f"channel {name}")
        if is_script_mode(self.doc):
            self._unpack_code()
            wanted = self.base / "code" / "requirements.txt"
            if wanted.is_file():  # as the training toolkit does, before the script runs
                try:
                    environment = requirements.install(wanted, self.ctx.settings.cache_dir / "packages")
                except requirements.RequirementsError as exc:
                    raise JobFailed(f"ClientError: {exc}") from None
                self._packages = str(requirements.site_packages(environment))

    def _unpack_code(self) -> None:
        where = str(_decoded(self.doc["HyperParameters"].get("sagemaker_submit_directory", "")))
        if not where:
            return  # the entry point must then be missing: the training process says so
        limit = self.ctx.settings.max_model_bytes
        try:
            if where.startswith(ISOLATED_CODE):
                archive = self.base / "input" / "data" / "code" / where[len(ISOLATED_CODE) :]
                archives.unpack(archive, self.base / "code" / "src", limit)
            else:
                with tempfile.NamedTemporaryFile(dir=self.base, suffix=".tar.gz") as local:
                    with self.ctx.objects.open(where) as stream:
                        shutil.copyfileobj(stream, local, 1 << 20)
                    local.flush()
                    archives.unpack(Path(local.name), self.base / "code" / "src", limit)
        except (archives.ArtifactError, UnreachableObject, OSError) as exc:
            raise JobFailed(
                f"ClientError: cannot unpack the code at sagemaker_submit_directory={where}: {exc}"
            ) from None
        for item in (self.base / "code" / "src").iterdir():  # the archive's contents are the code directory
            item.rename(self.base / "code" / item.name)
        (self.base / "code" / "src").rmdir()

    # --- the process --------------------------------------------------------------------------------

    async def _train(self, budget: float) -> int | None:
        """The process's exit code, or None when it ran out of time (it has then been stopped)."""
        env = {
            **self.doc.get("Environment", {}),
            "TRAINING_JOB_NAME": self.name,
            "TRAINING_JOB_ARN": self.doc["TrainingJobArn"],
            "SAGEMAKER_REGION": self.ctx.settings.region,
            "PYTHONUNBUFFERED": "1",
        }
        if self._packages:
            env["HOMEPORT_CODE_PACKAGES"] = self._packages
        argv = [sys.executable, "-m", "homeport.runtime.training", str(self.base)]
        instance_type = self.doc.get("ResourceConfig", {}).get("InstanceType", "")
        self._job = await job_process.launch(self.engine, JobSpec(argv, env, self.base, self.log_path, instance_type))
        return await job_process.finish(self._job, budget)

    def _failure_reason(self, code: int) -> str:
        failure = self.base / "output" / "failure"
        if failure.is_file():
            return failure.read_text(errors="replace")[:1024]
        return f"AlgorithmError: the training process exited with code {code}: {log_tail(self.log_path)}"[:1024]

    # --- what it leaves ------------------------------------------------------------------------------

    def _upload(self) -> str | None:
        """Upload model/ as model.tar.gz (and output/data/ as output.tar.gz); the model's URL."""
        model = self.base / "model"
        if not model.is_dir():
            return None
        root = self.doc["OutputDataConfig"]["S3OutputPath"].rstrip("/") + f"/{self.name}/output"
        url = f"{root}/model.tar.gz"
        self._put_tree(model, url)
        data = self.base / "output" / "data"
        if data.is_dir() and any(data.iterdir()):
            self._put_tree(data, f"{root}/output.tar.gz")
        return url

    def _put_tree(self, folder: Path, url: str) -> None:
        with tempfile.NamedTemporaryFile(dir=self.base, suffix=".tar.gz") as packed:
            with tarfile.open(fileobj=packed, mode="w:gz") as tar:
                for item in sorted(folder.iterdir()):
                    tar.add(item, item.name)
            packed.flush()
            try:
                self.ctx.objects.put_files(url, [Path(packed.name)], "application/x-tar")
            except (UnreachableObject, OSError) as exc:
                raise JobFailed(f"ClientError: cannot write {url}: {exc}") from None

    def _final_metrics(self) -> list[dict[str, Any]]:
        """Each metric's last value in the log: the algorithm's own, and the request's MetricDefinitions."""
        definitions = []
        for d in self.doc["AlgorithmSpecification"].get("MetricDefinitions", []):
            with contextlib.suppress(re.error):
                definitions.append((d["Name"], re.compile(d["Regex"])))
        builtin = not is_script_mode(self.doc)
        last: dict[str, float] = {}
        try:
            with open(self.log_path, errors="replace") as lines:
                for line in lines:
                    if len(line) > MAX_METRIC_LINE:
                        continue
                    if builtin:
                        last |= {f"{ds}:{m}": float(v) for ds, m, v in XGBOOST_METRIC.findall(line)}
                    for name, pattern in definitions:
                        found = pattern.search(line)
                        if found and found.groups():
                            with contextlib.suppress(ValueError):
                                last[name] = float(found.group(1))
        except OSError:
            return []
        now = self.ctx.clock.now()
        return [{"MetricName": k, "Value": v, "Timestamp": now} for k, v in list(last.items())[:MAX_FINAL_METRICS]]

    # --- the record ---------------------------------------------------------------------------------

    def _update(
        self,
        secondary: SecondaryStatus | None = None,
        message: str = "",
        status: TrainingJobStatus | None = None,
        **changes: Any,
    ) -> None:
        store = self.ctx.store
        now = self.ctx.clock.now()
        with store.transaction() as conn:
            doc = store.get(conn, Kind.TRAINING_JOB, self.name)
            if doc is None:
                return
            before = (doc["TrainingJobStatus"], doc.get("SecondaryStatus"))
            if status is not None:
                move(doc, "TrainingJobStatus", status)
            if secondary is not None:
                enter(doc, secondary, message, now)
            doc.update(changes)
            doc["LastModifiedTime"] = now
            store.replace(conn, Kind.TRAINING_JOB, self.name, doc, status=doc["TrainingJobStatus"])
            if (doc["TrainingJobStatus"], doc.get("SecondaryStatus")) != before:
                events.ml_job(conn, self.ctx.settings, "TrainingJob", doc, now)
            self.doc = doc

    def _end(
        self,
        status: TrainingJobStatus,
        secondary: SecondaryStatus,
        message: str,
        model_url: str | None = None,
        metrics: list[dict[str, Any]] | None = None,
        **changes: Any,
    ) -> None:
        now = self.ctx.clock.now()
        started = self.doc.get("TrainingStartTime")
        if started is not None:
            changes["TrainingTimeInSeconds"] = changes["BillableTimeInSeconds"] = max(int(now - started), 1)
        if model_url:
            changes["ModelArtifacts"] = {"S3ModelArtifacts": model_url}
        if metrics:
            changes["FinalMetricDataList"] = metrics
        self._update(secondary, message, status, TrainingEndTime=now, **changes)
        transitions = self.doc.get("SecondaryStatusTransitions", [])
        if transitions and "EndTime" not in transitions[-1]:  # the last step ends with the job
            self._update(SecondaryStatusTransitions=[*transitions[:-1], {**transitions[-1], "EndTime": now}])
        log.info("training job %s: %s (%s)", self.name, status.value, message)

    def _fail(self, reason: str) -> None:
        self._end(TrainingJobStatus.FAILED, SecondaryStatus.FAILED, reason[:1024], FailureReason=reason[:1024])

    def mark_stopped(self) -> None:
        self._end(TrainingJobStatus.STOPPED, SecondaryStatus.STOPPED, "Training job stopped by user.")


def _decoded(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value
