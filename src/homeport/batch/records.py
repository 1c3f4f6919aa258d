"""Record framing for batch transform: where records start, and how they are cut into mini-batches.

SplitType ([BC-SM `TransformInput.SplitType`]):
- `None`: the whole object is one request.
- `Line`: a record is a line, its trailing `\\n` kept (as SageMaker's own local mode keeps it).
- `RecordIO`: MXNet RecordIO frames (magic, flags+length, data, padding to 4 bytes); a logical record may span
  several frames (flags 1 = first, 2 = middle, 3 = last), and is never split.
- `TFRecord`: length (8 bytes), masked CRC-32C of the length, data, masked CRC-32C of the data.

MultiRecord packs as many whole records as fit in the payload limit into one request; SingleRecord sends one
record per request, with RecordIO padding removed. Framing errors name the byte offset, so a failure reason
can say exactly where a file is malformed.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import BinaryIO

import google_crc32c

RECORDIO_MAGIC = 0xCED7230A
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_READ = 1 << 16  # probe size when looking for a line end past a range boundary (grows by reading on)


class SplitType(StrEnum):
    NONE = "None"
    LINE = "Line"
    RECORDIO = "RecordIO"
    TFRECORD = "TFRecord"


class FramingError(ValueError):
    """The record at `offset` (from the start of what was framed) cannot be framed or does not fit."""

    def __init__(self, offset: int, problem: str) -> None:
        super().__init__(f"the record at byte {offset}: {problem}")
        self.offset = offset
        self.problem = problem

    def shifted(self, delta: int) -> FramingError:
        return FramingError(self.offset + delta, self.problem)


@dataclass(frozen=True, slots=True)
class MiniBatch:
    body: bytes
    records: int
    offset: int  # of the first byte, from the start of the bytes being cut


# --- where records start ------------------------------------------------------------------------


def frame_end(data: bytes | memoryview, pos: int, split: SplitType) -> int:
    """The end of the record (RecordIO: logical record, padding included) that starts at `pos`; -1 if cut short."""
    size = len(data)
    if split is SplitType.RECORDIO:
        end = pos
        while True:
            if end + 8 > size:
                return -1
            magic, word = _U32.unpack_from(data, end)[0], _U32.unpack_from(data, end + 4)[0]
            if magic != RECORDIO_MAGIC:
                raise FramingError(end, f"not a RecordIO record (its magic number is {magic:#010x})")
            flag, length = word >> 29, word & ((1 << 29) - 1)
            end += 8 + ((length + 3) & ~3)
            if end > size:
                return -1
            if flag in (0, 3):
                return end
    if split is SplitType.TFRECORD:
        if pos + 12 > size:
            return -1
        length = _U64.unpack_from(data, pos)[0]
        if _masked_crc(bytes(data[pos : pos + 8])) != _U32.unpack_from(data, pos + 8)[0]:
            raise FramingError(pos, "not a TFRecord record (the CRC of its length does not match)")
        end = pos + 12 + length + 4
        return end if end <= size else -1
    raise ValueError(f"{split} records are not length-framed")


def _masked_crc(data: bytes) -> int:
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def framed_boundaries(stream: BinaryIO, size: int, split: SplitType, target: int) -> list[int]:
    """Offsets (0 first) where ranges of about `target` bytes start, each on a record start.

    Reads the file once, block by block, hopping from header to header; only headers are decoded.
    """
    starts = [0]
    buffer = b""
    base = 0  # file offset of buffer[0]
    pos = 0  # file offset of the next record
    while pos < size:
        local = pos - base
        try:
            end = frame_end(buffer, local, split) if local < len(buffer) else -1
            if end < 0:
                stream.seek(pos)
                buffer = stream.read(max(_READ, 2 * target))
                base = pos
                if not buffer:
                    break
                end = frame_end(buffer, 0, split)
                if end < 0:  # one record larger than a block: read it whole to find its end
                    buffer = buffer + stream.read(size - pos - len(buffer))
                    end = frame_end(buffer, 0, split)
                    if end < 0:
                        raise FramingError(0, f"the {split} record is cut short by the end of the file")
        except FramingError as exc:
            raise exc.shifted(base) from None  # offsets in the buffer → offsets in the file
        pos = base + end
        if pos - starts[-1] >= target and pos < size:
            starts.append(pos)
    return starts


def line_range(stream: BinaryIO, start: int, end: int, size: int) -> tuple[int, int]:
    """The byte range of the lines that *start* in [start, end): both ends moved to the next line start."""
    return _next_line_start(stream, start, size), _next_line_start(stream, end, size)


def _next_line_start(stream: BinaryIO, offset: int, size: int) -> int:
    if offset <= 0:
        return 0
    if offset >= size:
        return size
    pos = offset - 1  # a line starts at `offset` when the byte before it ends a line
    stream.seek(pos)
    while pos < size:
        block = stream.read(_READ)
        if not block:
            break
        found = block.find(b"\n")
        if found >= 0:
            return pos + found + 1
        pos += len(block)
    return size


# --- mini-batches --------------------------------------------------------------------------------


def mini_batches(blocks: Iterable[bytes], split: SplitType, single: bool, limit: int | None) -> Iterator[MiniBatch]:
    """Cut a stream of bytes (in blocks of any size) into request bodies; `limit` None means no limit.

    Never combines records across calls: a caller passes one file's (or one range's) bytes per call.
    """
    cut = _cut_lines if split is SplitType.LINE else _cut_framed
    buffer = b""
    consumed = 0  # bytes of the stream before buffer[0]
    for block in blocks:
        buffer = buffer + block if buffer else block
        body_end = _ready(buffer, limit)
        if body_end:
            batches, used = cut(buffer, body_end, split, single, limit, consumed, final=False)
            yield from batches
            buffer = buffer[used:]
            consumed += used
    if buffer:
        batches, used = cut(buffer, len(buffer), split, single, limit, consumed, final=True)
        yield from batches


def _ready(buffer: bytes, limit: int | None) -> int:
    # Cut once two requests' worth is buffered, so that a full request is always available. Without a limit
    # the whole input is one request: nothing is cut before the end.
    if limit is None or len(buffer) < 2 * limit:
        return 0
    return len(buffer) - limit


def _cut_lines(
    data: bytes, upto: int, split: SplitType, single: bool, limit: int | None, base: int, final: bool
) -> tuple[list[MiniBatch], int]:
    out: list[MiniBatch] = []
    pos, size = 0, len(data)
    while pos < upto:
        if single:
            nl = data.find(b"\n", pos)
            end = size if nl < 0 else nl + 1
            if limit is not None and end - pos > limit:
                raise _too_large(None, limit, base + pos)  # refused before the rest of the line is buffered
            if nl < 0 and not final:
                break
            out.append(MiniBatch(data[pos:end], 1, base + pos))
            pos = end
            continue
        if limit is None or size - pos <= limit:
            if not final:
                break
            end = size
        else:
            nl = data.rfind(b"\n", pos, pos + limit)
            if nl < 0:
                raise _too_large(None, limit, base + pos)
            end = nl + 1
        body = data[pos:end]
        out.append(MiniBatch(body, body.count(b"\n") + (0 if body.endswith(b"\n") else 1), base + pos))
        pos = end
    return out, pos


def _cut_framed(
    data: bytes, upto: int, split: SplitType, single: bool, limit: int | None, base: int, final: bool
) -> tuple[list[MiniBatch], int]:
    out: list[MiniBatch] = []
    pos = 0
    view = memoryview(data)
    start, records = 0, 0  # the mini-batch being built
    while pos < upto:
        try:
            end = frame_end(view, pos, split)
        except FramingError as exc:
            raise exc.shifted(base) from None
        if end < 0:
            if final:
                raise FramingError(base + pos, f"the {split} record is cut short by the end of the data")
            break
        if single:
            _check_size(end - pos, limit, base + pos)
            out.append(MiniBatch(_unpadded(data, pos, end, split), 1, base + pos))
        else:
            _check_size(end - pos, limit, base + pos)
            if limit is not None and end - start > limit and records:
                out.append(MiniBatch(data[start:pos], records, base + start))
                start, records = pos, 0
            records += 1
        pos = end
    if single:
        return out, pos
    if records and final:
        out.append(MiniBatch(data[start:pos], records, base + start))
        return out, pos
    return out, start  # the records of the unfinished mini-batch are framed again with the next block


def _unpadded(data: bytes, pos: int, end: int, split: SplitType) -> bytes:
    if split is not SplitType.RECORDIO:
        return data[pos:end]
    # Padding follows the last frame's data; its length is in that frame's header.
    frame = pos
    last = pos
    while frame < end:
        last = frame
        frame += 8 + (((_U32.unpack_from(data, frame + 4)[0] & ((1 << 29) - 1)) + 3) & ~3)
    length = _U32.unpack_from(data, last + 4)[0] & ((1 << 29) - 1)
    return data[pos : last + 8 + length]


def _check_size(size: int, limit: int | None, offset: int) -> None:
    if limit is not None and size > limit:
        raise _too_large(size, limit, offset)


def _too_large(size: int | None, limit: int, offset: int) -> FramingError:
    """`size` None: a line, refused as soon as it passes the limit (its end may not have been read)."""
    what = f"it is {size} bytes, more than" if size is not None else "it is longer than"
    return FramingError(
        offset,
        f"{what} MaxPayloadInMB ({limit // (1024 * 1024)} MB) allows; raise MaxPayloadInMB (up to 100, or 0 for "
        "no limit) or make the record smaller",
    )


def split_lines(body: bytes) -> list[bytes]:
    """The lines of `body`, each with its `\\n` (only `\\n` ends a line, unlike `bytes.splitlines`)."""
    parts = body.split(b"\n")
    lines = [part + b"\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines
