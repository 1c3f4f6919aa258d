#!/usr/bin/env python3
"""A two-container inference pipeline against its two containers called directly, at one connection.

    .venv/bin/python bench/pipeline.py                    # 3 rounds of 3,000 calls per path: about a minute

homeport serves the worked example's pipeline: the scikit-learn preprocessor (one-hot encodes the sex of a raw
abalone row) and the XGBoost model. Three paths are timed on one keep-alive connection each, interleaved round by
round, the server pinned to the server core and this client to the load core (as bench/invoke.py):

- `pipeline`: one InvokeEndpoint with the raw row, through both containers (InferenceExecutionConfig Serial);
- `pre`, `model`: the same containers in a Direct model, each called on its own (TargetContainerHostname) with
  what it gets inside the pipeline.

The figure is the pipeline's added latency over the two containers called directly: pipeline p50 - (pre p50 +
model p50). A client that chained the two itself would pay both; SageMaker's pipeline adds an HTTP hop per
container inside the instance; homeport's adds a function call.
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import boto3
from invoke import LOADGEN_CORE, ROLE, SERVER_CORE, SERVER_ENV, build_model, load_example, pinned, signed_headers

from batch import say, write_results  # bench/ is on sys.path: this file runs beside them

EXAMPLE_DIR = Path(__file__).resolve().parents[1] / "examples" / "abalone"


def preprocessor(workdir: Path) -> tuple[Path, bytes]:
    """The example's preprocessor archive, and the test set's first row as the data set has it (sex letter)."""
    sys.path.insert(0, str(EXAMPLE_DIR))  # before bench/: its imports (run, multi_model) are the example's
    spec = importlib.util.spec_from_file_location("abalone_pipeline", EXAMPLE_DIR / "pipeline.py")
    assert spec is not None and spec.loader is not None
    example_pipeline = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example_pipeline)

    splits = load_example().prepare()
    raw = example_pipeline.raw_rows(splits.test).iloc[:1].to_csv(header=False, index=False).strip().encode()
    return example_pipeline.package_preprocessor(workdir), raw


def deploy(sm: Any, name: str, containers: list[dict[str, Any]], mode: str) -> None:
    sm.create_model(
        ModelName=name, Containers=containers, InferenceExecutionConfig={"Mode": mode}, ExecutionRoleArn=ROLE
    )
    sm.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {"VariantName": "v", "ModelName": name, "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}
        ],
    )
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    sm.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 300})


class Timed:
    """One timed path: an endpoint, a body, and the container to reach (Direct) if any."""

    def __init__(self, server: Any, endpoint: str, body: bytes, container: str | None = None) -> None:
        self.url = f"{server.url}/endpoints/{endpoint}/invocations"
        self.body = body
        self.headers = {**signed_headers(self.url, body, server), "Content-Type": "text/csv"}
        if container:  # not signed: SigV4 covers the headers it lists, and homeport forwards this one
            self.headers["X-Amzn-SageMaker-Target-Container-Hostname"] = container
        self.connection = http.client.HTTPConnection(server.url.removeprefix("http://"))
        self.path = f"/endpoints/{endpoint}/invocations"

    def call(self) -> bytes:
        self.connection.request("POST", self.path, self.body, self.headers)
        reply = self.connection.getresponse()
        data = reply.read()
        if reply.status != 200:
            raise RuntimeError(f"{self.path} answered {reply.status}: {data[:200]!r}")
        return data

    def timed(self, calls: int) -> list[float]:
        self.connection.close()  # a fresh connection: the server closes one idle past its keep-alive timeout
        self.call()
        out = []
        for _ in range(calls):
            begin = time.perf_counter()
            self.call()
            out.append((time.perf_counter() - begin) * 1e6)
        return out


def quantiles(samples: list[float]) -> dict[str, float]:
    q = statistics.quantiles(samples, n=100)
    return {"p50_us": q[49], "p99_us": q[98]}


def measure(args: argparse.Namespace) -> dict[str, Any]:
    from homeport.server.process import ServerProcess

    work = Path(tempfile.mkdtemp(prefix="homeport-pipelinebench-"))
    _, model_tar, _, _ = build_model(work / "model")
    pre_tar, raw = preprocessor(work / "pre")
    with pinned({SERVER_CORE}):
        server = ServerProcess(work / "data", env={**SERVER_ENV, "HOMEPORT_LOG_LEVEL": "warning"}).start()
    try:
        sm = boto3.client(
            "sagemaker",
            endpoint_url=server.url,
            region_name="us-east-1",
            aws_access_key_id=server.access_key_id,
            aws_secret_access_key=server.secret_access_key,
        )
        pre = {
            "ContainerHostname": "pre",
            "Image": "homeport/sklearn",
            "ModelDataUrl": pre_tar.as_uri(),
            "Environment": {"SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT": "text/csv"},
        }
        model = {"ContainerHostname": "model", "Image": "homeport/xgboost", "ModelDataUrl": model_tar.as_uri()}
        deploy(sm, "pipeline", [pre, model], "Serial")
        deploy(sm, "direct", [pre, model], "Direct")
        encoded = Timed(server, "direct", raw, "pre").call()  # what the model gets inside the pipeline
        paths = {
            "pipeline": Timed(server, "pipeline", raw),
            "pre": Timed(server, "direct", raw, "pre"),
            "model": Timed(server, "direct", encoded, "model"),
        }
        if paths["pipeline"].call() != paths["model"].call():
            raise RuntimeError("the pipeline and the two containers called in turn disagree")
        rounds: dict[str, list[dict[str, float]]] = {name: [] for name in paths}
        with pinned({LOADGEN_CORE}):
            for p in paths.values():
                p.timed(args.warmup)
            for _ in range(args.rounds):
                for name, p in paths.items():
                    rounds[name].append(quantiles(p.timed(args.calls)))
    finally:
        server.stop()
    medians = {
        name: {k: statistics.median(r[k] for r in runs) for k in ("p50_us", "p99_us")} for name, runs in rounds.items()
    }
    direct_sum = medians["pre"]["p50_us"] + medians["model"]["p50_us"]
    return {
        "rounds": rounds,
        "medians": medians,
        "direct_sum_p50_us": direct_sum,
        "added_p50_us": medians["pipeline"]["p50_us"] - direct_sum,
        "pipeline_over_direct_sum": medians["pipeline"]["p50_us"] / direct_sum,
        "calls_per_round": args.calls,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=300)
    args = parser.parse_args(argv)
    result = measure(args)
    m = result["medians"]
    say(f"{'path':<10} {'p50 µs':>8} {'p99 µs':>8}")
    for name in ("pipeline", "pre", "model"):
        say(f"{name:<10} {m[name]['p50_us']:>8.0f} {m[name]['p99_us']:>8.0f}")
    say(
        f"pipeline p50 - (pre p50 + model p50) = {result['added_p50_us']:+.0f} µs "
        f"({result['pipeline_over_direct_sum']:.2f}x the two containers called directly)"
    )
    write_results("pipeline", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
