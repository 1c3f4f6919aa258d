"""Content types: media-type parsing, Accept negotiation, and the codecs the containers use.

Parsing is vectorised: a one-row CSV (the single-record hot path) goes through `bytes.split` and one
numpy conversion (~2 µs); bigger bodies through Arrow's CSV reader (~18 M values/s, but ~400 µs fixed
cost, hence the split at `_SMALL_CSV`). Floats are formatted with Arrow's shortest round-trip cast, so
a float32 score prints as `0.43`, not `0.4300000071525574`, at ~10x the speed of `str()` per value.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from homeport.runtime.errors import BadRequest, NotAcceptable, UnsupportedMediaType, first_line

if TYPE_CHECKING:
    import pyarrow as pa

CSV = "text/csv"
JSON = "application/json"
JSONLINES = "application/jsonlines"
NPY = "application/x-npy"
NPZ = "application/x-npz"
LIBSVM = "text/libsvm"
X_LIBSVM = "text/x-libsvm"
ANY = "*/*"

_SMALL_CSV = 8192  # below this, numpy parses faster than Arrow's reader starts
_DELIMITERS = (b",", b"\t", b";", b"|")


@lru_cache(maxsize=256)
def media_type(header: str | None) -> str | None:
    """`text/CSV; charset=utf-8` → `text/csv`; None or blank → None."""
    if not header:
        return None
    base = header.split(";", 1)[0].strip().lower()
    return base or None


@lru_cache(maxsize=256)
def negotiate(accept: str | None, supported: tuple[str, ...], default: str) -> str:
    """The first media type of an Accept list that is in `supported`; missing or `*/*` means `default`."""
    if not accept or not accept.strip():
        return default
    for item in accept.split(","):
        media = media_type(item)
        if media == ANY:
            media = default
        if media in supported:
            return media
    raise NotAcceptable(f"Accept {accept!r} is not supported; ask for one of: {', '.join(supported)}")


# --- CSV -------------------------------------------------------------------------------------------


def _delimiter(body: bytes) -> bytes:
    """The container sniffs the delimiter; a comma unless the first line has none and has another."""
    end = body.find(b"\n", 0, 65536)
    head = body[: end if end >= 0 else 65536]
    for candidate in _DELIMITERS:
        if candidate in head:
            return candidate
    return b","


def parse_csv(body: bytes) -> np.ndarray:
    """A header-less numeric CSV as a 2-D float64 array; empty fields are NaN. BadRequest if not numeric."""
    delimiter = _delimiter(body)
    if len(body) <= _SMALL_CSV:
        rows = _parse_small_csv(body, delimiter)
        if rows is not None:
            return rows
    return _parse_csv_arrow(body, delimiter)


def _parse_small_csv(body: bytes, delimiter: bytes) -> np.ndarray | None:
    """numpy's float conversion of the split fields, or None to let Arrow handle (and explain) the rest."""
    try:
        if body.count(b"\n", 0, len(body) - 1) == 0:  # one row: the single-record hot path
            return np.array(body.split(delimiter), dtype=np.float64).reshape(1, -1)
        lines = [line for line in body.splitlines() if line.strip()]
        if not lines:
            return np.empty((0, 0), dtype=np.float64)
        width = lines[0].count(delimiter) + 1
        if any(line.count(delimiter) + 1 != width for line in lines):
            return None
        return np.array(delimiter.join(lines).split(delimiter), dtype=np.float64).reshape(len(lines), width)
    except ValueError:  # empty fields (NaN), quotes, text: Arrow decides
        return None


def _parse_csv_arrow(body: bytes, delimiter: bytes) -> np.ndarray:
    import pyarrow as pa
    import pyarrow.csv as pcsv

    if not body.endswith(b"\n"):
        body += b"\n"  # Arrow cannot infer the columns of a lone row without a line end
    try:
        table = pcsv.read_csv(
            pa.BufferReader(body),
            read_options=pcsv.ReadOptions(autogenerate_column_names=True),
            parse_options=pcsv.ParseOptions(delimiter=delimiter.decode()),
        )
    except pa.ArrowInvalid as exc:
        raise BadRequest(f"cannot parse the CSV body: {first_line(exc)}") from None
    out = np.empty((table.num_rows, table.num_columns), dtype=np.float64)
    for index, column in enumerate(table.columns):
        try:
            numbers = column.cast(pa.float64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise BadRequest(
                f"CSV column {index + 1} is not numeric ({first_line(exc)}); send numbers only, no header row"
            ) from None
        out[:, index] = numbers.to_numpy()  # nulls (empty fields) become NaN
    return out


def csv_row_blocks(body: bytes, block_bytes: int = 16 << 20) -> Iterator[np.ndarray]:
    """A large header-less numeric CSV as 2-D float64 blocks of about `block_bytes` of text each, so that
    scoring a 1 GB body needs memory for the body and one block, not for the whole table several times over.

    Every column is read as float64 from the first block on (a streaming reader would otherwise fix the types
    it guessed from the first block, and refuse `1.5` in a column it took for integers).
    """
    import pyarrow as pa
    import pyarrow.csv as pcsv

    delimiter = _delimiter(body)
    first = body[: body.find(b"\n") if b"\n" in body else len(body)]
    width = first.count(delimiter) + 1
    try:
        reader = pcsv.open_csv(
            pa.BufferReader(body),
            read_options=pcsv.ReadOptions(autogenerate_column_names=True, block_size=block_bytes),
            parse_options=pcsv.ParseOptions(delimiter=delimiter.decode()),
            convert_options=pcsv.ConvertOptions(column_types={f"f{i}": pa.float64() for i in range(width)}),
        )
        for batch in reader:
            out = np.empty((batch.num_rows, batch.num_columns), dtype=np.float64)
            for index, column in enumerate(batch.columns):
                out[:, index] = column.to_numpy(zero_copy_only=False)  # nulls (empty fields) become NaN
            yield out
    except pa.ArrowInvalid as exc:
        raise BadRequest(f"cannot parse the CSV body: {first_line(exc)}; send numbers only, no header row") from None


# --- LIBSVM ----------------------------------------------------------------------------------------


def parse_libsvm(body: bytes, min_columns: int = 0) -> Any:
    """`[label] index:value …` lines as a scipy CSR matrix with at least `min_columns` columns.

    Like the XGBoost container, indices are column numbers as written and a line's leading label (a number
    without a colon) is ignored; every line is a row (blank ones have no values), trailing blank lines aside.
    Anything else without a colon is a 400, never dropped: a CSV body sent without its content type (the
    algorithm container's default is LIBSVM) would otherwise score every row as an empty one.
    """
    import scipy.sparse

    lines = body.replace(b"\r", b"").split(b"\n")
    while lines and not lines[-1].strip():
        lines.pop()
    tokens = np.array(b" \x00 ".join(lines).split(), dtype=np.bytes_)  # \x00 marks a line break
    if tokens.size == 0:
        return scipy.sparse.csr_matrix((0, min_columns), dtype=np.float64)
    markers = tokens == b"\x00"
    line_of = np.cumsum(markers)
    pairs_mask = np.char.find(tokens, b":") >= 0
    _check_labels(tokens, ~pairs_mask & ~markers, markers, line_of)
    pairs = tokens[pairs_mask]
    try:
        if pairs.size:
            parts = np.char.partition(pairs, b":")  # shape (n, 3): index, ":", value
            indices, values = parts[:, 0].astype(np.int64), parts[:, 2].astype(np.float64)
        else:
            indices, values = np.empty(0, np.int64), np.empty(0, np.float64)
    except ValueError as exc:
        raise BadRequest(f"cannot parse the LIBSVM body: {first_line(exc)}; expected 'index:value' pairs") from None
    if indices.size and indices.min() < 0:
        raise BadRequest("LIBSVM feature indices must not be negative")
    counts = np.bincount(line_of[pairs_mask], minlength=len(lines))
    indptr = np.concatenate(([0], np.cumsum(counts)))
    width = max(int(indices.max()) + 1 if indices.size else 0, min_columns)
    return scipy.sparse.csr_matrix((values, indices, indptr), shape=(len(lines), width))


def _check_labels(tokens: np.ndarray, bare: np.ndarray, markers: np.ndarray, line_of: np.ndarray) -> None:
    """Tokens without a colon (`bare`) must be a line's first token, and numbers."""
    if not bare.any():
        return
    first = np.ones(tokens.size, dtype=bool)
    first[1:] = markers[:-1]
    stray = np.flatnonzero(bare & ~first)
    if stray.size:
        raise BadRequest(_not_libsvm(tokens[stray[0]], int(line_of[stray[0]]) + 1, "is not an index:value pair"))
    labels = np.flatnonzero(bare)
    try:
        tokens[labels].astype(np.float64)
    except ValueError:
        for i in labels:
            try:
                float(tokens[i])
            except ValueError:
                raise BadRequest(_not_libsvm(tokens[i], int(line_of[i]) + 1, "is not a number (a label)")) from None


def _not_libsvm(token: bytes, line: int, why: str) -> str:
    shown = token[:40].decode("latin-1")
    return (
        f"the body is not LIBSVM: on line {line}, {shown!r} {why}. LIBSVM lines are '[label] index:value ...'; "
        "for CSV rows, send Content-Type text/csv"
    )


# --- formatting ------------------------------------------------------------------------------------

SMALL_OUTPUT = 4096  # values; below this numpy's formatting beats Arrow's fixed cost


def format_small(values: np.ndarray) -> list[str]:
    """Values (flattened, row-major) as numpy writes them: shortest round-trip (`0.43`, `1.0`, `1e-05`).

    Used for small outputs: an Arrow kernel on the single-record path costs ~35 µs next to xgboost (it
    evicts the model from the CPU caches); numpy costs ~1 µs.
    """
    return np.asarray(values).reshape(-1).astype(str).tolist()


def format_large(values: np.ndarray) -> pa.Array:
    """The same texts as `format_small`, as an Arrow string array, at Arrow's speed (~3x numpy's).

    Arrow's shortest round-trip digits equal numpy's, but its notation differs outside [1e-4, 1e6) and
    for whole numbers (`1` for `1.0`); those few values are formatted by numpy instead.
    """
    import pyarrow as pa

    flat = np.ascontiguousarray(values).reshape(-1)
    if flat.dtype.kind != "f":
        return pa.array(flat.astype(str), pa.string())
    texts = pa.array(flat).cast(pa.string())
    magnitude = np.abs(flat)
    with np.errstate(invalid="ignore"):
        odd = ~((magnitude >= 1e-4) & (magnitude < 1e6)) | (flat == np.trunc(flat))  # NaN and inf are odd too
    if odd.any():
        strings = texts.to_numpy(zero_copy_only=False)
        strings[odd] = flat[odd].astype(str)
        texts = pa.array(strings, pa.string())
    return texts


def csv_lines(values: Any) -> bytes:
    """A 0-, 1- or 2-D array as CSV: one value per line for 1-D (as `np.savetxt` writes it)."""
    array = np.asarray(values)
    if array.ndim == 0:
        array = array.reshape(1, 1)
    elif array.ndim == 1:
        array = array.reshape(-1, 1)
    elif array.ndim > 2:
        array = array.reshape(len(array), -1)
    width = array.shape[1]
    texts = format_small(array) if array.size <= SMALL_OUTPUT else format_large(array).to_pylist()
    if width == 1:
        return "\n".join(texts).encode()
    return "\n".join(",".join(texts[i : i + width]) for i in range(0, len(texts), width)).encode()


# --- the inference toolkit's default decoders and encoders ----------------------------------------

TOOLKIT_INPUTS = (JSON, CSV, NPY, NPZ)
TOOLKIT_OUTPUTS = (JSON, CSV, NPY)


def decode(data: str | bytes, content_type: str | None) -> Any:
    """The toolkit's `default_input_fn`: JSON → array, CSV → 2-D float array, NPY → array, NPZ → sparse."""
    media = media_type(content_type)
    try:
        if media == JSON:
            return np.array(json.loads(data))
        if media == CSV:
            return parse_csv(data.encode() if isinstance(data, str) else data)
        if media == NPY:
            return np.load(io.BytesIO(_as_bytes(data)), allow_pickle=False)
        if media == NPZ:
            import scipy.sparse

            return scipy.sparse.load_npz(io.BytesIO(_as_bytes(data)))
    except (ValueError, OSError) as exc:  # JSONDecodeError is a ValueError
        raise BadRequest(f"cannot decode the {media} body: {first_line(exc)}") from None
    raise UnsupportedMediaType(
        f"content type {content_type!r} is not supported by the default input_fn; "
        f"send one of {', '.join(TOOLKIT_INPUTS)} or define input_fn in the inference script"
    )


def encode(prediction: Any, media: str) -> bytes:
    """The toolkit's default encoders for one negotiated media type of `TOOLKIT_OUTPUTS`."""
    if media == JSON:
        return json.dumps(prediction, default=_json_default).encode()
    if media == CSV:
        return csv_lines(prediction)
    if media == NPY:
        buffer = io.BytesIO()
        np.save(buffer, np.asarray(prediction), allow_pickle=False)
        return buffer.getvalue()
    raise NotAcceptable(f"cannot encode a prediction as {media!r}; ask for one of {', '.join(TOOLKIT_OUTPUTS)}")


def _as_bytes(data: str | bytes) -> bytes:
    return data.encode() if isinstance(data, str) else data


def _json_default(value: Any) -> Any:
    if isinstance(value, np.ndarray | np.generic):
        return value.tolist()
    if hasattr(value, "toarray"):  # scipy sparse
        return value.toarray().tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable; return lists, numbers or numpy arrays")
