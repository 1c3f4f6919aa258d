"""A deployment's split over time, from events of the test's own: a step at each event of this endpoint, none for
another endpoint whose name starts the same or for a message that is not an event."""

from __future__ import annotations

import json
import re
from typing import Any

from homeport.api.auth.keys import KeyRing
from homeport.console.context import Console
from homeport.console.deployments import split_history
from homeport.core.clock import ManualClock
from homeport.objects.locations import Locator

ARN = "arn:aws:sagemaker:us-east-1:000000000000:endpoint/shop"


def event(t: float, arn: str, blue: float, green: float) -> dict[str, Any]:
    detail = {
        "ProductionVariants": [{"VariantName": "v1", "CurrentWeight": blue}],
        "PendingDeploymentSummary": {"ProductionVariants": [{"VariantName": "v1", "CurrentWeight": green}]},
    }
    return {"timestamp": int(t * 1000), "message": json.dumps({"resources": [arn], "detail": detail})}


def test_each_event_of_the_endpoint_is_a_step_and_others_are_not() -> None:
    asked: list[dict[str, Any]] = []

    def operate(service: str, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        asked.append(params)
        events = [
            event(110, ARN, 0.9, 0.1),
            event(120, ARN + "-2", 0.0, 1.0),  # another endpoint, whose ARN begins with this one's
            {"timestamp": 125_000, "message": "not an event"},
            event(130, ARN, 0.5, 0.5),
        ]
        return {"events": events}

    console = Console(KeyRing([]), ManualClock(200.0), operate, lambda _: [], 1, Locator(None))
    chart = str(split_history(console, ARN, 100.0, 200.0, 50.0))
    assert asked[0]["startTime"] == 100_000 and asked[0]["logStreamNames"] == ["endpoint-deployment-state-change"]
    # (100, 0) (110, 0) (110, 10) (130, 10) (130, 50) (200, 50) (200, 50): no step to 100 % at 120.
    assert re.search(r'data-points="7">new fleet 50 %', chart)
    polyline = re.search(r'points="([^"]+)"', chart)
    assert polyline is not None
    tops = {float(point.split(",")[1]) for point in polyline.group(1).split()}
    assert len(tops) == 3  # 0, 10 and 50 %: three heights
