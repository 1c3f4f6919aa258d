"""XGBoost prediction on dense float64 rows straight through the C API.

`Booster.inplace_predict` spends about 100 µs per call in Python (type sniffing over a dozen data kinds,
JSON building for the arguments and the array interface, output wrapping) around a C call that takes
about 50 µs for the worked example's model on one row. For single-record serving that Python is most of
the model's cost, so the hot path calls `XGBoosterPredictFromDense` itself with the arguments encoded
once. The C call and therefore the numbers are the same as `inplace_predict`'s (tests compare them);
anything the shortcut does not cover (sparse or non-float64 input) goes through `inplace_predict`.
"""

from __future__ import annotations

import ctypes
import json
import math
from typing import Any

import numpy as np


class DensePredictor:
    def __init__(self, booster: Any) -> None:
        from xgboost.core import _LIB, _check_call, c_bst_ulong

        self._booster = booster
        self._lib = _LIB
        self._check = _check_call
        self._ulong = c_bst_ulong
        # What inplace_predict sends for predict_type="value", all trees, NaN as missing.
        self._args = json.dumps(
            {
                "type": 0,
                "training": False,
                "iteration_begin": 0,
                "iteration_end": 0,
                "missing": math.nan,
                "strict_shape": False,
                "cache_id": 0,
            }
        ).encode()
        self._no_proxy = ctypes.c_void_p()

    def __call__(self, rows: Any) -> np.ndarray:
        if not (isinstance(rows, np.ndarray) and rows.dtype == np.float64 and rows.ndim == 2 and len(rows)):
            return self._booster.inplace_predict(rows, validate_features=False)
        if not rows.flags.c_contiguous:
            rows = np.ascontiguousarray(rows)
        interface = b'{"data":[%d,true],"shape":[%d,%d],"strides":null,"typestr":"<f8","version":3}' % (
            rows.ctypes.data,
            rows.shape[0],
            rows.shape[1],
        )
        shape = ctypes.POINTER(self._ulong)()
        dims = self._ulong()
        out = ctypes.POINTER(ctypes.c_float)()
        self._check(
            self._lib.XGBoosterPredictFromDense(
                self._booster.handle,
                interface,
                self._args,
                self._no_proxy,
                ctypes.byref(shape),
                ctypes.byref(dims),
                ctypes.byref(out),
            )
        )
        extent = tuple(int(shape[i]) for i in range(dims.value))
        # The buffer belongs to the booster and is reused by its next call on this thread: copy it out.
        return np.ctypeslib.as_array(out, (math.prod(extent),)).reshape(extent).copy()
