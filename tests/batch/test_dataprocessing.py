"""DataProcessing: validation of the configuration, and the per-record filter / join pipeline."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from homeport.batch import jsonpath
from homeport.batch.dataprocessing import (
    CSV,
    JSON,
    JSON_LINES,
    DataProcessing,
    DataProcessingError,
    RecordError,
    media_kind,
)


def make(
    dp: dict[str, Any] | None,
    content_type: str | None = CSV,
    accept: str | None = None,
    split_type: str = "Line",
    assemble_with: str = "Line",
) -> DataProcessing:
    if accept is None:
        accept = content_type
    return DataProcessing.from_request(dp, content_type, accept, split_type, assemble_with)


def csv_join(output_filter: str = "$", input_filter: str = "$") -> DataProcessing:
    return make({"InputFilter": input_filter, "JoinSource": "Input", "OutputFilter": output_filter})


def json_join(kind: str = JSON_LINES, output_filter: str = "$") -> DataProcessing:
    return make({"JoinSource": "Input", "OutputFilter": output_filter}, kind)


# --- media types ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "kind"),
    [
        ("text/csv", CSV),
        ("TEXT/CSV; charset=utf-8", CSV),
        ("application/json", JSON),
        (" application/json ;charset=utf-8", JSON),
        ("application/jsonlines", JSON_LINES),
        ("application/json-lines", JSON_LINES),
        ("application/x-jsonlines", JSON_LINES),
        ("application/x-recordio-protobuf", None),
        ("text/plain", None),
        ("text/csvx", None),
        ("", None),
        (None, None),
    ],
)
def test_media_kind(content_type: str | None, kind: str | None) -> None:
    assert media_kind(content_type) == kind


# --- configuration -------------------------------------------------------------------------------


@pytest.mark.parametrize("dp", [None, {}, {"InputFilter": "$", "JoinSource": "None", "OutputFilter": "$"}])
def test_defaults_change_nothing(dp: dict[str, Any] | None) -> None:
    processing = make(dp, content_type=None, split_type="None", assemble_with="None")
    assert not processing.filters_input and not processing.changes_output
    assert processing == DataProcessing(output_kind=None)


def test_an_empty_filter_means_the_default() -> None:
    processing = make({"InputFilter": "", "OutputFilter": ""}, content_type="image/png")
    assert processing.input_filter.is_root and processing.output_filter.is_root


def test_what_each_setting_turns_on() -> None:
    assert make({"InputFilter": "$[1:]"}).filters_input
    assert not make({"InputFilter": "$[1:]"}).changes_output
    assert make({"OutputFilter": "$[0]"}).changes_output
    assert not make({"OutputFilter": "$[0]"}).filters_input
    joined = make({"JoinSource": "Input"})
    assert joined.changes_output and not joined.filters_input and joined.join_input


def test_is_frozen_and_holds_compiled_paths() -> None:
    processing = make({"InputFilter": "$[1:]"})
    assert processing.input_filter == jsonpath.parse("$[1:]")
    with pytest.raises(dataclasses.FrozenInstanceError):
        processing.join_input = True  # type: ignore[misc]


def test_record_error_is_the_jsonpath_one() -> None:
    assert RecordError is jsonpath.RecordError
    assert issubclass(RecordError, ValueError) and issubclass(DataProcessingError, ValueError)


@pytest.mark.parametrize(
    ("dp", "content_type", "accept", "split_type", "assemble_with"),
    [
        ({"JoinSource": "Input"}, "application/json", "application/json", "None", "None"),
        ({"JoinSource": "Input"}, "application/jsonlines", "application/x-jsonlines", "Line", "None"),
        ({"JoinSource": "Input"}, "text/csv; charset=utf-8", "text/csv", "Line", "Line"),
        ({"InputFilter": "$.features"}, "application/json", None, "None", "None"),
        ({"InputFilter": "$[1:]"}, "text/csv", None, "RecordIO", "None"),
        ({"OutputFilter": "$[0]"}, "image/png", "text/csv", "None", "None"),  # filters the model's CSV output
        ({"OutputFilter": "$.a.b"}, None, "application/jsonlines", "None", "None"),
        ({"InputFilter": "$" + ".a" * 31}, "application/json", None, "None", "None"),  # 63 characters, the limit
    ],
)
def test_accepts(
    dp: dict[str, Any], content_type: str | None, accept: str | None, split_type: str, assemble_with: str
) -> None:
    DataProcessing.from_request(dp, content_type, accept, split_type, assemble_with)


@pytest.mark.parametrize(
    ("dp", "content_type", "accept", "split_type", "assemble_with", "fragments"),
    [
        ({"Join": "Input"}, CSV, CSV, "Line", "Line", ["unknown field(s) Join", "InputFilter, JoinSource"]),
        ({"JoinSource": "input"}, CSV, CSV, "Line", "Line", ["'Input' or 'None'", "not 'input'"]),
        ({"JoinSource": True}, CSV, CSV, "Line", "Line", ["'Input' or 'None'"]),
        ({"InputFilter": 1}, CSV, CSV, "Line", "Line", ["InputFilter must be a string, not int"]),
        ({"OutputFilter": "$" + "[0]" * 21}, JSON, JSON, "Line", "Line", ["OutputFilter is 64 characters", "63"]),
        ({"InputFilter": "$..a"}, JSON, JSON, "Line", "Line", ["DataProcessing.InputFilter", "character 2", "..'"]),
        ({"OutputFilter": "$[?(@)]"}, JSON, JSON, "Line", "Line", ["DataProcessing.OutputFilter", "filter expr"]),
        # JoinSource Input: both types set, equal, supported; CSV framed by lines
        ({"JoinSource": "Input"}, None, CSV, "Line", "Line", ["ContentType set to text/csv", "it is not set"]),
        ({"JoinSource": "Input"}, "image/png", "image/png", "Line", "Line", ["ContentType", "'image/png'"]),
        ({"JoinSource": "Input"}, CSV, None, "Line", "Line", ["Accept equal to", "Accept is not set", "to 'text/csv'"]),
        ({"JoinSource": "Input"}, CSV, JSON, "Line", "Line", ["Accept is 'application/json'", "to 'text/csv'"]),
        ({"JoinSource": "Input"}, JSON, JSON_LINES, "Line", "Line", ["set Accept to 'application/json'"]),
        ({"JoinSource": "Input"}, CSV, CSV, "None", "Line", ["SplitType 'Line'", "it is 'None'"]),
        ({"JoinSource": "Input"}, CSV, CSV, "RecordIO", "Line", ["SplitType 'Line'", "it is 'RecordIO'"]),
        ({"JoinSource": "Input"}, CSV, CSV, "Line", "None", ["AssembleWith 'Line'", "it is 'None'"]),
        ({"JoinSource": "Input"}, JSON_LINES, JSON_LINES, "None", "Line", ["SplitType 'None'", "'Line'"]),
        # filters need types they can read
        ({"InputFilter": "$[1:]"}, None, CSV, "Line", "Line", ["InputFilter '$[1:]'", "ContentType", "not set"]),
        ({"InputFilter": "$[1:]"}, "image/png", CSV, "Line", "Line", ["'image/png'", "or InputFilter to '$'"]),
        ({"OutputFilter": "$[0]"}, CSV, "text/plain", "Line", "Line", ["OutputFilter '$[0]'", "'text/plain'"]),
        ({"OutputFilter": "$[0]"}, CSV, "", "Line", "Line", ["Accept set to", "not set"]),
        ({"InputFilter": "$[1:]"}, CSV, CSV, "None", "None", ["SplitType 'None'", "set SplitType to 'Line'"]),
        # a CSV row is flat: names and second steps can never apply
        ({"InputFilter": "$.features"}, CSV, CSV, "Line", "Line", ["InputFilter '$.features'", "flat array"]),
        ({"InputFilter": "$['a','b']"}, CSV, CSV, "Line", "Line", ["cannot apply to text/csv"]),
        ({"OutputFilter": "$[0][0]"}, JSON, CSV, "Line", "Line", ["OutputFilter '$[0][0]'", "'$[1:]'"]),
        ({"JoinSource": "Input", "OutputFilter": "$.SageMakerOutput"}, CSV, CSV, "Line", "Line", ["flat array"]),
    ],
)
def test_refuses_with_what_to_change(
    dp: dict[str, Any],
    content_type: str | None,
    accept: str | None,
    split_type: str,
    assemble_with: str,
    fragments: list[str],
) -> None:
    with pytest.raises(DataProcessingError) as caught:
        DataProcessing.from_request(dp, content_type, accept, split_type, assemble_with)
    for fragment in fragments:
        assert fragment in str(caught.value)


def test_refuses_a_data_processing_that_is_not_an_object() -> None:
    with pytest.raises(DataProcessingError, match="must be an object"):
        DataProcessing.from_request(["$"], CSV, CSV, "Line", "Line")  # type: ignore[arg-type]


# --- InputFilter ---------------------------------------------------------------------------------


def test_csv_input_filter_keeps_field_text_and_requotes_minimally() -> None:
    records = [
        b'id1,1.50, 2 ,"a,b"\n',
        b'id2,0007,"say ""hi""",x\r\n',
        b'"id3",1e3,,"plain"',  # the last line of a file may lack its newline
        "id4,é,ü,€\n".encode(),
    ]
    assert make({"InputFilter": "$[1:]"}).filter_input(records) == [
        b'1.50, 2 ,"a,b"\n',
        b'0007,"say ""hi""",x\n',
        b"1e3,,plain\n",
        "é,ü,€\n".encode(),
    ]


@pytest.mark.parametrize(
    ("input_filter", "expected"),
    [
        ("$[0]", b"a\n"),  # one field, not a list
        ("$[-1]", b"d\n"),
        ("$[1:2]", b"b,c\n"),  # inclusive end
        ("$[0,2:]", b"a,c,d\n"),
        ("$[3,0]", b"d,a\n"),
        ("$.*", b"a,b,c,d\n"),
    ],
)
def test_csv_input_filters(input_filter: str, expected: bytes) -> None:
    assert make({"InputFilter": input_filter}).filter_input([b"a,b,c,d\n"]) == [expected]


def test_csv_input_filter_on_empty_fields() -> None:
    # The csv module writes a lone empty field as "" so that it stays distinct from an empty line.
    assert make({"InputFilter": "$[1]"}).filter_input([b"a,,c\n"]) == [b'""\n']
    assert make({"InputFilter": "$.*"}).filter_input([b"\n"]) == [b"\n"]


def test_csv_input_filter_many_records_stay_aligned() -> None:
    records = [f'{i},"x,{i}","line\nbreak",{i * 2}\n'.encode() for i in range(500)]
    out = make({"InputFilter": "$[0,-1]"}).filter_input(records)
    assert out == [f"{i},{i * 2}\n".encode() for i in range(500)]


@pytest.mark.parametrize(
    ("records", "fragments"),
    [
        ([b"a,b,c\n", b"a,b\n", b"a,b,c\n"], ["record 1: InputFilter", "index 2", "array of 2 items"]),
        ([b"a,b,c\n", b""], ["record 1:", "index 2", "empty array"]),
        ([b"a,b,c\n", b"a,b,c,d\n", b"a,b\n"], ["record 2: InputFilter", "index 2", "array of 2 items"]),
        ([b"a,b,c\n", b'x,"y,z\n', b'q"\n'], ["record 1: the record is not one CSV row", "quoted field is never"]),
        ([b"a,b,c\n", b'x,"y,z,w\n'], ["record 1: the record is not one CSV row", "never closed"]),
        ([b'"a"b,c,d\n'], ["record 0: the record is not one CSV row", "',' expected"]),
        ([b"a,b,c\n", b"a,b,\xff\n"], ["record 1: the record is not UTF-8 text", "at byte 4"]),
    ],
)
def test_csv_input_filter_bad_records(records: list[bytes], fragments: list[str]) -> None:
    with pytest.raises(RecordError) as caught:
        make({"InputFilter": "$[2]"}).filter_input(records)
    for fragment in fragments:
        assert fragment in str(caught.value)


@pytest.mark.parametrize("kind", [JSON, JSON_LINES])
def test_json_input_filter(kind: str) -> None:
    records = [
        b'{"id":1,"features":[1.0,2.5],"label":"\xc3\xa9"}\n',
        b'{"id": 2, "features": {"x": [3]}}',
    ]
    processing = make({"InputFilter": "$.features"}, kind)
    assert processing.filter_input(records) == [b"[1.0,2.5]\n", b'{"x":[3]}\n']
    assert make({"InputFilter": "$.label"}, kind).filter_input(records[:1]) == ['"é"\n'.encode()]
    assert make({"InputFilter": "$['label','id']"}, kind).filter_input(records[:1]) == [
        '{"label":"é","id":1}\n'.encode()
    ]


@pytest.mark.parametrize(
    ("records", "fragments"),
    [
        ([b'{"features":1}', b'{"feature":1}'], ["record 1: InputFilter", "no key 'features'", "'feature'"]),
        ([b'{"features":1}', b"[1,2]"], ["record 1:", "needs an object", "array of 2 items"]),
        ([b'{"features":1}', b'{"features":'], ["record 1: the record is not valid JSON"]),
        ([b""], ["record 0: the record is not valid JSON"]),
        ([b'{"features":1}', b'{"features":"\xff"}'], ["record 1: the record is not valid JSON"]),
    ],
)
def test_json_input_filter_bad_records(records: list[bytes], fragments: list[str]) -> None:
    with pytest.raises(RecordError) as caught:
        make({"InputFilter": "$.features"}, JSON_LINES).filter_input(records)
    for fragment in fragments:
        assert fragment in str(caught.value)


def test_root_input_filter_passes_records_through_with_a_newline() -> None:
    assert make(None).filter_input([b"a,b\n", b"c"]) == [b"a,b\n", b"c\n"]


# --- split_response ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [CSV, JSON_LINES])
@pytest.mark.parametrize(
    ("body", "count", "expected"),
    [
        (b"1\n2\n3\n", 3, [b"1", b"2", b"3"]),
        (b"1\n2\n3", 3, [b"1", b"2", b"3"]),
        (b"1\r\n2\r\n", 2, [b"1", b"2"]),
        (b"1\n2\n\n \n", 2, [b"1", b"2"]),  # blank trailing lines are padding
        (b"1\n\n3\n", 3, [b"1", b"", b"3"]),  # a blank line before the end is an (empty) output
        (b"0.1,0.9\n", 1, [b"0.1,0.9"]),
        (b"", 0, []),
    ],
)
def test_split_by_lines(kind: str, body: bytes, count: int, expected: list[bytes]) -> None:
    assert make({"JoinSource": "Input"}, kind).split_response(body, count) == expected


@pytest.mark.parametrize(
    ("body", "count", "expected"),
    [
        (b"[0.1, 0.2, 0.3]", 3, [b"0.1", b"0.2", b"0.3"]),
        (b' [{"a": 1}, [1, 2], "x"]\n', 3, [b'{"a":1}', b"[1,2]", b'"x"']),
        (b"[[0.1, 0.9]]", 1, [b"[0.1,0.9]"]),  # an array of one item per record
        (b"[0.1, 0.9]", 1, [b"[0.1, 0.9]"]),  # one record: the whole reply
        (b'{"predictions": [1, 2]}', 1, [b'{"predictions": [1, 2]}']),
        (b"not json", 1, [b"not json"]),
        (b'{"p":1}\n{"p":2}\n', 2, [b'{"p":1}', b'{"p":2}']),  # JSON documents by lines
        (b"[1]\n[2]\n", 2, [b"[1]", b"[2]"]),
    ],
)
def test_split_json(body: bytes, count: int, expected: list[bytes]) -> None:
    assert json_join(JSON).split_response(body, count) == expected


@pytest.mark.parametrize(
    ("kind", "body", "count", "counts"),
    [
        (CSV, b"1\n2\n", 3, "2 outputs for 3 records"),
        (CSV, b"1,2\n", 2, "1 output for 2 records"),
        (CSV, b"", 1, "0 outputs for 1 record;"),
        (JSON_LINES, b"1\n2\n3\n", 2, "3 outputs for 2 records"),
        (JSON, b"[1, 2]", 3, "1 output for 3 records"),
        (JSON, b"[1, 2, 3]\n", 2, "1 output for 2 records"),
    ],
)
def test_split_count_mismatch(kind: str, body: bytes, count: int, counts: str) -> None:
    with pytest.raises(RecordError) as caught:
        make({"JoinSource": "Input"}, kind).split_response(body, count)
    assert f"the model returned {counts}" in str(caught.value)
    assert "one output" in str(caught.value)


# --- joins and OutputFilter ----------------------------------------------------------------------


def test_csv_join_appends_the_model_fields() -> None:
    inputs = [b'1,2,"a,b"\n', b"4,5.50,6\r\n"]
    processing = csv_join()
    outputs = processing.split_response(b"9\n0.1,0.9\n", 2)
    assert processing.finish_output(inputs, outputs) == [b'1,2,"a,b",9\n', b"4,5.50,6,0.1,0.9\n"]


def test_csv_join_uses_the_unfiltered_input() -> None:
    processing = csv_join(input_filter="$[1:]", output_filter="$[0,-1]")
    inputs = [b"id1,3,4\n", b"id2,5,6\n"]
    assert processing.filter_input(inputs) == [b"3,4\n", b"5,6\n"]
    assert processing.finish_output(inputs, [b"0.7", b"0.2"]) == [b"id1,0.7\n", b"id2,0.2\n"]


def test_csv_join_with_an_empty_model_output() -> None:
    assert csv_join().finish_output([b"1,2\n"], [b""]) == [b"1,2\n"]


def test_csv_output_filter_out_of_range_names_the_record_and_size() -> None:
    with pytest.raises(RecordError) as caught:
        csv_join(output_filter="$[3]").finish_output([b"1,2,3\n", b"1,2\n"], [b"9", b"9"])
    message = str(caught.value)
    assert message.startswith("record 1: OutputFilter: ")
    assert "index 3" in message and "array of 3 items" in message  # the joined row: 2 input fields + 1


def test_csv_join_with_a_bad_model_output() -> None:
    with pytest.raises(RecordError, match=r"^record 1: the model's output is not one CSV row"):
        csv_join().finish_output([b"1\n", b"2\n"], [b"9", b'"9'])


@pytest.mark.parametrize("kind", [JSON, JSON_LINES])
@pytest.mark.parametrize(
    ("record", "output", "joined"),
    [
        ({"id": 1, "x": [1, 2]}, b'{"score":0.5}', {"id": 1, "x": [1, 2], "SageMakerOutput": {"score": 0.5}}),
        ({"id": 1}, b"0.25", {"id": 1, "SageMakerOutput": 0.25}),
        ({"id": 1}, b"  label-a \r", {"id": 1, "SageMakerOutput": "label-a"}),  # not JSON: its text
        ({"SageMakerOutput": 0, "id": 1}, b"[1]", {"SageMakerOutput": [1], "id": 1}),  # overwritten in place
        ([1, 2, 3], b"7", {"SageMakerInput": [1, 2, 3], "SageMakerOutput": 7}),
        ("text", b'"out"', {"SageMakerInput": "text", "SageMakerOutput": "out"}),
        (None, b"", {"SageMakerInput": None, "SageMakerOutput": ""}),
    ],
)
def test_json_join(kind: str, record: Any, output: bytes, joined: Any) -> None:
    [result] = json_join(kind).finish_output([json.dumps(record).encode() + b"\n"], [output])
    assert result.endswith(b"\n") and result.count(b"\n") == 1
    assert b": " not in result and b", " not in result  # compact
    assert list(json.loads(result).items()) == list(joined.items())


def test_json_join_then_output_filter_keeps_an_object() -> None:
    processing = make(
        {"InputFilter": "$.features", "JoinSource": "Input", "OutputFilter": "$['id','SageMakerOutput']"},
        JSON_LINES,
    )
    inputs = [b'{"id":"a","features":[1,2]}\n', b'{"features":[3],"id":"b"}\n']
    assert processing.filter_input(inputs) == [b"[1,2]\n", b"[3]\n"]
    outputs = processing.split_response(b"0.1\n0.9\n", 2)
    assert processing.finish_output(inputs, outputs) == [
        b'{"id":"a","SageMakerOutput":0.1}\n',
        b'{"id":"b","SageMakerOutput":0.9}\n',
    ]


def test_json_join_of_an_array_reply() -> None:
    processing = json_join(JSON, output_filter="$.SageMakerOutput.label")
    inputs = [b'{"f":1}', b'{"f":2}']
    outputs = processing.split_response(b'[{"label":"x"},{"label":"y"}]', 2)
    assert processing.finish_output(inputs, outputs) == [b'"x"\n', b'"y"\n']


@pytest.mark.parametrize(
    ("processing", "inputs", "outputs", "fragments"),
    [
        (json_join(), [b'{"a":1}', b"{bad"], [b"1", b"2"], ["record 1: the record is not valid JSON"]),
        (json_join(), [b'{"a":1}'], [b"\xff\xfe\x00"], ["record 0: the model's output is neither JSON nor UTF-8"]),
        (json_join(output_filter="$.id"), [b'{"id":1}', b'{"ID":2}'], [b"1", b"2"], ["record 1: OutputFilter", "'ID'"]),
        (json_join(), [b"{}", b"{}"], [b"1"], ["1 output cannot be matched with 2 records"]),
        (csv_join(), [b"1\n", b"2\n"], [b"1", b"2", b"3"], ["3 outputs cannot be matched with 2 records"]),
    ],
)
def test_finish_output_bad_records(
    processing: DataProcessing, inputs: list[bytes], outputs: list[bytes], fragments: list[str]
) -> None:
    with pytest.raises(RecordError) as caught:
        processing.finish_output(inputs, outputs)
    for fragment in fragments:
        assert fragment in str(caught.value)


def test_output_filter_without_join_applies_to_the_model_output() -> None:
    csv_out = make({"OutputFilter": "$[1]"}, "image/png", CSV, "None", "None")
    assert csv_out.finish_output([b"<png>", b"<png>"], [b"cat,0.9", b"dog,0.7"]) == [b"0.9\n", b"0.7\n"]
    json_out = make({"OutputFilter": "$.p[-1]"}, CSV, JSON_LINES)
    assert json_out.finish_output([b"1\n"], [b'{"p":[0.2,0.8]}']) == [b"0.8\n"]
    with pytest.raises(RecordError, match=r"^record 0: the model's output is not valid JSON"):
        json_out.finish_output([b"1\n"], [b"0.2,0.8"])


def test_finish_output_without_changes_passes_outputs_through() -> None:
    assert make(None).finish_output([b"a", b"b"], [b"1", b"2\n"]) == [b"1\n", b"2\n"]


def test_csv_pipeline_end_to_end_over_many_records() -> None:
    processing = csv_join(input_filter="$[1:]", output_filter="$[0,-2:]")
    inputs = [f'r{i},{i}.10,"q,{i}"\n'.encode() for i in range(300)]
    sent = processing.filter_input(inputs)
    assert sent[7] == b'7.10,"q,7"\n'
    reply = b"".join(f"{i % 2},0.{i}\n".encode() for i in range(300))
    out = processing.finish_output(inputs, processing.split_response(reply, 300))
    assert out[0] == b"r0,0,0.0\n"
    assert out[299] == b"r299,1,0.299\n"
    assert len(out) == 300


def test_csv_slice_bounds_must_lie_within_the_row() -> None:
    # AWS: indexes outside the record's dimension are an error; a slice's explicit ends are indexes too.
    processing = make({"InputFilter": "$[1:]"})
    assert processing.filter_input([b"a,b\n"]) == [b"b\n"]
    with pytest.raises(RecordError, match=r"^record 0: InputFilter: .*index 1 is out of range for an array of 1 item"):
        processing.filter_input([b"a\n"])
