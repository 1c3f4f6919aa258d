"""The built-in XGBoost container (algorithm mode), driven in-process through the ASGI app."""

from __future__ import annotations

import asyncio
import json
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from homeport.runtime.errors import ModelLoadError
from tests.runtime.conftest import FEATURES, csv_body, features, run


def expected(booster: Any, rows: np.ndarray) -> np.ndarray:
    return booster.inplace_predict(rows)


def test_one_csv_row_gives_the_boosters_score(make_app: Any, xgb_dir: Path, booster: Any) -> None:
    rows = features(1, seed=5)
    reply = make_app("xgboost", xgb_dir).invoke(csv_body(rows))
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "text/csv"
    assert np.float32(reply.text) == expected(booster, rows)[0]


def test_csv_rows_round_trip_full_precision(make_app: Any, xgb_dir: Path, booster: Any) -> None:
    rows = features(50, seed=6)
    reply = make_app("xgboost", xgb_dir).invoke(csv_body(rows) + b"\n")
    scores = np.array(reply.text.split("\n"), dtype=np.float32)
    np.testing.assert_array_equal(scores, expected(booster, rows))


def test_empty_csv_fields_are_missing_values(make_app: Any, xgb_dir: Path, booster: Any) -> None:
    rows = features(2, seed=7)
    rows[0, 3] = np.nan
    rows[1, 0] = np.nan
    body = csv_body(rows).replace(b"nan", b"")
    reply = make_app("xgboost", xgb_dir).invoke(body)
    assert reply.status_code == 200, reply.text
    np.testing.assert_array_equal(np.array(reply.text.split("\n"), dtype=np.float32), expected(booster, rows))


def test_json_and_jsonlines_outputs(make_app: Any, xgb_dir: Path, booster: Any) -> None:
    rows = features(3, seed=8)
    app = make_app("xgboost", xgb_dir)
    want = expected(booster, rows)
    body = app.invoke(csv_body(rows), accept="application/json")
    assert body.headers["content-type"] == "application/json"
    assert [np.float32(p["score"]) for p in body.json()["predictions"]] == list(want)
    lines = app.invoke(csv_body(rows), accept="application/jsonlines")
    assert lines.headers["content-type"] == "application/jsonlines"
    assert [np.float32(json.loads(line)["score"]) for line in lines.text.split("\n")] == list(want)


def test_accept_list_picks_the_first_supported(make_app: Any, xgb_dir: Path) -> None:
    reply = make_app("xgboost", xgb_dir).invoke(csv_body(features(1)), accept="text/html, application/json;q=0.9")
    assert reply.headers["content-type"] == "application/json"


def test_default_accept_comes_from_the_environment(make_app: Any, xgb_dir: Path) -> None:
    app = make_app("xgboost", xgb_dir, {"SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "application/jsonlines"})
    for accept in (None, "*/*"):
        reply = app.invoke(csv_body(features(1)), accept=accept)
        assert reply.headers["content-type"] == "application/jsonlines"
        assert "score" in reply.json()


def test_multiclass_scores_are_lists(make_app: Any, tmp_path: Path, multiclass_booster: Any) -> None:
    model_dir = tmp_path / "mc"
    model_dir.mkdir()
    (model_dir / "xgboost-model").write_bytes(multiclass_booster.save_raw("ubj"))
    rows = features(2, seed=9)
    want = multiclass_booster.inplace_predict(rows)
    app = make_app("xgboost", model_dir)
    predictions = app.invoke(csv_body(rows), accept="application/json").json()["predictions"]
    assert np.array([p["score"] for p in predictions], dtype=np.float32).tolist() == want.tolist()
    csv_rows = [line.split(",") for line in app.invoke(csv_body(rows)).text.split("\n")]
    assert np.array(csv_rows, dtype=np.float32).tolist() == want.tolist()


def test_libsvm_is_the_default_content_type(make_app: Any, xgb_dir: Path, booster: Any) -> None:
    dense = np.full((2, FEATURES), np.nan)
    dense[0, 0], dense[0, 3], dense[1, 9] = 0.5, 0.25, 1.0
    body = b"1 0:0.5 3:0.25\n0 9:1.0\n"
    app = make_app("xgboost", xgb_dir)
    want = expected(booster, dense)
    for content_type in (None, "text/libsvm", "text/x-libsvm"):
        reply = app.invoke(body, content_type=content_type)
        assert reply.status_code == 200, reply.text
        np.testing.assert_array_equal(np.array(reply.text.split("\n"), dtype=np.float32), want)


def test_big_body_is_served_off_the_event_loop(make_app: Any, xgb_dir: Path, booster: Any) -> None:
    rows = features(2000, seed=10)
    body = csv_body(rows)
    assert len(body) > 8192
    reply = make_app("xgboost", xgb_dir).invoke(body, accept="application/json")
    scores = [p["score"] for p in reply.json()["predictions"]]
    np.testing.assert_array_equal(np.array(scores, dtype=np.float32), expected(booster, rows))


def test_batch_transform_output_ends_every_line(make_app: Any, xgb_dir: Path) -> None:
    reply = make_app("xgboost", xgb_dir, {"SAGEMAKER_BATCH": "true"}).invoke(
        csv_body(features(3)), accept="application/json"
    )
    assert reply.text.count("\n") == 3 and reply.text.endswith("\n")
    assert reply.headers["content-type"] == "text/csv"


def test_unsupported_content_type_is_415(make_app: Any, xgb_dir: Path) -> None:
    reply = make_app("xgboost", xgb_dir).invoke(b"[[1,2]]", content_type="application/json")
    assert reply.status_code == 415
    assert "text/csv" in reply.text


def test_unsupported_accept_is_406(make_app: Any, xgb_dir: Path) -> None:
    reply = make_app("xgboost", xgb_dir).invoke(csv_body(features(1)), accept="application/x-recordio-protobuf")
    assert reply.status_code == 406
    assert "application/json" in reply.text


def test_wrong_feature_count_is_400_with_xgboosts_message(make_app: Any, xgb_dir: Path) -> None:
    reply = make_app("xgboost", xgb_dir).invoke(b"1,2,3")
    assert reply.status_code == 400
    assert "10" in reply.text and "3" in reply.text
    assert "Stack trace" not in reply.text and "/workspace" not in reply.text


def test_text_in_csv_is_400(make_app: Any, xgb_dir: Path) -> None:
    reply = make_app("xgboost", xgb_dir).invoke(b"a,b,c,d,e,f,g,h,i,j\n")
    assert reply.status_code == 400
    assert "not numeric" in reply.text


def test_ragged_csv_is_400(make_app: Any, xgb_dir: Path) -> None:
    reply = make_app("xgboost", xgb_dir).invoke(csv_body(features(2)) + b"\n1,2\n")
    assert reply.status_code == 400
    assert "columns" in reply.text


def test_empty_body_is_204(make_app: Any, xgb_dir: Path) -> None:
    app = make_app("xgboost", xgb_dir)
    for body in (b"", b"\n  \n"):
        reply = app.invoke(body)
        assert reply.status_code == 204
        assert reply.content == b""


def test_concurrent_single_rows_are_batched_and_each_gets_its_own_score(
    make_app: Any, xgb_dir: Path, booster: Any
) -> None:
    rows = features(64, seed=11)
    want = expected(booster, rows)
    app = make_app("xgboost", xgb_dir)
    handler = app.app.handler

    async def go() -> list[str]:
        async with app.client() as client:
            replies = await asyncio.gather(
                *(
                    client.post("/invocations", content=csv_body(row[None, :]), headers={"Content-Type": "text/csv"})
                    for row in rows
                )
            )
        return [r.text for r in replies]

    calls_before = handler.batcher.calls
    texts = run(go())
    np.testing.assert_array_equal(np.array(texts, dtype=np.float32), want)
    assert handler.batcher.calls - calls_before < 64  # rows shared model calls


def test_a_bad_request_in_a_batch_fails_alone(make_app: Any, xgb_dir: Path, booster: Any) -> None:
    rows = features(8, seed=12)
    app = make_app("xgboost", xgb_dir)

    async def go() -> list[Any]:
        async with app.client() as client:
            bodies = [csv_body(row[None, :]) for row in rows] + [b"1,2"]
            return await asyncio.gather(
                *(client.post("/invocations", content=b, headers={"Content-Type": "text/csv"}) for b in bodies)
            )

    replies = run(go())
    assert [r.status_code for r in replies] == [200] * 8 + [400]
    np.testing.assert_array_equal(np.array([r.text for r in replies[:8]], dtype=np.float32), expected(booster, rows))


@pytest.mark.parametrize("form", ["json", "ubj", "pickle-booster", "pickle-sklearn", "other-name"])
def test_model_formats(make_app: Any, tmp_path: Path, booster: Any, form: str) -> None:
    xgb = pytest.importorskip("xgboost")
    model_dir = tmp_path / form
    model_dir.mkdir()
    rows = features(3, seed=13)
    model = booster
    if form == "json":
        (model_dir / "xgboost-model").write_bytes(booster.save_raw("json"))
    elif form == "ubj":
        (model_dir / "xgboost-model").write_bytes(booster.save_raw("ubj"))
    elif form == "pickle-booster":
        (model_dir / "xgboost-model").write_bytes(pickle.dumps(booster))
    elif form == "pickle-sklearn":
        X = features(200)
        model = xgb.XGBRegressor(n_estimators=5, max_depth=2, n_jobs=1).fit(X, X.sum(axis=1)).get_booster()
        regressor = xgb.XGBRegressor()
        regressor._Booster = model
        (model_dir / "xgboost-model").write_bytes(pickle.dumps(regressor))
    else:
        (model_dir / "my-model.bin").write_bytes(booster.save_raw("ubj"))
    reply = make_app("xgboost", model_dir).invoke(csv_body(rows))
    np.testing.assert_array_equal(np.array(reply.text.split("\n"), dtype=np.float32), model.inplace_predict(rows))


def test_algorithm_mode_starts_without_scikit_learn_and_still_reads_a_pickled_wrapper(tmp_path: Path) -> None:
    """xgboost imports scikit-learn (most of an instance's start time) unless the lean import hides it."""
    xgb = pytest.importorskip("xgboost")
    X = features(100)
    regressor = xgb.XGBRegressor(n_estimators=3, max_depth=2, n_jobs=1).fit(X, X.sum(axis=1))
    (tmp_path / "xgboost-model").write_bytes(pickle.dumps(regressor))
    code = (
        "import sys, pathlib\n"
        "from homeport.runtime.xgboost_model import import_xgboost, load_booster\n"
        "import_xgboost(lean=True)\n"
        f"booster = load_booster(pathlib.Path({str(tmp_path / 'xgboost-model')!r}))\n"
        "print('sklearn' in sys.modules, booster.num_features())\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", str(FEATURES)]


def test_missing_model_file_says_so(make_app: Any, tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("x")
    (tmp_path / "b.txt").write_text("y")
    with pytest.raises(ModelLoadError, match=r"no xgboost-model file in .* \(it holds a.txt, b.txt\)"):
        make_app("xgboost", tmp_path)


def test_garbage_model_file_says_so(make_app: Any, tmp_path: Path) -> None:
    (tmp_path / "xgboost-model").write_bytes(b"not a model")
    with pytest.raises(ModelLoadError, match="is not an XGBoost model"):
        make_app("xgboost", tmp_path)


@pytest.mark.parametrize(("accept", "batch"), [("text/csv", False), ("application/jsonlines", False), (None, True)])
def test_a_large_csv_body_is_scored_block_by_block_with_the_same_reply(
    make_app: Any, xgb_dir: Path, monkeypatch: pytest.MonkeyPatch, accept: str | None, batch: bool
) -> None:
    from homeport.runtime import xgboost_model

    rows = features(3000, seed=11)
    rows[7, 1] = np.nan
    body = csv_body(rows).replace(b"nan", b"")
    env = {"SAGEMAKER_BATCH": "true"} if batch else {}
    whole = make_app("xgboost", xgb_dir, env).invoke(body, accept=accept)
    monkeypatch.setattr(xgboost_model, "_BLOCKWISE_BYTES", 1024)
    monkeypatch.setattr(xgboost_model, "_BLOCK_BYTES", 8192)  # some 20 blocks
    blocks = make_app("xgboost", xgb_dir, env).invoke(body, accept=accept)
    assert blocks.status_code == whole.status_code == 200
    assert blocks.content == whole.content
    bad = make_app("xgboost", xgb_dir, env).invoke(body + b"\n1,2,x,4,5,6,7,8,9,10", accept=accept)
    assert bad.status_code == 400 and "column #2" in bad.text
