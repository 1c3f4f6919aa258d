"""What an alarm does when its state changes, besides scaling: each http(s) URL among the new state's actions
(`AlarmActions`, `OKActions`, `InsufficientDataActions`) is POSTed the message CloudWatch publishes to an SNS topic.

The message goes to the notifications outbox in the transaction that changes the state, so none is lost to a crash;
the notifier delivers it at least once, with retries (`controllers/notifier.py`). A receiver can act on it: page
someone, or start a retraining job when a drift alarm fires.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from homeport.core.clock import iso_time
from homeport.settings import Settings
from homeport.store import notifications

EVENT = "AlarmStateChange"
ACTIONS = {"ALARM": "AlarmActions", "OK": "OKActions", "INSUFFICIENT_DATA": "InsufficientDataActions"}
SOURCE = "alarm/"  # the outbox's source column: endpoint names cannot hold a slash, so the two never mix
TRIGGER = ("Period", "EvaluationPeriods", "DatapointsToAlarm", "ComparisonOperator", "Threshold", "TreatMissingData")


def webhooks(doc: dict[str, Any], state: str) -> list[str]:
    if not doc.get("ActionsEnabled", True):
        return []
    found: list[str] = doc.get(ACTIONS[state], [])
    return [url for url in found if urlsplit(url).scheme in ("http", "https") and urlsplit(url).netloc]


def message(doc: dict[str, Any], old_state: str, settings: Settings) -> dict[str, Any]:
    """CloudWatch's alarm message, as an SNS subscriber finds it in the notification's `Message`."""
    trigger: dict[str, Any] = {k: doc[k] for k in TRIGGER if k in doc}
    if "Metrics" in doc:
        trigger["Metrics"] = doc["Metrics"]
    else:
        extended = "ExtendedStatistic" in doc
        trigger.update(
            MetricName=doc["MetricName"],
            Namespace=doc["Namespace"],
            StatisticType="ExtendedStatistic" if extended else "Statistic",
            Statistic=doc["ExtendedStatistic"] if extended else str(doc.get("Statistic", "")).upper(),
            Unit=doc.get("Unit"),
            Dimensions=[{"value": d["Value"], "name": d["Name"]} for d in doc.get("Dimensions", [])],
        )
    return {
        "AlarmName": doc["AlarmName"],
        "AlarmDescription": doc.get("AlarmDescription"),
        "AWSAccountId": settings.account_id,
        "AlarmConfigurationUpdatedTimestamp": iso_time(doc["AlarmConfigurationUpdatedTimestamp"]),
        "NewStateValue": doc["StateValue"],
        "NewStateReason": doc["StateReason"],
        "StateChangeTime": iso_time(doc["StateUpdatedTimestamp"]),
        "Region": settings.region,
        "AlarmArn": doc["AlarmArn"],
        "OldStateValue": old_state,
        "OKActions": doc.get("OKActions", []),
        "AlarmActions": doc.get("AlarmActions", []),
        "InsufficientDataActions": doc.get("InsufficientDataActions", []),
        "Trigger": trigger,
    }


def notify(conn: Any, doc: dict[str, Any], old_state: str, settings: Settings, now: float) -> None:
    """Queue the message for each webhook of the state the alarm has just moved to, in `conn`'s transaction."""
    if doc["StateValue"] == old_state:
        return
    urls = webhooks(doc, doc["StateValue"])
    if urls:
        body = message(doc, old_state, settings)
        for url in urls:
            notifications.add(conn, (SOURCE + doc["AlarmName"])[:63], url, body, now, event=EVENT)
