"""`homeport monitor --html`: the page escapes what came from the data, and draws a chart per feature."""

from __future__ import annotations

from homeport.cli.monitor_html import page
from homeport.monitoring.report import FeatureReport, MetricReport


def test_names_from_the_data_are_escaped_and_each_feature_has_its_chart() -> None:
    hostile = FeatureReport(
        "<script>alert(1)</script>", "String", "top a (52%)", "top b (60%)", 1.0, 0.4, 0.1,
        ["baseline_drift_check"], ["a", "<b>"], [0.5, 0.5], [0.25, 0.75],
    )  # fmt: skip
    calm = FeatureReport("f1", "Fractional", "mean 1", "mean 1.1", 0.5, 0.01, 0.1, [], ["0", "1"], [0.4, 0.6], [])
    execution = {"ScheduledTime": "2026-12-05 13:00:00", "MonitoringScheduleName": "s<1>"}
    schedule = {
        "MonitoringScheduleName": "s<1>",
        "MonitoringScheduleStatus": "Scheduled",
        "MonitoringScheduleConfig": {"ScheduleConfig": {"ScheduleExpression": "NOW"}},
        "LastMonitoringExecutionSummary": {**execution, "MonitoringExecutionStatus": "Failed"},
    }
    metric = MetricReport("mae", 0.25, 0.01, 0.1, "GreaterThanThreshold", True)
    html = page("ep&1", [schedule], [{**execution, "MonitoringExecutionStatus": "CompletedWithViolations"}],
                execution, [hostile, calm], execution, [metric])  # fmt: skip
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "s&lt;1&gt;" in html
    assert "<h1>ep&amp;1</h1>" in html and "<span class='bad'>Failed</span>" in html
    assert html.count("<svg") == 2  # both shares of the first, the baseline's of f1
    assert html.count('class="baseline"') == 2 + 2 and html.count('class="current"') == 2
    assert "&lt;b&gt;: current 75.0%" in html
    assert "<span class='bad'>0.400 / 0.1</span>" in html and "0.010 / 0.1" in html
    assert "<span class='bad'>violated</span>" in html and "0.25 ± 0.01" in html

    empty = page("ep", [], [], None, [], None, [])
    assert "No data quality execution has completed yet" in empty and "Model quality" not in empty
