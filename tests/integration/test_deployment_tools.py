"""The deployment tools a person runs, against a real server: `homeport deployments`, `homeport experiments` and the
worked example (subprocesses, so tests/services does not run them in-process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from homeport.server.process import ServerProcess
from tests.conftest import KEYS, boto_client, csv_rows, deploy, unique
from tests.integration.test_cli import homeport
from tests.integration.test_deployments import blue_green, new_config, put_alarm, watch
from tests.integration.test_inference_experiments import experiment_params, model, status_of, until


@pytest.fixture(scope="module")
def sm(fast: ServerProcess) -> Any:
    return boto_client("sagemaker", fast.url)


def test_the_cli_shows_a_deployment_and_how_it_ended(sm: Any, fast: ServerProcess, xgb_model: dict[str, Any]) -> None:
    cw = boto_client("cloudwatch", fast.url)
    names = deploy(sm, xgb_model["url"], count=2)
    endpoint, alarm = names["endpoint"], unique("cli-alarm")
    put_alarm(cw, alarm, unique("cli-metric"), period=60)
    canary = {"Type": "INSTANCE_COUNT", "Value": 1}
    config = blue_green("CANARY", wait=200, final=200, alarms=(alarm,), CanarySize=canary)
    sm.update_endpoint(
        EndpointName=endpoint, EndpointConfigName=new_config(sm, xgb_model["url"]), DeploymentConfig=config
    )

    def baking(desc: dict[str, Any]) -> bool:
        variants = desc.get("PendingDeploymentSummary", {}).get("ProductionVariants", [])
        return any(s["Status"] == "Baking" for v in variants for s in v["VariantStatus"])

    list(watch(sm, endpoint, baking))
    view = json.loads(homeport("deployments", endpoint, "--json", url=fast.url).stdout)
    assert view["EndpointStatus"] == "Updating" and view["GreenShare"] == 0.5
    assert view["Step"]["Status"] == "Baking" and "canary capacity of 1 instance(s)" in view["Step"]["StatusMessage"]
    assert view["Alarms"] == [{"AlarmName": alarm, "StateValue": "INSUFFICIENT_DATA"}]
    table = homeport("deployments", endpoint, url=fast.url)
    assert table.returncode == 0 and "50% on green" in table.stdout and alarm in table.stdout
    cw.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="a test")
    list(watch(sm, endpoint, lambda d: d["EndpointStatus"] == "InService", limit_s=30))
    watched = homeport("deployments", endpoint, "--watch", "--interval", "0.2", url=fast.url)
    assert watched.returncode == 0 and "last deployment" in watched.stdout and alarm in watched.stdout
    assert "recent deployments" in watched.stdout and "RolledBack" in watched.stdout
    [ended] = json.loads(homeport("deployments", endpoint, "--json", url=fast.url).stdout)["History"]
    assert (ended["Type"], ended["Outcome"]) == ("CANARY", "RolledBack") and alarm in ended["Reason"]


def test_the_cli_lists_experiments_and_compares_an_experiments_variants(
    sm: Any, fast: ServerProcess, xgb_model: dict[str, Any]
) -> None:
    names = deploy(sm, xgb_model["url"])
    params = experiment_params(names["endpoint"], names["model"], model(sm, xgb_model["url"]), sampling=100)
    name = params["Name"]
    sm.create_inference_experiment(**params)
    until(status_of(sm, name), lambda d: d["Status"] == "Running")
    runtime = boto_client("sagemaker-runtime", fast.url)
    for _ in range(30):
        runtime.invoke_endpoint(
            EndpointName=names["endpoint"], ContentType="text/csv", Body=csv_rows(xgb_model["x"][:1])
        )

    def compared() -> dict[str, Any]:
        return dict(json.loads(homeport("experiments", name, "--json", url=fast.url).stdout))

    view = until(compared, lambda v: all(f["Invocations Sum"] >= 30 for f in v["Compared"].values()))
    assert view["Status"] == "Running" and view["SamplingPercentage"] == 100
    assert {v["VariantName"]: v["Role"] for v in view["Variants"]} == {"v1": "production", "shadow": "shadow"}
    assert all(f["ModelLatency Average"] > 0 and f["Invocation5XXErrors Sum"] == 0 for f in view["Compared"].values())
    table = homeport("experiments", name, url=fast.url)
    assert table.returncode == 0 and "production" in table.stdout and "shadow" in table.stdout
    listed = homeport("experiments", url=fast.url)
    assert listed.returncode == 0 and name in listed.stdout and "Running" in listed.stdout


def test_the_worked_example_deploys_a_retrained_model_and_rolls_back_a_slow_one(
    fast: ServerProcess, tmp_path: Path
) -> None:
    script = Path(__file__).resolve().parents[2] / "examples" / "abalone" / "deployments.py"
    run = subprocess.run(
        [sys.executable, str(script), "--endpoint-url", fast.url, "--output-dir", str(tmp_path)],
        env={**os.environ, **KEYS},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "the slow one rolled back, and no request failed" in run.stdout
