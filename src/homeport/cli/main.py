"""The `homeport` command: run the server, and look at or invoke its endpoints."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from homeport.cli.output import print_json, when
from homeport.settings import Settings


def _client(settings: Settings, url: str | None, service: str) -> Any:
    import botocore.session
    from botocore.config import Config

    session = botocore.session.get_session()
    key_id, secret = _credentials(settings)
    return session.create_client(
        service,
        endpoint_url=url or os.environ.get("HOMEPORT_ENDPOINT_URL") or f"http://{settings.host}:{settings.port}",
        region_name=settings.region,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 2}, read_timeout=settings.model_timeout_s + 10),
    )


def _credentials(settings: Settings) -> tuple[str | None, str | None]:
    """HOMEPORT_ACCESS_KEY_ID/…SECRET…, else the pair the server generated in the data directory, else
    botocore's own chain (AWS_ACCESS_KEY_ID, profiles)."""
    if settings.access_key_id:
        return settings.access_key_id, settings.secret_access_key
    from homeport.api.auth.keys import KeyFileError, read_keys_file

    generated = settings.data_dir / "credentials"
    try:
        keys = read_keys_file(generated) if generated.is_file() else []
    except (KeyFileError, OSError):
        keys = []
    return (keys[0].access_key_id, keys[0].secret_access_key) if keys else (None, None)


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from homeport.server.serve import run

    run(settings)
    return 0


def cmd_endpoints(args: argparse.Namespace, settings: Settings) -> int:
    client = _client(settings, args.endpoint_url, "sagemaker")
    endpoints: list[dict[str, Any]] = []
    for page in client.get_paginator("list_endpoints").paginate(SortBy="Name", SortOrder="Ascending"):
        endpoints.extend(page["Endpoints"])
    if args.json:
        print_json(endpoints)
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(endpoints)} endpoint(s)")
    for column in ("Name", "Status", "Created", "Modified"):
        table.add_column(column)
    for e in endpoints:
        table.add_row(e["EndpointName"], e["EndpointStatus"], when(e["CreationTime"]), when(e["LastModifiedTime"]))
    Console().print(table)
    return 0


def cmd_jobs(args: argparse.Namespace, settings: Settings) -> int:
    from homeport.cli.jobs import cmd_jobs as jobs

    return jobs(args, _client(settings, args.endpoint_url, "sagemaker"))


def cmd_queue(args: argparse.Namespace, settings: Settings) -> int:
    from homeport.cli.queue import cmd_queue as queue

    return queue(args, _client(settings, args.endpoint_url, "sagemaker"))


def cmd_scaling(args: argparse.Namespace, settings: Settings) -> int:
    from homeport.cli.scaling import cmd_scaling as scaling

    return scaling(args, lambda service: _client(settings, args.endpoint_url, service))


def cmd_metrics(args: argparse.Namespace, settings: Settings) -> int:
    from homeport.cli.metrics import cmd_metrics as metrics

    return metrics(args, lambda service: _client(settings, args.endpoint_url, service))


def cmd_deployments(args: argparse.Namespace, settings: Settings) -> int:
    from homeport.cli.deployments import cmd_deployments as deployments

    return deployments(args, lambda service: _client(settings, args.endpoint_url, service))


def cmd_experiments(args: argparse.Namespace, settings: Settings) -> int:
    from homeport.cli.experiments import cmd_experiments as experiments

    return experiments(args, lambda service: _client(settings, args.endpoint_url, service))


def cmd_monitor(args: argparse.Namespace, settings: Settings) -> int:
    from homeport.cli.monitor import cmd_monitor as monitor

    return monitor(args, lambda service: _client(settings, args.endpoint_url, service))


def cmd_registry(args: argparse.Namespace, settings: Settings) -> int:
    from homeport.cli.registry import cmd_registry as registry

    return registry(args, lambda service: _client(settings, args.endpoint_url, service))


def cmd_plan(args: argparse.Namespace, settings: Settings) -> int:
    from homeport.cli.stacks import cmd_plan as plan

    return plan(args, lambda service: _client(settings, args.endpoint_url, service))


def cmd_apply(args: argparse.Namespace, settings: Settings) -> int:
    from homeport.cli.stacks import cmd_apply as apply

    return apply(args, lambda service: _client(settings, args.endpoint_url, service))


def cmd_events(args: argparse.Namespace, settings: Settings) -> int:
    from homeport.cli.events import cmd_events as events

    return events(args, _client(settings, args.endpoint_url, "logs"))


def cmd_logs(args: argparse.Namespace, settings: Settings) -> int:
    from homeport.cli.logs import run

    return run(args, _client(settings, args.endpoint_url, "logs"))


def cmd_ml_jobs(args: argparse.Namespace, settings: Settings) -> int:
    from homeport.cli.ml_jobs import PROCESSING, TRAINING, run

    kind = TRAINING if args.command == "training" else PROCESSING
    sagemaker, logs = (_client(settings, args.endpoint_url, service) for service in ("sagemaker", "logs"))
    return run(kind, args, sagemaker, logs)


def cmd_describe(args: argparse.Namespace, settings: Settings) -> int:
    client = _client(settings, args.endpoint_url, "sagemaker")
    doc = client.describe_endpoint(EndpointName=args.endpoint)
    doc.pop("ResponseMetadata", None)
    if args.json:
        print_json(doc)
        return 0
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(f"[bold]{doc['EndpointName']}[/bold]  {doc['EndpointStatus']}  config {doc['EndpointConfigName']}")
    console.print(
        f"  {doc['EndpointArn']}\n  created {when(doc['CreationTime'])}, modified {when(doc['LastModifiedTime'])}"
    )
    if doc.get("FailureReason"):
        console.print(f"  [red]FailureReason:[/red] {doc['FailureReason']}")
    table = Table()
    for column in ("Variant", "Image", "Instances (current/desired)", "Weight (current/desired)"):
        table.add_column(column)
    for v in doc.get("ProductionVariants", []):
        images = ", ".join(i["SpecifiedImage"] for i in v.get("DeployedImages", []))
        table.add_row(
            v["VariantName"],
            images,
            _instances(v),
            f"{v.get('CurrentWeight')}/{v.get('DesiredWeight')}",
        )
    console.print(table)
    return 0


def _instances(variant: dict[str, Any]) -> str:
    """A variant's instance counts; a serverless one's warm instances and its limits."""
    serverless = variant.get("DesiredServerlessConfig")
    if serverless is None:
        return f"{variant.get('CurrentInstanceCount')}/{variant.get('DesiredInstanceCount')}"
    provisioned = serverless.get("ProvisionedConcurrency")
    return (
        f"{variant.get('CurrentInstanceCount', 0)} warm (serverless: {serverless['MemorySizeInMB']} MB, at most "
        f"{serverless['MaxConcurrency']} at once" + (f", {provisioned} provisioned)" if provisioned else ")")
    )


def cmd_invoke(args: argparse.Namespace, settings: Settings) -> int:
    body: bytes
    if args.body.startswith("@"):
        source = args.body[1:]
        body = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
    else:
        body = args.body.encode()
    client = _client(settings, args.endpoint_url, "sagemaker-runtime")
    request: dict[str, Any] = {"EndpointName": args.endpoint, "Body": body, "ContentType": args.content_type}
    if args.accept:
        request["Accept"] = args.accept
    if args.target_variant:
        request["TargetVariant"] = args.target_variant
    if args.target_model:
        request["TargetModel"] = args.target_model
    if args.custom_attributes:
        request["CustomAttributes"] = args.custom_attributes
    reply = client.invoke_endpoint(**request)
    payload = reply["Body"].read()
    if args.json:
        print_json(
            {
                "ContentType": reply.get("ContentType"),
                "InvokedProductionVariant": reply.get("InvokedProductionVariant"),
                "Body": payload.decode("utf-8", "replace"),
            }
        )
    else:
        sys.stdout.write(payload.decode("utf-8", "replace"))
        if not payload.endswith(b"\n"):
            sys.stdout.write("\n")
    return 0


def cmd_invoke_async(args: argparse.Namespace, settings: Settings) -> int:
    """InvokeEndpointAsync; with --wait, poll the object store until the output or the failure object lands."""
    runtime = _client(settings, args.endpoint_url, "sagemaker-runtime")
    request: dict[str, Any] = {"EndpointName": args.endpoint, "InputLocation": args.input}
    for key, value in (("ContentType", args.content_type), ("Accept", args.accept), ("InferenceId", args.inference_id)):
        if value:
            request[key] = value
    reply = runtime.invoke_endpoint_async(**request)
    accepted = {k: reply[k] for k in ("InferenceId", "OutputLocation", "FailureLocation")}
    if not args.wait:
        if args.json:
            print_json(accepted)
        else:
            print("\n".join(f"{k}: {v}" for k, v in accepted.items()))
        return 0
    s3 = _client(settings, args.endpoint_url, "s3")
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        for kind, location in (("output", accepted["OutputLocation"]), ("failure", accepted["FailureLocation"])):
            bucket, _, key = location[len("s3://") :].partition("/")
            try:
                body: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            except s3.exceptions.NoSuchKey:
                continue
            if args.json:
                print_json({**accepted, "Result": kind, "Body": body.decode("utf-8", "replace")})
            else:
                sys.stdout.write(body.decode("utf-8", "replace") + ("" if body.endswith(b"\n") else "\n"))
            return 0 if kind == "output" else 1
        time.sleep(args.interval)
    print(f"homeport: no result for {accepted['InferenceId']} within {args.timeout:g} s", file=sys.stderr)
    return 1


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="homeport", description="SageMaker hosting on your own machines.")
    sub = top.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the server (embedded default: SQLite and a local object store)")
    serve.add_argument("--host", help="address to bind (default 127.0.0.1, HOMEPORT_HOST)")
    serve.add_argument("--port", type=int, help="port (default 8080, HOMEPORT_PORT; 0 picks a free one)")
    serve.add_argument("--data-dir", help="state directory (default ~/.homeport, HOMEPORT_DATA_DIR)")
    serve.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    serve.add_argument(
        "--database-url",
        help="the state's database: postgresql+psycopg://user:password@host/db (HOMEPORT_DATABASE_URL; "
        "default SQLite in the data directory)",
    )
    serve.add_argument(
        "--instance-host",
        help="instances listen on TCP on this address, each with a secret, so that front doors on other machines "
        "reach them (HOMEPORT_INSTANCE_HOST; default Unix sockets)",
    )
    serve.add_argument(
        "--engine",
        choices=["local", "ray"],
        help="where instances run: this machine (default) or a Ray cluster's nodes (HOMEPORT_ENGINE)",
    )
    serve.add_argument(
        "--ray-address",
        help="the Ray cluster's address, HOST:PORT of its head (HOMEPORT_RAY_ADDRESS; default auto: the cluster "
        "`ray start` began on this machine)",
    )
    serve.set_defaults(func=cmd_serve)
    from homeport.cli.db import add_arguments as db_arguments
    from homeport.cli.db import cmd_db

    db = sub.add_parser("db", help="the state's database: its schema revision; migrate it to PostgreSQL")
    db_arguments(db)
    db.set_defaults(func=cmd_db)

    def client_command(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--endpoint-url", help="homeport's URL (default HOMEPORT_ENDPOINT_URL or the local server)")
        p.add_argument("--json", action="store_true", help="machine-readable output")
        return p

    endpoints = client_command("endpoints", "list endpoints")
    endpoints.set_defaults(func=cmd_endpoints)
    describe = client_command("describe", "describe one endpoint")
    describe.add_argument("endpoint")
    describe.set_defaults(func=cmd_describe)
    jobs = client_command("jobs", "list transform jobs; `jobs watch NAME`: live progress; `jobs stop NAME`")
    from homeport.cli.jobs import add_arguments

    add_arguments(jobs)
    jobs.set_defaults(func=cmd_jobs)
    logs = client_command("logs", "what an endpoint's instances (or a job's) printed; --follow for new lines")
    from homeport.cli.logs import add_arguments as log_arguments

    log_arguments(logs)
    logs.set_defaults(func=cmd_logs)
    from homeport.cli.ml_jobs import add_arguments as ml_job_arguments

    for noun in ("training", "processing"):
        command = client_command(noun, f"{noun} jobs; `{noun} NAME [--follow|--stop]`: one job and its output")
        ml_job_arguments(command)
        command.set_defaults(func=cmd_ml_jobs)
    invoke = client_command("invoke", "send one request to an endpoint")
    invoke.add_argument("endpoint")
    invoke.add_argument("--body", required=True, help="the payload, or @FILE, or @- for standard input")
    invoke.add_argument("--content-type", default="text/csv")
    invoke.add_argument("--accept")
    invoke.add_argument("--target-variant")
    invoke.add_argument("--target-model", help="a multi-model endpoint's model: its path under the ModelDataUrl prefix")
    invoke.add_argument("--custom-attributes")
    invoke.set_defaults(func=cmd_invoke)
    invoke_async = client_command("invoke-async", "queue one request on an asynchronous endpoint")
    invoke_async.add_argument("endpoint")
    invoke_async.add_argument("--input", required=True, help="the payload's s3:// URI (InputLocation)")
    invoke_async.add_argument("--content-type")
    invoke_async.add_argument("--accept")
    invoke_async.add_argument("--inference-id")
    invoke_async.add_argument("--wait", action="store_true", help="wait for the result and print it")
    invoke_async.add_argument("--timeout", type=float, default=900.0, help="seconds --wait waits (default 900)")
    invoke_async.add_argument("--interval", type=float, default=0.5, help="seconds between looks (--wait)")
    invoke_async.set_defaults(func=cmd_invoke_async)
    queue = client_command("queue", "an asynchronous endpoint's backlog and notification log")
    queue.add_argument("endpoint")
    queue.set_defaults(func=cmd_queue)
    deployments = client_command("deployments", "a blue/green deployment: fleets, traffic split, step, alarms")
    from homeport.cli.deployments import add_arguments as deployment_arguments

    deployment_arguments(deployments)
    deployments.set_defaults(func=cmd_deployments)
    experiments = client_command("experiments", "inference experiments (shadow tests); for one, its variants compared")
    from homeport.cli.experiments import add_arguments as experiment_arguments

    experiment_arguments(experiments)
    experiments.set_defaults(func=cmd_experiments)
    monitor = client_command("monitor", "an endpoint's monitoring schedules, executions and per-feature drift")
    from homeport.cli.monitor import add_arguments as monitor_arguments

    monitor_arguments(monitor)
    monitor.set_defaults(func=cmd_monitor)
    registry = client_command(
        "registry", "the model registry: groups and their newest versions; for one, every version"
    )
    from homeport.cli.registry import add_arguments as registry_arguments

    registry_arguments(registry)
    registry.set_defaults(func=cmd_registry)
    events = client_command("events", "state changes of endpoints, model versions and jobs; --follow for new ones")
    from homeport.cli.events import add_arguments as event_arguments

    event_arguments(events)
    events.set_defaults(func=cmd_events)
    from homeport.cli.stacks import add_arguments as stack_arguments

    plan = client_command("plan", "what `apply -f FILE` would change on the server, without changing it")
    stack_arguments(plan)
    plan.add_argument("--detailed-exitcode", action="store_true", help="exit 2 when there are changes to make")
    plan.set_defaults(func=cmd_plan)
    apply = client_command("apply", "make the server match a deployment file: models, endpoints, scaling, alarms")
    stack_arguments(apply)
    apply.add_argument("--no-wait", action="store_true", help="make the calls without waiting for endpoints")
    apply.add_argument("--timeout", type=float, default=1800.0, help="seconds to wait for endpoints (default 1800)")
    apply.set_defaults(func=cmd_apply)
    scaling = client_command("scaling", "an endpoint's capacity: variants, scalable targets, policies, activities")
    scaling.add_argument("endpoint")
    scaling.set_defaults(func=cmd_scaling)
    metrics = client_command("metrics", "an endpoint's recent metrics as terminal sparklines (and --png, a chart)")
    metrics.add_argument("endpoint")
    metrics.add_argument("--minutes", type=float, default=15.0, help="how far back to look (default 15)")
    metrics.add_argument(
        "--period", type=int, default=60, help="seconds per datapoint: 1, 5, 10, 20, 30 or a multiple of 60"
    )
    metrics.add_argument("--metric", action="extend", nargs="+", metavar="NAME", help="only these metrics")
    metrics.add_argument("--png", metavar="FILE", help="also save the chart as a PNG (needs matplotlib)")
    metrics.set_defaults(func=cmd_metrics)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    overrides = {
        k: getattr(args, k, None)
        for k in ("host", "port", "data_dir", "log_level", "database_url", "instance_host", "engine", "ray_address")
    }
    try:
        settings = Settings.load(**overrides)
    except ValueError as exc:
        print(f"homeport: {exc}", file=sys.stderr)
        return 2
    try:
        result: int = args.func(args, settings)
    except Exception as exc:
        from botocore.exceptions import BotoCoreError, ClientError

        from homeport.errors import ConfigurationError

        if isinstance(exc, ConfigurationError):
            print(f"homeport: {exc}", file=sys.stderr)
            return 2
        if isinstance(exc, ClientError | BotoCoreError):
            print(f"homeport: {exc}", file=sys.stderr)
            return 1
        raise
    return result
