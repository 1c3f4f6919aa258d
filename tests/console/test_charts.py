"""The console's SVG charts: the axis' top, what is drawn, and text escaped."""

from __future__ import annotations

import re

from homeport.console.charts import Line, nice_ceiling, short, svg


def test_the_axis_top_is_one_two_or_five_times_a_power_of_ten() -> None:
    assert [nice_ceiling(v) for v in (0, -3, 0.3, 1, 1.5, 3, 7, 18, 200, 201)] == [1, 1, 0.5, 1, 2, 5, 10, 20, 200, 500]
    assert [short(v) for v in (0.710676, 18, 1234, 2_500_000)] == ["0.711", "18", "1.23k", "2.5M"]


def test_a_chart_draws_each_line_within_its_window_and_escapes_labels() -> None:
    lines = [Line("<v1>", [(0, 1), (10, 4), (20, 2), (99, 50)]), Line("v2", [(5, 3)]), Line("v3", [])]
    drawn = str(svg("Invocations & more", lines, 0, 20))
    assert drawn.count("<polyline") == 1 and drawn.count("<circle") == 1  # v2's one point; v3 has none
    assert "&lt;v1&gt;" in drawn and "<v1>" not in drawn and 'data-title="Invocations &amp; more"' in drawn
    assert re.findall(r'data-points="(\d+)"', drawn) == ["3", "1", "0"]  # the point at 99 is outside the window
    assert ">5</text>" in drawn  # the top: the largest value in the window (4), rounded up
