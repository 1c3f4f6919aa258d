"""CloudWatch metric alarms: PutMetricAlarm, DescribeAlarms, DescribeAlarmsForMetric, DescribeAlarmHistory,
DeleteAlarms, SetAlarmState, and their tags (TagResource, UntagResource, ListTagsForResource).
The alarm evaluator (controllers/alarms.py) moves them between states."""

from __future__ import annotations

import json
from typing import Any

from homeport.core import metric_math
from homeport.core.datapoints import dimensions
from homeport.core.states import AlarmState
from homeport.errors import (
    AlarmNotFound,
    CloudWatchResourceNotFound,
    InvalidParameterCombination,
    InvalidParameterValue,
    LimitExceeded,
    MissingParameter,
)
from homeport.services import alarm_actions
from homeport.services.context import Context
from homeport.services.metrics import check_period, check_statistic, page_offset
from homeport.store import alarms
from homeport.store.db import encode_token

MAX_ALARMS = 5000
MAX_TAGS = 50
DAY_S = 86400  # Period x EvaluationPeriods may not exceed a day
COMPARISONS = (
    "GreaterThanOrEqualToThreshold",
    "GreaterThanThreshold",
    "LessThanThreshold",
    "LessThanOrEqualToThreshold",
)
TREAT_MISSING = ("breaching", "notBreaching", "ignore", "missing")
CONFIGURATION = (
    "AlarmDescription",
    "ActionsEnabled",
    "OKActions",
    "AlarmActions",
    "InsufficientDataActions",
    "MetricName",
    "Namespace",
    "Statistic",
    "ExtendedStatistic",
    "Dimensions",
    "Period",
    "Unit",
    "EvaluationPeriods",
    "DatapointsToAlarm",
    "Threshold",
    "ComparisonOperator",
    "TreatMissingData",
    "EvaluateLowSampleCountPercentile",
    "Metrics",
)


class AlarmService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    # --- PutMetricAlarm --------------------------------------------------------------------------

    def arn(self, name: str) -> str:
        s = self.ctx.settings
        return f"arn:aws:cloudwatch:{s.region}:{s.account_id}:alarm:{name}"

    def put(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.ctx.store.transaction() as conn:
            if alarms.get(conn, params["AlarmName"]) is None and alarms.count(conn) >= MAX_ALARMS:
                raise LimitExceeded(f"This server keeps at most {MAX_ALARMS} alarms; delete some first.")
            new = alarms.get(conn, params["AlarmName"]) is None
            self.create_managed(conn, params, self.ctx.clock.now())
            if new:  # as in CloudWatch, Tags apply when an alarm is created and are ignored when it is updated
                self._tag(conn, self.arn(params["AlarmName"]), params.get("Tags", []))
        self.ctx.wake()
        return {}

    def create_managed(self, conn: Any, params: dict[str, Any], now: float) -> None:
        """Create or update an alarm in `conn`'s transaction (PutMetricAlarm, and a target-tracking policy's)."""
        config = _validated(params)
        name = params["AlarmName"]
        old = alarms.get(conn, name)
        doc = {
            "AlarmName": name,
            "AlarmArn": self.arn(name),
            **config,
            "AlarmConfigurationUpdatedTimestamp": now,
            # A new alarm starts with no data; an updated one keeps its state until it is next evaluated.
            "StateValue": old["StateValue"] if old else AlarmState.INSUFFICIENT_DATA,
            "StateReason": old["StateReason"] if old else "Unchecked: Initial alarm creation",
            "StateUpdatedTimestamp": old["StateUpdatedTimestamp"] if old else now,
            "StateTransitionedTimestamp": old["StateTransitionedTimestamp"] if old else now,
        }
        if old and "StateReasonData" in old:
            doc["StateReasonData"] = old["StateReasonData"]
        alarms.put(conn, doc)
        verb = "updated" if old else "created"
        alarms.add_history(
            conn,
            name,
            now,
            "ConfigurationUpdate",
            f'Alarm "{name}" {verb}',
            {"version": "1.0", "type": "Update" if old else "Create", "updatedAlarm": _history_config(doc)},
        )

    # --- DescribeAlarms, DescribeAlarmsForMetric -------------------------------------------------

    def describe(self, params: dict[str, Any]) -> dict[str, Any]:
        names, prefix = params.get("AlarmNames"), params.get("AlarmNamePrefix")
        if names and prefix:
            raise InvalidParameterCombination("Give AlarmNames or AlarmNamePrefix, not both.")
        types = params.get("AlarmTypes") or ["MetricAlarm"]
        with self.ctx.store.reading() as conn:
            found = alarms.find(conn, names, prefix) if "MetricAlarm" in types else []
        if "StateValue" in params:
            found = [a for a in found if a["StateValue"] == params["StateValue"]]
        if "ActionPrefix" in params:
            wanted = params["ActionPrefix"]
            found = [a for a in found if any(action.startswith(wanted) for action in _actions(a))]
        offset = page_offset(params.get("NextToken"))
        limit = params.get("MaxRecords", 50)
        reply: dict[str, Any] = {"MetricAlarms": found[offset : offset + limit], "CompositeAlarms": []}
        if offset + limit < len(found):
            reply["NextToken"] = encode_token(offset + limit)
        return reply

    def describe_for_metric(self, params: dict[str, Any]) -> dict[str, Any]:
        dims = dimensions(params.get("Dimensions"))
        with self.ctx.store.reading() as conn:
            found = alarms.find(conn)
        matches = [
            a
            for a in found
            if a.get("Namespace") == params["Namespace"]
            and a.get("MetricName") == params["MetricName"]
            and dimensions(a.get("Dimensions")) == dims
            and all(a.get(k) == params[k] for k in ("Statistic", "ExtendedStatistic", "Period", "Unit") if k in params)
        ]
        return {"MetricAlarms": matches}

    # --- DescribeAlarmHistory --------------------------------------------------------------------

    def history(self, params: dict[str, Any]) -> dict[str, Any]:
        if "AlarmTypes" in params and "MetricAlarm" not in params["AlarmTypes"]:
            return {"AlarmHistoryItems": []}
        offset = page_offset(params.get("NextToken"))
        limit = params.get("MaxRecords", 100)
        with self.ctx.store.reading() as conn:
            items = alarms.history(
                conn,
                params.get("AlarmName"),
                params.get("HistoryItemType"),
                params.get("StartDate"),
                params.get("EndDate"),
                params.get("ScanBy", "TimestampDescending") == "TimestampDescending",
                offset,
                limit + 1,
            )
        reply: dict[str, Any] = {"AlarmHistoryItems": items[:limit]}
        if len(items) > limit:
            reply["NextToken"] = encode_token(offset + limit)
        return reply

    # --- DeleteAlarms, SetAlarmState -------------------------------------------------------------

    def delete(self, params: dict[str, Any]) -> dict[str, Any]:
        names = params["AlarmNames"]
        with self.ctx.store.transaction() as conn:
            known = {a["AlarmName"] for a in alarms.find(conn, names)}
            missing = [n for n in names if n not in known]
            if missing:
                raise AlarmNotFound(f"No alarm named {', '.join(missing)}: nothing was deleted.")
            alarms.delete_alarms(conn, names)
            for name in names:
                arn = self.arn(name)
                self.ctx.store.remove_tags(conn, arn, [t["Key"] for t in self.ctx.store.get_tags(conn, arn)])
        return {}

    # --- TagResource, UntagResource, ListTagsForResource -----------------------------------------

    def _alarm_arn(self, conn: Any, arn: str) -> str:
        name = arn.removeprefix(self.arn(""))
        if name == arn or alarms.get(conn, name) is None:
            raise CloudWatchResourceNotFound(f'No alarm has the ARN "{arn}". Check the ResourceARN.')
        return arn

    def _tag(self, conn: Any, arn: str, tags: list[dict[str, str]]) -> None:
        self.ctx.store.put_tags(conn, arn, tags)
        if len(self.ctx.store.get_tags(conn, arn)) > MAX_TAGS:
            raise InvalidParameterValue(f"An alarm can have at most {MAX_TAGS} tags; remove some first.")

    def tag(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.ctx.store.transaction() as conn:
            self._tag(conn, self._alarm_arn(conn, params["ResourceARN"]), params["Tags"])
        return {}

    def untag(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.ctx.store.transaction() as conn:
            self.ctx.store.remove_tags(conn, self._alarm_arn(conn, params["ResourceARN"]), params["TagKeys"])
        return {}

    def list_tags(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.ctx.store.reading() as conn:
            return {"Tags": self.ctx.store.get_tags(conn, self._alarm_arn(conn, params["ResourceARN"]))}

    def set_state(self, params: dict[str, Any]) -> dict[str, Any]:
        """Sets the state until the next evaluation decides again, as CloudWatch's SetAlarmState does."""
        name = params["AlarmName"]
        reason_data = params.get("StateReasonData")
        if reason_data is not None:
            try:
                json.loads(reason_data)
            except ValueError:
                raise InvalidParameterValue("StateReasonData must be a JSON document.") from None
        with self.ctx.store.transaction() as conn:
            doc = alarms.get(conn, name)
            if doc is None:
                raise AlarmNotFound(f"No alarm named {name}.")
            now = self.ctx.clock.now()
            record_state(conn, self.ctx, doc, params["StateValue"], params["StateReason"], reason_data, now)
        self.ctx.wake()
        return {}


def record_state(
    conn: Any, ctx: Context, doc: dict[str, Any], state: str, reason: str, reason_data: str | None, now: float
) -> None:
    """Move an alarm to `state`, with its history item and the webhook calls of its actions, in `conn`'s
    transaction."""
    old_state, old_reason = doc["StateValue"], doc["StateReason"]
    doc["StateValue"], doc["StateReason"], doc["StateUpdatedTimestamp"] = state, reason, now
    if reason_data is None:
        doc.pop("StateReasonData", None)
    else:
        doc["StateReasonData"] = reason_data
    if state != old_state:
        doc["StateTransitionedTimestamp"] = now
    alarms.put(conn, doc)
    alarms.add_history(
        conn,
        doc["AlarmName"],
        now,
        "StateUpdate",
        f"Alarm updated from {old_state} to {state}",
        {
            "version": "1.0",
            "oldState": {"stateValue": old_state, "stateReason": old_reason},
            "newState": {
                "stateValue": state,
                "stateReason": reason,
                **({"stateReasonData": json.loads(reason_data)} if reason_data else {}),
            },
        },
    )
    alarm_actions.notify(conn, doc, old_state, ctx.settings, now)


def _validated(params: dict[str, Any]) -> dict[str, Any]:
    """The alarm's configuration from PutMetricAlarm, or the error that says what to fix."""
    if "ThresholdMetricId" in params:
        raise InvalidParameterValue(
            "homeport has no anomaly detection bands: give a Threshold rather than a ThresholdMetricId."
        )
    has_stat, has_extended = "Statistic" in params, "ExtendedStatistic" in params
    if "Metrics" in params:
        period = _math_period(params)
    else:
        for required in ("MetricName", "Namespace", "Period"):
            if required not in params:
                raise MissingParameter(f"The parameter {required} is required for a metric alarm (or give Metrics).")
        if has_stat == has_extended:
            raise InvalidParameterCombination("Give exactly one of Statistic and ExtendedStatistic.")
        if has_extended:
            check_statistic(params["ExtendedStatistic"], "ExtendedStatistic")
        period = params["Period"]
        check_period(period)
    if "Threshold" not in params:
        raise MissingParameter("The parameter Threshold is required.")
    evaluations = params["EvaluationPeriods"]
    if period * evaluations > DAY_S:
        raise InvalidParameterValue("Period x EvaluationPeriods must not exceed one day (86400 seconds).")
    to_alarm = params.get("DatapointsToAlarm", evaluations)
    if not 1 <= to_alarm <= evaluations:
        raise InvalidParameterValue("DatapointsToAlarm must be between 1 and EvaluationPeriods.")
    if params["ComparisonOperator"] not in COMPARISONS:
        raise InvalidParameterValue(
            f"ComparisonOperator {params['ComparisonOperator']} needs an anomaly detection band, which homeport "
            f"does not have; use one of {', '.join(COMPARISONS)}."
        )
    if params.get("TreatMissingData", "missing") not in TREAT_MISSING:
        raise InvalidParameterValue(f"TreatMissingData must be one of {', '.join(TREAT_MISSING)}.")
    if params.get("EvaluateLowSampleCountPercentile", "evaluate") not in ("evaluate", "ignore"):
        raise InvalidParameterValue("EvaluateLowSampleCountPercentile must be evaluate or ignore.")
    if params.get("EvaluateLowSampleCountPercentile") and not has_extended:
        raise InvalidParameterCombination("EvaluateLowSampleCountPercentile applies only with an ExtendedStatistic.")
    config = {k: params[k] for k in CONFIGURATION if k in params}
    config.setdefault("ActionsEnabled", True)
    for key in ("OKActions", "AlarmActions", "InsufficientDataActions"):
        config.setdefault(key, [])
    if "Metrics" not in config:
        config.setdefault("Dimensions", [])
    config.setdefault("DatapointsToAlarm", evaluations)
    config.setdefault("TreatMissingData", "missing")
    config["EvaluationPeriods"] = evaluations
    config["ComparisonOperator"] = params["ComparisonOperator"]
    return config


SINGLE_METRIC = ("MetricName", "Namespace", "Statistic", "ExtendedStatistic", "Period", "Dimensions", "Unit")


def _math_period(params: dict[str, Any]) -> int:
    """A metric-math alarm's period (its queries' shortest), once its Metrics are checked: exactly one query
    returns the alarm's data, every MetricStat has a Period, every expression parses and names known ids."""
    given = [k for k in SINGLE_METRIC if k in params]
    if given:
        raise InvalidParameterCombination(f"Give Metrics or {', '.join(given)}, not both.")
    queries = params["Metrics"]
    if sum(1 for q in queries if q.get("ReturnData", True)) != 1:
        raise InvalidParameterValue("Exactly one of the alarm's Metrics must have ReturnData true: the one it watches.")
    ids = {q["Id"] for q in queries}
    periods = []
    for query in queries:
        if ("MetricStat" in query) == ("Expression" in query):
            raise InvalidParameterValue(f"Metrics query {query['Id']} needs exactly one of MetricStat and Expression.")
        if "MetricStat" in query:
            stat = query["MetricStat"]
            if "Period" not in stat:
                raise MissingParameter(f"Metrics query {query['Id']} needs MetricStat.Period.")
            check_period(stat["Period"], "MetricStat.Period")
            check_statistic(stat["Stat"], "MetricStat.Stat")
            periods.append(stat["Period"])
        else:
            try:
                unknown = metric_math.references(query["Expression"]) - ids
            except metric_math.MathError as exc:
                raise InvalidParameterValue(f"Metrics query {query['Id']}: {exc}") from None
            if unknown:
                raise InvalidParameterValue(
                    f"Metrics query {query['Id']} names no query: {', '.join(sorted(unknown))}."
                )
            if "Period" in query:
                periods.append(query["Period"])
    if not periods:
        raise InvalidParameterValue("A metric-math alarm needs at least one MetricStat (or an expression Period).")
    return int(min(periods))


def alarm_period(doc: dict[str, Any]) -> int:
    """The period an alarm is evaluated over: its own, or for a metric-math alarm its queries' shortest."""
    return int(doc["Period"]) if "Period" in doc else _math_period(doc)


def _actions(doc: dict[str, Any]) -> list[str]:
    return [*doc.get("OKActions", []), *doc.get("AlarmActions", []), *doc.get("InsufficientDataActions", [])]


def _history_config(doc: dict[str, Any]) -> dict[str, Any]:
    return {k[0].lower() + k[1:]: v for k, v in doc.items() if k in CONFIGURATION or k == "AlarmName"}
