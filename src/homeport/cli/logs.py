"""`homeport logs NAME`: what an endpoint's instances (or a job's) printed, from CloudWatch Logs; `--follow` keeps
printing new lines, the way `aws logs tail --follow` does."""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from homeport.cli.output import when

JOB_GROUPS = {
    "transform": "/aws/sagemaker/TransformJobs",
    "training": "/aws/sagemaker/TrainingJobs",
    "processing": "/aws/sagemaker/ProcessingJobs",
}
_SINCE = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", help="the endpoint (or, with --job, the job)")
    p.add_argument("--job", choices=sorted(JOB_GROUPS), help="NAME is a job of this kind, not an endpoint")
    p.add_argument("--variant", help="only this production variant's instances")
    p.add_argument("--since", default="10m", help="how far back to start: 30s, 10m, 2h, 1d (default 10m)")
    p.add_argument("--filter", dest="pattern", default="", help="a CloudWatch filter pattern: ERROR -Exiting, ?A ?B")
    p.add_argument("--follow", action="store_true", help="keep printing new lines until interrupted")
    p.add_argument("--interval", type=float, default=1.0, help="seconds between looks with --follow (default 1)")


def since_ms(text: str, now: float) -> int:
    found = _SINCE.fullmatch(text.strip())
    if found is None:
        raise SystemExit(f"homeport: --since {text!r} is not a duration such as 30s, 10m, 2h or 1d")
    return int((now - float(found[1]) * _UNIT_S[found[2]]) * 1000)


def where(args: argparse.Namespace) -> tuple[str, str]:
    """The log group and stream-name prefix NAME's output is in."""
    if args.job:
        return JOB_GROUPS[args.job], f"{args.name}/"
    return f"/aws/sagemaker/Endpoints/{args.name}", f"{args.variant}/" if args.variant else ""


def events(
    client: Any, group: str, prefix: str, start: int, pattern: str, follow: bool, interval: float
) -> Iterator[Any]:
    """FilterLogEvents, page after page; with `follow`, from the newest event seen on, skipping those seen."""
    seen: set[str] = set()
    while True:
        params: dict[str, Any] = {"logGroupName": group, "startTime": start, "filterPattern": pattern}
        if prefix:
            params["logStreamNamePrefix"] = prefix
        while True:
            page = client.filter_log_events(**params)
            for event in page["events"]:
                if event["eventId"] not in seen:
                    seen.add(event["eventId"])
                    yield event
                if event["timestamp"] > start:
                    start, seen = event["timestamp"], {event["eventId"]}  # startTime is inclusive: remember the last
            if "nextToken" not in page:
                break
            params["nextToken"] = page["nextToken"]
        if not follow:
            return
        time.sleep(interval)


def run(args: argparse.Namespace, client: Any) -> int:
    from botocore.exceptions import ClientError

    group, prefix = where(args)
    start = since_ms(args.since, time.time())
    try:
        for event in events(client, group, prefix, start, args.pattern, args.follow, args.interval):
            if args.json:
                print(json.dumps(event), flush=True)
            else:
                stamp = when(datetime.fromtimestamp(event["timestamp"] / 1000, UTC))
                print(f"{stamp} {event['logStreamName']} {event['message']}", flush=True)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
        print(f"homeport: nothing has been logged for {args.name} yet (no log group {group})", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    return 0
