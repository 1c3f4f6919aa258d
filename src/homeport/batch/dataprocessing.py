"""Batch transform `DataProcessing`: InputFilter, JoinSource and OutputFilter, applied record by record.

SageMaker ("Associate Prediction Results with Input Records") runs, for each record:

    InputFilter -> the model -> join with the original input (JoinSource "Input") -> OutputFilter

with defaults "$", "None" and "$". Filters are JSONPath (`homeport.batch.jsonpath`). What a record is depends on
the media type:

- CSV (`text/csv`): one row, seen as a JSON array of its fields. Fields keep their text exactly ("1.50" stays
  "1.50"); only quoting is normalised, as the `csv` module writes it. A join appends the model's fields to the row.
- JSON (`application/json`) and JSON Lines (`application/jsonlines`, alias `application/json-lines`,
  `application/x-jsonlines`): one document. A join puts the model's output under `SageMakerOutput` of an input
  object, or wraps any other input as `{"SageMakerInput": ..., "SageMakerOutput": ...}`.

The caller frames records and talks to the model; this module only transforms lists of records, so it is pure and
fast: paths are compiled once (`DataProcessing.from_request`), and a list of CSV records goes through one
`csv.reader` and one `csv.writer`. Configuration errors raise `DataProcessingError`, worded as the fix for a
ValidationException; a record that cannot be processed raises `RecordError`, naming its index in the given list.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from homeport.batch.jsonpath import JsonPath, JsonPathError, RecordError, parse

__all__ = [
    "CSV",
    "JSON",
    "JSON_LINES",
    "MAX_FILTER_LENGTH",
    "DataProcessing",
    "DataProcessingError",
    "RecordError",
    "media_kind",
]

CSV = "text/csv"
JSON = "application/json"
JSON_LINES = "application/jsonlines"
MAX_FILTER_LENGTH = 63  # CreateTransformJob: DataProcessing.InputFilter / OutputFilter, length 0 to 63

_KINDS = {
    CSV: CSV,
    JSON: JSON,
    JSON_LINES: JSON_LINES,
    "application/json-lines": JSON_LINES,
    "application/x-jsonlines": JSON_LINES,
}
_SUPPORTED = "text/csv, application/json or application/jsonlines"
_FIELDS = ("InputFilter", "JoinSource", "OutputFilter")
_ROOT = parse("$")
# Error prefixes, saying whether an input record or the model's output for it is at fault.
_INPUT = "the record is "
_MODEL = "the model's output is "

# One encoder, built once: json.dumps with non-default options builds a new encoder on every call.
_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


class DataProcessingError(ValueError):
    """A DataProcessing configuration SageMaker would refuse; the message says what to change."""


def media_kind(content_type: str | None) -> str | None:
    """`CSV`, `JSON` or `JSON_LINES` for a content type (parameters and case ignored); None for anything else."""
    if not content_type:
        return None
    return _KINDS.get(content_type.split(";", 1)[0].strip().lower())


@dataclass(frozen=True)
class DataProcessing:
    """A validated DataProcessing; the default instance changes nothing."""

    input_filter: JsonPath = _ROOT
    output_filter: JsonPath = _ROOT
    join_input: bool = False
    input_kind: str | None = None  # media_kind(ContentType)
    output_kind: str | None = None  # media_kind(Accept): what the model returns and the job writes

    @classmethod
    def from_request(
        cls,
        data_processing: Mapping[str, Any] | None,
        content_type: str | None,
        accept: str | None,
        split_type: str,
        assemble_with: str,
    ) -> DataProcessing:
        """Validate CreateTransformJob's DataProcessing against the job's types and framing, compiling the paths."""
        dp: Mapping[str, Any] = {} if data_processing is None else data_processing
        if not isinstance(dp, Mapping):
            raise DataProcessingError("DataProcessing must be an object with InputFilter, JoinSource and OutputFilter")
        unknown = sorted(str(k) for k in dp if k not in _FIELDS)
        if unknown:
            raise DataProcessingError(
                f"DataProcessing has unknown field(s) {', '.join(unknown)}; its fields are {', '.join(_FIELDS)}"
            )
        input_filter = _compile(dp, "InputFilter")
        output_filter = _compile(dp, "OutputFilter")
        join_source = dp.get("JoinSource")
        if join_source is None:
            join_source = "None"
        if join_source not in ("None", "Input"):
            raise DataProcessingError(f"DataProcessing.JoinSource must be 'Input' or 'None', not {join_source!r}")
        join = join_source == "Input"
        in_kind, out_kind = media_kind(content_type), media_kind(accept)

        if join:
            if in_kind is None:
                raise DataProcessingError(
                    f"JoinSource 'Input' needs TransformInput.ContentType set to {_SUPPORTED}; "
                    f"it is {_shown(content_type)}"
                )
            if out_kind != in_kind:
                raise DataProcessingError(
                    f"JoinSource 'Input' needs TransformOutput.Accept equal to TransformInput.ContentType "
                    f"({content_type!r}); Accept is {_shown(accept)}: set Accept to {in_kind!r}"
                )
            if in_kind == CSV and split_type != "Line":
                raise DataProcessingError(
                    f"JoinSource 'Input' with text/csv needs TransformInput.SplitType 'Line', so that each input "
                    f"row meets its own prediction; it is {split_type!r}: set SplitType to 'Line'"
                )
            if in_kind == CSV and assemble_with != "Line":
                raise DataProcessingError(
                    f"JoinSource 'Input' with text/csv needs TransformOutput.AssembleWith 'Line', so that joined "
                    f"rows stay one per line; it is {assemble_with!r}: set AssembleWith to 'Line'"
                )
        if not input_filter.is_root:
            if in_kind is None:
                raise DataProcessingError(
                    f"DataProcessing.InputFilter {input_filter.expression!r} needs TransformInput.ContentType set "
                    f"to {_SUPPORTED}; it is {_shown(content_type)}: set ContentType, or InputFilter to '$'"
                )
            _check_csv_path(input_filter, "InputFilter", in_kind)
        if not output_filter.is_root:
            if out_kind is None:
                raise DataProcessingError(
                    f"DataProcessing.OutputFilter {output_filter.expression!r} needs TransformOutput.Accept set "
                    f"to {_SUPPORTED}; it is {_shown(accept)}: set Accept, or OutputFilter to '$'"
                )
            _check_csv_path(output_filter, "OutputFilter", out_kind)
        if (join or not input_filter.is_root) and in_kind in (CSV, JSON_LINES) and split_type == "None":
            # SplitType None makes the whole object one record, but a CSV or JSON Lines object holds many.
            raise DataProcessingError(
                f"DataProcessing filters and joins work record by record, but TransformInput.SplitType 'None' "
                f"sends a whole {in_kind} object as one record: set SplitType to 'Line'"
            )
        return cls(input_filter, output_filter, join, in_kind, out_kind)

    @property
    def filters_input(self) -> bool:
        """False when InputFilter is "$": records go to the model untouched."""
        return not self.input_filter.is_root

    @property
    def changes_output(self) -> bool:
        """False when there is no join and OutputFilter is "$": the model's response is written untouched."""
        return self.join_input or not self.output_filter.is_root

    def filter_input(self, records: list[bytes]) -> list[bytes]:
        """Each input record filtered by InputFilter, re-encoded in the input type and ending with a newline."""
        if not self.filters_input:
            return [_line(record) for record in records]
        kind = self.input_kind
        values = _csv_rows(records, _INPUT) if kind == CSV else _json_docs(records, _INPUT)
        return _encode(_apply(self.input_filter, values, "InputFilter"), kind)

    def split_response(self, body: bytes, count: int) -> list[bytes]:
        """The model's reply to a mini-batch of `count` records, cut into one output per record."""
        outputs: list[bytes] | None = None
        if self.output_kind == JSON:
            # A JSON array with one item per record is the usual multi-record JSON reply; a single record's
            # reply is the whole body whatever it holds; anything else may still be one document per line.
            if body.lstrip()[:1] == b"[":
                try:
                    doc = json.loads(body)
                except ValueError:
                    doc = None
                if isinstance(doc, list) and len(doc) == count:
                    outputs = [_dumps(item).encode() for item in doc]
            if outputs is None and count == 1:
                outputs = [body]
        if outputs is None:
            outputs = _lines(body)
        if len(outputs) != count:
            raise RecordError(
                f"the model returned {_n(len(outputs), 'output')} for {_n(count, 'record')}; with DataProcessing "
                "each record needs exactly one output: one line per record for text/csv and application/jsonlines, "
                "or for application/json a JSON array with one item per record"
            )
        return outputs

    def finish_output(self, inputs: list[bytes], outputs: list[bytes]) -> list[bytes]:
        """Join the original (unfiltered) inputs with the model's outputs when asked, then apply OutputFilter.

        Each result ends with a newline and is encoded in the Accept type.
        """
        if len(inputs) != len(outputs):
            raise RecordError(f"{_n(len(outputs), 'output')} cannot be matched with {_n(len(inputs), 'record')}")
        if not self.changes_output:
            return [_line(output) for output in outputs]
        kind = self.output_kind
        values: list[Any]
        if not self.join_input:  # the OutputFilter alone, over the model's outputs
            values = _csv_rows(outputs, _MODEL) if kind == CSV else _json_docs(outputs, _MODEL)
        elif kind == CSV:
            # A CSV record is a flat array, so joining appends the model's fields to the input row.
            values = [
                row + fields for row, fields in zip(_csv_rows(inputs, _INPUT), _csv_rows(outputs, _MODEL), strict=True)
            ]
        else:
            docs = _json_docs(inputs, _INPUT)
            values = [
                _join(doc, _output_value(output, i)) for i, (doc, output) in enumerate(zip(docs, outputs, strict=True))
            ]
        if not self.output_filter.is_root:
            values = _apply(self.output_filter, values, "OutputFilter")
        return _encode(values, kind)


# --- configuration helpers -----------------------------------------------------------------------


def _compile(dp: Mapping[str, Any], name: str) -> JsonPath:
    expression = dp.get(name)
    if expression is None or expression == "":
        return _ROOT  # absent, and the empty string the API's length range allows, both mean the default "$"
    if not isinstance(expression, str):
        raise DataProcessingError(f"DataProcessing.{name} must be a string, not {type(expression).__name__}")
    if len(expression) > MAX_FILTER_LENGTH:
        raise DataProcessingError(
            f"DataProcessing.{name} is {len(expression)} characters long; it can be at most {MAX_FILTER_LENGTH}"
        )
    try:
        return parse(expression)
    except JsonPathError as e:
        raise DataProcessingError(f"DataProcessing.{name}: {e}") from None


def _check_csv_path(path: JsonPath, name: str, kind: str) -> None:
    """Refuse now a CSV filter that could not apply to any row, rather than failing every record later."""
    if kind == CSV and not path.fits_flat_array:
        raise DataProcessingError(
            f"DataProcessing.{name} {path.expression!r} cannot apply to text/csv records: a CSV row is a flat array "
            "of fields, so a filter is '$' and at most one index, slice or index list, e.g. '$[1:]' or '$[0,2:4]'"
        )


def _shown(value: str | None) -> str:
    return "not set" if not value else repr(value)


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


# --- per-record work -----------------------------------------------------------------------------


def _line(record: bytes) -> bytes:
    return record if record.endswith(b"\n") else record + b"\n"


def _lines(body: bytes) -> list[bytes]:
    """One item per line; a trailing newline ends the last line rather than starting another, and blank lines at
    the end are padding, not records. A line's `\\r` (of `\\r\\n`) is dropped."""
    lines = body.split(b"\n")
    while lines and not lines[-1].strip():
        lines.pop()
    return [line[:-1] if line.endswith(b"\r") else line for line in lines]


def _apply(path: JsonPath, values: list[Any], role: str) -> list[Any]:
    select, out = path.select, []
    try:
        for value in values:
            out.append(select(value))
    except RecordError as e:
        raise RecordError(f"record {len(out)}: {role}: {e}") from None  # len(out) is the failing record's index
    return out


def _decode(records: list[bytes], what: str) -> list[str]:
    try:
        return [record.decode() for record in records]
    except UnicodeDecodeError:
        for i, record in enumerate(records):
            try:
                record.decode()
            except UnicodeDecodeError as e:
                raise RecordError(f"record {i}: {what}not UTF-8 text ({e.reason} at byte {e.start})") from None
        raise  # pragma: no cover - the loop above finds the record that failed


def _csv_rows(records: list[bytes], what: str) -> list[list[str]]:
    """Each record as its CSV fields, through one reader; `what` (_INPUT or _MODEL) starts error details."""
    texts = _decode(records, what)
    # strict: an unclosed quote is an error, rather than a field that silently runs into the next record.
    reader = csv.reader(texts, strict=True)
    rows: list[list[str]] = []
    try:
        for row in reader:
            # The reader consumes one text per line; line_num running ahead of the rows means a quoted field
            # carried on into the next record, which is not one row per record.
            if reader.line_num != len(rows) + 1:
                break
            rows.append(row)
    except csv.Error:
        pass
    if len(rows) == len(texts):
        return rows
    # Rare: find the culprit by reading records alone, which is slow but only runs when a record is bad.
    for i in range(len(rows), len(texts)):
        problem = _csv_problem(texts[i])
        if problem:
            raise RecordError(f"record {i}: {what}not one CSV row: {problem}")
    raise RecordError(f"record {len(rows)}: {what}not one CSV row")  # pragma: no cover - defensive


def _csv_problem(text: str) -> str | None:
    try:
        count = sum(1 for _ in csv.reader([text], strict=True))
    except csv.Error as e:
        return "a quoted field is never closed" if "unexpected end of data" in str(e) else str(e)
    # Defensive: the C reader raises rather than read two rows from one text, so count is 1 when nothing raised.
    return None if count == 1 else f"it holds {count} rows"


def _json_docs(records: list[bytes], what: str) -> list[Any]:
    docs, loads = [], json.loads
    try:
        for record in records:
            docs.append(loads(record))
    except ValueError as e:  # JSONDecodeError and UnicodeDecodeError both
        raise RecordError(f"record {len(docs)}: {what}not valid JSON: {e}") from None
    return docs


def _output_value(output: bytes, index: int) -> Any:
    """The model's output for a JSON join: its JSON value when it parses, else its text."""
    try:
        return json.loads(output)
    except ValueError:
        pass
    try:
        return output.decode().strip()
    except UnicodeDecodeError as e:
        raise RecordError(
            f"record {index}: the model's output is neither JSON nor UTF-8 text ({e.reason} at byte {e.start})"
        ) from None


def _join(doc: Any, output: Any) -> Any:
    if isinstance(doc, dict):
        doc["SageMakerOutput"] = output  # the doc is our own parse, so mutating it is safe
        return doc
    return {"SageMakerInput": doc, "SageMakerOutput": output}


def _encode(values: list[Any], kind: str | None) -> list[bytes]:
    if kind != CSV:
        return [(_dumps(value) + "\n").encode() for value in values]
    # One writer for all rows; the buffer's position after each row marks where each record ends.
    buffer = io.StringIO()
    writerow, tell = csv.writer(buffer, lineterminator="\n").writerow, buffer.tell
    ends = []
    for value in values:
        writerow(value if isinstance(value, list) else (value,))  # a single index selects one field
        ends.append(tell())
    text, start = buffer.getvalue(), 0
    out = []
    for end in ends:
        out.append(text[start:end].encode())
        start = end
    return out
