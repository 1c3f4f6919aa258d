#!/usr/bin/env python3
"""State in PostgreSQL and several front doors, against the embedded default, on this machine.

    .venv/bin/python bench/cluster.py               # about 2 minutes
    .venv/bin/python bench/cluster.py --ops 400 --kills 5

Needs the Debian `postgresql` package's binaries (tests/postgres.py starts a cluster in a temporary directory,
on loopback, with PostgreSQL's durable defaults: fsync on, as SQLite's commits are synced here).

- control plane: CreateModel, DescribeModel, ListModels and DeleteModel against one real `homeport serve`, by one
  client and by 4 at once, with the state in SQLite and then in PostgreSQL: operations per second, PostgreSQL ÷
  SQLite, and the database transactions each operation costs on PostgreSQL (pg_stat_database).
- failover: two front doors on one database, an endpoint of the worked example's Abalone model; the leader killed
  with SIGKILL. The lease's takeover time (until another session holds the leader's advisory lock) against the
  followers' retry interval (its floor), and the time until the endpoint answers again through the follower,
  against a cold CreateEndpoint → first answer measured in the same run.
- idle cost: transactions per second the database sees from a leader and a follower with that endpoint and
  nothing to do, the base load a fleet of front doors puts on it.

- async: InvokeEndpointAsync requests per second (submitted until every output is written) to an endpoint of 2
  instances, through one front door and then through two on one queue (requests alternating between them), the
  front doors sharing one S3 store (a third `homeport serve`'s S3 face stands in for it): two ÷ one.

- instances (`--part instances`, needs the `ray` extra): one front door, an endpoint of one instance, reached
  over a Unix socket (the default), over TCP with its secret (`--instance-host`), and as a Ray actor on a node of a
  real 3-node cluster on this machine (`--engine ray`): median latency of one client, requests/s of 4, and
  CreateEndpoint → first answer, each ÷ the Unix socket's; then a node SIGKILLed under an endpoint of 3 instances:
  seconds until its replacement listens on a node that is left (Ray's health checks: three missed, 0.5 s apart).
  And a built-in XGBoost training job (50,000 rows of 8 features, 50 rounds) on this machine and on a node:
  CreateTrainingJob → Completed, Ray ÷ local (the job's directory sent to the node and its model back).

Results in bench/results/cluster-<time>.json.
"""

from __future__ import annotations

import argparse
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from invoke import IMAGE, ROLE, ROOT, build_model

from batch import say, write_results  # bench/ is on sys.path: this file runs beside them

sys.path.insert(0, str(ROOT))  # tests/postgres.py: the PostgreSQL cluster the tests start
THREADS = 4
ENV = {"HOMEPORT_LOG_LEVEL": "warning", "HOMEPORT_HEALTH_INTERVAL_S": "0.1"}


def client(server: Any, service: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        service,
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id=server.access_key_id,
        aws_secret_access_key=server.secret_access_key,
        config=Config(retries={"max_attempts": 1}, max_pool_connections=THREADS * 2),
    )


def transactions(url: str) -> int:
    """Commits and rollbacks the database has seen so far."""
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        row = conn.execute(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
    assert row is not None
    return int(row[0])


def control_plane(sm: Any, ops: int, threads: int, prefix: str) -> float:
    """Operations per second: each of `ops` rounds is Create, Describe, List and Delete of one model."""

    def one(i: int) -> None:
        name = f"{prefix}-{i}"
        sm.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer={"Image": IMAGE})
        sm.describe_model(ModelName=name)
        sm.list_models(MaxResults=10, NameContains=prefix)
        sm.delete_model(ModelName=name)

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, range(ops)))
    return 4 * ops / (time.perf_counter() - started)


def until(check: Callable[[], bool], timeout: float = 120.0, every: float = 0.01) -> float:
    started = time.perf_counter()
    while not check():
        if time.perf_counter() - started > timeout:
            raise SystemExit("timed out")
        time.sleep(every)
    return time.perf_counter() - started


def lease_holder(url: str) -> int | None:
    import psycopg

    from homeport.store.lease import LEADER_LOCK

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        row = conn.execute(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objid = %s AND granted AND database = "
            "(SELECT oid FROM pg_database WHERE datname = current_database())",
            (LEADER_LOCK,),
        ).fetchone()
    return int(row[0]) if row else None


def answers(runtime: Any, endpoint: str, body: bytes) -> bool:
    from botocore.exceptions import ClientError

    try:
        runtime.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body=body)
    except ClientError:
        return False
    return True


def kill_leader(leader: Any, follower: Any, database: str, body: bytes) -> tuple[float, float]:
    """SIGKILL the leader; seconds until another session holds the lease, and until the follower answers."""
    holder = lease_holder(database)
    runtime = client(follower, "sagemaker-runtime")
    leader.stop(signal.SIGKILL)
    killed = time.perf_counter()
    until(lambda: lease_holder(database) not in (None, holder))
    took = time.perf_counter() - killed
    until(lambda: answers(runtime, "abalone", body), every=0.05)
    return took, time.perf_counter() - killed


def deploy(sm: Any, name: str, url: str, count: int = 1, **config: Any) -> None:
    sm.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer={"Image": IMAGE, "ModelDataUrl": url})
    variant = {"VariantName": "AllTraffic", "ModelName": name, "InstanceType": "ml.m5.large"}
    sm.create_endpoint_config(
        EndpointConfigName=name, ProductionVariants=[{**variant, "InitialInstanceCount": count}], **config
    )
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)


def async_rate(doors: list[Any], s3: Any, requests: int) -> float:
    """InvokeEndpointAsync requests per second through `doors` (alternating), until every output is written."""
    runtimes = [client(door, "sagemaker-runtime") for door in doors]
    outputs = f"out-{len(doors)}/"

    def written() -> int:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket="async", Prefix=outputs)
        return sum(page.get("KeyCount", 0) for page in pages)

    def submit(i: int) -> None:
        runtimes[i % len(runtimes)].invoke_endpoint_async(
            EndpointName=f"async-{len(doors)}", InputLocation="s3://async/in.csv", ContentType="text/csv"
        )

    started = time.perf_counter()
    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(submit, range(requests)))
    until(lambda: written() >= requests, every=0.05)
    return requests / (time.perf_counter() - started)


def async_doors(server_url: str, work: Path, url: str, body: bytes, requests: int) -> dict[str, Any]:
    """Async requests per second through one front door, then through two on one queue."""
    from tests.postgres import new_database

    from homeport.server.process import ServerProcess

    rates: dict[str, Any] = {}
    with ServerProcess(work / "s3", env=ENV) as store:
        s3 = client(store, "s3")
        s3.create_bucket(Bucket="async")
        s3.put_object(Bucket="async", Key="in.csv", Body=body)
        shared = {
            "HOMEPORT_S3_ENDPOINT_URL": store.url,
            "HOMEPORT_S3_ACCESS_KEY_ID": store.access_key_id,
            "HOMEPORT_S3_SECRET_ACCESS_KEY": store.secret_access_key,
        }
        for count in (1, 2):
            env = {**ENV, **shared, "HOMEPORT_DATABASE_URL": new_database(server_url, f"async_{count}")}
            doors = [ServerProcess(work / f"async-{count}-{i}", env=env).start() for i in range(count)]
            try:
                name = f"async-{count}"
                deploy(client(doors[0], "sagemaker"), name, url, count=2, AsyncInferenceConfig={
                    "OutputConfig": {"S3OutputPath": f"s3://async/out-{count}/"},
                    "ClientConfig": {"MaxConcurrentInvocationsPerInstance": 4},
                })  # fmt: skip
                client(doors[0], "sagemaker").get_waiter("endpoint_in_service").wait(
                    EndpointName=name, WaiterConfig={"Delay": 1}
                )
                time.sleep(1.0)  # the follower's routes (read every 0.25 s)
                rate = async_rate(doors, s3, requests)
            finally:
                for door in doors:
                    door.stop()
            rates[f"requests_per_s_{count}_front_doors"] = round(rate, 1)
            say(f"async: {rate:.0f} requests/s through {count} front door(s)")
    rates["two_over_one"] = round(rates["requests_per_s_2_front_doors"] / rates["requests_per_s_1_front_doors"], 2)
    return rates


def measure(args: argparse.Namespace) -> dict[str, Any]:
    from tests.postgres import binaries, new_database, postgres_server

    from homeport.server.process import ServerProcess

    if binaries() is None:
        raise SystemExit("bench/cluster.py needs PostgreSQL's server binaries: apt-get install postgresql")
    work = Path(tempfile.mkdtemp(prefix="homeport-clusterbench-"))
    _, tarball, _, body = build_model(work)
    url = tarball.as_uri()
    results: dict[str, Any] = {"ops_rounds": args.ops, "threads": THREADS}
    takeovers: list[float] = []
    serving: list[float] = []
    with postgres_server(durable=True) as server_url:
        for db in ("sqlite", "postgresql"):
            database = new_database(server_url, f"ops_{db}") if db == "postgresql" else ""
            env = {"HOMEPORT_DATABASE_URL": database} if database else {}
            with ServerProcess(work / f"ops-{db}", env={**ENV, **env}) as door:
                sm = client(door, "sagemaker")
                control_plane(sm, 20, 1, "warm")  # connections, imports, caches
                before = transactions(database) if database else 0
                one = control_plane(sm, args.ops, 1, "one")
                spent = transactions(database) - before if database else 0
                many = control_plane(sm, args.ops, THREADS, "many")
            results[db] = {"ops_per_s_1_client": round(one, 1), f"ops_per_s_{THREADS}_clients": round(many, 1)}
            if database:
                results[db]["transactions_per_op"] = round(spent / (4 * args.ops), 2)
            say(f"{db}: {one:.0f} ops/s by 1 client, {many:.0f} by {THREADS}")
        for key in ("ops_per_s_1_client", f"ops_per_s_{THREADS}_clients"):
            results[f"postgresql_over_sqlite_{key}"] = round(results["postgresql"][key] / results["sqlite"][key], 2)

        results["async"] = async_doors(server_url, work, url, body, args.requests)

        database = new_database(server_url, "failover")
        env = {**ENV, "HOMEPORT_DATABASE_URL": database}
        leader = ServerProcess(work / "door-0", env=env).start()
        try:
            deploy(client(leader, "sagemaker"), "abalone", url)
            cold = until(lambda: answers(client(leader, "sagemaker-runtime"), "abalone", body), every=0.05)
            results["cold_create_to_first_answer_s"] = round(cold, 2)
            say(f"cold: CreateEndpoint to a first answer in {cold:.2f} s")
            follower = ServerProcess(work / "door-1", env=env).start()
            idle_before, idle_at = transactions(database), time.perf_counter()
            time.sleep(args.idle)
            idle = (transactions(database) - idle_before) / (time.perf_counter() - idle_at)
            results["idle_transactions_per_s_leader_and_follower"] = round(idle, 1)
            for kill in range(args.kills):
                took, answering = kill_leader(leader, follower, database, body)
                takeovers.append(took)
                serving.append(answering)
                say(f"kill {kill + 1}: lease taken after {took:.2f} s, answering again after {answering:.2f} s")
                leader, follower = follower, ServerProcess(work / f"door-{kill + 2}", env=env).start()
        finally:
            for door in (leader, follower):
                door.stop()

    from homeport.store.lease import RETRY_S

    results["lease_takeover_s"] = {"median": round(statistics.median(takeovers), 3), "all": takeovers}
    results["lease_takeover_over_retry_interval"] = round(statistics.median(takeovers) / RETRY_S, 2)
    results["answering_again_s"] = {"median": round(statistics.median(serving), 2), "all": serving}
    results["answering_again_over_cold_start"] = round(statistics.median(serving) / cold, 2)
    return results


def instance_paths(work: Path, url: str, body: bytes, requests: int) -> dict[str, Any]:
    from tests.ray.conftest import ENV as RAY_ENV
    from tests.ray.conftest import ray_cluster
    from tests.ray.test_serve import nodes_of

    from homeport.server.process import ServerProcess

    results: dict[str, Any] = {}
    with ray_cluster(["a", "b", "c"]) as cluster:
        ray = {**RAY_ENV, "HOMEPORT_ENGINE": "ray", "HOMEPORT_RAY_ADDRESS": cluster.address}
        for path, env in (("unix", {}), ("tcp", {"HOMEPORT_INSTANCE_HOST": "127.0.0.1"}), ("ray", ray)):
            with ServerProcess(work / f"paths-{path}", env={**ENV, **env}, startup_timeout_s=120) as door:
                sm, runtime = client(door, "sagemaker"), client(door, "sagemaker-runtime")
                deploy(sm, "abalone", url)
                cold = until(lambda: answers(runtime, "abalone", body), every=0.05)  # noqa: B023
                latencies = []
                for _ in range(requests):
                    sent = time.perf_counter()
                    runtime.invoke_endpoint(EndpointName="abalone", ContentType="text/csv", Body=body)
                    latencies.append(time.perf_counter() - sent)
                started = time.perf_counter()
                with ThreadPoolExecutor(THREADS) as pool:
                    list(pool.map(lambda _: answers(runtime, "abalone", body), range(requests)))  # noqa: B023
                rate = requests / (time.perf_counter() - started)
                results[path] = {
                    "cold_create_to_first_answer_s": round(cold, 2),
                    "median_latency_ms": round(statistics.median(latencies) * 1000, 2),
                    f"requests_per_s_{THREADS}_clients": round(rate, 1),
                }
                if path != "tcp":  # a job's process does not care how instances are reached
                    results[path]["training_job_s"] = training_job(door)
                say(f"{path}: {results[path]}")
                if path == "ray":
                    results["node_lost_to_replacement_listening_s"] = node_loss(sm, cluster, door, url, nodes_of)
    for path in ("tcp", "ray"):
        for key in results[path]:
            results[f"{path}_over_unix_{key}"] = round(results[path][key] / results["unix"][key], 2)
    return results


def training_job(door: Any, rows: int = 50_000, features: int = 8) -> float:
    """Seconds from CreateTrainingJob to Completed for the built-in XGBoost algorithm on `rows` synthetic rows."""
    import numpy as np

    s3, sm = client(door, "s3"), client(door, "sagemaker")
    rng = np.random.default_rng(7)
    x = rng.normal(size=(rows, features))
    y = x @ rng.normal(size=features) + rng.normal(scale=0.1, size=rows)
    s3.create_bucket(Bucket="training")
    data = "\n".join(",".join(f"{v:.5f}" for v in row) for row in np.column_stack([y, x]))
    s3.put_object(Bucket="training", Key="train/rows.csv", Body=data.encode())
    started = time.perf_counter()
    sm.create_training_job(
        TrainingJobName="bench",
        AlgorithmSpecification={"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        RoleArn=ROLE,
        HyperParameters={"num_round": "50", "max_depth": "5", "objective": "reg:squarederror"},
        InputDataConfig=[
            {
                "ChannelName": "train",
                "ContentType": "text/csv",
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://training/train/"}},
            }
        ],
        OutputDataConfig={"S3OutputPath": "s3://training/models/"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
        StoppingCondition={"MaxRuntimeInSeconds": 600},
    )
    ended = {"Completed", "Failed", "Stopped"}
    until(lambda: sm.describe_training_job(TrainingJobName="bench")["TrainingJobStatus"] in ended, every=0.05)
    took = round(time.perf_counter() - started, 2)
    job = sm.describe_training_job(TrainingJobName="bench")
    if job["TrainingJobStatus"] != "Completed":
        raise SystemExit(f"the benchmark's training job failed: {job.get('FailureReason')}")
    return took


def node_loss(sm: Any, cluster: Any, door: Any, url: str, nodes_of: Callable[[Path], dict[str, str]]) -> float:
    """An endpoint of 3 instances, one per zone; zone c's node SIGKILLed: seconds until the replacement listens."""
    sm.delete_endpoint(EndpointName="abalone")  # its room: a replacement waits for room in its own zone
    env = {"SAGEMAKER_CONTAINER_LOG_LEVEL": "20"}  # the instance logs where it listens
    sm.create_model(
        ModelName="spread",
        ExecutionRoleArn=ROLE,
        PrimaryContainer={"Image": IMAGE, "ModelDataUrl": url, "Environment": env},
    )
    variant = {"VariantName": "AllTraffic", "ModelName": "spread", "InstanceType": "ml.m5.large"}
    sm.create_endpoint_config(EndpointConfigName="spread", ProductionVariants=[{**variant, "InitialInstanceCount": 3}])
    sm.create_endpoint(EndpointName="spread", EndpointConfigName="spread")
    logs = door.data_dir / "logs" / "endpoints" / "spread"
    until(lambda: len(nodes_of(logs)) == 3)
    cluster.kill("c")
    killed = time.perf_counter()
    until(lambda: len(nodes_of(logs)) == 4)
    took = round(time.perf_counter() - killed, 2)
    say(f"node lost: its instance's replacement listens {took} s later")
    return took


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ops", type=int, default=200, help="control-plane rounds per database and concurrency")
    parser.add_argument("--kills", type=int, default=3, help="leaders killed (default 3)")
    parser.add_argument("--requests", type=int, default=600, help="async requests per front-door count")
    parser.add_argument("--idle", type=float, default=10.0, help="seconds of idle load measured (default 10)")
    parser.add_argument("--part", choices=["all", "doors", "instances"], default="all")
    args = parser.parse_args(argv)
    results = measure(args) if args.part != "instances" else {}
    if args.part != "doors":
        work = Path(tempfile.mkdtemp(prefix="homeport-clusterbench-"))
        _, tarball, _, body = build_model(work)
        results["instances"] = instance_paths(work, tarball.as_uri(), body, args.requests)
    write_results("cluster", results)
    print(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
