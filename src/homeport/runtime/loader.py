"""Which handler serves a model directory, per runtime.

- `xgboost`: the algorithm container, unless there is user code (`SAGEMAKER_PROGRAM` set, or
  `code/inference.py` in the model dir): then script mode, the toolkit with the XGBoost loader as the
  default `model_fn`, CSV/LIBSVM decoding and in-place prediction for a Booster.
- `sklearn`: the toolkit with joblib's `model.joblib`/`model.pkl` as the default `model_fn`; a script is
  optional.
- `pytorch`, `lightgbm`, `onnx`: the toolkit with the framework's loader (and, for PyTorch, tensors) as the
  defaults (runtime/frameworks.py); a script is optional.
- `toolkit`: the toolkit; the script must define `model_fn`.
"""

from __future__ import annotations

from concurrent.futures import Executor
from pathlib import Path

from homeport.runtime.environment import ContainerEnvironment
from homeport.runtime.errors import ModelLoadError
from homeport.runtime.images import Runtime
from homeport.runtime.server import InvocationHandler
from homeport.runtime.toolkit import Defaults, ToolkitHandler, find_script, joblib_model_fn

FRAMEWORKS = frozenset({Runtime.PYTORCH, Runtime.LIGHTGBM, Runtime.ONNX})


def framework_defaults(runtime: Runtime) -> Defaults:
    from homeport.runtime import frameworks as fw

    if runtime is Runtime.PYTORCH:
        return Defaults(fw.torch_model_fn, fw.torch_input_fn, fw.torch_predict_fn, fw.torch_output_fn)
    if runtime is Runtime.LIGHTGBM:
        return Defaults(model_fn=fw.lightgbm_model_fn)
    return Defaults(model_fn=fw.onnx_model_fn)


def load_handler(runtime: Runtime, model_dir: Path, env: ContainerEnvironment, pool: Executor) -> InvocationHandler:
    if not model_dir.is_dir():
        raise ModelLoadError(f"model directory {model_dir} does not exist")
    try:
        script = find_script(model_dir, env)
    except ValueError as exc:  # a SAGEMAKER_SUBMIT_DIRECTORY the server cannot read
        raise ModelLoadError(str(exc)) from None
    if runtime is Runtime.XGBOOST:
        from homeport.runtime import xgboost_model as xgb

        if script is None:
            return xgb.XGBoostHandler.load(model_dir, env, pool)
        defaults = Defaults(
            model_fn=xgb.script_model_fn, input_fn=xgb.script_input_fn, predict_fn=xgb.script_predict_fn
        )
    elif runtime is Runtime.SKLEARN:
        defaults = Defaults(model_fn=joblib_model_fn)
    elif runtime in FRAMEWORKS:
        defaults = framework_defaults(runtime)
    else:
        if script is None:
            raise ModelLoadError(
                f"no inference script: put code/inference.py in {model_dir} or set SAGEMAKER_PROGRAM "
                "(and SAGEMAKER_SUBMIT_DIRECTORY)"
            )
        defaults = Defaults()
    from homeport.runtime.xgboost_model import forget_lean_xgboost

    forget_lean_xgboost()  # user code gets xgboost whole, with its scikit-learn wrappers
    return ToolkitHandler.load(model_dir, script, defaults, env, pool)
