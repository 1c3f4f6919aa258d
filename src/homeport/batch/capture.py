"""Batch transform data capture: a transform job's `DataCaptureConfig`.

SageMaker copies nothing for a transform job: it records which objects the job read and wrote as two manifests (the
ManifestFile format, `[{"prefix": …}, "relative/key", …]`), under `<DestinationS3Uri>/input/yyyy/mm/dd/hh/` and
`<DestinationS3Uri>/output/yyyy/mm/dd/hh/`, the hour being the job's start (UTC). A monitoring schedule's
`BatchTransformInput` reads the manifests of its window. The manifests' own name is undocumented; homeport names
them `<job>.manifest`.

`GenerateInferenceId` stamps every output record with an id and the job's start time, so that ground truth can be
joined to it later: CSV records get two more columns, JSON records the keys `SageMakerInferenceId` and
`SageMakerInferenceTime`.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from homeport.core.inference_stamps import ID_KEY, TIME_KEY
from homeport.store.transform_progress import FilePlan

OUTPUT_KEY = "SageMakerOutput"  # a JSON record that is not an object is kept under this key, next to the id
DIRECTIONS = ("input", "output")


class CaptureError(ValueError):
    """A DataCaptureConfig the job cannot honour; the message says what to change."""


def output_format(accept: str | None) -> str:
    """`csv` or `json`: how GenerateInferenceId stamps the records of replies of this Accept type."""
    kind = (accept or "").split(";")[0].strip().lower()
    if kind == "text/csv":
        return "csv"
    if kind in ("application/json", "application/jsonlines", "application/x-jsonlines", "application/json-lines"):
        return "json"
    raise CaptureError(
        "DataCaptureConfig.GenerateInferenceId adds the inference id to CSV, JSON and JSON Lines outputs only: set "
        f"TransformOutput.Accept to text/csv, application/json or application/jsonlines (it is {accept or 'not set'})."
    )


@dataclass(frozen=True)
class BatchCapture:
    destination: str  # DestinationS3Uri, without its trailing slash
    generate_id: bool
    started: float  # the job's TransformStartTime

    @classmethod
    def of(cls, job: dict[str, Any]) -> BatchCapture | None:
        config = job.get("DataCaptureConfig")
        if not config:
            return None
        started = job.get("TransformStartTime", job["CreationTime"])
        return cls(config["DestinationS3Uri"].rstrip("/"), bool(config.get("GenerateInferenceId")), started)

    def manifest_url(self, direction: str, job_name: str) -> str:
        hour = datetime.fromtimestamp(self.started, UTC)
        return f"{self.destination}/{direction}/{hour:%Y/%m/%d/%H}/{job_name}.manifest"

    @property
    def stamp(self) -> bytes:
        return datetime.fromtimestamp(self.started, UTC).strftime("%Y-%m-%dT%H:%M:%SZ").encode()


def manifests(files: list[FilePlan], output_path: str, done: list[FilePlan]) -> dict[str, bytes]:
    """The job's input manifest (every file it reads) and output manifest (the `.out` objects in `done`).

    A file's path relative to the input prefix is the one its `.out` keeps under S3OutputPath, so both prefixes come
    from the plan."""
    root = output_path.rstrip("/") + "/"
    relative = {f.number: f.output[len(root) : -len(".out")] for f in files}
    first = files[0]
    source_prefix = first.source[: len(first.source) - len(relative[first.number])]
    found = {"input": [{"prefix": source_prefix}, *(relative[f.number] for f in files)]}
    found["output"] = [{"prefix": root}, *(relative[f.number] + ".out" for f in done)]
    return {direction: json.dumps(entries).encode() for direction, entries in found.items()}


def stamped(reply: bytes, kind: str, stamp: bytes) -> bytes:
    """`reply`'s records (one per line) each with a new inference id and the job's start time. A JSON reply that is
    one document (a pretty-printed one, say) is one record."""
    if kind == "json" and reply.count(b"\n") > 1:
        try:
            json.loads(reply)
        except ValueError:
            pass  # JSON Lines
        else:
            return _stamped_json(reply, str(uuid.uuid4()), stamp.decode()) + b"\n"
    lines = reply.split(b"\n")
    ending = lines.pop() if lines and lines[-1] == b"" else None
    out = []
    for line in lines:
        if not line.strip():
            out.append(line)
            continue
        inference_id = str(uuid.uuid4())
        if kind == "csv":
            carriage = line.endswith(b"\r")
            body = line[:-1] if carriage else line
            out.append(body + b"," + inference_id.encode() + b"," + stamp + (b"\r" if carriage else b""))
        else:
            out.append(_stamped_json(line, inference_id, stamp.decode()))
    if ending is not None:
        out.append(ending)
    return b"\n".join(out)


def _stamped_json(line: bytes, inference_id: str, stamp: str) -> bytes:
    try:
        record = json.loads(line)
    except ValueError:
        record = line.decode("utf-8", "replace")  # not JSON after all: kept as text
    if not isinstance(record, dict):
        record = {OUTPUT_KEY: record}
    record[ID_KEY], record[TIME_KEY] = inference_id, stamp
    return json.dumps(record, separators=(",", ":")).encode()
