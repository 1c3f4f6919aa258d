"""The message an alarm POSTs to the webhooks among its actions, and which actions are webhooks."""

from __future__ import annotations

from typing import Any

from homeport.services.alarm_actions import message, webhooks
from homeport.settings import Settings

ALARM: dict[str, Any] = {
    "AlarmName": "drift",
    "AlarmArn": "arn:aws:cloudwatch:us-east-1:000000000000:alarm:drift",
    "AlarmConfigurationUpdatedTimestamp": 1_700_000_000.0,
    "StateValue": "ALARM",
    "StateReason": "Threshold Crossed",
    "StateUpdatedTimestamp": 1_700_000_060.25,
    "ActionsEnabled": True,
    "AlarmActions": ["http://hook/retrain", "arn:aws:sns:us-east-1:000000000000:topic", "https://hook.example/page"],
    "OKActions": ["mailto:someone", "http:///no-host"],
    "MetricName": "feature_baseline_drift_f0",
    "Namespace": "/aws/sagemaker/Endpoints/data-metric",
    "Statistic": "Maximum",
    "Dimensions": [{"Name": "EndpointName", "Value": "ep"}],
    "Period": 60,
    "EvaluationPeriods": 1,
    "Threshold": 0.1,
    "ComparisonOperator": "GreaterThanThreshold",
}


def test_only_http_urls_of_the_new_state_are_called_and_none_with_actions_disabled() -> None:
    assert webhooks(ALARM, "ALARM") == ["http://hook/retrain", "https://hook.example/page"]
    assert webhooks(ALARM, "OK") == [] and webhooks(ALARM, "INSUFFICIENT_DATA") == []
    assert webhooks({**ALARM, "ActionsEnabled": False}, "ALARM") == []


def test_the_message_is_cloudwatchs() -> None:
    sent = message(ALARM, "OK", Settings(account_id="123456789012", region="eu-west-1"))
    assert (sent["OldStateValue"], sent["NewStateValue"], sent["AWSAccountId"]) == ("OK", "ALARM", "123456789012")
    assert sent["StateChangeTime"] == "2023-11-14T22:14:20.250Z" and sent["Region"] == "eu-west-1"
    assert sent["Trigger"] == {
        "Period": 60,
        "EvaluationPeriods": 1,
        "ComparisonOperator": "GreaterThanThreshold",
        "Threshold": 0.1,
        "MetricName": "feature_baseline_drift_f0",
        "Namespace": "/aws/sagemaker/Endpoints/data-metric",
        "StatisticType": "Statistic",
        "Statistic": "MAXIMUM",
        "Unit": None,
        "Dimensions": [{"value": "ep", "name": "EndpointName"}],
    }
    math = {k: v for k, v in ALARM.items() if k not in ("MetricName", "Namespace", "Statistic", "Dimensions")}
    queries = [{"Id": "m1", "Expression": "1", "ReturnData": True}]
    assert message({**math, "Metrics": queries}, "OK", Settings())["Trigger"]["Metrics"] == queries
    extended = message({**ALARM, "ExtendedStatistic": "p99"}, "OK", Settings())["Trigger"]
    assert (extended["StatisticType"], extended["Statistic"]) == ("ExtendedStatistic", "p99")
