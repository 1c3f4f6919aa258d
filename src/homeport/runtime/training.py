"""A training job's container: `python -m homeport.runtime.training DIR`, DIR laid out as SageMaker's `/opt/ml`:

    input/config/hyperparameters.json, inputdataconfig.json, resourceconfig.json
    input/data/<channel>/      the channel's files (File mode)
    code/                      script mode: the unpacked sourcedir.tar.gz
    model/                     what becomes model.tar.gz
    output/data/               what becomes output.tar.gz; output/failure: why the job failed

With a `sagemaker_program` hyperparameter it runs that script (script mode: the training toolkit's `SM_*`
environment and the hyperparameters as `--name value` arguments); otherwise the built-in XGBoost algorithm.
Exits 0 when the job trained; otherwise the reason is in output/failure, as SageMaker's containers write it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from homeport.runtime.xgboost_training import TrainingError, train

# Hyperparameters the training toolkit keeps to itself (not in SM_HPS or the script's arguments).
RESERVED = {
    "sagemaker_program",
    "sagemaker_submit_directory",
    "sagemaker_enable_cloudwatch_metrics",
    "sagemaker_region",
    "sagemaker_container_log_level",
    "sagemaker_job_name",
    "default_user_module_name",
    "_tuning_objective_metric",
    "sagemaker_s3_output",
}


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m homeport.runtime.training DIR", file=sys.stderr)
        return 2
    base = Path(argv[0])
    signal.signal(signal.SIGTERM, _stop_group)
    config = base / "input" / "config"
    hyperparameters: dict[str, str] = json.loads((config / "hyperparameters.json").read_text())
    channels: dict[str, Any] = json.loads((config / "inputdataconfig.json").read_text())
    try:
        if "sagemaker_program" in hyperparameters:
            return run_script(base, hyperparameters, channels)
        train(base, hyperparameters, channels)
    except TrainingError as exc:
        (base / "output" / "failure").write_text(str(exc))
        print(str(exc), file=sys.stderr, flush=True)
        return 1
    return 0


def _stop_group(signum: int, _: Any) -> None:
    """SIGTERM (a stop, a timeout, homeport gone): pass it on to the script and its children, then go."""
    signal.signal(signum, signal.SIG_DFL)
    os.killpg(os.getpgrp(), signum)


def decoded(value: str) -> Any:
    """A hyperparameter as the toolkit reads it: JSON where it parses (the SDK's framework estimators send
    `"\\"train.py\\""`), else the string."""
    try:
        return json.loads(value)
    except ValueError:
        return value


def script_environment(base: Path, hyperparameters: dict[str, str], channels: dict[str, Any]) -> dict[str, str]:
    """The training toolkit's SM_* variables for a one-instance job."""
    hps = {k: decoded(v) for k, v in hyperparameters.items() if k not in RESERVED}
    program = str(decoded(hyperparameters["sagemaker_program"]))
    resources = json.loads((base / "input" / "config" / "resourceconfig.json").read_text())
    args: list[str] = []
    for name, value in sorted(hps.items()):
        args += [f"--{name}", value if isinstance(value, str) else json.dumps(value)]
    env = {
        "SM_HOSTS": json.dumps(resources["hosts"]),
        "SM_CURRENT_HOST": resources["current_host"],
        "SM_NETWORK_INTERFACE_NAME": resources.get("network_interface_name", "eth0"),
        "SM_HPS": json.dumps(hps, sort_keys=True),
        "SM_USER_ENTRY_POINT": program,
        "SM_MODULE_NAME": program.removesuffix(".py"),
        "SM_MODULE_DIR": str(base / "code"),
        "SM_FRAMEWORK_PARAMS": "{}",
        "SM_RESOURCE_CONFIG": json.dumps(resources, sort_keys=True),
        "SM_INPUT_DATA_CONFIG": json.dumps(channels, sort_keys=True),
        "SM_CHANNELS": json.dumps(sorted(channels)),
        "SM_MODEL_DIR": str(base / "model"),
        "SM_INPUT_DIR": str(base / "input"),
        "SM_INPUT_CONFIG_DIR": str(base / "input" / "config"),
        "SM_OUTPUT_DIR": str(base / "output"),
        "SM_OUTPUT_DATA_DIR": str(base / "output" / "data"),
        "SM_OUTPUT_INTERMEDIATE_DIR": str(base / "output" / "intermediate"),
        "SM_NUM_CPUS": str(os.cpu_count() or 1),
        "SM_NUM_GPUS": "0",
        "SM_NUM_NEURONS": "0",
        "SM_LOG_LEVEL": str(decoded(hyperparameters.get("sagemaker_container_log_level", "20"))),
        "SM_USER_ARGS": json.dumps(args),
        "SM_CURRENT_INSTANCE_TYPE": resources.get("current_instance_type", "local"),
    }
    env |= {f"SM_CHANNEL_{name.upper()}": str(base / "input" / "data" / name) for name in channels}
    env |= {f"SM_HP_{name.upper()}": v if isinstance(v, str) else json.dumps(v) for name, v in hps.items()}
    env["SM_TRAINING_ENV"] = json.dumps(
        {"hyperparameters": hps, "channel_input_dirs": {n: str(base / "input" / "data" / n) for n in channels}}
        | {k[3:].lower(): v for k, v in env.items() if not k.startswith(("SM_HP_", "SM_CHANNEL_"))},
        sort_keys=True,
    )
    return env


def run_script(base: Path, hyperparameters: dict[str, str], channels: dict[str, Any]) -> int:
    env = script_environment(base, hyperparameters, channels)
    program = base / "code" / env["SM_USER_ENTRY_POINT"]
    if not program.is_file():
        raise TrainingError(
            f"ClientError: the entry point {env['SM_USER_ENTRY_POINT']} is not in the source directory "
            "(sagemaker_submit_directory)."
        )
    print(f"Invoking script {program.name} with {' '.join(json.loads(env['SM_USER_ARGS']))}", flush=True)
    code_dir = str(base / "code")
    packages = os.environ.get("HOMEPORT_CODE_PACKAGES", "")  # the code's requirements.txt, installed
    path = os.pathsep.join(p for p in (packages, code_dir, os.environ.get("PYTHONPATH", "")) if p)
    done = subprocess.run(
        [sys.executable, str(program), *json.loads(env["SM_USER_ARGS"])],
        cwd=code_dir,
        env={**os.environ, **env, "PYTHONPATH": path},
        check=False,
    )
    if done.returncode != 0:
        failure = base / "output" / "failure"
        if not failure.exists():  # the script may have written its own reason
            failure.write_text(
                f"AlgorithmError: ExecuteUserScriptError: {program.name} exited with code {done.returncode}; "
                "see the job's log for its output."
            )
    return done.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
