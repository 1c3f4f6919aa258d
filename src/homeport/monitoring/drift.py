"""The distance between a baseline's distribution and the current one, as Deequ (Model Monitor's analyzer) measures it.

Numeric features: the two KLL sketches as cumulative distributions (an item at level i weighs 2^i), and the largest
gap between them at any item of either: the two-sample Kolmogorov-Smirnov statistic (`linf_simple`). `Robust`
(the analyzer's default) subtracts what two samples of those sizes may differ by chance, at alpha = 0.003:
`max(0, linf_simple - 1.8 * sqrt((n + m) / (n * m)))`. Categorical features: the largest gap between the two
frequency tables (`LInfinity`).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from itertools import accumulate

C_ALPHA = 1.8  # Deequ's constant for the robust correction (alpha = 0.003)


class Cdf:
    """A sketch's cumulative distribution: sorted items, their cumulative weights, the total."""

    def __init__(self, levels: Sequence[Sequence[float]]) -> None:
        pairs = sorted((float(item), 1 << level) for level, items in enumerate(levels) for item in items)
        self.items = [item for item, _ in pairs]
        self.cumulative = list(accumulate(weight for _, weight in pairs))
        self.total = self.cumulative[-1] if self.cumulative else 0

    def __call__(self, value: float) -> float:
        """The share of the weight at or below `value`."""
        index = bisect.bisect_right(self.items, value)
        return self.cumulative[index - 1] / self.total if index else 0.0

    def below(self, value: float) -> float:
        """The share of the weight strictly below `value`."""
        index = bisect.bisect_left(self.items, value)
        return self.cumulative[index - 1] / self.total if index else 0.0


def linf_simple(baseline: Cdf, current: Cdf) -> float:
    if not baseline.total or not current.total:
        return 0.0
    return max(abs(baseline(key) - current(key)) for key in {*baseline.items, *current.items})


def numeric_distance(baseline: Sequence[Sequence[float]], current: Sequence[Sequence[float]], method: str) -> float:
    """`comparison_method` Simple or Robust between two sketches' levels."""
    first, second = Cdf(baseline), Cdf(current)
    simple = linf_simple(first, second)
    if method == "Simple" or not first.total or not second.total:
        return simple
    n, m = first.total, second.total
    return max(0.0, simple - C_ALPHA * math.sqrt((n + m) / (n * m)))


def categorical_distance(baseline: Mapping[str, float], current: Mapping[str, float]) -> float:
    """LInfinity: the largest gap between the two tables' shares of any value (a value one lacks counts 0 there)."""
    n, m = sum(baseline.values()), sum(current.values())
    if not n or not m:
        return 0.0
    return max(abs(baseline.get(v, 0.0) / n - current.get(v, 0.0) / m) for v in {*baseline, *current})
