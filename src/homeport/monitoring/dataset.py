"""A baseline or captured data set, read as the Model Monitor analyzer reads it (`dataset_format`).

CSV files (`{"csv": {"header": true}}`): columns named by the header, or `_c0`, `_c1`, … without one (Spark's
names, which SageMaker's statistics show). JSON Lines (`{"json": {"lines": true}}`): one object per line, its keys
the columns. Parquet (`{"parquet": {}}`). Every file under the source directory is read, in name order, and the tables
joined.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from homeport.core.inference_stamps import ID_KEY, TIME_KEY


class DatasetError(Exception):
    """The data set cannot be read as its format says; the message says why."""


def parse_format(raw: str | None) -> dict[str, Any]:
    if not raw:
        raise DatasetError('dataset_format is not set: give {"csv": {"header": true}} or {"json": {"lines": true}}')
    try:
        value = json.loads(raw)
    except ValueError:
        raise DatasetError(f"dataset_format is not JSON: {raw[:200]!r}") from None
    if not isinstance(value, dict) or len(value) != 1:
        raise DatasetError(f"dataset_format must name one format (csv, json or parquet), not {raw[:200]!r}")
    return value


def files(source: Path) -> list[Path]:
    found = sorted(p for p in source.rglob("*") if p.is_file() and not p.name.startswith("."))
    if not found:
        raise DatasetError(f"the data set at {source} has no files")
    return found


def read(
    source: Path, dataset_format: dict[str, Any], window: tuple[str, str] | None = None, features: str | None = None
) -> pa.Table:
    """Every file of the data set as one table; captured records only from the `window` (ISO 8601 start and end),
    when one is given."""
    ((kind, options),) = dataset_format.items()
    options = options or {}
    if kind == "csv":
        tables = [_csv(path, bool(options.get("header", False))) for path in files(source)]
    elif kind == "json":
        tables = [_json(path) for path in files(source)]
    elif kind == "parquet":
        tables = [_parquet(path) for path in files(source)]
    elif kind == "sagemakerCaptureJson":
        return captured(files(source), window, features)
    else:
        raise DatasetError(f"homeport's analyzer reads csv, json and parquet data sets, not {kind}")
    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise DatasetError(f"the data set's files do not have the same columns: {exc}") from None


_PAYLOAD = pa.struct([("observedContentType", pa.string()), ("data", pa.string()), ("encoding", pa.string())])
_RECORD = pa.schema(
    [
        ("captureData", pa.struct([("endpointInput", _PAYLOAD)])),
        ("eventMetadata", pa.struct([("inferenceTime", pa.string())])),
    ]
)
_MOMENT = pa.timestamp("ms", tz="UTC")


def captured(paths: list[Path], window: tuple[str, str] | None = None, features: str | None = None) -> pa.Table:
    """Data capture's records (`{"sagemakerCaptureJson": …}`): each record's request (`endpointInput`) as rows.
    CSV requests (as text, or base64 of a CSV content type) give columns `_c0`, `_c1`, … JSON requests give a row
    per object (its keys the columns) or per list of values (`_c0`, …): the request itself, or the part of it that
    `features` names (`instances`, `$.data.features`). A record without its input, of another content, or whose
    inferenceTime is outside the window, is counted out.

    Arrow parses the JSON Lines (only the fields read here, in C++ threads), keeps the window's CSV payloads with
    its compute kernels, and reads them as one CSV text: a third of the time of json.loads line by line."""
    bounds = _bounds(window)
    parts: list[pa.Array] = []
    documents: list[Any] = []
    for path, records in _records(paths, _RECORD, "data capture's JSON Lines"):
        request = pc.struct_field(records.column("captureData"), "endpointInput")
        inside = _inside(path, records.column("eventMetadata"), bounds)
        texts, _ = _csv_texts(request, inside)
        parts.append(texts)
        documents += _json_documents(request, inside)
    rows = pa.concat_arrays(parts) if parts else pa.array([], pa.string())
    tables = [_csv_bytes(_joined(rows), "captured data")] if len(rows) else []
    from_json = _json_rows(documents, features) if documents else None
    if from_json is not None and from_json.num_rows:
        tables.append(from_json)
    if not tables or not sum(t.num_rows for t in tables):
        during = f" between {window[0]} and {window[1]}" if window else ""
        raise DatasetError(f"the captured data holds no CSV or JSON requests to analyze{during}")
    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise DatasetError(f"the captured CSV and JSON requests do not have the same columns: {exc}") from None


def _json_documents(payload: Any, kept: Any) -> list[Any]:
    """The kept payloads that hold JSON (as text, or base64 of a JSON content type), parsed; what does not parse is
    counted out."""
    encoding, data = pc.struct_field(payload, "encoding"), pc.struct_field(payload, "data")
    json_type = pc.match_substring(pc.utf8_lower(pc.struct_field(payload, "observedContentType")), "json")
    texts = pc.filter(data, pc.and_(kept, pc.equal(encoding, "JSON"))).to_pylist()
    encoded = pc.filter(data, pc.and_(kept, pc.and_(pc.equal(encoding, "BASE64"), json_type))).to_pylist()
    found = []
    for text in [*texts, *map(_decoded, encoded)]:
        try:
            found.append(json.loads(text or ""))
        except (ValueError, RecursionError):  # not JSON, or nested past the interpreter's stack
            continue
    return found


def _json_rows(documents: list[Any], features: str | None) -> pa.Table:
    """Rows of JSON requests: objects by their keys, lists of values as `_c0`, `_c1`, …"""
    path = [p for p in (features or "").removeprefix("$").split(".") if p]
    objects: list[dict[str, Any]] = []
    for document in documents:
        for key in path:
            document = document.get(key) if isinstance(document, dict) else None
        items = (
            document if isinstance(document, list) and document and isinstance(document[0], dict | list) else [document]
        )
        for item in items:
            if isinstance(item, dict):
                objects.append({k: v for k, v in item.items() if not isinstance(v, dict | list)})
            elif isinstance(item, list):
                objects.append({f"_c{i}": v for i, v in enumerate(item) if not isinstance(v, dict | list)})
    names = list(dict.fromkeys(k for o in objects for k in o))  # every key of any row, in the order they came
    try:
        return pa.table({name: [o.get(name) for o in objects] for name in names})
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise DatasetError(f"the captured JSON requests' values do not have one type per key: {exc}") from None


BOUNDS = ("start_time", "end_time")
GROUND_TRUTH = "groundTruth"  # the merged table's label column: ground_truth_attribute's default
_REPLY = pa.schema(
    [
        ("captureData", pa.struct([("endpointOutput", _PAYLOAD)])),
        (
            "eventMetadata",
            pa.struct([("eventId", pa.string()), ("inferenceId", pa.string()), ("inferenceTime", pa.string())]),
        ),
    ]
)
_LABEL = pa.schema(
    [
        ("groundTruthData", pa.struct([("data", pa.string()), ("encoding", pa.string())])),
        ("eventMetadata", pa.struct([("eventId", pa.string())])),
    ]
)


def merged(captures: list[Path], labels: list[Path], window: tuple[str, str] | None = None) -> pa.Table:
    """What model quality measures: each captured reply (`endpointOutput`, one CSV row) in columns `_c0`, `_c1`, …
    beside its ground truth label (`groundTruth`), joined on the record's inferenceId (its eventId when it has
    none) and the label's eventId. Replies of several rows, not CSV, or outside the window, and labels of no
    reply, are counted out; of two labels for one id, the last counts."""
    bounds = _bounds(window)
    keys, replies = [], []
    for path, records in _records(captures, _REPLY, "data capture's JSON Lines"):
        reply = pc.struct_field(records.column("captureData"), "endpointOutput")
        metadata = records.column("eventMetadata")
        key = pc.coalesce(pc.struct_field(metadata, "inferenceId"), pc.struct_field(metadata, "eventId"))
        kept = pc.and_(pc.is_valid(key), _inside(path, metadata, bounds))
        texts, keyed = _csv_texts(reply, kept, key)
        texts = pc.utf8_trim(texts, "\r\n")
        one_row = pc.invert(pc.match_substring(texts, "\n"))  # a reply of several rows has no one label
        replies.append(pc.filter(texts, one_row))
        keys.append(pc.filter(keyed, one_row))
    rows = pa.concat_arrays(replies) if replies else pa.array([], pa.string())
    if not len(rows):
        raise DatasetError("the captured data holds no CSV replies to measure")
    table = _csv_bytes(_joined(rows), "captured replies").append_column("_key", pa.concat_arrays(keys))
    return _with_truth(table, labels, "no captured reply has a ground truth label with its inferenceId (or eventId)")


def stamped_merged(outputs: pa.Table, labels: list[Path]) -> pa.Table:
    """A transform job's outputs that GenerateInferenceId stamped (CSV: the id and the time as the last two columns;
    JSON: the keys SageMakerInferenceId and SageMakerInferenceTime), each beside its ground truth label, joined on
    the id; the stamps are dropped."""
    names = outputs.column_names
    if ID_KEY in names:
        key = ID_KEY
        kept = [n for n in names if n not in (ID_KEY, TIME_KEY)]
    elif len(names) >= 3 and names == [f"_c{i}" for i in range(len(names))]:
        key = names[-2]
        kept = names[:-2]
    else:
        raise DatasetError(
            "the transform job's outputs carry no inference ids to join the ground truth on: run it with "
            "DataCaptureConfig GenerateInferenceId true (and a CSV output without a header, or JSON)"
        )
    table = outputs.select(kept).append_column("_key", pc.cast(outputs.column(key), pa.string()))
    return _with_truth(table, labels, "no transform output has a ground truth label with its inference id")


def _with_truth(table: pa.Table, labels: list[Path], none: str) -> pa.Table:
    """`table` (keyed by `_key`) joined with the labels' (by their eventId), the last label of an id counting."""
    label_keys, label_values = [], []
    for _, records in _records(labels, _LABEL, "ground truth's JSON Lines"):
        label = records.column("groundTruthData")
        key = pc.struct_field(records.column("eventMetadata"), "eventId")
        kept = pc.and_(pc.equal(pc.struct_field(label, "encoding"), "CSV"), pc.is_valid(key))
        label_keys.append(pc.filter(key, kept).combine_chunks())
        label_values.append(pc.filter(pc.utf8_trim(pc.struct_field(label, "data"), "\r\n"), kept).combine_chunks())
    if not label_keys:
        raise DatasetError("there are no ground truth labels to measure the replies against")
    truth = pa.table({"_key": pa.concat_arrays(label_keys), GROUND_TRUTH: pa.concat_arrays(label_values)})
    truth = (
        truth.group_by("_key", use_threads=False)
        .aggregate([(GROUND_TRUTH, "last")])
        .rename_columns(["_key", GROUND_TRUTH])
    )
    joined = table.join(truth, "_key", join_type="inner").drop_columns(["_key"])
    if not joined.num_rows:
        raise DatasetError(none)
    return joined


def _joined(rows: pa.Array) -> pa.Buffer:
    """The rows as one text, a line each (large: a window may pass 2 GiB of text)."""
    whole = pa.LargeListArray.from_arrays(pa.array([0, len(rows)], pa.int64()), rows.cast(pa.large_string()))
    joined = pc.binary_join(whole, pa.scalar("\n", pa.large_string()))
    return joined[0].as_buffer()


def _csv_texts(payload: Any, kept: Any, keys: Any = None) -> tuple[pa.Array, pa.Array]:
    """The kept payloads that hold CSV text (as text, or base64 of a CSV content type that decodes as UTF-8), and
    the same records' `keys`."""
    encoding, data = pc.struct_field(payload, "encoding"), pc.struct_field(payload, "data")
    keys = pa.nulls(len(data), pa.string()) if keys is None else keys
    plain = pc.and_(kept, pc.equal(encoding, "CSV"))
    texts, keyed = [pc.filter(data, plain).combine_chunks()], [pc.filter(keys, plain).combine_chunks()]
    csv_type = pc.match_substring(pc.utf8_lower(pc.struct_field(payload, "observedContentType")), "csv")
    encoded = pc.and_(kept, pc.and_(pc.equal(encoding, "BASE64"), csv_type))
    pairs = [
        (text, key)
        for text, key in zip(
            map(_decoded, pc.filter(data, encoded).to_pylist()), pc.filter(keys, encoded).to_pylist(), strict=True
        )
        if text is not None
    ]  # rare in data quality (CSV is usually captured as text); model replies without CaptureContentTypeHeader
    if pairs:
        texts.append(pa.array([t for t, _ in pairs], pa.string()))
        keyed.append(pa.array([k for _, k in pairs], pa.string()))
    return pa.concat_arrays(texts), pa.concat_arrays(keyed)


def _records(paths: list[Path], schema: pa.Schema, what: str) -> list[tuple[Path, pa.Table]]:
    """Each non-empty file's JSON Lines, parsed by Arrow to `schema` (other fields ignored)."""
    options = pajson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")
    found = []
    for path in paths:
        if path.stat().st_size == 0:
            continue
        try:
            records = pajson.read_json(
                path, read_options=pajson.ReadOptions(block_size=16 << 20), parse_options=options
            )
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise DatasetError(f"{path.name} is not {what}: {exc}") from None
        found.append((path, records))
    return found


def _bounds(window: tuple[str, str] | None) -> list[pa.Scalar] | None:
    try:
        return (
            None if window is None else [pa.scalar(_moment(t, w), _MOMENT) for t, w in zip(window, BOUNDS, strict=True)]
        )
    except ValueError as exc:
        raise DatasetError(str(exc)) from None


def _inside(path: Path, metadata: pa.ChunkedArray, bounds: list[pa.Scalar] | None) -> Any:
    """Which records' inferenceTime falls in the window (all, without one)."""
    if bounds is None:
        return pa.scalar(True)
    try:
        moment = pc.cast(pc.struct_field(metadata, "inferenceTime"), _MOMENT)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise DatasetError(f"{path.name} has an inferenceTime that is not ISO 8601: {exc}") from None
    return pc.and_(pc.greater_equal(moment, bounds[0]), pc.less(moment, bounds[1]))


def _moment(text: str, what: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except (ValueError, TypeError):
        raise ValueError(f"{what} {text!r} is not an ISO 8601 time") from None


def _decoded(data: str | None) -> str | None:
    try:
        return base64.b64decode(data or "", validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None


def _csv_bytes(data: bytes | pa.Buffer, what: str) -> pa.Table:
    read = pacsv.ReadOptions(autogenerate_column_names=True)
    try:
        table = pacsv.read_csv(pa.BufferReader(data), read_options=read, convert_options=_CONVERT)
    except pa.ArrowInvalid as exc:
        raise DatasetError(f"the {what} is not CSV: {exc}") from None
    return table.rename_columns([f"_c{i}" for i in range(table.num_columns)])


_CONVERT = pacsv.ConvertOptions(strings_can_be_null=True)


def _csv(path: Path, header: bool) -> pa.Table:
    read = pacsv.ReadOptions(autogenerate_column_names=not header)
    try:
        table = pacsv.read_csv(path, read_options=read, convert_options=_CONVERT)
    except pa.ArrowInvalid as exc:
        raise DatasetError(f"{path.name} is not CSV as the data set's format says: {exc}") from None
    if not header:  # Spark's names: _c0, _c1, …
        table = table.rename_columns([f"_c{i}" for i in range(table.num_columns)])
    return table


def _json(path: Path) -> pa.Table:
    try:
        return pajson.read_json(path)
    except pa.ArrowInvalid as exc:
        raise DatasetError(f"{path.name} is not JSON Lines as the data set's format says: {exc}") from None


def _parquet(path: Path) -> pa.Table:
    try:
        return pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DatasetError(f"{path.name} is not a Parquet file: {exc}") from None
