"""A transform job survives a kill -9 of the server: it resumes from the ranges it recorded, and every record's
output exists exactly once, in order."""

from __future__ import annotations

import signal
import sqlite3
from pathlib import Path

from homeport.server.process import ServerProcess
from tests.conftest import KEYS, boto_client
from tests.integration.test_lifecycle import runtime_children, until
from tests.integration.test_transform_jobs import create_model, id_rows, keys, read, run_job, wait_done

BIG_ROWS = 60_000  # 3.6 MB of 60-byte rows: four 1 MB ranges
SMALL_FILES = 4


def recorded(data_dir: Path, job: str) -> list[tuple[int, int, int]]:
    """(file, range, records) of every range the server has recorded as done."""
    with sqlite3.connect(data_dir / "homeport.db") as db:
        rows = db.execute("SELECT file, number, records FROM transform_ranges WHERE job = ?", (job,)).fetchall()
    return [(int(f), int(n), int(r)) for f, n, r in rows]


def test_a_killed_server_resumes_the_job_and_every_record_comes_out_once(tmp_path: Path, probe: str) -> None:
    data_dir = tmp_path / "data"
    env = {"HOMEPORT_LOG_LEVEL": "warning", **KEYS}
    server = ServerProcess(data_dir, env=env).start()
    try:
        sm, s3 = boto_client("sagemaker", server.url), boto_client("s3", server.url)
        s3.create_bucket(Bucket="resume")
        s3.put_object(Bucket="resume", Key="in/big.csv", Body=id_rows(0, BIG_ROWS))
        for i in range(SMALL_FILES):
            s3.put_object(Bucket="resume", Key=f"in/small-{i}.csv", Body=id_rows(1000 * i, 3))
        model = create_model(sm, probe, env={"PROBE_MODE": "sleep", "PROBE_SLEEP": "0.4"})
        job = run_job(
            sm, model, "s3://resume/in/", "s3://resume/out/", wait=False, MaxPayloadInMB=1, MaxConcurrentTransforms=1
        )["TransformJobName"]
        until(lambda: len(recorded(data_dir, job)) >= 2)  # part of the big file is done, the rest is not
        (old_pid,) = runtime_children(server)
        server.stop(signal.SIGKILL)
        before = recorded(data_dir, job)
        assert len(before) < 4 + SMALL_FILES
    finally:
        server.stop()

    with ServerProcess(data_dir, env=env) as server:
        sm, s3 = boto_client("sagemaker", server.url), boto_client("s3", server.url)
        done = wait_done(sm, job)
        assert done["TransformJobStatus"] == "Completed", done.get("FailureReason")
        assert sorted(keys(s3, "resume", "out/")) == ["out/big.csv.out"] + [
            f"out/small-{i}.csv.out" for i in range(SMALL_FILES)
        ]
        lines = read(s3, "resume", "out/big.csv.out").decode().splitlines()
        assert [int(line.split(",")[0]) for line in lines] == list(range(BIG_ROWS))  # exactly once, in order
        # What was recorded before the kill was not sent again: those records still carry the old instance's pid.
        old = sum(1 for line in lines if line.split(",")[1] == str(old_pid))
        assert old == sum(records for file, _, records in before if file == 0) > 0
        for i in range(SMALL_FILES):
            assert [line.split(",")[0] for line in read(s3, "resume", f"out/small-{i}.csv.out").decode().split()] == [
                str(1000 * i + k) for k in range(3)
            ]
        assert not (data_dir / "transform" / job).exists()  # the job's parts are gone once it has ended
