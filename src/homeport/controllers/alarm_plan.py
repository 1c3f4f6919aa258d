"""One metric alarm's next state, decided with CloudWatch's rules as a pure function of its data and the time.

`evaluation_range(rule, now)` names the periods the caller fetches; `evaluate(rule, datapoints, state, now)`
decides OK, ALARM or INSUFFICIENT_DATA from them and words the StateReason and StateReasonData the way
CloudWatch writes them. The rules are those of the CloudWatch User Guide, "Configuring how CloudWatch alarms
treat missing data" (cited below as *missing-data*, with its two example tables) and "Percentile-based alarms
and low data samples" (*low-samples*); the wording follows reasons CloudWatch has published.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any

from homeport.core.states import AlarmState

OK, ALARM, INSUFFICIENT_DATA = AlarmState.OK, AlarmState.ALARM, AlarmState.INSUFFICIENT_DATA

# missing-data: CloudWatch looks back further than EvaluationPeriods and calls that window the evaluation
# range. Its exact length is undocumented; the guide's only example has 5 periods for 3 evaluation periods.
EXTRA_PERIODS = 2
# Published reasons list fewer datapoints than this inline; from this many on, the count and the latest this many.
LISTED_DATAPOINTS = 5

_COMPARISONS: dict[str, tuple[Callable[[float, float], bool], str]] = {
    "GreaterThanOrEqualToThreshold": (operator.ge, "greater than or equal to"),
    "GreaterThanThreshold": (operator.gt, "greater than"),
    "LessThanThreshold": (operator.lt, "less than"),
    "LessThanOrEqualToThreshold": (operator.le, "less than or equal to"),
}
# What a missing period counts as; None leaves it unknown.
_FILLS: dict[str, bool | None] = {"missing": None, "ignore": None, "breaching": True, "notBreaching": False}
_FILL_LABELS = {True: "Breaching", False: "NonBreaching"}


@dataclass(frozen=True)
class Rule:
    comparison: str
    threshold: float
    evaluation_periods: int  # N
    datapoints_to_alarm: int  # M; PutMetricAlarm defaults it to N
    period: int  # seconds
    statistic: str  # "Average", ..., or an extended statistic such as "p99"
    treat_missing: str = "missing"  # missing | ignore | breaching | notBreaching
    evaluate_low_sample_count_percentile: str = ""  # "" | "evaluate" | "ignore"
    unit: str = ""  # the alarm's Unit, written into StateReasonData when set


@dataclass(frozen=True)
class Datapoint:
    start: float  # period start, epoch seconds
    value: float
    sample_count: float


@dataclass(frozen=True)
class Evaluation:
    state: str
    reason: str
    reason_data: dict[str, Any]
    changed: bool


@dataclass(frozen=True)
class _Slot:
    """One of the N evaluated periods: a real datapoint, or a missing period filled in or left unknown."""

    start: float
    point: Datapoint | None
    breaching: bool | None


def evaluation_range(rule: Rule, now: float) -> tuple[float, float]:
    """The [start, end) of the period starts to fetch: complete periods only, aligned to the period."""
    end = math.floor(now / rule.period) * rule.period
    return end - (rule.evaluation_periods + EXTRA_PERIODS) * rule.period, end


def evaluate(rule: Rule, datapoints: Sequence[Datapoint], current_state: str, now: float) -> Evaluation:
    """Decide the alarm's state from the complete periods of its evaluation range; absent periods are missing."""
    if rule.comparison not in _COMPARISONS:
        raise ValueError(f"unsupported comparison operator {rule.comparison!r}")
    if rule.treat_missing not in _FILLS:
        raise ValueError(f"unsupported TreatMissingData {rule.treat_missing!r}")
    start, end = evaluation_range(rule, now)
    real = sorted((d for d in datapoints if start <= d.start < end), key=lambda d: d.start, reverse=True)
    slots = _slots(rule, real, start, end)
    n = rule.evaluation_periods
    if scarce := _too_few_samples(rule, slots):
        why = f"{scarce} of the last {n} datapoints had too few samples for {rule.statistic}"
        return _kept(rule, slots, current_state, now, why)
    state = _decide(rule, slots, end)
    if state is None:
        unknown = sum(s.point is None for s in slots)
        why = f"missing data is ignored, and {unknown} of the last {n} datapoints {_was(unknown)} missing"
        return _kept(rule, slots, current_state, now, why)
    deciding = _deciding(rule, slots, state)
    reason_data = _reason_data(rule, slots, deciding, now)
    return Evaluation(state, _reason(rule, slots, state), reason_data, state != current_state)


def _breaches(rule: Rule, value: float) -> bool:
    compare, _ = _COMPARISONS[rule.comparison]
    return compare(value, rule.threshold)


def _slots(rule: Rule, real: list[Datapoint], start: float, end: float) -> list[_Slot]:
    """The N periods evaluated, newest first.

    missing-data: with N or more real datapoints in the range the most recent N are evaluated and the
    missing-data setting is not needed. With fewer, every real one is evaluated and the rest are filled
    with the setting, using missing periods "only as few times as possible": the most recent ones.
    """
    n = rule.evaluation_periods
    slots = [_Slot(d.start, d, _breaches(rule, d.value)) for d in real[:n]]
    if len(slots) < n:
        present = {d.start for d in real}
        period_starts = (end - i * rule.period for i in range(1, round((end - start) / rule.period) + 1))
        gaps = [s for s in period_starts if s not in present][: n - len(slots)]
        slots += [_Slot(s, None, _FILLS[rule.treat_missing]) for s in gaps]
    return sorted(slots, key=lambda s: s.start, reverse=True)


def _too_few_samples(rule: Rule, slots: list[_Slot]) -> int:
    """How many evaluated datapoints a percentile alarm set to `ignore` them must not be decided on.

    low-samples: fewer than 10/(1-p) samples for p >= 0.5, or 10/p below it, is not significant.
    """
    if rule.evaluate_low_sample_count_percentile != "ignore" or not rule.statistic.startswith("p"):
        return 0
    try:
        p = Fraction(rule.statistic[1:]) / 100  # exact, so p99 needs 1000 samples and not 1000.0000000000009
    except ValueError:
        return 0
    if not 0 < p < 1:
        return 0  # p0 and p100 are the minimum and maximum: any sample settles them
    needed = 10 / (1 - p) if p >= Fraction(1, 2) else 10 / p
    return sum(s.point is not None and s.point.sample_count < needed for s in slots)


def _decide(rule: Rule, slots: list[_Slot], end: float) -> str | None:
    """The new state, or None where `ignore` keeps the current one."""
    breaching = sum(s.breaching is True for s in slots)
    if breaching >= rule.datapoints_to_alarm:
        return ALARM
    if all(s.breaching is not None for s in slots):
        return OK
    # Some periods are unknown: treat_missing is missing or ignore, with fewer than N real datapoints.
    if all(s.point is None for s in slots):
        # missing-data: all missing goes to INSUFFICIENT_DATA under missing and keeps the state under ignore.
        return INSUFFICIENT_DATA if rule.treat_missing == "missing" else None
    if any(s.breaching is False for s in slots):
        return OK  # both tables: a real good datapoint and too few breaching ones is OK (0 - - - -, - - - - 0)
    if rule.treat_missing == "ignore":
        return None  # both tables: only breaching data, fewer than M, and some missing: "Retain current state"
    # missing-data, "Avoiding premature transitions": a breach at least M periods old with only missing periods
    # since goes to ALARM (- - X - -); a newer one waits in INSUFFICIENT_DATA (- - - - X, an earlier table revision).
    oldest = min(s.start for s in slots if s.breaching)
    return ALARM if (end - oldest) / rule.period >= rule.datapoints_to_alarm else INSUFFICIENT_DATA


def _kept(rule: Rule, slots: list[_Slot], state: str, now: float, why: str) -> Evaluation:
    # CloudWatch records a reason only with a transition, so this wording is homeport's own.
    return Evaluation(state, f"State unchanged: {why}.", _reason_data(rule, slots, slots, now), changed=False)


def _reason(rule: Rule, slots: list[_Slot], state: str) -> str:
    if state == INSUFFICIENT_DATA:
        unknown = sum(s.breaching is None for s in slots)
        return f"Insufficient Data: {_count(unknown, 'datapoint')} {_was(unknown)} unknown."
    alarming = state == ALARM
    matching = [s.point for s in slots if s.point is not None and s.breaching is alarming]
    filled = [s for s in slots if s.point is None and s.breaching is not None]
    missing = ""
    if filled:
        label = _FILL_LABELS[filled[0].breaching is True]
        missing = f" and {_count(len(filled), 'missing datapoint')} {_was(len(filled))} treated as [{label}]"
    if not matching:  # the filled periods alone decided
        received = sum(s.point is not None for s in slots)
        return (
            f"Threshold Crossed: {_count(received, 'datapoint')} {_was(received)} received for "
            f"{_count(rule.evaluation_periods, 'period')}{missing}."
        )
    n, m = rule.evaluation_periods, rule.datapoints_to_alarm
    needed = m if alarming else n - m + 1  # fewer than M breaching is OK: N-M+1 good datapoints settle it
    minimum = f"(minimum {_count(needed, 'datapoint')} for {'OK -> ALARM' if alarming else 'ALARM -> OK'} transition)"
    crossed = (
        f"{'' if alarming else 'not '}{_COMPARISONS[rule.comparison][1]} the threshold ({_number(rule.threshold)})"
    )
    head = f"Threshold Crossed: {len(matching)} out of the last {n} datapoints"
    if len(matching) < LISTED_DATAPOINTS:
        return f"{head} {_listed(matching)} {_was(len(matching))} {crossed}{missing} {minimum}."
    latest = _listed(matching[:LISTED_DATAPOINTS])
    return (
        f"{head} were {crossed}{missing}. The most recent datapoints which crossed the threshold: {latest} {minimum}."
    )


def _reason_data(rule: Rule, slots: list[_Slot], deciding: list[_Slot], now: float) -> dict[str, Any]:
    """StateReasonData's fields in CloudWatch's order; evaluatedDatapoints are the `deciding` periods."""
    real = [s.point for s in slots if s.point is not None]
    data: dict[str, Any] = {"version": "1.0", "queryDate": _iso(now)}
    if real:
        data["startDate"] = _iso(real[-1].start)
    if rule.unit:
        data["unit"] = rule.unit
    data |= {
        "statistic": rule.statistic,
        "period": rule.period,
        "recentDatapoints": [float(p.value) for p in reversed(real)],
        "threshold": float(rule.threshold),
        "evaluatedDatapoints": [_evaluated(s) for s in deciding],
    }
    return data


def _deciding(rule: Rule, slots: list[_Slot], state: str) -> list[_Slot]:
    """The newest periods that carry the state: M breaching for ALARM, N-M+1 good ones for OK, else all N."""
    if state == ALARM:
        return [s for s in slots if s.breaching is True][: rule.datapoints_to_alarm]
    if state == OK:
        return [s for s in slots if s.breaching is False][: rule.evaluation_periods - rule.datapoints_to_alarm + 1]
    return slots


def _evaluated(slot: _Slot) -> dict[str, Any]:
    if slot.point is None:
        return {"timestamp": _iso(slot.start)}  # a missing period: CloudWatch writes its time alone
    point = slot.point
    return {"timestamp": _iso(slot.start), "sampleCount": float(point.sample_count), "value": float(point.value)}


def _listed(points: list[Datapoint]) -> str:
    return "[" + ", ".join(f"{_number(p.value)} ({_short_time(p.start)})" for p in points) + "]"


def _count(n: int, noun: str) -> str:
    return f"{n or 'no'} {noun}{'' if n == 1 else 's'}"


def _was(n: int) -> str:
    return "was" if n == 1 else "were"


def _number(value: float) -> str:
    """A double as Java prints it, as CloudWatch's reasons do: 3.0, 0.25, 1.0E7, 1.5E-4."""
    value = float(value)
    if value == 0 or 1e-3 <= abs(value) < 1e7:
        return repr(value)
    shortest = Decimal(repr(value))
    digits = "".join(map(str, shortest.as_tuple().digits)).rstrip("0") or "0"
    return f"{'-' if value < 0 else ''}{digits[0]}.{digits[1:] or '0'}E{shortest.adjusted()}"


def _iso(epoch: float) -> str:
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def _short_time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%d/%m/%y %H:%M:%S")
