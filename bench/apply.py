#!/usr/bin/env python3
"""`homeport apply` against the boto3 calls it makes, written by hand: what planning from the server costs.

    .venv/bin/python bench/apply.py              # 3 rounds; about 1 minute
    .venv/bin/python bench/apply.py --rounds 5 --others 100

Against one real `homeport serve` (`ServerProcess`, its controllers ticking every 0.1 s) serving the worked
example's Abalone XGBoost model, in rounds that alternate which goes first:

- create: a model, an endpoint config and a 1-instance endpoint, until InService. The floor is CreateModel,
  CreateEndpointConfig, CreateEndpoint and DescribeEndpoint every 50 ms; apply is `homeport.stack.apply.apply()`
  on a stack of the same three (it reads the server, plans, makes the calls, polls every 50 ms, then reads and
  plans once more to find nothing left).
- change: a new model of the same data rolled out with a blue/green ALL_AT_ONCE update (no bakes), and the old
  model and config deleted. The floor makes those five calls, polling between the update and the deletes.
- no-op: `plan` of the unchanged stack (every List, Describe and ListTags it makes) with `--others` unrelated
  models and endpoint configs on the server, against one DescribeEndpoint: the least a "did anything change"
  check could cost.

Results: medians per step, apply ÷ floor, in bench/results/apply-<time>.json. apply's extra work is reading the
server; the instances it starts cost the same either way.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from invoke import IMAGE, ROLE, build_model

from batch import say, write_results  # bench/ is on sys.path: this file runs beside them

POLL_S = 0.05
VARIANT = {"VariantName": "AllTraffic", "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}
ALL_AT_ONCE = {
    "BlueGreenUpdatePolicy": {
        "TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0},
        "TerminationWaitInSeconds": 0,
    }
}


def stack_doc(name: str, url: str, generation: int) -> dict[str, Any]:
    container = {"Image": IMAGE, "ModelDataUrl": url, "Environment": {"GENERATION": str(generation)}}
    return {
        "Models": [{"ModelName": name, "ExecutionRoleArn": ROLE, "PrimaryContainer": container}],
        "EndpointConfigs": [{"EndpointConfigName": name, "ProductionVariants": [{**VARIANT, "ModelName": name}]}],
        "Endpoints": [{"EndpointName": name, "EndpointConfigName": name, "DeploymentConfig": ALL_AT_ONCE}],
    }


def settle(sm: Any, name: str, config: str) -> None:
    while True:
        doc = sm.describe_endpoint(EndpointName=name)
        if doc["EndpointStatus"] == "InService" and doc["EndpointConfigName"] == config:
            return
        if doc["EndpointStatus"] == "Failed":
            raise SystemExit(f"endpoint {name} failed: {doc.get('FailureReason')}")
        time.sleep(POLL_S)


def by_hand(sm: Any, name: str, url: str, generation: int, old: tuple[str, str] | None) -> tuple[str, str]:
    """The calls apply would make, in order: model, config, endpoint (create or update), wait, deletes."""
    model, config = f"{name}-m{generation}", f"{name}-c{generation}"
    container = {"Image": IMAGE, "ModelDataUrl": url, "Environment": {"GENERATION": str(generation)}}
    sm.create_model(ModelName=model, ExecutionRoleArn=ROLE, PrimaryContainer=container)
    sm.create_endpoint_config(EndpointConfigName=config, ProductionVariants=[{**VARIANT, "ModelName": model}])
    if old is None:
        sm.create_endpoint(EndpointName=name, EndpointConfigName=config, DeploymentConfig=ALL_AT_ONCE)
    else:
        sm.update_endpoint(EndpointName=name, EndpointConfigName=config, DeploymentConfig=ALL_AT_ONCE)
    settle(sm, name, config)
    if old is not None:
        sm.delete_endpoint_config(EndpointConfigName=old[1])
        sm.delete_model(ModelName=old[0])
    return model, config


def timed(step: Callable[[], Any]) -> float:
    started = time.perf_counter()
    step()
    return time.perf_counter() - started


def one_round(r: int, clients: dict[str, Any], url: str, times: dict[str, dict[str, list[float]]]) -> None:
    """Create, no-op and change, by hand and by apply (which goes first alternates by round); then delete both."""
    from homeport.stack.apply import apply
    from homeport.stack.document import parse
    from homeport.stack.observed import observe
    from homeport.stack.plan import plan

    sm, hand, coded = clients["sagemaker"], f"hand-{r}", f"coded-{r}"
    first, second = parse(stack_doc(coded, url, 1), coded), parse(stack_doc(coded, url, 2), coded)
    order = ("floor", "apply") if r % 2 == 0 else ("apply", "floor")
    old: dict[str, Any] = {}
    steps: dict[str, dict[str, Callable[[], Any]]] = {
        "create": {
            "floor": lambda: old.update(hand=by_hand(sm, hand, url, 1, None)),
            "apply": lambda: apply(clients.__getitem__, first, poll=POLL_S),
        },
        "no-op": {
            "floor": lambda: sm.describe_endpoint(EndpointName=hand),
            "apply": lambda: plan(first, observe(clients.__getitem__, first)),
        },
        "change": {
            "floor": lambda: by_hand(sm, hand, url, 2, old["hand"]),
            "apply": lambda: apply(clients.__getitem__, second, poll=POLL_S),
        },
    }
    for step, ways in steps.items():
        for who in order:
            times[step][who].append(timed(ways[who]))
    for name in (hand, coded):
        sm.delete_endpoint(EndpointName=name)


def measure(args: argparse.Namespace) -> dict[str, Any]:
    from homeport.server.process import ServerProcess

    work = Path(tempfile.mkdtemp(prefix="homeport-applybench-"))
    _, tarball, _, _ = build_model(work)
    url = tarball.as_uri()
    times: dict[str, dict[str, list[float]]] = {s: {"floor": [], "apply": []} for s in ("create", "change", "no-op")}
    # A 0.1 s controller tick: with the default 1 s, when a deployment's last step lands decides most of its time.
    env = {"HOMEPORT_LOG_LEVEL": "warning", "HOMEPORT_HEALTH_INTERVAL_S": "0.1"}
    with ServerProcess(work / "data", env=env) as server:
        import boto3

        def client(service: str) -> Any:
            return boto3.client(
                service,
                endpoint_url=server.url,
                region_name="us-east-1",
                aws_access_key_id=server.access_key_id,
                aws_secret_access_key=server.secret_access_key,
            )

        clients = {s: client(s) for s in ("sagemaker", "application-autoscaling", "cloudwatch")}
        sm = clients["sagemaker"]
        for i in range(args.others):  # what a shared server holds besides this stack
            sm.create_model(ModelName=f"other-{i}", ExecutionRoleArn=ROLE, PrimaryContainer={"Image": IMAGE})
            sm.create_endpoint_config(
                EndpointConfigName=f"other-{i}", ProductionVariants=[{**VARIANT, "ModelName": f"other-{i}"}]
            )
        for r in range(args.rounds):
            one_round(r, clients, url, times)
            say(
                f"round {r + 1}: "
                + ", ".join(f"{s} {t['apply'][-1]:.2f}/{t['floor'][-1]:.3f} s" for s, t in times.items())
            )
    steps = {
        step: {
            "floor_s": statistics.median(t["floor"]),
            "apply_s": statistics.median(t["apply"]),
            "ratio": statistics.median(t["apply"]) / statistics.median(t["floor"]),
            "runs": len(t["floor"]),
        }
        for step, t in times.items()
    }
    return {"others": args.others, "rounds": args.rounds, "steps": steps, "times_s": times}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--others", type=int, default=50, help="unrelated models and configs on the server")
    args = parser.parse_args(argv)
    results = measure(args)
    print(f"{'step':<8} {'floor':>9} {'apply':>9} {'apply/floor':>12}   ({args.others} other models and configs)")
    for step, s in results["steps"].items():
        print(f"{step:<8} {s['floor_s']:>8.3f}s {s['apply_s']:>8.3f}s {s['ratio']:>11.2f}x")
    write_results("apply", results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
