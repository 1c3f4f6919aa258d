"""Baseline statistics and suggested constraints in SageMaker's formats, from data sets read as the analyzer reads
them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from homeport.monitoring import __main__ as analyzer
from homeport.monitoring.dataset import DatasetError, parse_format, read
from homeport.monitoring.statistics import constraints, statistics


def write_csv(folder: Path, text: str, name: str = "part.csv") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)
    return folder


def test_a_headed_csv(tmp_path: Path) -> None:
    source = write_csv(tmp_path / "in", "rings,weight,sex\n1,0.5,M\n3,1.5,F\n2,,M\n,2.0,I\n")
    stats = statistics(read(source, {"csv": {"header": True}}))
    assert stats["version"] == 0.0 and stats["dataset"] == {"item_count": 4.0}
    rings, weight, sex = stats["features"]
    assert (rings["name"], rings["inferred_type"]) == ("rings", "Integral")
    numbers = rings["numerical_statistics"]
    assert numbers["common"] == {"num_present": 3.0, "num_missing": 1.0}
    assert (numbers["mean"], numbers["sum"], numbers["min"], numbers["max"]) == (2.0, 6.0, 1.0, 3.0)
    assert numbers["std_dev"] == pytest.approx(np.std([1, 2, 3]))
    kll = numbers["distribution"]["kll"]
    assert len(kll["buckets"]) == 10 and sum(b["count"] for b in kll["buckets"]) == pytest.approx(3)
    assert kll["buckets"][0] == {"lower_bound": 1.0, "upper_bound": 1.2, "count": 1.0}
    assert kll["buckets"][-1]["upper_bound"] == 3.0 and kll["buckets"][-1]["count"] == 1.0  # the last one closed
    assert kll["sketch"]["parameters"]["k"] == 2048.0 and sorted(kll["sketch"]["data"][0]) == [1.0, 2.0, 3.0]
    assert weight["inferred_type"] == "Fractional"
    assert sex["inferred_type"] == "String"
    strings = sex["string_statistics"]
    assert strings["distinct_count"] == 3.0
    assert strings["distribution"]["categorical"]["buckets"][0] == {"value": "M", "count": 2.0}

    suggested = constraints(stats)
    by_name = {f["name"]: f for f in suggested["features"]}
    assert by_name["rings"]["completeness"] == 0.75 and by_name["rings"]["num_constraints"] == {"is_non_negative": True}
    assert by_name["sex"]["string_constraints"] == {"domains": ["F", "I", "M"]}
    assert suggested["monitoring_config"]["distribution_constraints"]["comparison_method"] == "Robust"


def test_a_large_column_is_sketched_by_levels(tmp_path: Path) -> None:
    values = np.random.default_rng(0).normal(size=20_000)
    source = write_csv(tmp_path / "in", "\n".join(f"{v:.6f}" for v in values) + "\n")
    (feature,) = statistics(read(source, {"csv": {"header": False}}))["features"]
    assert feature["name"] == "_c0"
    kll = feature["numerical_statistics"]["distribution"]["kll"]
    data = kll["sketch"]["data"]
    assert len(data) > 1 and sum(len(level) * 2**i for i, level in enumerate(data)) == pytest.approx(20_000, rel=0.01)
    counts = [b["count"] for b in kll["buckets"]]
    assert sum(counts) == pytest.approx(20_000, rel=1e-6)
    assert counts.index(max(counts)) in (4, 5)  # a bell: its middle buckets are the fullest


def test_json_lines_and_several_files(tmp_path: Path) -> None:
    source = tmp_path / "in"
    write_csv(source, '{"a": 1, "b": "x"}\n{"a": 2, "b": "y"}\n', "1.jsonl")
    write_csv(source, '{"a": 3.5, "b": "x"}\n', "2.jsonl")
    stats = statistics(read(source, parse_format('{"json": {"lines": true}}')))
    a, b = stats["features"]
    assert stats["dataset"]["item_count"] == 3.0
    assert a["inferred_type"] == "Fractional" and a["numerical_statistics"]["sum"] == 6.5
    assert b["string_statistics"]["distinct_count"] == 2.0


def test_parquet(tmp_path: Path) -> None:
    source = tmp_path / "in"
    source.mkdir()
    pq.write_table(pa.table({"a": [1.0, 2.0, 4.0], "b": ["x", "y", "x"]}), source / "part-0.parquet")
    a, b = statistics(read(source, parse_format('{"parquet": {}}')))["features"]
    assert a["inferred_type"] == "Fractional" and a["numerical_statistics"]["sum"] == 7.0
    assert b["string_statistics"]["distinct_count"] == 2.0


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (None, "dataset_format is not set"),
        ("{", "not JSON"),
        ('{"avro": {}}', "not avro"),
        ('{"parquet": {}}', "not a Parquet file"),  # the file is CSV
    ],
)
def test_formats_it_cannot_read(tmp_path: Path, raw: str | None, words: str) -> None:
    source = write_csv(tmp_path / "in", "1\n")
    with pytest.raises(DatasetError, match=words):
        read(source, parse_format(raw))


def test_the_entry_point_writes_both_files_or_fails_with_255(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_csv(tmp_path / "in", "a\n1\n2\n")
    env = {
        "dataset_source": str(source),
        "output_path": str(tmp_path / "out"),
        "dataset_format": '{"csv": {"header": true}}',
    }
    assert analyzer.main(env) == 0
    assert json.loads((tmp_path / "out" / "statistics.json").read_text())["dataset"]["item_count"] == 2.0
    assert json.loads((tmp_path / "out" / "constraints.json").read_text())["features"][0]["name"] == "a"
    assert analyzer.main({**env, "dataset_source": str(tmp_path / "empty")}) == 255
    assert "has no files" in capsys.readouterr().err
    assert analyzer.main({**env, "analysis_type": "MODEL_QUALITY"}) == 255


def capture_line(data: str, encoding: str = "CSV", content_type: str = "text/csv") -> str:
    request = {"observedContentType": content_type, "mode": "INPUT", "data": data, "encoding": encoding}
    return json.dumps({"captureData": {"endpointInput": request}, "eventMetadata": {}, "eventVersion": "0"}) + "\n"


def test_captured_requests_as_a_table(tmp_path: Path) -> None:
    import base64

    lines = [
        capture_line("1,2.5\n3,4.5\n"),  # a request of two rows
        capture_line(base64.b64encode(b"5,6.5").decode(), "BASE64"),
        capture_line("AAEC", "BASE64", "application/octet-stream"),  # neither CSV nor JSON: counted out
        capture_line(base64.b64encode(b"\xff\xfe").decode(), "BASE64"),  # not text: counted out
    ]
    source = write_csv(tmp_path / "in", "".join(lines), "a.jsonl")
    table = read(source, {"sagemakerCaptureJson": {"captureIndexNames": ["endpointInput"]}})
    assert table.column_names == ["_c0", "_c1"] and table.column("_c0").to_pylist() == [1, 3, 5]
    named = analyzer.named_like(table, {"features": [{"name": "rings"}, {"name": "weight"}]})
    assert named.column_names == ["rings", "weight"]
    assert analyzer.named_like(table, {"features": [{"name": "one"}]}).column_names == ["_c0", "_c1"]

    write_csv(tmp_path / "bad", "not json\n", "b.jsonl")
    with pytest.raises(DatasetError, match="not data capture's JSON Lines"):
        read(tmp_path / "bad", {"sagemakerCaptureJson": {}})
    write_csv(tmp_path / "none", capture_line("AAEC", "BASE64", "application/x-npy"), "c.jsonl")
    with pytest.raises(DatasetError, match="no CSV or JSON requests"):
        read(tmp_path / "none", {"sagemakerCaptureJson": {}})


def test_a_monitoring_run_writes_violations(tmp_path: Path) -> None:
    base = write_csv(tmp_path / "base", "x\n" + "".join(f"{i}\n" for i in range(100)))
    out = tmp_path / "baseline"
    env = {"dataset_source": str(base), "output_path": str(out), "dataset_format": '{"csv": {"header": true}}'}
    assert analyzer.main(env) == 0
    moved = write_csv(tmp_path / "now", "".join(capture_line(f"{i + 500}\n") for i in range(100)), "c.jsonl")
    run = {
        "dataset_source": str(moved),
        "output_path": str(tmp_path / "run"),
        "dataset_format": '{"sagemakerCaptureJson": {}}',
        "baseline_constraints": str(out / "constraints.json"),
        "baseline_statistics": str(out / "statistics.json"),
    }
    assert analyzer.main(run) == 0
    violations = json.loads((tmp_path / "run" / "constraint_violations.json").read_text())["violations"]
    assert [(v["feature_name"], v["constraint_check_type"]) for v in violations] == [("x", "baseline_drift_check")]
    assert not (tmp_path / "run" / "constraints.json").exists()
    assert analyzer.main({**run, "baseline_constraints": str(tmp_path / "missing.json")}) == 255


def test_captured_json_requests_as_rows(tmp_path: Path) -> None:
    import base64

    lines = [
        capture_line(
            '{"instances": [{"length": 0.5, "sex": "M"}, {"length": 0.7, "sex": "F"}]}', "JSON", "application/json"
        ),
        capture_line(base64.b64encode(b'{"instances": [[0.9, "I"]]}').decode(), "BASE64", "application/json"),
        capture_line('{"instances": "not rows"}', "JSON", "application/json"),  # a scalar: one row of nothing
        capture_line("[" * 100_000, "JSON", "application/json"),  # nested past the stack: counted out
        capture_line("0.1,M\n"),  # CSV beside it
    ]
    source = write_csv(tmp_path / "in", "".join(lines), "a.jsonl")
    table = read(source, {"sagemakerCaptureJson": {}}, features="$.instances")

    def rows(found: list[dict[str, object]]) -> list[str]:
        return sorted(repr(sorted(r.items())) for r in found)

    assert rows(table.to_pylist()) == rows(
        [
            {"_c0": 0.1, "_c1": "M", "length": None, "sex": None},  # the CSV request
            {"_c0": None, "_c1": None, "length": 0.5, "sex": "M"},
            {"_c0": None, "_c1": None, "length": 0.7, "sex": "F"},
            {"_c0": 0.9, "_c1": "I", "length": None, "sex": None},
        ]
    )
