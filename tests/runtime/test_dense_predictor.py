"""The C-API shortcut gives exactly inplace_predict's numbers, and its errors."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from homeport.runtime.dense_predictor import DensePredictor

from .conftest import FEATURES, features


@pytest.mark.parametrize("rows", [1, 7, 3000])
def test_same_scores_as_inplace_predict(booster: Any, rows: int) -> None:
    X = features(rows, seed=rows)
    X[0, 3] = np.nan  # missing values take the default branch, as in inplace_predict
    got = DensePredictor(booster)(X)
    want = booster.inplace_predict(X, validate_features=False)
    assert got.dtype == want.dtype and got.shape == want.shape
    assert np.array_equal(got, want, equal_nan=True)


def test_multi_output_shape(multiclass_booster: Any) -> None:
    X = features(5, seed=2)
    got = DensePredictor(multiclass_booster)(X)
    assert got.shape == (5, 3)
    assert np.array_equal(got, multiclass_booster.inplace_predict(X, validate_features=False))


def test_results_do_not_share_the_boosters_buffer(booster: Any) -> None:
    predict = DensePredictor(booster)
    first = predict(features(1, seed=3))
    kept = first.copy()
    predict(features(1, seed=4))
    assert np.array_equal(first, kept)


def test_other_inputs_go_through_inplace_predict(booster: Any) -> None:
    X = features(4, seed=5)
    predict = DensePredictor(booster)
    for data in (X.astype(np.float32), np.asfortranarray(X), X[:, :][::2], np.empty((0, FEATURES))):
        assert np.array_equal(predict(data), booster.inplace_predict(data, validate_features=False))


def test_wrong_width_raises_xgboosts_error(booster: Any) -> None:
    xgb = pytest.importorskip("xgboost")
    with pytest.raises(xgb.core.XGBoostError) as raised:
        DensePredictor(booster)(np.zeros((1, FEATURES + 2)))
    assert "feature" in str(raised.value).lower()
