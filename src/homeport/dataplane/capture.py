"""Data capture: what an endpoint received and answered, as SageMaker's JSON Lines records in S3.

An endpoint config's `DataCaptureConfig` becomes a `CaptureConfig` on the endpoint's route. After a request is
answered, the router samples it (`InitialSamplingPercentage`), formats its record and hands it to the
`CaptureWriter`: a few dict and string operations on the request path, never I/O. The writer gathers records per
(destination, endpoint, variant, hour) and writes each batch as one object, under SageMaker's layout
`{DestinationS3Uri}/{endpoint}/{variant}/yyyy/mm/dd/hh/MM-SS-mmm-{uuid}.jsonl`, off the event loop, every
`flush_s` seconds and when the server stops. A failed write is tried again at the next flush; capture never fails
or slows a reply.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import json
import logging
import random
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from homeport.core.waiting import event_within

log = logging.getLogger(__name__)

MAX_BUFFERED = 64 * 1024 * 1024  # records held for a destination that cannot be written, at most
BATCH_BYTES = 8 * 1024 * 1024  # a batch this large is written without waiting for the next flush


@dataclass(frozen=True)
class CaptureConfig:
    destination: str  # DestinationS3Uri, without a trailing slash
    percentage: float  # InitialSamplingPercentage
    inputs: bool
    outputs: bool
    csv_types: frozenset[str] = frozenset()
    json_types: frozenset[str] = frozenset()

    @classmethod
    def from_api(cls, doc: dict[str, Any] | None) -> CaptureConfig | None:
        """An endpoint config's DataCaptureConfig; None when there is none or it is not enabled."""
        if not doc or not doc.get("EnableCapture", True):
            return None
        modes = {option["CaptureMode"] for option in doc["CaptureOptions"]}
        headers = doc.get("CaptureContentTypeHeader", {})
        return cls(
            destination=doc["DestinationS3Uri"].rstrip("/"),
            percentage=float(doc["InitialSamplingPercentage"]),
            inputs=bool(modes & {"Input", "InputAndOutput"}),
            outputs=bool(modes & {"Output", "InputAndOutput"}),
            csv_types=frozenset(t.lower() for t in headers.get("CsvContentTypes", [])),
            json_types=frozenset(t.lower() for t in headers.get("JsonContentTypes", [])),
        )

    def sampled(self) -> bool:
        return self.percentage >= 100 or random.random() * 100 < self.percentage

    def encode(self, content_type: str | None, data: bytes) -> tuple[str, str]:
        """SageMaker's `encoding` and `data` for a payload: text for the CSV and JSON types the config lists (when
        it is UTF-8), base64 for everything else."""
        media = (content_type or "").split(";", 1)[0].strip().lower()
        for encoding, types in (("CSV", self.csv_types), ("JSON", self.json_types)):
            if media in types:
                with contextlib.suppress(UnicodeDecodeError):
                    return encoding, data.decode("utf-8")
        return "BASE64", base64.b64encode(data).decode("ascii")


@dataclass(frozen=True)
class Captured:
    """One answered request, as the router saw it."""

    endpoint: str
    variant: str
    request_type: str | None
    request: bytes
    reply_type: str | None
    reply: bytes
    inference_id: str | None = None
    custom_attributes: str | None = None
    when: float = field(default_factory=time.time)


_quote = json.encoder.encode_basestring  # a JSON string literal (C): the record is built as text, not dumped


@functools.lru_cache(maxsize=4)
def _second(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def record(config: CaptureConfig, c: Captured) -> bytes:
    """The JSON line SageMaker writes for one invocation. Formatted by hand from quoted strings: this runs on the
    request path, at a third of what `json.dumps` of the same dict costs."""
    parts = []
    for wanted, key, mode, content_type, payload in (
        (config.inputs, "endpointInput", "INPUT", c.request_type, c.request),
        (config.outputs, "endpointOutput", "OUTPUT", c.reply_type, c.reply),
    ):
        if wanted:
            encoding, text = config.encode(content_type, payload)
            parts.append(
                f'"{key}":{{"observedContentType":{_quote(content_type or "")},"mode":"{mode}",'
                f'"data":{_quote(text)},"encoding":"{encoding}"}}'
            )
    metadata = f'"eventId":"{uuid.uuid4()}"'
    if c.inference_id is not None:
        metadata += f',"inferenceId":{_quote(c.inference_id)}'
    metadata += f',"inferenceTime":"{_second(int(c.when))}"'
    if c.custom_attributes is not None:
        metadata += f',"customAttributes":{_quote(c.custom_attributes)}'
    line = f'{{"captureData":{{{",".join(parts)}}},"eventMetadata":{{{metadata}}},"eventVersion":"0"}}\n'
    return line.encode()


def hour_prefix(destination: str, endpoint: str, variant: str, when: float) -> str:
    """Where an invocation at `when` goes: SageMaker files captures by the hour they happened in (UTC)."""
    return f"{destination}/{endpoint}/{variant}/{_hour(int(when // 3600))}"


@functools.lru_cache(maxsize=4)
def _hour(hours: int) -> str:
    return f"{datetime.fromtimestamp(hours * 3600, UTC):%Y/%m/%d/%H}"


def object_url(prefix: str, when: float) -> str:
    moment = datetime.fromtimestamp(when, UTC)
    return f"{prefix}/{moment:%M-%S}-{moment.microsecond // 1000:03d}-{uuid.uuid4()}.jsonl"


class CaptureWriter:
    def __init__(self, put: Callable[[str, bytes], None], flush_s: float) -> None:
        self._put = put  # writes one object, whole (Locator.put_bytes): called in a worker thread
        self.flush_s = flush_s
        self._batches: dict[str, list[bytes]] = {}  # hour prefix -> JSON lines
        self._sizes: dict[str, int] = {}
        self._full = asyncio.Event()
        self.written = 0  # records, since the server started
        self.dropped = 0

    def add(self, config: CaptureConfig, captured: Captured) -> None:
        prefix = hour_prefix(config.destination, captured.endpoint, captured.variant, captured.when)
        line = record(config, captured)
        self._batches.setdefault(prefix, []).append(line)
        self._sizes[prefix] = self._sizes.get(prefix, 0) + len(line)
        if self._sizes[prefix] >= BATCH_BYTES:
            self._full.set()

    async def run_forever(self) -> None:
        while True:
            await event_within(self._full, self.flush_s)
            self._full.clear()
            await self.flush()

    async def flush(self) -> None:
        """Write every batch gathered so far, each as one object; what fails waits for the next flush."""
        batches, self._batches, self._sizes = list(self._batches.items()), {}, {}
        for i, (prefix, lines) in enumerate(batches):
            data = b"".join(lines)
            try:
                await asyncio.to_thread(self._put, object_url(prefix, time.time()), data)
            except asyncio.CancelledError:  # stopping: this batch's thread writes on; the batches after it wait
                for later, later_lines in batches[i + 1 :]:
                    self._keep(later, later_lines)
                raise
            except Exception as exc:  # the destination is gone or unreachable: keep the records, within reason
                log.warning("data capture: could not write %d records under %s: %s", len(lines), prefix, exc)
                self._keep(prefix, lines)
            else:
                self.written += len(lines)

    def _keep(self, prefix: str, lines: Sequence[bytes]) -> None:
        held = sum(self._sizes.values())
        size = sum(len(line) for line in lines)
        if held + size > MAX_BUFFERED:
            self.dropped += len(lines)
            log.error("data capture: dropped %d records for %s: over %d bytes wait", len(lines), prefix, MAX_BUFFERED)
            return
        self._batches[prefix] = [*lines, *self._batches.get(prefix, [])]
        self._sizes[prefix] = self._sizes.get(prefix, 0) + size
