#!/usr/bin/env python3
"""The web console's pages with 100 endpoints and 10,000 transform jobs in the store, against the API calls that
read the same data, measured in the same run.

    .venv/bin/python bench/console.py                  # about 3 minutes
    .venv/bin/python bench/console.py --endpoints 100 --jobs 10000 --rounds 30 --load-seconds 60

- 100 endpoints of the worked example's Abalone model, each with one instance (inline: in the server's event
  loop, so a hundred fit on this machine; a page costs the same whichever engine runs them), all InService.
- One real transform job, run to completion; its stored description is then copied 9,999 times under new names
  with the server stopped (running ten thousand jobs would measure batch transform, not the console).
- The worked example's model monitoring (examples/abalone/monitor.py): a baseline, two capturing endpoints and
  a schedule each; the drifted one's report (10 features, 3 drifted) is the Model Monitor page measured.
- The measured endpoint has what its page draws: the server's metric period is 1 s, the endpoint is sent about
  20 requests a second from `--load-seconds` before the measurements to their end (so each chart line has its
  60 points), and its log group holds 5 streams of 200 lines (PutLogEvents), of which the page shows the last 50.
- Each page fetched `--rounds` times by one signed-in client (httpx, keep-alive): median and p95 milliseconds,
  and median ÷ the median of the API call (boto3 over HTTP, same server, same run, under the same load) that
  reads what the page shows: ListEndpoints (100) for the endpoints page, DescribeEndpoint for an endpoint's,
  ListTransformJobs (50) for the jobs page, DescribeLogStreams and 5 GetLogEvents for the logs part,
  DescribeMonitoringSchedule for the schedules page, and for a schedule's report the same reads and
  computation done with boto3 (as `homeport monitor` does them). The issue's target is
  each page under 300 ms.

Results in bench/results/console-<time>.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from cluster import client
from invoke import IMAGE, ROLE, ROOT, build_model

from batch import say, write_results  # bench/ is on sys.path: this file runs beside them

TARGET_MS = 300.0
MONITORED = "bench-monitor-drifted"  # the example's drifted endpoint, and its schedule
LOG_STREAMS, LOG_LINES = 5, 200


def timed(call: Callable[[], Any], rounds: int) -> dict[str, float]:
    call()  # warm: the first call pays for imports and caches
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return {"median_ms": statistics.median(times), "p95_ms": times[int(0.95 * (len(times) - 1))]}


def populate(server: Any, work: Path, endpoints: int) -> tuple[str, str]:
    """The endpoints and one finished transform job; (an endpoint's name, the job's name)."""
    _, tarball, _, body = build_model(work)
    s3, sm = client(server, "s3"), client(server, "sagemaker")
    s3.create_bucket(Bucket="bench")
    s3.upload_file(str(tarball), "bench", "model.tar.gz")
    s3.put_object(Bucket="bench", Key="in/rows.csv", Body=b"\n".join([body] * 100))
    sm.create_model(
        ModelName="abalone",
        ExecutionRoleArn=ROLE,
        PrimaryContainer={"Image": IMAGE, "ModelDataUrl": "s3://bench/model.tar.gz"},
    )
    sm.create_endpoint_config(
        EndpointConfigName="abalone",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": "abalone",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
    )
    names = [f"abalone-{i:03}" for i in range(endpoints)]
    for name in names:
        sm.create_endpoint(EndpointName=name, EndpointConfigName="abalone")
    for name in names:
        sm.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig={"Delay": 0.5, "MaxAttempts": 600})
    sm.create_transform_job(
        TransformJobName="job-00000",
        ModelName="abalone",
        TransformInput={"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://bench/in/"}},
                        "ContentType": "text/csv", "SplitType": "Line"},
        TransformOutput={"S3OutputPath": "s3://bench/out/"},
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1},
    )  # fmt: skip
    sm.get_waiter("transform_job_completed_or_stopped").wait(
        TransformJobName="job-00000", WaiterConfig={"Delay": 0.5, "MaxAttempts": 600}
    )
    return names[0], "job-00000"


def monitoring(server: Any) -> None:
    """The worked example's monitoring steps, its endpoints and schedules kept."""
    sys.path.insert(0, str(ROOT / "examples" / "abalone"))
    import monitor  # the worked example's modules, beside each other there
    import run

    s3 = client(server, "s3")
    s3.create_bucket(Bucket=run.BUCKET)
    sm, runtime, cw = client(server, "sagemaker"), client(server, "sagemaker-runtime"), client(server, "cloudwatch")
    found = monitor.run_monitoring(sm, runtime, s3, cw, run.prepare(), "abalone", "bench-monitor", keep=True)
    assert found["drifted"], "the drifted endpoint's execution found no violations"


def put_logs(server: Any, endpoint: str) -> None:
    logs = client(server, "logs")
    group = f"/aws/sagemaker/Endpoints/{endpoint}"
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):  # inline instances write none
        logs.create_log_group(logGroupName=group)
    now_ms = int(time.time() * 1000)
    for stream in range(LOG_STREAMS):
        name = f"AllTraffic/bench-{stream}"
        logs.create_log_stream(logGroupName=group, logStreamName=name)
        events = [
            {"timestamp": now_ms - (LOG_LINES - i) * 10, "message": f"bench line {i} of stream {stream}: " + "x" * 80}
            for i in range(LOG_LINES)
        ]
        logs.put_log_events(logGroupName=group, logStreamName=name, logEvents=events)


def read_logs(logs: Any, endpoint: str) -> None:
    """What the logs part reads, as a boto3 client would: the 5 latest streams, the last 50 lines of each."""
    group = f"/aws/sagemaker/Endpoints/{endpoint}"
    streams = logs.describe_log_streams(logGroupName=group, orderBy="LastEventTime", descending=True, limit=5)
    for stream in streams["logStreams"]:
        logs.get_log_events(logGroupName=group, logStreamName=stream["logStreamName"], startFromHead=False, limit=50)


def read_report(sm: Any, s3: Any) -> None:
    """What the report page reads and computes, as `homeport monitor` does it with boto3: the schedule, its
    executions, the latest one's processing job, its four files, and the per-feature report."""
    from homeport.monitoring.report import execution_features

    sm.describe_monitoring_schedule(MonitoringScheduleName=MONITORED)
    executions = sm.list_monitoring_executions(
        MonitoringScheduleName=MONITORED, SortBy="ScheduledTime", SortOrder="Descending", MaxResults=20
    )["MonitoringExecutionSummaries"]
    job = sm.describe_processing_job(ProcessingJobName=executions[0]["ProcessingJobArn"].rsplit("/", 1)[1])

    def read(uri: str) -> dict[str, Any]:
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        document: dict[str, Any] = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        return document

    assert len(execution_features(job, read)) == 10


def load(server: Any, endpoint: str, body: bytes) -> tuple[threading.Event, threading.Thread]:
    """About 20 requests a second to the endpoint until the event is set."""
    runtime = client(server, "sagemaker-runtime")
    done = threading.Event()

    def send() -> None:
        while not done.is_set():
            runtime.invoke_endpoint(EndpointName=endpoint, Body=body, ContentType="text/csv")
            done.wait(0.05)

    worker = threading.Thread(target=send, daemon=True)
    worker.start()
    return done, worker


def copy_jobs(data_dir: Path, template: str, count: int) -> None:
    """`count - 1` copies of the finished job's stored description, under new names (the server is stopped)."""
    from homeport.settings import Settings
    from homeport.store import Kind, Store

    store = Store(Settings(data_dir=data_dir).database)
    with store.transaction() as conn:
        doc = store.get(conn, Kind.TRANSFORM_JOB, template)
        assert doc is not None
        for i in range(1, count):
            name = f"job-{i:05}"
            copy = json.loads(json.dumps(doc))
            copy["TransformJobName"] = name
            copy["TransformJobArn"] = doc["TransformJobArn"].replace(template, name)
            copy["CreationTime"] = doc["CreationTime"] + i * 0.001
            store.insert(conn, Kind.TRANSFORM_JOB, copy, name=name, arn=copy["TransformJobArn"], status="Completed")
    store.close()


def measure(args: argparse.Namespace) -> dict[str, Any]:
    import httpx

    from homeport.server.process import ServerProcess

    work = Path(tempfile.mkdtemp(prefix="homeport-consolebench-"))
    # A metric period of 1 s: the example's drift alarm acts in seconds, and the charts fill in a minute.
    env = {"HOMEPORT_LOG_LEVEL": "warning", "HOMEPORT_INSTANCE_MODE": "inline", "HOMEPORT_METRIC_PERIOD_SECONDS": "1"}
    env["HOMEPORT_MAX_ENDPOINTS"] = str(args.endpoints + 2)  # and the example's two monitored ones
    say(f"populating: {args.endpoints} endpoints and a transform job")
    with ServerProcess(work / "data", env=env) as server:
        keys = {"HOMEPORT_ACCESS_KEY_ID": server.access_key_id, "HOMEPORT_SECRET_ACCESS_KEY": server.secret_access_key}
        endpoint, _ = populate(server, work, args.endpoints)
        say("the worked example's model monitoring")
        monitoring(server)
    say(f"copying the job: {args.jobs} in all")
    copy_jobs(work / "data", "job-00000", args.jobs)
    results: dict[str, Any] = {
        "endpoints": args.endpoints,
        "transform_jobs": args.jobs,
        "rounds": args.rounds,
        "load_seconds": args.load_seconds,
    }
    with ServerProcess(work / "data", env={**env, **keys}) as server:
        sm, logs, s3 = client(server, "sagemaker"), client(server, "logs"), client(server, "s3")
        for name in (endpoint, f"abalone-{args.endpoints - 1:03}"):
            sm.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig={"Delay": 0.5})
        put_logs(server, endpoint)
        say(f"sending {endpoint} requests for {args.load_seconds} s before measuring, and while measuring")
        done, worker = load(server, endpoint, build_model(work)[3])
        time.sleep(args.load_seconds)
        floors = {
            "ListEndpoints": timed(lambda: sm.list_endpoints(MaxResults=100), args.rounds),
            "DescribeEndpoint": timed(lambda: sm.describe_endpoint(EndpointName=endpoint), args.rounds),
            "ListTransformJobs": timed(lambda: sm.list_transform_jobs(MaxResults=50), args.rounds),
            "the same log reads": timed(lambda: read_logs(logs, endpoint), args.rounds),
            "the same report reads": timed(lambda: read_report(sm, s3), args.rounds),
            "DescribeMonitoringSchedule": timed(
                lambda: sm.describe_monitoring_schedule(MonitoringScheduleName=MONITORED), args.rounds
            ),
        }
        with httpx.Client(base_url=server.url, timeout=60, follow_redirects=True) as http:
            signed = http.post(
                "/console/login",
                data={"access_key_id": server.access_key_id, "secret_access_key": server.secret_access_key},
            )
            assert signed.status_code == 200 and "Endpoints" in signed.text, signed.status_code
            page_two = quote(sm.list_transform_jobs(MaxResults=50)["NextToken"], safe="")
            pages = {
                "endpoints": ("/console/endpoints", "ListEndpoints"),
                "endpoint": (f"/console/endpoints/{endpoint}", "DescribeEndpoint"),
                "endpoint live part": (f"/console/endpoints/{endpoint}/live", "DescribeEndpoint"),
                "endpoint logs": (f"/console/endpoints/{endpoint}/logs", "the same log reads"),
                "auto scaling": (f"/console/endpoints/{endpoint}/variants/AllTraffic/scaling", "DescribeEndpoint"),
                "transform jobs": ("/console/transform-jobs", "ListTransformJobs"),
                "transform jobs, page 2": (f"/console/transform-jobs?next={page_two}", "ListTransformJobs"),
                "transform jobs, InProgress only": ("/console/transform-jobs?status=InProgress", "ListTransformJobs"),
                "model monitor schedules": ("/console/monitoring", "DescribeMonitoringSchedule"),
                "a schedule's report (10 features)": (f"/console/monitoring/{MONITORED}", "the same report reads"),
            }  # fmt: skip

            def fetch(path: str) -> Callable[[], None]:
                def get() -> None:
                    reply = http.get(path)
                    assert reply.status_code == 200, (path, reply.status_code)

                return get

            # What the pages show: every endpoint of the page, 50 jobs a page, none InProgress.
            listed = http.get("/console/endpoints").text
            newest = sm.list_endpoints(MaxResults=100, SortBy="CreationTime", SortOrder="Descending")["Endpoints"]
            assert all(f">{e['EndpointName']}<" in listed for e in newest), "endpoints missing"
            assert http.get("/console/transform-jobs").text.count("<tr data-job=") == 50
            assert "No transform jobs that are InProgress" in http.get(pages["transform jobs, InProgress only"][0]).text
            report = http.get(f"/console/monitoring/{MONITORED}").text
            figures = re.findall(r'<figure class="feature( violated)?"', report)
            assert len(figures) == 10 and figures.count(" violated") == 3, "the report is not on the page"
            assert http.get(pages["endpoint logs"][0]).text.count("bench line") == 50, "log lines missing"
            drawn = re.findall(r'data-points="(\d+)"', http.get(pages["endpoint"][0]).text)
            results["chart_points"] = [int(n) for n in drawn]
            say(f"chart lines' points on {endpoint}'s page: {results['chart_points']}")
            results["pages"] = {}
            for label, (path, floor) in pages.items():
                took = timed(fetch(path), args.rounds)
                took["floor"] = floor
                took["vs_floor"] = took["median_ms"] / floors[floor]["median_ms"]
                took["under_target"] = took["p95_ms"] < TARGET_MS
                results["pages"][label] = took
                say(
                    f"{label:46} median {took['median_ms']:7.1f} ms  p95 {took['p95_ms']:7.1f} ms  "
                    f"{took['vs_floor']:5.1f}x {floor} ({floors[floor]['median_ms']:.1f} ms)"
                )
        done.set()
        worker.join(5)
        results["floors"] = floors
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--endpoints", type=int, default=100)
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--load-seconds", type=float, default=60.0)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    results = measure(args)
    slow = [label for label, page in results["pages"].items() if not page["under_target"]]
    say(f"pages over {TARGET_MS:.0f} ms at p95: {', '.join(slow) if slow else 'none'}")
    write_results("console", results)


if __name__ == "__main__":
    main()
