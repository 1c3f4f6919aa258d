"""One transform job while it runs: its instances, its workers, its outputs.

The job starts `InstanceCount` instances of its model, then `MaxConcurrentTransforms` workers per instance take
ranges from one queue (all files' ranges, in order). A worker reads its range, cuts it into mini-batches, sends
each to its instance and appends the replies to the range's part file; once the part is on disk (fsync'd) the
range is recorded in the store. When every range of a file is recorded, the parts are written, in order, as the
file's `.out` object, which appears whole or not at all. After a crash the job resumes from the recorded ranges.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import logging
import os
import shutil
import uuid
import zlib
from collections import deque
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from homeport.batch.capture import BatchCapture, manifests, output_format, stamped
from homeport.batch.dataprocessing import DataProcessing, RecordError
from homeport.batch.plan import Limits, PlanError, inputs, plan_files, resolve_limits
from homeport.batch.records import FramingError, MiniBatch, SplitType, line_range, mini_batches, split_lines
from homeport.controllers.provisioning import log_tail, ping, provision
from homeport.core.states import TransformJobStatus, move
from homeport.dataplane.connection import InstanceDropped, InstanceTimeout, InstanceUnreachable
from homeport.dataplane.instances import Instance, InstanceState
from homeport.engines.base import Engine, spread
from homeport.objects.locations import UnreachableObject
from homeport.services import events
from homeport.services.context import Context
from homeport.store import Kind
from homeport.store import transform_progress as progress
from homeport.store.transform_progress import FilePlan, FileState

log = logging.getLogger(__name__)

STOP_GRACE_S = 30.0
STARTUP_POLL_S = 0.01
BLOCK = 1 << 20  # read size for gzip inputs
LOG_EVERY_S = 10.0
DEFAULT_TIMEOUT_S = 600  # ModelClientConfig.InvocationsTimeoutInSeconds
DEFAULT_RETRIES = 3  # ModelClientConfig.InvocationsMaxRetries
SETTLE_S = 1.0  # how long a dropped request waits to learn whether its instance died


class JobFailed(Exception):
    """The whole job cannot go on (no input, no instance); the message is its FailureReason."""


class FileFailed(Exception):
    """One file cannot be transformed; the message names the file and the record."""


class TransformJobRun:
    def __init__(self, ctx: Context, engine: Engine, doc: dict[str, Any], socket_dir: Path) -> None:
        self.ctx = ctx
        self.engine = engine
        self.doc = doc
        self.name: str = doc["TransformJobName"]
        self.socket_dir = socket_dir
        self.workdir = ctx.settings.data_dir / "transform" / self.name
        self.instances: list[Instance] = []
        self.stopping = False  # set by StopTransformJob (a server shutdown cancels without it: the job resumes)
        transform_input = doc["TransformInput"]
        self.split = SplitType(transform_input.get("SplitType", "None"))
        self.gzip = transform_input.get("CompressionType", "None") == "Gzip"
        self.content_type: str | None = transform_input.get("ContentType")
        output = doc["TransformOutput"]
        self.accept: str | None = output.get("Accept")
        self.assemble_lines = output.get("AssembleWith", "None") == "Line"
        client = doc.get("ModelClientConfig", {})
        self.timeout = float(client.get("InvocationsTimeoutInSeconds", DEFAULT_TIMEOUT_S))
        self.retries = int(client.get("InvocationsMaxRetries", DEFAULT_RETRIES))
        self.processing = DataProcessing.from_request(
            doc.get("DataProcessing"),
            self.content_type,
            self.accept,
            self.split.value,
            output.get("AssembleWith", "None"),
        )
        self.limits = Limits(6, False, 1)
        self.queue: deque[tuple[FilePlan, int]] = deque()
        self.files: list[FilePlan] = []
        self._last_log = 0.0
        self._startup_deadline = 0.0
        self._environment_vars: dict[str, str] = {}
        self._retired: list[Instance] = []  # instances that exited mid-job and were replaced
        count = doc["TransformResources"]["InstanceCount"]
        self._replacing = [asyncio.Lock() for _ in range(count)]
        self._crashes = [0] * count  # per slot: exits since its last good reply
        self._alone = [False] * count  # per slot: one request at a time, since an instance of it died
        self._one_at_a_time = [asyncio.Lock() for _ in range(count)]
        self.capture: BatchCapture | None = None  # DataCaptureConfig, once the job has started
        self.stamp_as = ""  # with GenerateInferenceId: "csv" or "json", how its output records are stamped

    # --- the whole job -----------------------------------------------------------------------------

    async def run(self) -> None:
        try:
            await self._run()
        except asyncio.CancelledError:
            if self.stopping:
                self.mark_stopped()
            raise
        except JobFailed as exc:
            self._end(TransformJobStatus.FAILED, str(exc))
            self._clean()
        except Exception as exc:
            log.exception("transform job %s failed", self.name)
            self._end(TransformJobStatus.FAILED, f"InternalServerError: homeport failed on this job: {exc}")
            self._clean()
        finally:
            await asyncio.shield(self._stop_instances())

    def mark_stopped(self) -> None:
        """StopTransformJob: finished .out objects stay, everything unfinished goes."""
        self._end(TransformJobStatus.STOPPED, None)
        self._clean()

    def mark_interrupted(self) -> None:
        """Never called: transform jobs resume after a restart."""

    async def _run(self) -> None:
        if "TransformStartTime" not in self.doc:
            self._update(TransformStartTime=self.ctx.clock.now())
        self.capture = BatchCapture.of(self.doc)
        if self.capture and self.capture.generate_id:
            self.stamp_as = output_format(self.accept)  # checked at CreateTransformJob; worked out once, here
        with self.ctx.store.transaction() as conn:
            saved = progress.load_plan(conn, self.name)
        refs = None
        if saved is None:
            try:
                self.ctx.objects.check_writable(self.doc["TransformOutput"]["S3OutputPath"])
                source = self.doc["TransformInput"]["DataSource"]["S3DataSource"]
                refs = await asyncio.to_thread(inputs, self.ctx.objects, source)
            except (PlanError, UnreachableObject, OSError) as exc:
                raise JobFailed(f"ClientError: {exc}") from None
        await self._start_instances()
        first = await self._healthy(self.instances)
        self.limits = resolve_limits(self.doc, await self._execution_parameters(first))
        self._update(
            MaxConcurrentTransforms=self.limits.concurrency,
            MaxPayloadInMB=self.limits.payload_mb,
            BatchStrategy="SingleRecord" if self.limits.single else "MultiRecord",
        )
        if saved is None:
            assert refs is not None
            saved = await asyncio.to_thread(plan_files, self.ctx.objects, self.doc, self.limits, refs)
            with self.ctx.store.transaction() as conn:
                progress.save_plan(conn, self.name, saved)
        self.files = saved
        await self._record("input")
        await self._queue_work()
        log.info(
            "transform job %s: %d files, %d ranges to do, %d instances x %d concurrent requests",
            self.name,
            len(self.files),
            len(self.queue),
            len(self.instances),
            self.limits.concurrency,
        )
        try:
            async with asyncio.TaskGroup() as group:  # one instance that cannot start stops the others' work
                for slot in range(len(self.instances)):
                    group.create_task(self._serve(slot))
        except* JobFailed as failures:
            raise failures.exceptions[0] from None
        await self._record("output")
        failed = [f for f in self.files if f.state is FileState.FAILED]
        if failed:
            more = (
                f" ({len(failed)} of {len(self.files)} files failed; the others have their .out)"
                if len(self.files) > 1
                else ""
            )
            self._end(TransformJobStatus.FAILED, f"ClientError: {failed[0].failure}{more}")
        else:
            self._end(TransformJobStatus.COMPLETED, None)
        self._clean()

    async def _queue_work(self) -> None:
        for file in self.files:
            if file.state is not FileState.PENDING:
                continue
            for number in list(file.done):
                if not self._part(file, number).exists():  # recorded, but its output is gone: do it again
                    del file.done[number]
                    with self.ctx.store.transaction() as conn:
                        progress.forget_range(conn, self.name, file.number, number)
            if len(file.done) == len(file.starts):
                await self._assemble(file)  # the server stopped between the last range and the .out
                continue
            self.queue.extend((file, n) for n in range(len(file.starts)) if n not in file.done)

    # --- instances ---------------------------------------------------------------------------------

    async def _start_instances(self) -> None:
        count = self.doc["TransformResources"]["InstanceCount"]
        self.instances = []
        for number in range(1, count + 1):  # spread over the engine's zones, as an endpoint's are
            self.instances.append(self._new_instance(f"{self.name}-{number}"))
        self._environment_vars = self._environment(count)
        await asyncio.gather(*(self._provision(inst) for inst in self.instances))
        self._startup_deadline = asyncio.get_running_loop().time() + self.ctx.settings.startup_timeout_s

    def _new_instance(self, instance_id: str) -> Instance:
        """An instance in the zone that holds fewest of the job's live ones."""
        live = [i.zone for i in self.instances if i.state is not InstanceState.EXITED]
        return Instance(
            id=instance_id,
            endpoint=self.name,
            config="transform-job",
            variant="",
            started_at=self.ctx.clock.now(),
            socket_path=self.socket_dir / f"job-{uuid.uuid4().hex[:12]}.sock",
            instance_type=self.doc["TransformResources"]["InstanceType"],
            zone=spread(self.engine.zones, live),
            log_path=self.ctx.settings.logs_dir / "transform-jobs" / self.name / f"{instance_id}.log",
        )

    async def _provision(self, inst: Instance) -> None:
        await provision(
            self.ctx, self.engine, inst, self.doc["_container"], self.doc["_runtime"], self._environment_vars
        )

    async def _healthy(self, instances: list[Instance]) -> Instance:
        """The first of `instances` to pass /ping; JobFailed if one ends or none passes in time (SageMaker fails
        the job when an instance cannot start)."""
        loop = asyncio.get_running_loop()
        while True:
            ready = [i for i in instances if i.state is InstanceState.HEALTHY]
            if ready:
                return ready[0]
            exited = [i for i in instances if i.state is InstanceState.EXITED]
            if exited:
                raise JobFailed(f"ClientError: the model's instance did not start: {exited[0].failure}")
            if loop.time() > self._startup_deadline:
                raise JobFailed(
                    f"ClientError: the model's instance did not pass /ping within "
                    f"{self.ctx.settings.startup_timeout_s:.0f} s: {log_tail(instances[0].log_path)}"
                )
            for inst, ok in zip(
                instances, await asyncio.gather(*(ping(self.engine, i) for i in instances)), strict=True
            ):
                if ok:
                    inst.state = InstanceState.HEALTHY
            if not any(i.state is InstanceState.HEALTHY for i in instances):
                await asyncio.sleep(STARTUP_POLL_S)

    async def _serve(self, slot: int) -> None:
        """An instance's workers, from the moment it passes /ping (the others may still be starting)."""
        await self._healthy([self.instances[slot]])
        await asyncio.gather(*(self._worker(slot) for _ in range(self.limits.concurrency)))

    async def _replace(self, slot: int, dead: Instance) -> None:
        """Start a new instance in place of one that exited mid-job (once, however many workers saw it die)."""
        async with self._replacing[slot]:
            if self.instances[slot] is not dead:
                return  # another worker of this slot replaced it already
            self._crashes[slot] += 1
            if self._crashes[slot] > 2 * (1 + self.retries):
                raise JobFailed(
                    f"ClientError: the model's instance keeps exiting ({self._crashes[slot]} times in a row); "
                    f"the last one said: {dead.failure or log_tail(dead.log_path)}"
                )
            log.warning("transform job %s: instance %s exited; starting another", self.name, dead.id)
            self._retired.append(dead)
            replacement = self._new_instance(f"{dead.id.rsplit('.', 1)[0]}.{self._crashes[slot]}")
            await self._provision(replacement)
            self._startup_deadline = asyncio.get_running_loop().time() + self.ctx.settings.startup_timeout_s
            await self._healthy([replacement])
            self.instances[slot] = replacement

    def _environment(self, instances: int) -> dict[str, str]:
        """The container contract's batch variables ([DG:your-algorithms-batch-code]), then the job's Environment."""
        doc = self.doc
        env = {"SAGEMAKER_BATCH": "true"}
        if "MaxPayloadInMB" in doc:
            env["SAGEMAKER_MAX_PAYLOAD_IN_MB"] = str(doc["MaxPayloadInMB"])
        if "BatchStrategy" in doc:
            env["SAGEMAKER_BATCH_STRATEGY"] = (
                "SINGLE_RECORD" if doc["BatchStrategy"] == "SingleRecord" else "MULTI_RECORD"
            )
        if doc.get("MaxConcurrentTransforms"):
            env["SAGEMAKER_MAX_CONCURRENT_TRANSFORMS"] = str(doc["MaxConcurrentTransforms"])
        env.update(doc.get("Environment", {}))
        if "SAGEMAKER_MODEL_SERVER_WORKERS" not in env and "SAGEMAKER_MODEL_SERVER_WORKERS" not in doc[
            "_container"
        ].get("Environment", {}):
            # Enough worker threads for the requests the job keeps in flight; like SageMaker's XGBoost container
            # (one per CPU) when the job leaves it to /execution-parameters, with the CPUs shared by the instances.
            workers = doc.get("MaxConcurrentTransforms") or max(1, (os.cpu_count() or 1) // instances)
            env["SAGEMAKER_MODEL_SERVER_WORKERS"] = str(workers)
        return env

    async def _execution_parameters(self, inst: Instance) -> dict[str, Any] | None:
        if all(self.doc.get(k) for k in ("MaxConcurrentTransforms", "BatchStrategy")) and "MaxPayloadInMB" in self.doc:
            return None
        try:
            reply = await inst.client.request("GET", "/execution-parameters", [], b"", 2.0)
        except (InstanceUnreachable, InstanceDropped, InstanceTimeout):
            return None
        if reply.status != 200:
            return None  # not implemented: SageMaker's defaults apply
        with contextlib.suppress(ValueError):
            found = json.loads(reply.body)
            if isinstance(found, dict):
                return found
        return None

    async def _stop_instances(self) -> None:
        every = [*self.instances, *self._retired]
        stops = [self.engine.stop(i.handle, STOP_GRACE_S) for i in every if i.handle is not None]
        for inst in every:
            inst.client.close()
        await asyncio.gather(*stops, return_exceptions=True)
        for inst in every:
            inst.socket_path.unlink(missing_ok=True)

    # --- ranges ------------------------------------------------------------------------------------

    async def _worker(self, slot: int) -> None:
        while self.queue:
            file, number = self.queue.popleft()
            if file.state is not FileState.PENDING:
                continue
            try:
                records = await self._range(slot, file, number)
            except FileFailed as exc:
                self._fail_file(file, str(exc))
                continue
            with self.ctx.store.transaction() as conn:
                progress.record_range(
                    conn, self.name, file.number, number, records, file.end_of(number) - file.starts[number]
                )
            file.done[number] = records
            self._log_progress()
            if len(file.done) == len(file.starts) and file.state is FileState.PENDING:
                await self._assemble(file)

    async def _range(self, slot: int, file: FilePlan, number: int) -> int:
        part = self._part(file, number)
        part.parent.mkdir(parents=True, exist_ok=True)
        batches = self._batches(file, number)
        records = 0
        try:
            with open(part, "wb") as out:
                while True:
                    try:
                        batch = await asyncio.to_thread(next, batches, None)
                    except FramingError as exc:
                        raise FileFailed(
                            f"{file.source}: {exc}{' of the decompressed data' if self.gzip else ''}"
                        ) from None
                    except (OSError, EOFError, zlib.error) as exc:
                        raise FileFailed(f"{file.source}: cannot read the input: {exc}") from None
                    if batch is None:
                        break
                    out.write(await self._transform(slot, file, batch))
                    records += batch.records
                out.flush()
                await asyncio.to_thread(os.fsync, out.fileno())
        finally:
            # Cancelled (a stop) while a worker thread is inside the generator: it cannot be closed now, and the
            # error must not hide the cancellation; the generator closes its stream when it is collected.
            with contextlib.suppress(ValueError):
                batches.close()
        return records

    def _batches(self, file: FilePlan, number: int) -> Generator[MiniBatch]:
        """The range's mini-batches, read as they are needed (the caller pulls each from a worker thread)."""
        with self.ctx.objects.open(file.source) as stream:
            start, end = file.starts[number], file.end_of(number)
            if self.gzip:
                decompressed = gzip.GzipFile(fileobj=stream)
                blocks: Iterator[bytes] = iter(lambda: decompressed.read(BLOCK), b"")
                start = 0
            else:
                if self.split is SplitType.LINE:
                    start, end = line_range(stream, start, end, file.size)
                stream.seek(start)
                blocks = _read(stream, end - start)
            if self.split is SplitType.NONE:
                body = self._whole(blocks, file)
                if body:
                    yield MiniBatch(body, 1, 0)
                return
            try:
                for batch in mini_batches(blocks, self.split, self.limits.single, self.limits.payload_bytes):
                    yield MiniBatch(batch.body, batch.records, start + batch.offset)
            except FramingError as exc:
                raise exc.shifted(start) from None

    def _whole(self, blocks: Iterator[bytes], file: FilePlan) -> bytes:
        """SplitType None: the whole object is one request; refused before it outgrows the limit in memory."""
        limit = self.limits.payload_bytes
        if limit is not None and not self.gzip and file.size > limit:
            raise self._too_big(f"{file.size} bytes")
        chunks, size = [], 0
        for block in blocks:
            chunks.append(block)
            size += len(block)
            if limit is not None and size > limit:
                raise self._too_big(f"over {limit} bytes decompressed")
        return b"".join(chunks)

    def _too_big(self, size: str) -> FramingError:
        return FramingError(
            0,
            f"SplitType is None, so the whole object ({size}) is one request, more than MaxPayloadInMB "
            f"({self.limits.payload_mb} MB) allows; set SplitType to cut it into records, or MaxPayloadInMB to 0",
        )

    async def _transform(self, slot: int, file: FilePlan, batch: MiniBatch) -> bytes:
        where = _where(file, batch, self.gzip, self.limits.single)
        processing = self.processing
        records = split_lines(batch.body) if (processing.filters_input or processing.changes_output) else []
        body = batch.body
        try:
            if processing.filters_input:
                body = b"".join(processing.filter_input(records))
            reply = await self._invoke(slot, body, where)
            if processing.changes_output:
                outputs = processing.split_response(reply, len(records))
                reply = b"".join(processing.finish_output(records, outputs))
        except RecordError as exc:
            raise FileFailed(f"{where}: {exc}") from None
        if self.stamp_as:
            assert self.capture is not None
            reply = stamped(reply, self.stamp_as, self.capture.stamp)
        if self.assemble_lines and reply and not reply.endswith(b"\n"):
            reply += b"\n"
        return reply

    async def _invoke(self, slot: int, body: bytes, where: str) -> bytes:
        headers = []
        if self.content_type:
            headers.append(("content-type", self.content_type))
        if self.accept:
            headers.append(("accept", self.accept))
        attempts = 1 + self.retries
        problem = ""
        used = 0
        while used < attempts:
            # After an instance of this slot has died, its requests go one at a time: a crash is then the fault
            # of the one request in flight, and only that one's attempts are used up.
            alone = self._alone[slot]
            async with self._one_at_a_time[slot] if alone else contextlib.nullcontext():
                inst = self.instances[slot]
                used += 1
                try:
                    reply = await inst.client.request(
                        "POST", "/invocations", headers, body, self.timeout, chunked=not self.limits.payload_mb
                    )
                except InstanceTimeout:
                    problem = (
                        f"the model did not answer within {self.timeout:.0f} s "
                        "(ModelClientConfig.InvocationsTimeoutInSeconds)"
                    )
                    continue
                except (InstanceUnreachable, InstanceDropped) as exc:
                    problem = f"the instance dropped the request ({exc})"
                    code = await self._settle(inst)
                    if code is not None:  # it died (a request crashed the model, or it was killed): replace it
                        problem = f"the model's instance exited (code {code}) on it: {log_tail(inst.log_path)}"
                        if not alone:
                            used -= 1  # others were in flight too: not this request's fault, as far as is known
                            self._alone[slot] = True
                        await self._replace(slot, inst)
                    continue
            if 200 <= reply.status < 300:
                self._crashes[slot] = 0
                return reply.body
            message = reply.body[:1024].decode("utf-8", "replace").strip()
            problem = f"the model answered {reply.status}: {message}"
            if reply.status < 500:
                raise FileFailed(f"{where}: {problem}")  # the same request would fail the same way
        raise FileFailed(f"{where}: {problem} ({attempts} attempts, ModelClientConfig.InvocationsMaxRetries)")

    async def _settle(self, inst: Instance) -> int | None:
        """After a dropped request, give the engine a moment to see whether the instance has ended: its exit
        code, or None while it runs."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SETTLE_S
        while (code := self.engine.exit_code(inst.handle)) is None and loop.time() < deadline:
            await asyncio.sleep(0.01)
        return code

    # --- outputs -----------------------------------------------------------------------------------

    def _part(self, file: FilePlan, number: int) -> Path:
        return self.workdir / str(file.number) / f"{number}.part"

    async def _assemble(self, file: FilePlan) -> None:
        parts = [self._part(file, n) for n in range(len(file.starts))]
        try:
            await asyncio.to_thread(self.ctx.objects.put_files, file.output, parts, self.accept)
        except (UnreachableObject, OSError) as exc:
            self._fail_file(file, f"{file.source}: cannot write {file.output}: {exc}")
            return
        file.state = FileState.DONE
        with self.ctx.store.transaction() as conn:
            progress.set_file_state(conn, self.name, file.number, FileState.DONE)
        shutil.rmtree(self.workdir / str(file.number), ignore_errors=True)

    async def _record(self, direction: str) -> None:
        """DataCaptureConfig: the manifest of the objects the job reads, or of the `.out` objects it wrote."""
        if self.capture is None or not self.files:
            return
        done = [f for f in self.files if f.state is FileState.DONE]
        if direction == "output" and not done:
            return
        manifest = manifests(self.files, self.doc["TransformOutput"]["S3OutputPath"], done)[direction]
        url = self.capture.manifest_url(direction, self.name)
        try:
            await asyncio.to_thread(self.ctx.objects.put_bytes, url, manifest, "application/json")
        except (UnreachableObject, OSError) as exc:
            raise JobFailed(f"ClientError: cannot write the data capture manifest {url}: {exc}") from None

    def _fail_file(self, file: FilePlan, reason: str) -> None:
        if file.state is not FileState.PENDING:
            return
        log.warning("transform job %s: %s", self.name, reason)
        file.state, file.failure = FileState.FAILED, reason
        with self.ctx.store.transaction() as conn:
            progress.set_file_state(conn, self.name, file.number, FileState.FAILED, reason[:2048])
        shutil.rmtree(self.workdir / str(file.number), ignore_errors=True)

    # --- the job's document ------------------------------------------------------------------------

    def _log_progress(self) -> None:
        now = self.ctx.clock.now()
        if now - self._last_log < LOG_EVERY_S:
            return
        self._last_log = now
        total = sum(f.size for f in self.files) or 1
        done = sum(f.end_of(n) - f.starts[n] for f in self.files for n in f.done)
        records = sum(sum(f.done.values()) for f in self.files)
        log.info("transform job %s: %.0f%% of the input, %d records", self.name, 100 * done / total, records)

    def _update(self, status: TransformJobStatus | None = None, **changes: Any) -> None:
        store = self.ctx.store
        with store.transaction() as conn:
            doc = store.get(conn, Kind.TRANSFORM_JOB, self.name)
            if doc is None:
                return
            before = doc["TransformJobStatus"]
            if status is not None:
                move(doc, "TransformJobStatus", status)
            doc.update(changes)
            now = doc["LastModifiedTime"] = self.ctx.clock.now()
            store.replace(conn, Kind.TRANSFORM_JOB, self.name, doc, status=doc["TransformJobStatus"])
            if doc["TransformJobStatus"] != before:
                events.transform_job(conn, self.ctx.settings, doc, now)
            self.doc = doc

    def _end(self, status: TransformJobStatus, reason: str | None) -> None:
        changes: dict[str, Any] = {"TransformEndTime": self.ctx.clock.now()}
        if reason:
            changes["FailureReason"] = reason[:1024]
        self._update(status, **changes)
        log.info("transform job %s: %s%s", self.name, status.value, f" ({reason})" if reason else "")

    def _clean(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)


def _read(stream: BinaryIO, size: int) -> Iterator[bytes]:
    """A range in one read, done only when the first block is asked for."""
    if size > 0:
        yield stream.read(size)


def _where(file: FilePlan, batch: MiniBatch, gzip: bool, single: bool) -> str:
    place = f"byte {batch.offset}{' of the decompressed data' if gzip else ''}"
    what = "the record" if single or batch.records == 1 else f"the mini-batch of {batch.records} records"
    return f"{file.source}: {what} at {place}"
