"""A real `homeport serve` with HOMEPORT_DATABASE_URL on PostgreSQL: an endpoint created, invoked, and still
there, serving, after the server restarts with a new data directory (all its state is in the database, bar objects
and logs' files)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.conftest import KEYS, assert_scores, boto_client, csv_rows, deploy, wait_in_service


def test_an_endpoint_outlives_its_server_in_postgresql(
    database: Callable[[str], dict[str, str]], xgb_model: dict[str, Any], tmp_path: Path
) -> None:
    from homeport.server.process import ServerProcess

    env = {"HOMEPORT_DATABASE_URL": database("serve")["database_url"], "HOMEPORT_LOG_LEVEL": "warning", **KEYS}
    x = xgb_model["x"][:3]
    with ServerProcess(tmp_path / "first", env=env) as first:
        sm = boto_client("sagemaker", first.url)
        names = deploy(sm, xgb_model["url"])
        reply = boto_client("sagemaker-runtime", first.url).invoke_endpoint(
            EndpointName=names["endpoint"], ContentType="text/csv", Body=csv_rows(x)
        )
        assert_scores(reply["Body"].read(), xgb_model, x)
    assert not (tmp_path / "first" / "homeport.db").exists()  # nothing in SQLite
    with ServerProcess(tmp_path / "second", env=env) as second:
        sm = boto_client("sagemaker", second.url)
        assert wait_in_service(sm, names["endpoint"])["EndpointConfigName"] == names["config"]
        reply = boto_client("sagemaker-runtime", second.url).invoke_endpoint(
            EndpointName=names["endpoint"], ContentType="text/csv", Body=csv_rows(x)
        )
        assert_scores(reply["Body"].read(), xgb_model, x)
        sm.delete_endpoint(EndpointName=names["endpoint"])
