"""SageMaker's JSONPath subset: what each operator selects, and exactly how bad paths and bad records fail."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from homeport.batch.jsonpath import SUPPORTED, JsonPath, JsonPathError, RecordError, parse

ROW = ["c0", "c1", "c2", "c3", "c4", "c5", "c6"]
DOC = {"id": 7, "features": [1, 2, 3], "meta": {"a-b": 1, "c_d": 2, "3": "three"}, "odd key": "x", "it's": 1}


@pytest.mark.parametrize(
    ("expression", "value", "expected"),
    [
        ("$", ROW, ROW),
        ("$", "scalar", "scalar"),
        # names
        ("$.id", DOC, 7),
        ("$.meta.a-b", DOC, 1),
        ("$.meta.c_d", DOC, 2),
        ("$.meta.3", DOC, "three"),
        ("$['id']", DOC, 7),
        ('$["id"]', DOC, 7),
        ("$['odd key']", DOC, "x"),
        ("$['it\\'s']", DOC, 1),
        ('$["it\'s"]', DOC, 1),
        ("$['meta']['a-b']", DOC, 1),
        # several names: an object with just those keys, in the order asked
        ("$['features','id']", DOC, {"features": [1, 2, 3], "id": 7}),
        ("$[ 'id' , \"odd key\" ]", DOC, {"id": 7, "odd key": "x"}),
        # indexes
        ("$[0]", ROW, "c0"),
        ("$[6]", ROW, "c6"),
        ("$[-1]", ROW, "c6"),
        ("$[-7]", ROW, "c0"),
        ("$[2,0]", ROW, ["c2", "c0"]),
        ("$[1, -1]", ROW, ["c1", "c6"]),
        ("$[0,0]", ROW, ["c0", "c0"]),
        # slices: the end is inclusive, as AWS documents
        ("$[1:4]", ROW, ["c1", "c2", "c3", "c4"]),
        ("$[1:]", ROW, ROW[1:]),
        ("$[:5]", ROW, ROW[:6]),
        ("$[:]", ROW, ROW),
        ("$[2:2]", ROW, ["c2"]),
        ("$[-3:]", ROW, ["c4", "c5", "c6"]),
        ("$[-3:-2]", ROW, ["c4", "c5"]),
        ("$[1:-2]", ROW, ["c1", "c2", "c3", "c4", "c5"]),
        ("$[-2:1]", ROW, []),  # mixed signs, start after end once resolved: nothing
        ("$[0,5:]", ROW, ["c0", "c5", "c6"]),
        ("$[:1,-1]", ROW, ["c0", "c1", "c6"]),
        ("$[:]", [], []),
        # wildcards: all items, all values
        ("$.*", ROW, ROW),
        ("$[*]", ROW, ROW),
        ("$[ * ]", ROW, ROW),
        ("$.*", {"a": 1, "b": [2]}, [1, [2]]),
        ("$[*]", [], []),
        # chains apply each step to every node selected so far
        ("$.features[0:1]", DOC, [1, 2]),
        ("$.features[-1]", DOC, 3),
        ("$[*].a", [{"a": 1}, {"a": 2}], [1, 2]),
        ("$[0:1][0]", [[1, 2], [3, 4], [5]], [1, 3]),
        ("$.*.x", {"p": {"x": 1}, "q": {"x": 2}}, [1, 2]),
        ("$[*]['a','b']", [{"a": 1, "b": 2, "c": 3}], [{"a": 1, "b": 2}]),
        ("$.rows[1].v", {"rows": [{"v": 0}, {"v": 9}]}, 9),
    ],
)
def test_selects(expression: str, value: Any, expected: Any) -> None:
    assert parse(expression).select(value) == expected


def test_a_single_index_or_name_selects_the_value_itself_and_a_list_stays_a_list() -> None:
    assert parse("$[0]").select([[1]]) == [1]
    assert parse("$[0:0]").select([[1]]) == [[1]]
    assert parse("$[0]").select(["x"]) == "x"
    assert parse("$.a").select({"a": [1]}) == [1]


def test_selection_leaves_the_record_untouched() -> None:
    doc = copy.deepcopy(DOC)
    picked = parse("$['id','meta']").select(doc)
    picked["id"] = 0
    sliced = parse("$.features[0:]").select(doc)
    sliced.append(99)
    assert doc == DOC


@pytest.mark.parametrize(
    ("expression", "root", "definite", "flat"),
    [
        ("$", True, True, True),
        ("$[0]", False, True, True),
        ("$[1:]", False, False, True),
        ("$[0,2]", False, False, True),
        ("$.*", False, False, True),
        ("$.a", False, True, False),
        ("$['a','b']", False, True, False),
        ("$[0][1]", False, True, False),
        ("$[*].a", False, False, False),
    ],
)
def test_properties(expression: str, root: bool, definite: bool, flat: bool) -> None:
    path = parse(expression)
    assert (path.is_root, path.is_definite, path.fits_flat_array) == (root, definite, flat)
    assert str(path) == path.expression == expression


def test_paths_compare_and_hash_by_expression() -> None:
    assert parse("$.a[1:]") == parse("$.a[1:]")
    assert parse("$.a") != parse("$['a','b']")
    assert len({parse("$[0]"), parse("$[0]"), parse("$[1]")}) == 2
    assert isinstance(parse("$"), JsonPath)


@pytest.mark.parametrize(
    ("expression", "position", "reason"),
    [
        ("", 0, "empty"),
        ("a", 0, "starts with '$'"),
        (" $", 0, "starts with '$'"),
        ("@.a", 0, "starts with '$'"),
        ("$a", 1, "expected '.' or '['"),
        ("$ ", 1, "expected '.' or '['"),
        ("$.a ", 3, "expected '.' or '['"),
        ("$..a", 1, "recursive descent"),
        ("$.", 2, "found the end"),
        ("$.a.", 4, "found the end"),
        ("$.[0]", 2, "expected a name"),
        ("$.a b", 3, "expected '.' or '['"),
        ("$.na$me", 4, "expected '.' or '['"),
        ("$[", 2, "never closed"),
        ("$[0", 3, "never closed"),
        ("$[0,", 4, "expected an index or a slice after ','"),
        ("$[0,]", 4, "expected an index or a slice after ','"),
        ("$[]", 2, "empty brackets"),
        ("$[ ]", 3, "empty brackets"),
        ("$[?(@.a>1)]", 2, "filter expressions"),
        ("$[(@.length-1)]", 2, "script expressions"),
        ("$[1:2:3]", 5, "slice steps"),
        ("$[::2]", 3, "slice steps"),
        ("$[4:1]", 2, "starts at 4, after its end 1"),
        ("$[-1:-3]", 2, "starts at -1, after its end -3"),
        ("$[0,5:2]", 4, "starts at 5"),
        ("$[-]", 3, "digits after '-'"),
        ("$[+1]", 2, "found '+'"),
        ("$[1.5]", 3, "expected ',' or ']'"),
        ("$[a]", 2, "found 'a'"),
        ("$[0 1]", 4, "expected ',' or ']'"),
        ("$['a',1]", 6, "names and indexes cannot be mixed"),
        ("$[1,'a']", 4, "names and indexes cannot be mixed"),
        ("$['a'", 5, "never closed"),
        ("$['a]", 5, "opened with ' at character 3 is never closed"),
        ("$['a\"]", 6, "opened with ' at character 3 is never closed"),
        ("$['a\\b']", 4, "escapes"),
        ("$['a''b']", 5, "expected ',' or ']'"),
        ("$['a'.b]", 5, "expected ',' or ']'"),
        ("$[*,1]", 3, "cannot be combined"),
        ("$[*", 3, "never closed"),
        ("$*", 1, "expected '.' or '['"),
        ("$.a[0]]", 6, "expected '.' or '['"),
    ],
)
def test_rejects_with_position_and_what_is_supported(expression: str, position: int, reason: str) -> None:
    with pytest.raises(JsonPathError) as caught:
        parse(expression)
    error = caught.value
    assert isinstance(error, ValueError)
    assert (error.expression, error.position) == (expression, position)
    assert reason in error.reason
    message = str(error)
    assert repr(expression) in message
    assert f"at character {position + 1}" in message
    assert SUPPORTED in message


def test_rejects_what_is_not_a_string() -> None:
    with pytest.raises(TypeError, match="string"):
        parse(0)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("expression", "value", "fragments"),
    [
        ("$[7]", ROW, ["'$[7]'", "index 7", "array of 7 items", "0 to 6"]),
        ("$[-8]", ROW, ["index -8", "array of 7 items", "-7 to -1"]),
        ("$[0]", [], ["index 0", "empty array"]),
        ("$[1]", ["x"], ["index 1", "array of 1 item "]),
        ("$[0,9]", ROW, ["'[0,9]'", "index 9"]),
        ("$[1:9]", ROW, ["index 9", "array of 7 items"]),
        ("$[9:]", ROW, ["index 9"]),
        ("$[:-9]", ROW, ["index -9"]),
        ("$[0:]", [], ["index 0", "empty array"]),
        ("$.nope", DOC, ["'.nope'", "no key 'nope'", "'id', 'features', 'meta'"]),
        ("$['id','nope']", DOC, ["no key 'nope'"]),
        ("$.features.x", DOC, ["'.x'", "needs an object", "array of 3 items"]),
        ("$.a", "text", ["needs an object", "a string"]),
        ("$.a", True, ["a boolean"]),
        ("$.a", None, ["null"]),
        ("$[0]", DOC, ["'[0]'", "needs an array", "object with keys 'id'"]),
        ("$[0]", {}, ["an empty object"]),
        ("$[0]", "text", ["needs an array", "a string"]),
        ("$.id[0]", DOC, ["'[0]'", "a number"]),
        ("$.*", 3.5, ["'.*'", "an array or an object", "a number"]),
        ("$[*]", "s", ["'[*]'", "a string"]),
        ("$[*].a", [{"a": 1}, {"b": 2}], ["no key 'a'", "'b'"]),
        ("$[*][1]", [[1, 2], [3]], ["index 1", "array of 1 item"]),
    ],
)
def test_a_record_of_the_wrong_shape_is_an_error_naming_why(expression: str, value: Any, fragments: list[str]) -> None:
    with pytest.raises(RecordError) as caught:
        parse(expression).select(value)
    message = str(caught.value)
    assert message.startswith(f"JSONPath {expression!r}: ")
    for fragment in fragments:
        assert fragment in message


def test_a_missing_key_lists_only_the_first_keys_of_a_large_object() -> None:
    doc = {f"k{i}": i for i in range(25)}
    with pytest.raises(RecordError) as caught:
        parse("$.zz").select(doc)
    message = str(caught.value)
    assert "'k9'" in message and "'k10'" not in message and "(25 in all)" in message
