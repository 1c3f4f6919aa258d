"""CloudWatch's metric operations over the embedded time-series store: PutMetricData, GetMetricStatistics,
GetMetricData, ListMetrics. Endpoint metrics are written by the metric collector; users may add their own."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from homeport.core import metric_math
from homeport.core.datapoints import (
    STATISTICS,
    Accumulator,
    Bucket,
    Metric,
    buckets,
    dimension_list,
    dimensions,
    is_statistic,
)
from homeport.core.metric_math import Named
from homeport.errors import InvalidNextToken, InvalidParameterCombination, InvalidParameterValue, MissingParameter
from homeport.services.context import Context
from homeport.store import metric_points
from homeport.store.db import BadToken, decode_token, encode_token

MAX_DATAPOINTS = 1440  # GetMetricStatistics' limit per call
MAX_QUERY_DATAPOINTS = 100_800  # GetMetricData's default MaxDatapoints
SHORT_PERIODS = (1, 5, 10, 20, 30)
PAST_LIMIT_S = 14 * 86400  # PutMetricData accepts timestamps up to two weeks old …
FUTURE_LIMIT_S = 2 * 3600  # … and two hours ahead
LIST_PAGE = 500
RECENT_S = 3 * 3600  # ListMetrics' RecentlyActive=PT3H


def valid_period(period: int) -> bool:
    """CloudWatch's periods: 1, 5, 10, 20 or 30 s (high resolution), or whole minutes."""
    return period in SHORT_PERIODS or (period > 0 and period % 60 == 0)


def check_period(period: int, what: str = "Period") -> None:
    if not valid_period(period):
        raise InvalidParameterValue(
            f"The parameter {what} must be 1, 5, 10, 20, 30, or a multiple of 60; got {period}."
        )


def check_statistic(statistic: str, what: str) -> None:
    if not is_statistic(statistic):
        raise InvalidParameterValue(
            f"The value {statistic} for parameter {what} is not supported: use one of {', '.join(STATISTICS)} "
            "or a percentile such as p99 or p99.9."
        )


def origin(start: float, period: int) -> float:
    """Where a query's periods begin: its start time, rounded down to the minute (to the period, if shorter)."""
    return start - start % min(period, 60)


@dataclass(frozen=True)
class Series:
    """One metric's statistic per period: what an alarm or a scaling policy reads."""

    start: float
    value: float
    sample_count: float


class MetricService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    # --- PutMetricData ---------------------------------------------------------------------------

    def put(self, params: dict[str, Any]) -> dict[str, Any]:
        namespace = params["Namespace"]
        if namespace.startswith("AWS/"):
            raise InvalidParameterValue(
                f"The value {namespace} for parameter Namespace is invalid: the AWS/ namespaces are reserved for "
                "the metrics homeport publishes itself."
            )
        data = params.get("MetricData") or []
        if not data:
            raise MissingParameter("The parameter MetricData is required and must hold at least one metric.")
        now = self.ctx.clock.now()
        sums: dict[tuple[Metric, float, int, str], Accumulator] = {}
        for index, datum in enumerate(data, 1):
            where = f"MetricData.member.{index}"
            metric = Metric(namespace, datum["MetricName"], dimensions(datum.get("Dimensions")))
            when = datum.get("Timestamp", now)
            if when < now - PAST_LIMIT_S or when > now + FUTURE_LIMIT_S:
                raise InvalidParameterValue(
                    f"The parameter {where}.Timestamp must be no more than two weeks in the past and no more than "
                    "two hours in the future."
                )
            resolution = datum.get("StorageResolution", 60)
            if resolution not in (1, 60):
                raise InvalidParameterValue(f"The parameter {where}.StorageResolution must be 1 or 60.")
            key = (metric, when - when % resolution, resolution, datum.get("Unit", "None"))
            acc = sums.get(key)
            if acc is None:
                acc = sums[key] = Accumulator.with_sketch()
            _add(acc, datum, where)
        points = [acc.point(metric, start, resolution, unit) for (metric, start, resolution, unit), acc in sums.items()]
        with self.ctx.store.transaction() as conn:
            metric_points.add(conn, points)
        return {}

    # --- GetMetricStatistics ---------------------------------------------------------------------

    def statistics(self, params: dict[str, Any]) -> dict[str, Any]:
        statistics = params.get("Statistics") or []
        extended = params.get("ExtendedStatistics") or []
        if not statistics and not extended:
            raise MissingParameter("Specify Statistics, ExtendedStatistics, or both.")
        for name in extended:
            check_statistic(name, "ExtendedStatistics")
            if name in STATISTICS:
                raise InvalidParameterValue(f"{name} is a statistic: put it in Statistics, not ExtendedStatistics.")
        start, end, period = params["StartTime"], params["EndTime"], params["Period"]
        check_period(period)
        _check_range(start, end)
        if math.ceil((end - start) / period) > MAX_DATAPOINTS:
            raise InvalidParameterCombination(
                f"You have requested up to {math.ceil((end - start) / period)} datapoints, which exceeds the limit "
                f"of {MAX_DATAPOINTS}. Raise the Period or narrow the time range."
            )
        metric = Metric(params["Namespace"], params["MetricName"], dimensions(params.get("Dimensions")))
        with self.ctx.store.reading() as conn:
            points = metric_points.series(conn, metric, start, end, params.get("Unit"), sketches=bool(extended))
        datapoints = []
        for bucket in buckets(points, period, origin(start, period)):
            datapoint: dict[str, Any] = {"Timestamp": bucket.start, "Unit": bucket.unit}
            for name in statistics:
                datapoint[name] = bucket.statistic(name)
            percentiles = {name: v for name in extended if (v := bucket.statistic(name)) is not None}
            if percentiles:
                datapoint["ExtendedStatistics"] = percentiles
            datapoints.append(datapoint)
        return {"Label": metric.name, "Datapoints": datapoints}

    # --- GetMetricData ---------------------------------------------------------------------------

    def data(self, params: dict[str, Any]) -> dict[str, Any]:
        start, end = params["StartTime"], params["EndTime"]
        _check_range(start, end)
        queries = params["MetricDataQueries"]
        ids = [q["Id"] for q in queries]
        if len(set(ids)) != len(ids):
            raise InvalidParameterValue("Each MetricDataQueries Id must be unique.")
        descending = params.get("ScanBy", "TimestampDescending") == "TimestampDescending"
        named = self.evaluate_queries(queries, start, end)
        results = []
        for query in queries:
            if query.get("ReturnData", True):
                series = [Series(t, v, 0.0) for t, v in sorted(named[query["Id"]].series.items(), reverse=descending)]
                results.append((query, named[query["Id"]].label, series))
        return _page(results, params.get("MaxDatapoints", MAX_QUERY_DATAPOINTS), params.get("NextToken"))

    def evaluate_queries(self, queries: Sequence[dict[str, Any]], start: float, end: float) -> dict[str, Named]:
        """Every query's series over [start, end): the MetricStat ones from the store, then the expressions in the
        order their references allow. InvalidParameterValue says which query is wrong and why."""
        named: dict[str, Named] = {}
        expressions = []
        for query in queries:
            qid = query["Id"]
            if ("MetricStat" in query) == ("Expression" in query):
                raise InvalidParameterValue(f"Query {qid} needs exactly one of MetricStat and Expression.")
            if "Expression" in query:
                expressions.append(query)
                continue
            stat = query["MetricStat"]
            values = self.series_of(stat, start, end)
            label = query.get("Label", stat["Metric"]["MetricName"])
            named[qid] = Named(qid, label, {s.start: s.value for s in values}, stat["Period"])
        metrics = list(named.values())
        try:
            needs = {q["Id"]: metric_math.references(q["Expression"]) for q in expressions}
            while expressions:
                ready = [q for q in expressions if needs[q["Id"]] <= set(named)]
                if not ready:
                    unknown = sorted(set().union(*needs.values()) - set(needs) - set(named))
                    what = f"names no query: {', '.join(unknown)}" if unknown else "refer to each other in a cycle"
                    raise metric_math.MathError(f"The expressions of {', '.join(q['Id'] for q in expressions)} {what}.")
                for query in ready:
                    series, period = metric_math.evaluate(query["Expression"], named, metrics)
                    label = query.get("Label", query["Id"])
                    named[query["Id"]] = Named(query["Id"], label, series, query.get("Period", period))
                    expressions.remove(query)
        except metric_math.MathError as exc:
            raise InvalidParameterValue(str(exc)) from None
        return named

    def series_of(self, stat: dict[str, Any], start: float, end: float) -> list[Series]:
        """A MetricStat's values per period in [start, end), oldest first."""
        period, statistic = stat["Period"], stat["Stat"]
        check_period(period, "MetricStat.Period")
        check_statistic(statistic, "MetricStat.Stat")
        metric = stat["Metric"]
        return self.values(
            Metric(metric["Namespace"], metric["MetricName"], dimensions(metric.get("Dimensions"))),
            statistic,
            period,
            start,
            end,
            stat.get("Unit"),
        )

    def values(
        self, metric: Metric, statistic: str, period: int, start: float, end: float, unit: str | None = None
    ) -> list[Series]:
        with self.ctx.store.reading() as conn:
            points = metric_points.series(conn, metric, start, end, unit, sketches=statistic not in STATISTICS)
        return _series(buckets(points, period, origin(start, period)), statistic)

    # --- ListMetrics -----------------------------------------------------------------------------

    def list(self, params: dict[str, Any]) -> dict[str, Any]:
        now = self.ctx.clock.now()
        since = now - (RECENT_S if params.get("RecentlyActive") == "PT3H" else PAST_LIMIT_S)
        with self.ctx.store.reading() as conn:
            found = metric_points.metrics(conn, params.get("Namespace"), params.get("MetricName"), since)
        wanted = params.get("Dimensions") or []
        found = [m for m in found if all(_has(m, f) for f in wanted)]
        offset = page_offset(params.get("NextToken"))
        page = found[offset : offset + LIST_PAGE]
        reply: dict[str, Any] = {
            "Metrics": [
                {"Namespace": m.namespace, "MetricName": m.name, "Dimensions": dimension_list(m.dimensions)}
                for m in page
            ]
        }
        if offset + LIST_PAGE < len(found):
            reply["NextToken"] = encode_token(offset + LIST_PAGE)
        return reply


def _add(acc: Accumulator, datum: dict[str, Any], where: str) -> None:
    given = [k for k in ("Value", "StatisticValues", "Values") if k in datum]
    if len(given) > 1:
        raise InvalidParameterCombination(f"{where}: give only one of Value, StatisticValues and Values.")
    if not given:
        raise MissingParameter(f"{where}: give a Value, StatisticValues or Values.")
    if "Value" in datum:
        acc.add(_finite(datum["Value"], f"{where}.Value"))
    elif "StatisticValues" in datum:
        s = datum["StatisticValues"]
        count, total = _finite(s["SampleCount"], where), _finite(s["Sum"], where)
        low, high = _finite(s["Minimum"], where), _finite(s["Maximum"], where)
        if count <= 0 or low > high:
            raise InvalidParameterValue(
                f"{where}.StatisticValues must have a SampleCount above 0 and a Minimum no larger than its Maximum."
            )
        acc.count += count
        acc.sum += total
        acc.minimum = min(acc.minimum, low)
        acc.maximum = max(acc.maximum, high)
    else:
        values, counts = datum["Values"], datum.get("Counts")
        if counts is not None and len(counts) != len(values):
            raise InvalidParameterValue(f"{where}: Values and Counts must have the same length.")
        for i, value in enumerate(values):
            times = _finite(counts[i], f"{where}.Counts") if counts is not None else 1.0
            if times < 0:
                raise InvalidParameterValue(f"{where}.Counts must not be negative.")
            acc.add_repeated(_finite(value, f"{where}.Values"), times)


# CloudWatch rejects values outside ±2^360 (PutMetricData's documentation), so no sum of them overflows a double.
VALUE_LIMIT = 2.0**360


def _finite(value: float, where: str) -> float:
    if not math.isfinite(value):
        raise InvalidParameterValue(f"The parameter {where} must be a finite number, not {value}.")
    if abs(value) > VALUE_LIMIT:
        raise InvalidParameterValue(f"The parameter {where} must be in the range -2^360 to 2^360, not {value}.")
    return value


def _check_range(start: float, end: float) -> None:
    if end <= start:
        raise InvalidParameterValue("The parameter StartTime must be earlier than EndTime.")


def _series(merged: list[Bucket], statistic: str) -> list[Series]:
    out = []
    for bucket in merged:
        value = bucket.statistic(statistic)
        if value is not None:
            out.append(Series(bucket.start, value, bucket.count))
    return out


def _has(metric: Metric, wanted: dict[str, str]) -> bool:
    return any(
        name == wanted["Name"] and ("Value" not in wanted or value == wanted["Value"])
        for name, value in metric.dimensions
    )


def page_offset(token: str | None) -> int:
    """Where a NextToken this server gave out resumes; InvalidNextToken for any other."""
    try:
        return decode_token(token) if token else 0
    except BadToken:
        raise InvalidNextToken("The NextToken is not one this server gave out.") from None


def _page(results: list[tuple[dict[str, Any], str, list[Series]]], limit: int, token: str | None) -> dict[str, Any]:
    """GetMetricData's results, at most `limit` datapoints per call over all queries, in query order."""
    offset = page_offset(token)
    skipped, shown, out = 0, 0, []
    for query, label, series in results:
        take = series[max(0, offset - skipped) :]
        skipped += len(series)
        take = take[: max(0, limit - shown)]
        shown += len(take)
        out.append(
            {
                "Id": query["Id"],
                "Label": label,
                "Timestamps": [s.start for s in take],
                "Values": [s.value for s in take],
                "StatusCode": "Complete",
            }
        )
    reply: dict[str, Any] = {"MetricDataResults": out, "Messages": []}
    if offset + shown < skipped:
        reply["NextToken"] = encode_token(offset + shown)
        for result in out:
            result["StatusCode"] = "PartialData"
    return reply
