"""Codecs and negotiation."""

from __future__ import annotations

import json

import numpy as np
import pytest

from homeport.runtime import content
from homeport.runtime.errors import BadRequest, NotAcceptable, UnsupportedMediaType
from homeport.runtime.scores import Scores


def test_media_type_strips_parameters_and_case() -> None:
    assert content.media_type("Text/CSV; charset=utf-8") == "text/csv"
    assert content.media_type(None) is None
    assert content.media_type("  ") is None


def test_negotiate() -> None:
    supported = ("text/csv", "application/json")
    assert content.negotiate(None, supported, "text/csv") == "text/csv"
    assert content.negotiate("*/*", supported, "application/json") == "application/json"
    assert content.negotiate("text/html, application/json", supported, "text/csv") == "application/json"
    with pytest.raises(NotAcceptable):
        content.negotiate("text/html", supported, "text/csv")


@pytest.mark.parametrize(
    ("body", "want"),
    [
        (b"1,2,3", [[1, 2, 3]]),
        (b"1,2,3\r\n", [[1, 2, 3]]),
        (b"1,2\n3,4\n\n", [[1, 2], [3, 4]]),
        (b"1,,3", [[1, np.nan, 3]]),
        (b"1\t2\n3\t4", [[1, 2], [3, 4]]),
        (b'"1",2', [[1, 2]]),
    ],
)
def test_parse_csv(body: bytes, want: list[list[float]]) -> None:
    np.testing.assert_array_equal(content.parse_csv(body), np.array(want, dtype=np.float64))


def test_parse_big_csv_uses_the_same_numbers() -> None:
    rows = np.random.default_rng(0).random((3000, 4))
    rows[5, 2] = np.nan
    body = "\n".join(",".join("" if np.isnan(v) else repr(float(v)) for v in row) for row in rows).encode()
    np.testing.assert_array_equal(content.parse_csv(body), rows)


def test_parse_csv_rejects_text() -> None:
    with pytest.raises(BadRequest, match="column 2 is not numeric"):
        content.parse_csv(b"1,x\n")


def test_parse_libsvm() -> None:
    matrix = content.parse_libsvm(b"1 0:1.5 2:-2\n0 1:3e2\n", min_columns=4)
    assert matrix.shape == (2, 4)
    np.testing.assert_array_equal(matrix.toarray(), [[1.5, 0, -2, 0], [0, 300, 0, 0]])
    with pytest.raises(BadRequest, match="LIBSVM"):
        content.parse_libsvm(b"1 a:1\n")
    assert content.parse_libsvm(b"0:1\n\n2 1:2\n").shape == (3, 2)  # a label is optional; blank lines are rows


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"0.5,0.25,0.125\n", "on line 1, '0.5,0.25,0.125' is not a number"),  # CSV sent without its type
        (b"1 0:1\n1 0:2 oops 3:1\n", "on line 2, 'oops' is not an index:value pair"),
        (b"x 0:1\n", "'x' is not a number"),
    ],
)
def test_what_is_not_libsvm_is_refused_not_dropped(body: bytes, words: str) -> None:
    with pytest.raises(BadRequest, match=words) as raised:
        content.parse_libsvm(body)
    assert "text/csv" in raised.value.message


def test_scores_encodings() -> None:
    scores = Scores(np.array([0.43, 1.0, np.nan], dtype=np.float32))
    assert scores.encode("text/csv") == b"0.43\n1.0\nnan"
    payload = json.loads(scores.encode("application/json"))  # Python's json reads NaN
    assert payload["predictions"][:2] == [{"score": 0.43}, {"score": 1.0}]
    assert np.isnan(payload["predictions"][2]["score"])
    assert scores.rows(1, 2).encode("application/jsonlines") == b'{"score":1.0}'
    assert scores.encode("text/csv", batch=True) == b"0.43\n1.0\nnan\n"


def test_big_scores_encode_like_small_ones() -> None:
    values = np.random.default_rng(1).random((5000, 3)).astype(np.float32)
    values[7, 1] = np.nan
    big = Scores(values)  # over the size where Arrow's kernels take over from str.join
    for media, sep in (("text/csv", b"\n"), ("application/jsonlines", b"\n")):
        lines = big.encode(media).split(sep)
        assert lines[:10] == [big.rows(i, i + 1).encode(media) for i in range(10)]
    jsonl = [big.rows(i, i + 1).encode("application/jsonlines") for i in range(10)]
    assert big.encode("application/json").startswith(b'{"predictions":[' + b",".join(jsonl) + b",")
    rows = [line.split(",") for line in big.encode("text/csv").decode().split("\n")]
    np.testing.assert_array_equal(np.array(rows, dtype=np.float32), values)
    listed = json.loads(big.encode("application/json"))["predictions"]
    np.testing.assert_array_equal(np.array([p["score"] for p in listed], dtype=np.float32), values)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_big_and_small_formatting_agree(dtype: type) -> None:
    rng = np.random.default_rng(2)
    values: np.ndarray = (rng.standard_normal(20000) * 10.0 ** rng.integers(-8, 20, 20000)).astype(dtype)
    values[:6] = [0.0, -0.0, 1.0, np.nan, np.inf, -np.inf]
    small = content.format_small(values)
    assert content.format_large(values).to_pylist() == small
    np.testing.assert_array_equal(np.array(small, dtype=dtype), values)  # round-trips exactly


def test_toolkit_decode_and_encode() -> None:
    np.testing.assert_array_equal(content.decode("[[1, 2]]", "application/json"), [[1, 2]])
    np.testing.assert_array_equal(content.decode("1,2\n3,4", "text/csv"), [[1, 2], [3, 4]])
    npy = content.encode(np.arange(3), "application/x-npy")
    np.testing.assert_array_equal(content.decode(npy, "application/x-npy"), np.arange(3))
    assert content.encode(np.array([1.5, 2.0]), "application/json") == b"[1.5, 2.0]"
    assert content.encode(np.array([[1.5, 2.0], [3, 4]]), "text/csv") == b"1.5,2.0\n3.0,4.0"
    with pytest.raises(UnsupportedMediaType):
        content.decode(b"x", "image/png")
    with pytest.raises(BadRequest):
        content.decode("{", "application/json")
