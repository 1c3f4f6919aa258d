"""Which homeport runtime serves a container image.

Users keep the AWS image URIs they already have in their code (any account, any region); homeport maps
the repository name to one of its runtimes. homeport's own short names work too.
"""

from __future__ import annotations

import re
from enum import StrEnum

from homeport.errors import ValidationError


class Runtime(StrEnum):
    XGBOOST = "xgboost"  # the built-in XGBoost algorithm (or user code, when the archive has some)
    SKLEARN = "sklearn"  # the scikit-learn framework container: user code, joblib models
    TOOLKIT = "toolkit"  # any framework image served through the SageMaker inference toolkit contract
    PYTORCH = "pytorch"  # the toolkit, with TorchScript loading and tensors by default (runtime/frameworks.py)
    LIGHTGBM = "lightgbm"  # the toolkit, loading a LightGBM booster by default
    ONNX = "onnx"  # the toolkit, with an ONNX Runtime session by default


# Repository names of the AWS images (`<acct>.dkr.ecr.<region>.amazonaws.com/<repo>:<tag>`).
_REPOSITORIES: dict[str, Runtime] = {
    "sagemaker-xgboost": Runtime.XGBOOST,
    "xgboost": Runtime.XGBOOST,
    "sagemaker-scikit-learn": Runtime.SKLEARN,
    "pytorch-inference": Runtime.PYTORCH,
    "sagemaker-pytorch": Runtime.PYTORCH,
    "tensorflow-inference": Runtime.TOOLKIT,
    "huggingface-pytorch-inference": Runtime.TOOLKIT,
    "mxnet-inference": Runtime.TOOLKIT,
}

_SHORT_NAMES: dict[str, Runtime] = {
    "homeport/xgboost": Runtime.XGBOOST,
    "homeport/sklearn": Runtime.SKLEARN,
    "homeport/python": Runtime.TOOLKIT,
    "homeport/toolkit": Runtime.TOOLKIT,
    "homeport/pytorch": Runtime.PYTORCH,
    "homeport/lightgbm": Runtime.LIGHTGBM,
    "homeport/onnx": Runtime.ONNX,
}

_ECR = re.compile(
    r"^(?:\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?/)?"  # registry (optional)
    r"(?P<repo>[a-z0-9._/-]+)(?::[\w.-]+)?(?:@sha256:[0-9a-f]{64})?$"
)


def supported() -> list[str]:
    return sorted(_SHORT_NAMES) + sorted(f"<account>.dkr.ecr.<region>.amazonaws.com/{r}:<tag>" for r in _REPOSITORIES)


def runtime_for(image: str) -> Runtime:
    """The runtime for `image`, or a ValidationException that lists what homeport can serve."""
    name = image.strip().lower()
    if name.split(":", 1)[0] in _SHORT_NAMES:
        return _SHORT_NAMES[name.split(":", 1)[0]]
    match = _ECR.match(name)
    if match:
        repo = match.group("repo")
        if repo in _REPOSITORIES:
            return _REPOSITORIES[repo]
    raise ValidationError(f"homeport cannot serve the image '{image}'. Use one of: {', '.join(supported())}.")
