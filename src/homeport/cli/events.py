"""`homeport events`: the server's state-change events (EventBridge's shapes), from the CloudWatch Logs group they
are kept in; `--follow` prints new ones as they happen."""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from typing import Any

from homeport.cli.logs import events, since_ms
from homeport.cli.output import when

KINDS = ("endpoint", "endpoint-deployment", "model-package", "transform-job", "training-job", "processing-job")
STATUS = ("EndpointStatus", "ModelApprovalStatus", "TransformJobStatus", "TrainingJobStatus", "ProcessingJobStatus")
NAMES = ("EndpointName", "TransformJobName", "TrainingJobName", "ProcessingJobName")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kind", choices=KINDS, help="only this kind of resource's events")
    p.add_argument("--resource", help="only events about resources whose name or ARN contains this")
    p.add_argument("--since", default="1h", help="how far back to start: 30s, 10m, 2h, 1d (default 1h)")
    p.add_argument("--follow", action="store_true", help="keep printing new events until interrupted")
    p.add_argument("--interval", type=float, default=1.0, help="seconds between looks with --follow (default 1)")


def cmd_events(args: argparse.Namespace, logs: Any) -> int:
    from botocore.exceptions import ClientError

    from homeport.services.events import LOG_GROUP

    prefix = f"{args.kind}-state-change" if args.kind else ""
    # A quoted term matches anywhere in the event's JSON: its resources, names and ARNs.
    pattern = json.dumps(args.resource) if args.resource else ""
    try:
        for event in events(logs, LOG_GROUP, prefix, since_ms(args.since, time.time()), pattern, args.follow,
                            args.interval):  # fmt: skip
            message = json.loads(event["message"])
            if args.json:
                print(json.dumps(message), flush=True)
            else:
                print(line(message, event["timestamp"]), flush=True)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
        print("homeport: no event has happened on this server yet", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    return 0


def line(event: dict[str, Any], timestamp: int) -> str:
    """`2026-12-05 19:02:33  Endpoint State Change  abalone  IN_SERVICE`."""
    detail = event.get("detail", {})
    name = next((detail[k] for k in NAMES if k in detail), None)
    if name is None and "ModelPackageGroupName" in detail:
        name = f"{detail['ModelPackageGroupName']}/{detail.get('ModelPackageVersion', '')}"
    status = next((detail[k] for k in STATUS if k in detail), "")
    if "SecondaryStatus" in detail:
        status += f" ({detail['SecondaryStatus']})"
    stamp = when(datetime.fromtimestamp(timestamp / 1000, UTC))
    kind = event.get("detail-type", "").removeprefix("SageMaker ")
    return f"{stamp}  {kind}  {name or ', '.join(event.get('resources', []))}  {status}"
