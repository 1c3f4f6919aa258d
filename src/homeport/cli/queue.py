"""`homeport queue ENDPOINT`: an async endpoint's backlog, and its notification event log.

Both come from homeport's own fields in DescribeEndpoint's reply (`HomeportAsyncQueue`, `HomeportNotifications`),
which boto3's parser drops, so they are read from the raw reply.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any

BACKLOG = (
    "ApproximateBacklogSize",
    "ApproximateBacklogSizePerInstance",
    "ApproximateAgeOfOldestRequest",
    "HasBacklogWithoutCapacity",
    "Queued",
    "Running",
    "Completed",
    "Failed",
    "NotificationFailures",
)


def raw_describe(client: Any, endpoint: str) -> dict[str, Any]:
    """DescribeEndpoint's reply as the server sent it."""
    seen: dict[str, Any] = {}

    def keep(http_response: Any, **_: Any) -> None:
        seen.update(json.loads(http_response.content))

    client.meta.events.register("after-call.sagemaker.DescribeEndpoint", keep)
    try:
        client.describe_endpoint(EndpointName=endpoint)
    finally:
        client.meta.events.unregister("after-call.sagemaker.DescribeEndpoint", keep)
    return seen


def cmd_queue(args: argparse.Namespace, client: Any) -> int:
    doc = raw_describe(client, args.endpoint)
    if "HomeportAsyncQueue" not in doc:
        print(f"homeport: {args.endpoint} is not an asynchronous endpoint: it has no queue", file=sys.stderr)
        return 1
    backlog, log = doc["HomeportAsyncQueue"], doc.get("HomeportNotifications", [])
    if args.json:
        print(json.dumps({"Queue": backlog, "Notifications": log}, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    console = Console()
    instances = sum(v.get("CurrentInstanceCount", 0) for v in doc.get("ProductionVariants", []))
    console.print(f"[bold]{args.endpoint}[/bold]  {doc['EndpointStatus']}  {instances} instance(s)")
    metrics = Table(show_header=False)
    for key in BACKLOG:
        value = backlog.get(key, 0)
        metrics.add_row(key, f"{value:.1f}" if isinstance(value, float) else str(value))
    console.print(metrics)
    events = Table(title=f"latest {len(log)} notification(s)")
    for column in ("Created", "Event", "Inference", "Status", "Topic", "Delivery", "Attempts", "Last error"):
        events.add_column(column)
    for n in log:
        events.add_row(
            _time(n["CreationTime"]),
            n["EventName"],
            n.get("InferenceId", ""),
            n.get("InvocationStatus", ""),
            n["Topic"],
            n["Delivery"],
            str(n["Attempts"]),
            n.get("LastError", ""),
        )
    console.print(events)
    return 0


def _time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S")
