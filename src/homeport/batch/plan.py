"""A transform job's plan: which objects it reads, where each `.out` goes, and the ranges each file is cut into.

SageMaker gives each input object to one instance, so one big file keeps one instance busy while the others
idle. homeport cuts every splittable file into ranges of about one request's size; all instances work on all
ranges, and each file's outputs are put back together in order. Line files are cut at nominal offsets (a range
owns the lines that start in it, found when it is read, so planning reads nothing); RecordIO and TFRecord files
are cut at record starts found by hopping from header to header; gzip files and SplitType None are one range.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from homeport.batch.records import FramingError, SplitType, framed_boundaries
from homeport.objects.locations import Locator, ObjectRef, UnreachableObject
from homeport.store.transform_progress import FilePlan

MB = 1024 * 1024
DEFAULT_PAYLOAD_MB = 6
UNLIMITED_RANGE = 64 * MB  # range size when MaxPayloadInMB is 0 (each range is then one request)


class PlanError(ValueError):
    """The input cannot be planned (nothing there, an unreadable manifest); the job fails with this reason."""


@dataclass(frozen=True)
class Limits:
    """What the job sends per request, resolved from the request, then /execution-parameters, then defaults."""

    payload_mb: int  # 0: no limit
    single: bool  # BatchStrategy SingleRecord
    concurrency: int  # requests in flight per instance

    @property
    def payload_bytes(self) -> int | None:
        return self.payload_mb * MB if self.payload_mb else None

    @property
    def range_bytes(self) -> int:
        # A Line range grows to the end of its last line, so it is cut a little short of the limit: the whole
        # range then fits one request instead of one full and one of a line or two.
        return self.payload_mb * MB - self.payload_mb * MB // 64 if self.payload_mb else UNLIMITED_RANGE


def resolve_limits(job: dict[str, Any], execution: dict[str, Any] | None) -> Limits:
    """Request first, then the container's /execution-parameters, then SageMaker's defaults; capped so that
    concurrency x payload stays within SageMaker's 100 MB."""
    execution = execution or {}
    payload = job.get("MaxPayloadInMB")
    if payload is None:
        payload = _positive(execution.get("MaxPayloadInMB"), DEFAULT_PAYLOAD_MB, allow_zero=True)
    strategy = job.get("BatchStrategy")
    if strategy is None:
        strategy = "SingleRecord" if execution.get("BatchStrategy") == "SINGLE_RECORD" else "MultiRecord"
    concurrency = job.get("MaxConcurrentTransforms") or _positive(execution.get("MaxConcurrentTransforms"), 1)
    if payload:
        concurrency = max(1, min(concurrency, 100 // payload))
    return Limits(payload, strategy == "SingleRecord", concurrency)


def _positive(value: Any, default: int, allow_zero: bool = False) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and (value > 0 or (allow_zero and value == 0)):
        return min(value, 100) if allow_zero else value
    return default


def output_url(output_path: str, relative: str) -> str:
    return f"{output_path.rstrip('/')}/{relative}.out"


def inputs(locator: Locator, source: dict[str, Any]) -> list[tuple[ObjectRef, str]]:
    """Each input object with its path relative to the input prefix (which its `.out` keeps)."""
    uri = source["S3Uri"]
    if source["S3DataType"] == "ManifestFile":
        return _manifest(locator, uri)
    base = uri[: uri.rfind("/") + 1]  # `s3://b/in/` for `s3://b/in/` and for `s3://b/in/part-`
    refs = [ref for ref in locator.list_prefix(uri) if not ref.url.endswith("/")]
    if not refs:
        raise PlanError(f"No S3 objects found under S3 URL '{uri}'. Upload the input there, or fix S3Uri.")
    return [(ref, ref.url[len(base) :]) for ref in refs]


def _manifest(locator: Locator, uri: str) -> list[tuple[ObjectRef, str]]:
    try:
        with locator.open(uri) as stream:
            entries = json.loads(stream.read(16 * MB))
    except (UnreachableObject, OSError) as exc:
        raise PlanError(f"Cannot read the manifest file: {exc}") from None
    except ValueError as exc:
        raise PlanError(f"The manifest file {uri} is not valid JSON: {exc}") from None
    if (
        not isinstance(entries, list)
        or not entries
        or not isinstance(entries[0], dict)
        or not isinstance(entries[0].get("prefix"), str)
        or not all(isinstance(e, str) for e in entries[1:])
    ):
        raise PlanError(
            f'The manifest file {uri} must be a JSON list: [{{"prefix": "s3://bucket/prefix/"}}, "relative/key", ...].'
        )
    prefix: str = entries[0]["prefix"]
    out = []
    for relative in entries[1:]:
        url = prefix + relative
        found = [ref for ref in locator.list_prefix(url) if ref.url == url]
        if not found:
            raise PlanError(f"The manifest file {uri} lists {url}, which does not exist.")
        out.append((found[0], relative))
    if not out:
        raise PlanError(f"The manifest file {uri} lists no objects after its prefix.")
    return out


def plan_files(
    locator: Locator, job: dict[str, Any], limits: Limits, refs: list[tuple[ObjectRef, str]]
) -> list[FilePlan]:
    transform_input = job["TransformInput"]
    split = SplitType(transform_input.get("SplitType", "None"))
    gzip = transform_input.get("CompressionType", "None") == "Gzip"
    output_path = job["TransformOutput"]["S3OutputPath"]
    target = limits.range_bytes
    files = []
    for number, (ref, relative) in enumerate(refs):
        if gzip or split is SplitType.NONE or ref.size <= target:
            starts = [0]
        elif split is SplitType.LINE:
            starts = list(range(0, ref.size, target))
        else:
            try:
                with locator.open(ref.url) as stream:
                    starts = framed_boundaries(stream, ref.size, split, target)
            except FramingError:
                starts = [0]  # read whole, the file fails with the exact place when its records are cut
        files.append(FilePlan(number, ref.url, output_url(output_path, relative), ref.size, starts))
    return files
