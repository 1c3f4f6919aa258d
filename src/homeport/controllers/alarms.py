"""The alarm evaluator: after each metric period is stored, every alarm whose own period has ended is evaluated
with CloudWatch's rules (`alarm_plan.evaluate`), and a change of state is recorded with its history."""

from __future__ import annotations

import json
import logging
from typing import Any

from homeport.controllers.alarm_plan import Datapoint, Rule, evaluate, evaluation_range
from homeport.core.datapoints import Metric, dimensions
from homeport.services.alarms import alarm_period, record_state
from homeport.services.context import Context
from homeport.services.metrics import MetricService, Series
from homeport.store import alarms

log = logging.getLogger(__name__)


def rule(doc: dict[str, Any]) -> Rule:
    return Rule(
        comparison=doc["ComparisonOperator"],
        threshold=doc["Threshold"],
        evaluation_periods=doc["EvaluationPeriods"],
        datapoints_to_alarm=doc.get("DatapointsToAlarm", doc["EvaluationPeriods"]),
        period=alarm_period(doc),
        # A metric-math alarm has no statistic of its own: its reason data names the expression's.
        statistic=doc.get("Statistic") or doc.get("ExtendedStatistic") or "Expression",
        treat_missing=doc.get("TreatMissingData", "missing"),
        evaluate_low_sample_count_percentile=doc.get("EvaluateLowSampleCountPercentile", ""),
    )


def watched(metrics: MetricService, doc: dict[str, Any], start: float, end: float) -> list[Series]:
    """The values an alarm watches over [start, end), oldest first: its metric's statistic, or the series of its
    Metrics query with ReturnData (an expression's points count one sample each)."""
    if "Metrics" not in doc:
        metric = Metric(doc["Namespace"], doc["MetricName"], dimensions(doc.get("Dimensions")))
        statistic = doc.get("Statistic") or doc["ExtendedStatistic"]
        return metrics.values(metric, statistic, doc["Period"], start, end, doc.get("Unit"))
    returned = next(q for q in doc["Metrics"] if q.get("ReturnData", True))
    named = metrics.evaluate_queries(doc["Metrics"], start, end)[returned["Id"]]
    return [Series(t, v, 1.0) for t, v in sorted(named.series.items())]


class AlarmEvaluator:
    def __init__(self, ctx: Context, metrics: MetricService) -> None:
        self.ctx = ctx
        self.metrics = metrics
        self._evaluated: dict[str, float] = {}  # alarm → the period end it was last evaluated at

    def run_once(self, now: float) -> list[str]:
        """Evaluate the alarms whose period ended since their last evaluation; the names of those that changed."""
        with self.ctx.store.reading() as conn:
            docs = alarms.find(conn)
        changed = []
        for doc in docs:
            name, period = doc["AlarmName"], alarm_period(doc)
            ended = now - now % period
            if self._evaluated.get(name) == ended:
                continue
            self._evaluated[name] = ended
            try:
                if self._evaluate(doc, now):
                    changed.append(name)
            except Exception:  # one broken alarm must not stop the others
                log.exception("evaluating alarm %s failed", name)
        for gone in set(self._evaluated) - {d["AlarmName"] for d in docs}:
            del self._evaluated[gone]
        return changed

    def _evaluate(self, doc: dict[str, Any], now: float) -> bool:
        r = rule(doc)
        start, end = evaluation_range(r, now)
        points = [Datapoint(s.start, s.value, s.sample_count) for s in watched(self.metrics, doc, start, end)]
        result = evaluate(r, points, doc["StateValue"], now)
        if not result.changed:
            return False
        with self.ctx.store.transaction() as conn:
            current = alarms.get(conn, doc["AlarmName"])
            if current is None or current["StateValue"] != doc["StateValue"]:
                return False  # deleted, or set by SetAlarmState, meanwhile
            record_state(
                conn,
                self.ctx,
                current,
                result.state,
                result.reason,
                json.dumps(result.reason_data, separators=(",", ":")),
                now,
            )
        log.info("alarm %s: %s -> %s", doc["AlarmName"], doc["StateValue"], result.state)
        self.ctx.wake()  # the notifier, when the new state has webhooks to call
        return True
