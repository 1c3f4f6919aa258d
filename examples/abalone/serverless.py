"""The worked example's serverless endpoint: the same Abalone model with a memory size and a concurrency limit
instead of instances.

The endpoint is InService without an instance. Once it has been idle (HOMEPORT_SERVERLESS_IDLE_S: the server the
example starts uses 2 s; the default is 120 s), the next request starts an instance from the server's warm template
and waits for it: a cold start, tens of milliseconds here where SageMaker documents seconds. The requests after it
find the instance warm. The same boto3 calls work against SageMaker.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np
import pandas as pd
from multi_model import delete
from run import invoke_csv

SERVERLESS_CONFIG = {"MemorySizeInMB": 2048, "MaxConcurrency": 5}
IDLE_WAIT_S = 300.0  # at most, for a server with a longer idle period than the example's own


def warm_instances(sm: Any, name: str) -> int:
    (variant,) = sm.describe_endpoint(EndpointName=name)["ProductionVariants"]
    return int(variant.get("CurrentInstanceCount", 0))


def wait_idle(sm: Any, name: str) -> float:
    """Wait until the endpoint has no instance; the seconds it took."""
    started = time.monotonic()
    while warm_instances(sm, name):
        if time.monotonic() - started > IDLE_WAIT_S:
            raise RuntimeError(f"{name} still had an instance after {IDLE_WAIT_S:.0f} s")
        time.sleep(0.2)
    return time.monotonic() - started


def timed_ms(runtime: Any, name: str, features: pd.DataFrame) -> float:
    started = time.perf_counter()
    invoke_csv(runtime, name, features)
    return (time.perf_counter() - started) * 1000


def run_serverless(
    sm: Any, runtime: Any, model: str, features: pd.DataFrame, local: np.ndarray, name: str, keep: bool = False
) -> float:
    """Deploy `model` serverless, let it go idle, time a cold and some warm requests, score the test rows; the
    largest per-row difference from the in-process predictions `local`."""
    sm.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[{"VariantName": "AllTraffic", "ModelName": model, "ServerlessConfig": SERVERLESS_CONFIG}],
    )
    try:
        sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
        sm.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig={"Delay": 0.5, "MaxAttempts": 120})
        print(f"serverless endpoint {name} is InService with {warm_instances(sm, name)} instances")
        row = features.iloc[:1]
        cold = []
        for _ in range(2):
            idle_s = wait_idle(sm, name)
            cold.append(timed_ms(runtime, name, row))
            print(f"  idle after {idle_s:.1f} s; the next request (a cold start) took {cold[-1]:.0f} ms")
        warm = [timed_ms(runtime, name, row) for _ in range(20)]
        print(
            f"  cold start {statistics.median(cold):.0f} ms, warm request {statistics.median(warm):.1f} ms "
            f"(medians); {warm_instances(sm, name)} instance warm now"
        )
        served = invoke_csv(runtime, name, features)
    finally:
        if not keep:
            delete(sm, name)
    return float(np.abs(served - local).max())
