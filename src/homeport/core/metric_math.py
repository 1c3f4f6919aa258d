"""CloudWatch metric math: expressions over the time series of other queries (GetMetricData, metric-math alarms,
target-tracking policies on a customized metric with `Metrics`).

An expression is parsed with Python's `ast` (CloudWatch's grammar is a subset of Python's expressions once `^`
is read as a power) and evaluated by a whitelist: numbers, query ids, `+ - * / ^`, `[a, b]` arrays and the
functions below. Series are {period start: value}; arithmetic between two series keeps the timestamps both
have, as CloudWatch does; a scalar applies to every point.

Functions: SUM, AVG, MIN, MAX, STDDEV (across an array, point by point; of one series, its single statistic over
the range), ABS, CEIL, FLOOR, SQRT, LOG, LOG10, EXP, FILL(series, value | REPEAT), METRICS() / METRICS("label
part"), PERIOD(series), DIFF, RATE, RUNNING_SUM.
"""

from __future__ import annotations

import ast
import itertools
import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Union

Series = dict[float, float]
Value = Union[float, Series, list[Series]]  # noqa: UP007 - the recursive alias reads better spelt out

MAX_LENGTH = 2048  # CloudWatch's limit on an expression's length


class MathError(ValueError):
    """An expression CloudWatch would refuse, with what is wrong in it."""


@dataclass(frozen=True)
class Named:
    """A query's result as METRICS() sees it."""

    id: str
    label: str
    series: Series
    period: int


def references(expression: str) -> set[str]:
    """The query ids an expression names (so that queries can be evaluated in dependency order)."""
    tree = _parse(expression)
    functions = {id(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
    return {
        node.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Name) and node.id not in _CONSTANTS and id(node) not in functions
    }


def evaluate(expression: str, results: Mapping[str, Named], metrics: Sequence[Named]) -> tuple[Series, int]:
    """The expression's series, and its period (that of the series it was computed from; 0 for a constant).
    `results` are the queries evaluated so far, by id; `metrics` what METRICS() returns (the MetricStat queries)."""
    tree = _parse(expression)
    periods: list[int] = []
    value = _Evaluator(results, metrics, periods).visit(tree.body)
    if isinstance(value, list):
        raise MathError("An expression must give one time series, not an array; wrap it in SUM, AVG, MIN or MAX.")
    period = min(periods) if periods else 0
    if isinstance(value, float):
        return ({}, period) if not periods else (dict.fromkeys(_timestamps(results, metrics), value), period)
    return value, period


def _parse(expression: str) -> ast.Expression:
    if len(expression) > MAX_LENGTH:
        raise MathError(f"An expression may be at most {MAX_LENGTH} characters long.")
    try:
        return ast.parse(_powers(expression.strip()), mode="eval")
    except SyntaxError as exc:
        raise MathError(f"Syntax error in the expression {expression!r} at character {exc.offset}.") from None


def _powers(expression: str) -> str:
    """CloudWatch's `^` (a power, binding tighter than * and /) as Python's `**`; strings are left alone."""
    out, quote = [], ""
    for char in expression:
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char == "^":
            char = "**"
        out.append(char)
    return "".join(out)


def _timestamps(results: Mapping[str, Named], metrics: Sequence[Named]) -> list[float]:
    stamps: set[float] = set()
    for named in (*results.values(), *metrics):
        stamps.update(named.series)
    return sorted(stamps)


_CONSTANTS = {"REPEAT"}


class _Evaluator(ast.NodeVisitor):
    def __init__(self, results: Mapping[str, Named], metrics: Sequence[Named], periods: list[int]) -> None:
        self.results = results
        self.metrics = metrics
        self.periods = periods

    def generic_visit(self, node: ast.AST) -> Any:
        raise MathError(f"Unsupported syntax in the expression: {ast.unparse(node)!r}.")

    def visit_Constant(self, node: ast.Constant) -> Value:
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise MathError(f"Unexpected value {node.value!r} in the expression.")
        return float(node.value)

    def visit_Name(self, node: ast.Name) -> Value:
        named = self.results.get(node.id)
        if named is None:
            raise MathError(f"The expression names {node.id}, which is no query Id of this request.")
        self.periods.append(named.period)
        return dict(named.series)

    def visit_List(self, node: ast.List) -> Value:
        items = [self.visit(item) for item in node.elts]
        return [_only_series(item, "an array") for item in items]

    def visit_UnaryOp(self, node: ast.UnaryOp) -> Value:
        operand = self.visit(node.operand)
        if isinstance(node.op, ast.USub):
            return _apply(operand, lambda v: -v)
        if isinstance(node.op, ast.UAdd):
            return operand
        raise MathError(f"Unsupported operator in {ast.unparse(node)!r}.")

    def visit_BinOp(self, node: ast.BinOp) -> Value:
        op = _OPERATORS.get(type(node.op))
        if op is None:
            raise MathError(f"Unsupported operator in {ast.unparse(node)!r}: use + - * / or ^.")
        return _combine(self.visit(node.left), self.visit(node.right), op)

    def visit_Call(self, node: ast.Call) -> Value:
        if not isinstance(node.func, ast.Name) or node.keywords:
            raise MathError(f"Unsupported call {ast.unparse(node)!r}.")
        name = node.func.id
        if name not in _FUNCTIONS:
            raise MathError(f"Unknown function {name} in the expression.")
        if name == "METRICS":
            return self._metrics(node.args)
        if name == "FILL":
            return self._fill(node.args)
        args = [self.visit(a) for a in node.args]
        if name in _AGGREGATES:
            if len(args) != 1:
                raise MathError(f"{name} takes one argument: an array such as METRICS() or [m1, m2], or a series.")
            return _aggregate(name, args[0])
        if name in _ELEMENTWISE:
            if len(args) != 1:
                raise MathError(f"{name} takes one argument.")
            return _apply(args[0], _ELEMENTWISE[name])
        if len(args) != 1:
            raise MathError(f"{name} takes one series.")
        return self._over_time(name, _only_series(args[0], name))

    def _metrics(self, args: list[ast.expr]) -> Value:
        wanted = None
        if args:
            if len(args) != 1 or not isinstance(args[0], ast.Constant) or not isinstance(args[0].value, str):
                raise MathError('METRICS takes nothing, or a string that labels must contain: METRICS("errors").')
            wanted = args[0].value
        chosen = [m for m in self.metrics if wanted is None or wanted in m.label]
        self.periods.extend(m.period for m in chosen)
        return [dict(m.series) for m in chosen]

    def _fill(self, args: list[ast.expr]) -> Value:
        if len(args) != 2:
            raise MathError("FILL takes a series (or array) and a value or REPEAT: FILL(m1, 0).")
        target = self.visit(args[0])
        stamps = _timestamps(self.results, self.metrics)
        if isinstance(args[1], ast.Name) and args[1].id == "REPEAT":
            return _apply_series(target, lambda s: _repeat(s, stamps))
        value = self.visit(args[1])
        if not isinstance(value, float):
            raise MathError("FILL's second argument must be a number or REPEAT.")
        return _apply_series(target, lambda s: {t: s.get(t, value) for t in stamps})

    def _over_time(self, name: str, series: Series) -> Series:
        stamps = sorted(series)
        period = float(min(self.periods)) if self.periods else 60.0
        if name == "PERIOD":
            return dict.fromkeys(stamps, period)
        if name == "RUNNING_SUM":
            total, out = 0.0, {}
            for t in stamps:
                total += series[t]
                out[t] = total
            return out
        out = {}
        for before, t in itertools.pairwise(stamps):
            change = series[t] - series[before]
            out[t] = change if name == "DIFF" else change / (t - before)
        return out


def _only_series(value: Value, where: str) -> Series:
    if not isinstance(value, dict):
        raise MathError(f"{where} needs time series, not {'a number' if isinstance(value, float) else 'an array'}.")
    return value


def _apply(value: Value, fn: Callable[[float], float]) -> Value:
    if isinstance(value, float):
        return _checked(fn, value)
    if isinstance(value, dict):
        return {t: v for t, x in value.items() if (v := _checked(fn, x)) is not None and not math.isnan(v)}
    return [_only_series(_apply(s, fn), "") for s in value]


def _apply_series(value: Value, fn: Callable[[Series], Series]) -> Value:
    if isinstance(value, dict):
        return fn(value)
    if isinstance(value, list):
        return [fn(s) for s in value]
    raise MathError("FILL needs a time series or an array of them.")


def _checked(fn: Callable[[float], float], value: float) -> float:
    try:
        return fn(value)
    except (ValueError, OverflowError, ZeroDivisionError):
        return math.nan


def _combine(left: Value, right: Value, op: Callable[[float, float], float]) -> Value:
    if isinstance(left, list) or isinstance(right, list):
        if isinstance(left, list) and isinstance(right, list):
            raise MathError("Arithmetic between two arrays is not defined; aggregate one first.")
        if isinstance(left, list):
            return [_only_series(_combine(s, right, op), "") for s in left]
        assert isinstance(right, list)
        return [_only_series(_combine(left, s, op), "") for s in right]
    if isinstance(left, float) and isinstance(right, float):
        return _checked(lambda a: op(a, right), left)
    if isinstance(left, float):
        assert isinstance(right, dict)
        pairs = {t: (left, v) for t, v in right.items()}
    elif isinstance(right, float):
        pairs = {t: (v, right) for t, v in left.items()}
    else:
        pairs = {t: (v, right[t]) for t, v in left.items() if t in right}
    out = {}
    for t, (a, b) in pairs.items():
        v = _checked(lambda x, b=b: op(x, b), a)  # type: ignore[misc]
        if not math.isnan(v) and not math.isinf(v):
            out[t] = v
    return out


def _aggregate(name: str, value: Value) -> Value:
    fn = _AGGREGATES[name]
    if isinstance(value, float):
        return value
    if isinstance(value, dict):  # one series: its statistic over the whole range
        return fn(list(value.values())) if value else math.nan
    stamps = sorted({t for s in value for t in s})
    out = {}
    for t in stamps:
        present = [s[t] for s in value if t in s]
        if present:
            out[t] = fn(present)
    return out


def _repeat(series: Series, stamps: Sequence[float]) -> Series:
    out, last = {}, None
    for t in stamps:
        if t in series:
            last = series[t]
        if last is not None:
            out[t] = last
    return out


_OPERATORS: dict[type, Callable[[float, float], float]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.Pow: lambda a, b: a**b,
}
_AGGREGATES: dict[str, Callable[[list[float]], float]] = {
    "SUM": math.fsum,
    "AVG": statistics.fmean,
    "MIN": min,
    "MAX": max,
    "STDDEV": lambda values: statistics.pstdev(values) if len(values) > 1 else 0.0,
}
_ELEMENTWISE: dict[str, Callable[[float], float]] = {
    "ABS": abs,
    "CEIL": lambda v: float(math.ceil(v)),
    "FLOOR": lambda v: float(math.floor(v)),
    "SQRT": math.sqrt,
    "LOG": math.log,
    "LOG10": math.log10,
    "EXP": math.exp,
}
_OVER_TIME = ("DIFF", "RATE", "RUNNING_SUM", "PERIOD")
_FUNCTIONS = {"METRICS", "FILL", *_AGGREGATES, *_ELEMENTWISE, *_OVER_TIME}
