"""Record framing: where records end and start, how a stream of blocks is cut into mini-batches, line ranges."""

from __future__ import annotations

import io
import itertools
import random
import struct
from collections.abc import Callable, Iterator

import google_crc32c
import pytest

from homeport.batch import records
from homeport.batch.records import (
    RECORDIO_MAGIC,
    FramingError,
    MiniBatch,
    SplitType,
    frame_end,
    framed_boundaries,
    line_range,
    mini_batches,
    split_lines,
)

SEED = 20240611
SPLITS = 25  # random block splits tried per input


# --- building records ----------------------------------------------------------------------------


def masked_crc(data: bytes) -> int:
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) % 2**32


def rio_frame(data: bytes, flag: int = 0) -> bytes:
    """One MXNet RecordIO frame: magic, flag (top 3 bits) and length (low 29), data, padding to 4 bytes."""
    return struct.pack("<II", RECORDIO_MAGIC, (flag << 29) | len(data)) + data + b"\0" * (-len(data) % 4)


def rio_record(*parts: bytes) -> bytes:
    """A logical RecordIO record: one whole frame, or first / middle... / last frames."""
    if len(parts) == 1:
        return rio_frame(parts[0])
    flags = [1] + [2] * (len(parts) - 2) + [3]
    return b"".join(rio_frame(part, flag) for part, flag in zip(parts, flags, strict=True))


def rio_unpadded(*parts: bytes) -> bytes:
    """The record as SingleRecord sends it: the padding after the last frame's data removed."""
    whole = rio_record(*parts)
    return whole[: len(whole) - (-len(parts[-1]) % 4)]


def tf_record(data: bytes) -> bytes:
    length = struct.pack("<Q", len(data))
    return length + struct.pack("<I", masked_crc(length)) + data + struct.pack("<I", masked_crc(data))


def random_rio(rng: random.Random) -> bytes:
    parts = [rng.randbytes(rng.randint(0, 23)) for _ in range(rng.choice([1, 1, 1, 2, 3, 4]))]
    return rio_record(*parts)


def random_tf(rng: random.Random) -> bytes:
    return tf_record(rng.randbytes(rng.randint(0, 40)))


def random_lines(rng: random.Random, count: int) -> list[bytes]:
    """Lines with `\\n` or `\\r\\n` ends, blank ones among them; the last one maybe without its end."""
    lines = []
    for _ in range(count):
        text = bytes(rng.choice(b"abc,;\r 01") for _ in range(rng.choice([0, 0, 1, 3, 8, 20])))
        lines.append(text.replace(b"\r", b"") + rng.choice([b"\n", b"\r\n"]))
    if lines and rng.random() < 0.5:
        lines[-1] = lines[-1].rstrip(b"\r\n") or b"x"
    return lines


def block_splits(data: bytes, rng: random.Random) -> list[bytes]:
    """`data` cut into blocks of random sizes (empty ones and single bytes among them)."""
    blocks, pos = [], 0
    while pos < len(data):
        size = rng.choice([0, 1, 2, 3, rng.randint(1, 16), rng.randint(1, 64), rng.randint(1, 400)])
        blocks.append(data[pos : pos + size])
        pos += size
    return blocks


def splits_of(data: bytes, rng: random.Random) -> Iterator[list[bytes]]:
    yield [data]
    yield [data[i : i + 1] for i in range(len(data))]
    for _ in range(SPLITS):
        yield block_splits(data, rng)


def greedy(units: list[bytes], limit: int | None) -> list[MiniBatch]:
    """What MultiRecord must give, worked out independently: whole records packed greedily up to `limit`."""
    out: list[MiniBatch] = []
    body, count, offset, pos = b"", 0, 0, 0
    for unit in units:
        if limit is not None and count and len(body) + len(unit) > limit:
            out.append(MiniBatch(body, count, offset))
            body, count, offset = b"", 0, pos
        body, count, pos = body + unit, count + 1, pos + len(unit)
    if count:
        out.append(MiniBatch(body, count, offset))
    return out


def starts_of(units: list[bytes]) -> list[int]:
    starts, pos = [], 0
    for unit in units:
        starts.append(pos)
        pos += len(unit)
    return starts


def check_multi(batches: list[MiniBatch], data: bytes, units: list[bytes], limit: int | None) -> None:
    assert b"".join(b.body for b in batches) == data
    assert sum(b.records for b in batches) == len(units)
    pos = 0
    for batch in batches:
        assert batch.offset == pos
        assert batch.body
        if limit is not None:
            assert len(batch.body) <= limit
        pos += len(batch.body)
    assert {b.offset for b in batches} <= set(starts_of(units))  # never inside a record


def error_of(call: Callable[[], object]) -> FramingError:
    with pytest.raises(FramingError) as caught:
        call()
    return caught.value


# --- FramingError, SplitType ---------------------------------------------------------------------


def test_split_type_values() -> None:
    assert [SplitType(v) for v in ("None", "Line", "RecordIO", "TFRecord")] == [
        SplitType.NONE,
        SplitType.LINE,
        SplitType.RECORDIO,
        SplitType.TFRECORD,
    ]
    with pytest.raises(ValueError):
        SplitType("line")


def test_framing_error_names_offset_and_problem() -> None:
    error = FramingError(42, "it is broken")
    assert isinstance(error, ValueError)
    assert (error.offset, error.problem) == (42, "it is broken")
    assert str(error) == "the record at byte 42: it is broken"


def test_framing_error_shifted_is_a_new_error() -> None:
    error = FramingError(42, "it is broken")
    moved = error.shifted(100)
    assert (moved.offset, moved.problem, str(moved)) == (142, "it is broken", "the record at byte 142: it is broken")
    assert error.offset == 42
    assert error.shifted(-42).offset == 0


# --- frame_end -----------------------------------------------------------------------------------


def test_masked_crc_matches_the_tfrecord_definition() -> None:
    assert google_crc32c.value(b"123456789") == 0xE3069283  # the CRC-32C check value
    crc = 0xE3069283
    assert masked_crc(b"123456789") == (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF
    assert records._masked_crc(b"123456789") == masked_crc(b"123456789")


@pytest.mark.parametrize("length", range(10))
def test_recordio_whole_frame_end_includes_padding(length: int) -> None:
    frame = rio_frame(b"d" * length)
    assert len(frame) % 4 == 0
    assert frame_end(frame, 0, SplitType.RECORDIO) == 8 + (length + 3) // 4 * 4
    assert frame_end(b"xyz" + frame + rio_frame(b"next"), 3, SplitType.RECORDIO) == 3 + len(frame)


def test_recordio_header_is_little_endian_magic_then_flag_and_length() -> None:
    frame = rio_frame(b"abcde", flag=0)
    assert frame[:4] == bytes.fromhex("0a23d7ce")
    assert frame[4:8] == (5).to_bytes(4, "little")
    assert rio_frame(b"", flag=3)[4:8] == (3 << 29).to_bytes(4, "little")


def test_recordio_multi_frame_record_ends_after_its_last_frame() -> None:
    record = rio_record(b"first", b"middle!", b"mid", b"last")
    data = record + rio_record(b"other")
    assert frame_end(data, 0, SplitType.RECORDIO) == len(record)
    assert frame_end(data, len(record), SplitType.RECORDIO) == len(data)
    assert frame_end(memoryview(data), 0, SplitType.RECORDIO) == len(record)


def test_recordio_cut_short_is_minus_one() -> None:
    record = rio_record(b"first-part", b"last-part")
    for cut in range(len(record)):
        assert frame_end(record[:cut], 0, SplitType.RECORDIO) == -1, cut
    assert frame_end(rio_frame(b"first", 1) + rio_frame(b"middle", 2), 0, SplitType.RECORDIO) == -1  # no last frame


def test_recordio_garbage_magic_names_the_bad_frame() -> None:
    good = rio_record(b"ok")
    bad = struct.pack("<II", 0xDEADBEEF, 4) + b"abcd"
    error = error_of(lambda: frame_end(good + bad, len(good), SplitType.RECORDIO))
    assert error.offset == len(good)
    assert "0xdeadbeef" in error.problem and "RecordIO" in error.problem
    continuation = rio_frame(b"first", flag=1)
    error = error_of(lambda: frame_end(good + continuation + bad, len(good), SplitType.RECORDIO))
    assert error.offset == len(good) + len(continuation)  # the frame that is wrong, inside the record


@pytest.mark.parametrize("length", [0, 1, 7, 100])
def test_tfrecord_end(length: int) -> None:
    record = tf_record(b"t" * length)
    assert len(record) == 16 + length
    assert frame_end(record, 0, SplitType.TFRECORD) == 16 + length
    assert frame_end(b"??" + record, 2, SplitType.TFRECORD) == 18 + length


def test_tfrecord_cut_short_is_minus_one() -> None:
    record = tf_record(b"payload")
    for cut in range(len(record)):
        assert frame_end(record[:cut], 0, SplitType.TFRECORD) == -1, cut


def test_tfrecord_wrong_length_crc_is_an_error_at_the_record() -> None:
    good = tf_record(b"fine")
    bad = bytearray(tf_record(b"broken"))
    bad[8] ^= 0xFF
    error = error_of(lambda: frame_end(good + bytes(bad), len(good), SplitType.TFRECORD))
    assert error.offset == len(good)
    assert "CRC" in error.problem


def test_tfrecord_data_crc_is_not_checked_when_framing() -> None:
    record = bytearray(tf_record(b"data"))
    record[-1] ^= 0xFF  # only headers are decoded
    assert frame_end(bytes(record), 0, SplitType.TFRECORD) == len(record)


@pytest.mark.parametrize("split", [SplitType.LINE, SplitType.NONE])
def test_frame_end_refuses_unframed_split_types(split: SplitType) -> None:
    with pytest.raises(ValueError) as caught:
        frame_end(b"a\nb\n", 0, split)
    assert not isinstance(caught.value, FramingError)


# --- mini_batches: Line --------------------------------------------------------------------------


@pytest.mark.parametrize("split", list(SplitType))
@pytest.mark.parametrize("single", [False, True])
@pytest.mark.parametrize("limit", [None, 64])
@pytest.mark.parametrize("blocks", [[], [b""], [b"", b""]])
def test_empty_input_gives_no_mini_batches(
    split: SplitType, single: bool, limit: int | None, blocks: list[bytes]
) -> None:
    assert list(mini_batches(blocks, split, single, limit)) == []


def test_line_multi_record_without_limit_is_one_body() -> None:
    data = b"a,1\n\nb,2\r\nc,3"
    for blocks in ([data], [data[:3], data[3:]], [bytes([c]) for c in data]):
        assert list(mini_batches(blocks, SplitType.LINE, False, None)) == [MiniBatch(data, 4, 0)]


def test_line_multi_record_packs_whole_lines() -> None:
    data = b"aaa\nbb\ncccc\nd\n"
    assert list(mini_batches([data], SplitType.LINE, False, 8)) == [
        MiniBatch(b"aaa\nbb\n", 2, 0),
        MiniBatch(b"cccc\nd\n", 2, 7),
    ]
    # a line exactly as long as the limit fits
    assert list(mini_batches([b"1234567\nab\n"], SplitType.LINE, False, 8)) == [
        MiniBatch(b"1234567\n", 1, 0),
        MiniBatch(b"ab\n", 1, 8),
    ]


def test_line_without_trailing_newline_is_a_record() -> None:
    assert list(mini_batches([b"a\nb"], SplitType.LINE, False, None)) == [MiniBatch(b"a\nb", 2, 0)]
    assert list(mini_batches([b"a\nb"], SplitType.LINE, True, None)) == [MiniBatch(b"a\n", 1, 0), MiniBatch(b"b", 1, 2)]
    assert list(mini_batches([b"abc"], SplitType.LINE, False, 3)) == [MiniBatch(b"abc", 1, 0)]


def test_line_single_record_sends_blank_and_crlf_lines_whole() -> None:
    data = b"a\r\n\n\r\nlast"
    assert list(mini_batches([data], SplitType.LINE, True, 100)) == [
        MiniBatch(b"a\r\n", 1, 0),
        MiniBatch(b"\n", 1, 3),
        MiniBatch(b"\r\n", 1, 4),
        MiniBatch(b"last", 1, 6),
    ]


def test_line_crlf_is_never_split_between_cr_and_lf() -> None:
    data = b"".join(b"%03d\r\n" % i for i in range(50))
    for limit in (5, 6, 11, 17, 40):
        batches = list(mini_batches([data], SplitType.LINE, False, limit))
        assert all(b.body.endswith(b"\r\n") for b in batches)
        check_multi(batches, data, split_lines(data), limit)


def test_line_multi_record_does_not_depend_on_block_splits() -> None:
    rng = random.Random(SEED)
    for _ in range(12):
        lines = random_lines(rng, rng.randint(1, 60))
        data = b"".join(lines)
        longest = max(len(line) for line in lines)
        for limit in (None, longest, longest + rng.randint(1, 30), 4 * longest):
            expected = greedy(lines, limit)
            for blocks in splits_of(data, rng):
                batches = list(mini_batches(blocks, SplitType.LINE, False, limit))
                assert batches == expected, (limit, blocks)
            check_multi(expected, data, lines, limit)


def test_line_single_record_does_not_depend_on_block_splits() -> None:
    rng = random.Random(SEED + 1)
    for _ in range(12):
        lines = random_lines(rng, rng.randint(1, 60))
        data = b"".join(lines)
        expected = [MiniBatch(line, 1, start) for line, start in zip(lines, starts_of(lines), strict=True)]
        assert [b.body for b in expected] == split_lines(data)
        for limit in (None, max(len(line) for line in lines)):
            for blocks in splits_of(data, rng):
                assert list(mini_batches(blocks, SplitType.LINE, True, limit)) == expected


@pytest.mark.parametrize("single", [False, True])
def test_line_larger_than_limit_names_its_start(single: bool) -> None:
    lines = [b"ok\n", b"fine\n", b"this line is far too long\n", b"x\n"]
    data = b"".join(lines)
    rng = random.Random(SEED + 2)
    for blocks in splits_of(data, rng):
        error = error_of(lambda blocks=blocks: list(mini_batches(blocks, SplitType.LINE, single, 10)))
        assert error.offset == len(b"ok\nfine\n"), blocks
        assert "MaxPayloadInMB" in error.problem


def test_line_larger_than_limit_is_refused_before_its_end_is_read() -> None:
    """A line is refused as soon as it passes the limit, so a huge line is never buffered whole."""
    data = b"a\n" + b"z" * 30 + b"\n"
    for single in (False, True):
        error = error_of(
            lambda single=single: list(mini_batches(iter([data[:12], data[12:]]), SplitType.LINE, single, 8))
        )
        assert (error.offset, error.problem.split(";")[0]) == (2, "it is longer than MaxPayloadInMB (0 MB) allows")


def test_too_large_message_gives_the_limit_in_megabytes() -> None:
    mb = 1024 * 1024
    data = b"y" * (2 * mb + 5) + b"\n"
    error = error_of(lambda: list(mini_batches([data], SplitType.LINE, True, 2 * mb)))
    assert error.offset == 0
    assert "it is longer than MaxPayloadInMB (2 MB) allows" in error.problem


def test_line_too_large_message_does_not_depend_on_block_splits() -> None:
    data = b"z" * 10 + b"\n"
    problems = {
        error_of(lambda blocks=blocks: list(mini_batches(blocks, SplitType.LINE, False, 4))).problem
        for blocks in ([data], [data[:8], data[8:]], [data[:9], data[9:]])
    }
    assert len(problems) == 1
    assert problems.pop().startswith("it is longer than")


# --- mini_batches: RecordIO and TFRecord ---------------------------------------------------------


FRAMED = [(SplitType.RECORDIO, random_rio), (SplitType.TFRECORD, random_tf)]


@pytest.mark.parametrize(("split", "make"), FRAMED)
def test_framed_multi_record_does_not_depend_on_block_splits(
    split: SplitType, make: Callable[[random.Random], bytes]
) -> None:
    rng = random.Random(SEED + 3)
    for _ in range(10):
        units = [make(rng) for _ in range(rng.randint(1, 30))]
        data = b"".join(units)
        longest = max(len(unit) for unit in units)
        for limit in (None, longest, longest + rng.randint(1, 50), 3 * longest):
            expected = greedy(units, limit)
            check_multi(expected, data, units, limit)
            for blocks in splits_of(data, rng):
                assert list(mini_batches(blocks, split, False, limit)) == expected, (limit, blocks)


@pytest.mark.parametrize(("split", "make"), FRAMED)
def test_framed_single_record_does_not_depend_on_block_splits(
    split: SplitType, make: Callable[[random.Random], bytes]
) -> None:
    rng = random.Random(SEED + 4)
    for _ in range(10):
        units = [make(rng) for _ in range(rng.randint(1, 30))]
        data = b"".join(units)
        starts = starts_of(units)
        for limit in (None, max(len(unit) for unit in units)):
            first = list(mini_batches([data], split, True, limit))
            assert [b.offset for b in first] == starts
            assert all(b.records == 1 for b in first)
            for blocks in splits_of(data, rng):
                assert list(mini_batches(blocks, split, True, limit)) == first


def test_recordio_multi_record_never_splits_a_logical_record() -> None:
    first = rio_record(b"a" * 5, b"b" * 6, b"c" * 7)  # 60 bytes over three frames
    second = rio_record(b"d" * 9)
    data = first + second
    assert list(mini_batches([data], SplitType.RECORDIO, False, len(first))) == [
        MiniBatch(first, 1, 0),
        MiniBatch(second, 1, len(first)),
    ]
    assert list(mini_batches([data], SplitType.RECORDIO, False, len(data))) == [MiniBatch(data, 2, 0)]


def test_recordio_single_record_removes_only_the_trailing_padding() -> None:
    parts = [(b"abcde",), (b"abcd",), (b"",), (b"a", b"bc", b"def"), (b"xyzxyz", b"q")]
    data = b"".join(rio_record(*p) for p in parts)
    bodies = [b.body for b in mini_batches([data], SplitType.RECORDIO, True, None)]
    assert bodies == [rio_unpadded(*p) for p in parts]
    # the middle frames keep their padding, which their framing needs; the last frame's is gone
    assert bodies[3] == rio_frame(b"a", 1) + rio_frame(b"bc", 2) + rio_frame(b"def", 3)[:-1]
    assert bodies[0] == rio_frame(b"abcde")[:-3]


def test_tfrecord_single_record_is_the_whole_record() -> None:
    units = [tf_record(b"one"), tf_record(b""), tf_record(b"three")]
    assert [b.body for b in mini_batches([b"".join(units)], SplitType.TFRECORD, True, 64)] == units


@pytest.mark.parametrize(("split", "make"), FRAMED)
@pytest.mark.parametrize("single", [False, True])
def test_framed_record_larger_than_limit_names_its_start(
    split: SplitType, make: Callable[[random.Random], bytes], single: bool
) -> None:
    rng = random.Random(SEED + 5)
    small = [make(rng) for _ in range(6)]
    big = rio_record(b"B" * 40, b"C" * 40) if split is SplitType.RECORDIO else tf_record(b"B" * 80)
    limit = max(len(u) for u in small)
    assert len(big) > limit
    units = [*small[:4], big, *small[4:]]
    data = b"".join(units)
    for blocks in splits_of(data, rng):
        error = error_of(lambda blocks=blocks: list(mini_batches(blocks, split, single, limit)))
        assert error.offset == starts_of(units)[4], blocks
        assert error.problem.startswith(f"it is {len(big)} bytes")


@pytest.mark.parametrize("single", [False, True])
def test_recordio_garbage_names_its_offset_in_the_stream(single: bool) -> None:
    rng = random.Random(SEED + 6)
    units = [random_rio(rng) for _ in range(8)]
    head = b"".join(units)
    data = head + b"\x00garbage-garbage-garbage" + rio_record(b"after")
    for limit in (None, 200):
        for blocks in splits_of(data, rng):
            error = error_of(
                lambda blocks=blocks, limit=limit: list(mini_batches(blocks, SplitType.RECORDIO, single, limit))
            )
            assert error.offset == len(head), (limit, blocks)
            assert "not a RecordIO record" in error.problem


@pytest.mark.parametrize("single", [False, True])
def test_tfrecord_wrong_length_crc_names_its_offset_in_the_stream(single: bool) -> None:
    rng = random.Random(SEED + 7)
    units = [random_tf(rng) for _ in range(8)]
    bad = bytearray(tf_record(b"bad"))
    bad[9] ^= 0x01
    data = b"".join(units[:5]) + bytes(bad) + b"".join(units[5:])
    for limit in (None, 200):
        for blocks in splits_of(data, rng):
            error = error_of(
                lambda blocks=blocks, limit=limit: list(mini_batches(blocks, SplitType.TFRECORD, single, limit))
            )
            assert error.offset == len(b"".join(units[:5])), (limit, blocks)
            assert "CRC" in error.problem


@pytest.mark.parametrize(
    ("split", "last"),
    [
        (SplitType.RECORDIO, rio_record(b"abcdefgh", b"ijkl")),
        (SplitType.RECORDIO, rio_frame(b"first", 1)),  # a logical record without its last frame
        (SplitType.TFRECORD, tf_record(b"abcdefgh")),
    ],
)
@pytest.mark.parametrize("single", [False, True])
@pytest.mark.parametrize("limit", [None, 100])
def test_framed_record_cut_short_at_the_end(split: SplitType, last: bytes, single: bool, limit: int | None) -> None:
    rng = random.Random(SEED + 8)
    head = b"".join(rio_record(b"x" * i) if split is SplitType.RECORDIO else tf_record(b"x" * i) for i in range(5))
    for cut in (1, 7, 8, len(last) - 1):
        data = head + last[:cut]
        for blocks in [[data], *(block_splits(data, rng) for _ in range(5))]:
            error = error_of(lambda blocks=blocks: list(mini_batches(blocks, split, single, limit)))
            assert error.offset == len(head)
            assert "cut short" in error.problem


def test_framed_record_exactly_the_limit_fits() -> None:
    units = [tf_record(b"x" * 4), tf_record(b"y" * 4)]  # 20 bytes each
    assert list(mini_batches([b"".join(units)], SplitType.TFRECORD, False, 20)) == [
        MiniBatch(units[0], 1, 0),
        MiniBatch(units[1], 1, 20),
    ]
    assert list(mini_batches([b"".join(units)], SplitType.TFRECORD, False, 40)) == [MiniBatch(b"".join(units), 2, 0)]


# --- split_lines ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "lines"),
    [
        (b"", []),
        (b"a", [b"a"]),
        (b"a\n", [b"a\n"]),
        (b"a\nb", [b"a\n", b"b"]),
        (b"\n\n", [b"\n", b"\n"]),
        (b"a\r\nb\r\n", [b"a\r\n", b"b\r\n"]),
        (b"a\rb\x0bc\x1cd\n", [b"a\rb\x0bc\x1cd\n"]),  # only \n ends a line, unlike bytes.splitlines
    ],
)
def test_split_lines(body: bytes, lines: list[bytes]) -> None:
    assert split_lines(body) == lines
    assert b"".join(split_lines(body)) == body


# --- line_range ----------------------------------------------------------------------------------


def line_starts(data: bytes) -> list[int]:
    return [0] + [i + 1 for i, byte in enumerate(data) if byte == ord("\n") and i + 1 < len(data)]


def test_line_range_moves_both_ends_to_the_next_line_start() -> None:
    data = b"aaa\nbbb\n\nccc"
    stream, size = io.BytesIO(data), len(data)
    assert line_range(stream, 0, 4, size) == (0, 4)  # 4 is a line start already
    assert line_range(stream, 1, 5, size) == (4, 8)
    assert line_range(stream, 4, 9, size) == (4, 9)
    assert line_range(stream, 8, 9, size) == (8, 9)  # the blank line
    assert line_range(stream, 10, 11, size) == (size, size)  # no line starts in [10, 11)
    assert line_range(stream, 9, 100, size) == (9, size)
    assert line_range(stream, -3, 0, size) == (0, 0)


def test_line_range_without_any_newline() -> None:
    data = b"no newline at all"
    assert line_range(io.BytesIO(data), 0, 5, len(data)) == (0, len(data))
    assert line_range(io.BytesIO(data), 5, 10, len(data)) == (len(data), len(data))


def test_line_ranges_partition_the_file_at_line_starts() -> None:
    rng = random.Random(SEED + 9)
    for _ in range(20):
        data = b"".join(random_lines(rng, rng.randint(1, 80)))
        stream, size = io.BytesIO(data), len(data)
        starts = set(line_starts(data))
        for target in (1, 2, 7, rng.randint(1, size + 5)):
            ranges = [line_range(stream, s, s + target, size) for s in range(0, size, target)]
            assert ranges[0][0] == 0 and ranges[-1][1] == size
            assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges))
            for nominal, (start, end) in zip(range(0, size, target), ranges, strict=True):
                assert start in starts | {size}
                # the range owns exactly the lines that start in [nominal, nominal + target)
                assert [s for s in sorted(starts) if start <= s < end] == [
                    s for s in sorted(starts) if nominal <= s < nominal + target
                ]


def test_line_range_reads_on_past_a_long_line() -> None:
    long = b"L" * (3 * records._READ + 17) + b"\n"
    data = b"head\n" + long + b"tail\n"
    start, end = line_range(io.BytesIO(data), 6, 7, len(data))
    assert (start, end) == (5 + len(long), 5 + len(long))
    assert line_range(io.BytesIO(data), 3, 6, len(data)) == (5, 5 + len(long))


# --- framed_boundaries ---------------------------------------------------------------------------


def expected_boundaries(units: list[bytes], target: int) -> list[int]:
    """A new range starts after the record that brings the current one to `target` bytes or more."""
    starts, pos, size = [0], 0, sum(len(u) for u in units)
    for unit in units:
        pos += len(unit)
        if pos - starts[-1] >= target and pos < size:
            starts.append(pos)
    return starts


@pytest.mark.parametrize(("split", "make"), FRAMED)
def test_framed_boundaries_are_record_starts(split: SplitType, make: Callable[[random.Random], bytes]) -> None:
    rng = random.Random(SEED + 10)
    units = [make(rng) for _ in range(400)]
    data = b"".join(units)
    record_starts = set(starts_of(units))
    for target in (1, 50, 333, 1000, len(data) // 2, len(data), 10 * len(data)):
        starts = framed_boundaries(io.BytesIO(data), len(data), split, target)
        assert starts == expected_boundaries(units, target)
        assert starts[0] == 0 and starts == sorted(set(starts))
        assert set(starts) <= record_starts
        ends = [*starts[1:], len(data)]
        assert all(end - start >= target for start, end in zip(starts[:-1], ends[:-1], strict=True))


@pytest.mark.parametrize(("split", "make"), FRAMED)
def test_framed_boundaries_across_read_blocks(split: SplitType, make: Callable[[random.Random], bytes]) -> None:
    # records larger than one read, mixed with small ones, so that records straddle every block edge
    rng = random.Random(SEED + 11)
    big = [b"B" * (records._READ + 3), b"C" * (2 * records._READ)]
    units = []
    for i in range(30):
        units.append(make(rng))
        if i % 7 == 3:
            payload = big[i % 2]
            units.append(
                rio_record(payload[:1000], payload[1000:]) if split is SplitType.RECORDIO else tf_record(payload)
            )
    data = b"".join(units)
    for target in (10, 5000, records._READ, 3 * records._READ):
        assert framed_boundaries(io.BytesIO(data), len(data), split, target) == expected_boundaries(units, target)


@pytest.mark.parametrize("split", [SplitType.RECORDIO, SplitType.TFRECORD])
def test_framed_boundaries_of_empty_and_tiny_files(split: SplitType) -> None:
    assert framed_boundaries(io.BytesIO(b""), 0, split, 10) == [0]
    one = rio_record(b"x" * 100) if split is SplitType.RECORDIO else tf_record(b"x" * 100)
    assert framed_boundaries(io.BytesIO(one), len(one), split, 10) == [0]


def test_framed_boundaries_keep_multi_frame_records_whole() -> None:
    units = [rio_record(*(bytes([i]) * 10 for _ in range(5))) for i in range(20)]
    data = b"".join(units)
    starts = framed_boundaries(io.BytesIO(data), len(data), SplitType.RECORDIO, 1)
    assert starts == starts_of(units)


@pytest.mark.parametrize("split", [SplitType.RECORDIO, SplitType.TFRECORD])
@pytest.mark.parametrize("target", [10, 1 << 20])
def test_framed_boundaries_record_cut_short_at_the_end(split: SplitType, target: int) -> None:
    make = rio_record if split is SplitType.RECORDIO else tf_record
    head = b"".join(make(b"r" * 50) for _ in range(10))
    data = head + make(b"s" * 50)[:-3]
    error = error_of(lambda: framed_boundaries(io.BytesIO(data), len(data), split, target))
    assert error.offset == len(head)
    assert "cut short" in error.problem


@pytest.mark.parametrize("split", [SplitType.RECORDIO, SplitType.TFRECORD])
def test_framed_boundaries_garbage_in_the_first_block(split: SplitType) -> None:
    make = rio_record if split is SplitType.RECORDIO else tf_record
    head = b"".join(make(b"r" * 50) for _ in range(10))
    data = head + b"\xff" * 40 + make(b"after")
    error = error_of(lambda: framed_boundaries(io.BytesIO(data), len(data), split, 100))
    assert error.offset == len(head)


@pytest.mark.parametrize("split", [SplitType.RECORDIO, SplitType.TFRECORD])
def test_framed_boundaries_garbage_offset_is_a_file_offset(split: SplitType) -> None:
    make = rio_record if split is SplitType.RECORDIO else tf_record
    head = b"".join(make(b"r" * 997) for _ in range(3 * records._READ // 1000))
    data = head + b"\xff" * 40 + make(b"after")
    error = error_of(lambda: framed_boundaries(io.BytesIO(data), len(data), split, 100))
    assert error.offset == len(head)
