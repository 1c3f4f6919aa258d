"""CloudWatch Logs with boto3 against a real `homeport serve`: what instances and jobs print arrives in SageMaker's
groups and streams; PutLogEvents, GetLogEvents and FilterLogEvents page and filter as CloudWatch's do."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import KEYS, boto_client, deploy, unique
from tests.integration.conftest import code_only_model
from tests.integration.test_cli import homeport
from tests.integration.test_transform_jobs import create_model, run_job

PRINTER = """
import sys


def model_fn(model_dir):
    print("loaded the model from", model_dir, flush=True)
    return None


def transform_fn(model, data, content_type, accept):
    text = data.decode() if isinstance(data, bytes) else data
    print("homeport-log-probe got", text.strip(), flush=True)
    print("to stderr too", file=sys.stderr, flush=True)
    return text
"""


@pytest.fixture(scope="module")
def logs(server: Any) -> Any:
    return boto_client("logs", server.url)


@pytest.fixture(scope="module")
def printer(tmp_path_factory: pytest.TempPathFactory) -> str:
    return code_only_model(tmp_path_factory.mktemp("printer"), PRINTER)


def stream(logs: Any, group: str, messages: list[tuple[int, str]]) -> str:
    name = unique("stream")
    logs.create_log_stream(logGroupName=group, logStreamName=name)
    logs.put_log_events(
        logGroupName=group, logStreamName=name, logEvents=[{"timestamp": t, "message": m} for t, m in messages]
    )
    return name


@pytest.fixture
def group(logs: Any) -> str:
    name = f"/homeport/tests/{unique('group')}"
    logs.create_log_group(logGroupName=name)
    return name


def now_ms() -> int:
    import time

    return int(time.time() * 1000)


def code(call: Any, **params: Any) -> str:
    with pytest.raises(ClientError) as err:
        call(**params)
    return str(err.value.response["Error"]["Code"])


def test_get_log_events_pages_forward_and_back(logs: Any, group: str) -> None:
    t0 = now_ms() - 60_000
    name = stream(logs, group, [(t0 + i, f"line {i}") for i in range(5)])

    def get(**more: Any) -> dict[str, Any]:
        return dict(logs.get_log_events(logGroupName=group, logStreamName=name, **more))

    latest = get(limit=2)  # by default the newest events, oldest first
    assert [e["message"] for e in latest["events"]] == ["line 3", "line 4"]
    older = get(limit=2, nextToken=latest["nextBackwardToken"])
    assert [e["message"] for e in older["events"]] == ["line 1", "line 2"]

    seen, token = [], None
    while True:  # the SDK's loop: forward until a page comes back empty
        page = get(startFromHead=True, limit=2, **({"nextToken": token} if token else {}))
        if not page["events"]:
            assert page["nextForwardToken"] == token  # at the end, the token comes back as it was
            break
        seen += [e["message"] for e in page["events"]]
        token = page["nextForwardToken"]
    assert seen == [f"line {i}" for i in range(5)]
    stream_more = [{"timestamp": t0 + 10, "message": "line 5"}]
    logs.put_log_events(logGroupName=group, logStreamName=name, logEvents=stream_more)
    assert [e["message"] for e in get(startFromHead=True, nextToken=token)["events"]] == ["line 5"]

    window = get(startFromHead=True, startTime=t0 + 1, endTime=t0 + 3)  # endTime is exclusive
    assert [e["message"] for e in window["events"]] == ["line 1", "line 2"]
    assert all(e["ingestionTime"] >= t0 for e in window["events"])


def test_filter_log_events_interleaves_streams_filters_and_pages(logs: Any, group: str) -> None:
    t0 = now_ms() - 60_000
    a = stream(logs, group, [(t0, "ERROR disk full"), (t0 + 2, "INFO ok"), (t0 + 4, "ERROR retry: Exiting")])
    b = stream(logs, group, [(t0 + 1, "WARN slow"), (t0 + 3, 'ERROR "quoted" thing')])

    def messages(**more: Any) -> list[str]:
        return [e["message"] for e in logs.filter_log_events(logGroupName=group, **more)["events"]]

    assert messages() == ["ERROR disk full", "WARN slow", "INFO ok", 'ERROR "quoted" thing', "ERROR retry: Exiting"]
    assert messages(filterPattern="ERROR -Exiting") == ["ERROR disk full", 'ERROR "quoted" thing']
    assert messages(filterPattern="?WARN ?INFO") == ["WARN slow", "INFO ok"]
    assert messages(filterPattern='"disk full"') == ["ERROR disk full"]
    assert messages(filterPattern="error") == []  # terms are case-sensitive
    assert messages(logStreamNames=[b]) == ["WARN slow", 'ERROR "quoted" thing']
    assert messages(logStreamNamePrefix=a) == ["ERROR disk full", "INFO ok", "ERROR retry: Exiting"]
    assert messages(startTime=t0 + 1, endTime=t0 + 3) == ["WARN slow", "INFO ok", 'ERROR "quoted" thing']

    pages, token, ids = [], None, []
    while True:
        page = logs.filter_log_events(logGroupName=group, limit=2, **({"nextToken": token} if token else {}))
        pages.append([e["message"] for e in page["events"]])
        ids += [e["eventId"] for e in page["events"]]
        assert {e["logStreamName"] for e in page["events"]} <= {a, b}
        token = page.get("nextToken")
        if token is None:  # absent once caught up, so `aws logs tail --follow` waits
            break
    assert [m for page in pages for m in page] == messages() and len(pages) == 3 and len(set(ids)) == 5
    again = logs.filter_log_events(logGroupName=group)["events"]
    assert [e["eventId"] for e in again] == ids  # stable, so followers can tell events apart


def test_groups_and_streams_are_listed_in_pages(logs: Any, group: str) -> None:
    names = [stream(logs, group, [(now_ms() - 1000 + i, f"event {i}")]) for i in range(3)]
    listed, token = [], None
    while True:
        page = logs.describe_log_streams(logGroupName=group, limit=2, **({"nextToken": token} if token else {}))
        listed += page["logStreams"]
        token = page.get("nextToken")
        if token is None:  # the SDK re-asks for as long as one comes back
            break
    assert [s["logStreamName"] for s in listed] == sorted(names)
    assert all(s["firstEventTimestamp"] == s["lastEventTimestamp"] for s in listed)
    assert listed[0]["arn"].endswith(f":log-group:{group}:log-stream:{listed[0]['logStreamName']}")
    newest = logs.describe_log_streams(logGroupName=group, orderBy="LastEventTime", descending=True)["logStreams"]
    assert newest[0]["logStreamName"] == names[-1]

    found = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    assert [g["logGroupName"] for g in found] == [group] and found[0]["storedBytes"] > 0
    logs.put_retention_policy(logGroupName=group, retentionInDays=7)
    by_arn = logs.filter_log_events(logGroupIdentifier=found[0]["logGroupArn"])["events"]
    assert len(by_arn) == 3
    pattern = group.rsplit("/", 1)[1].upper()  # logGroupNamePattern matches case-insensitively
    assert logs.describe_log_groups(logGroupNamePattern=pattern)["logGroups"][0]["retentionInDays"] == 7

    logs.delete_log_stream(logGroupName=group, logStreamName=names[0])
    assert len(logs.describe_log_streams(logGroupName=group)["logStreams"]) == 2
    logs.delete_log_group(logGroupName=group)
    assert logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"] == []
    assert code(logs.describe_log_streams, logGroupName=group) == "ResourceNotFoundException"


def test_put_log_events_rejects_what_cloudwatch_rejects(logs: Any, group: str) -> None:
    name = stream(logs, group, [(now_ms(), "first")])
    put = logs.put_log_events
    out_of_order = [{"timestamp": now_ms(), "message": "b"}, {"timestamp": now_ms() - 10, "message": "a"}]
    assert code(put, logGroupName=group, logStreamName=name, logEvents=out_of_order) == "InvalidParameterException"
    too_big = [{"timestamp": now_ms(), "message": "x" * 200_000}] * 6
    assert code(put, logGroupName=group, logStreamName=name, logEvents=too_big) == "InvalidParameterException"
    day = 86_400_000
    old_and_new = [
        {"timestamp": now_ms() - 14 * day - 60_000, "message": "too old"},
        {"timestamp": now_ms() - 14 * day + 60_000, "message": "kept"},
        {"timestamp": now_ms() - 14 * day + 120_000, "message": "kept too"},
    ]
    reply = put(logGroupName=group, logStreamName=name, logEvents=old_and_new)
    assert reply["rejectedLogEventsInfo"] == {"tooOldLogEventEndIndex": 0}
    kept = logs.get_log_events(logGroupName=group, logStreamName=name, startFromHead=True)["events"]
    assert [e["message"] for e in kept] == ["kept", "kept too", "first"]
    assert code(put, logGroupName=group, logStreamName="nope", logEvents=old_and_new[1:]) == "ResourceNotFoundException"
    assert code(logs.create_log_group, logGroupName=group) == "ResourceAlreadyExistsException"
    assert code(logs.create_log_stream, logGroupName=group, logStreamName=name) == "ResourceAlreadyExistsException"


def test_bad_reads_get_the_logs_error(logs: Any, group: str) -> None:
    name = stream(logs, group, [(now_ms(), "x")])
    get, filt = logs.get_log_events, logs.filter_log_events
    assert code(get, logGroupName=group, logStreamName="missing") == "ResourceNotFoundException"
    assert code(get, logGroupName=group + "-missing", logStreamName=name) == "ResourceNotFoundException"
    assert code(get, logStreamName=name) == "InvalidParameterException"  # neither name nor identifier
    both = {"logGroupName": group, "logGroupIdentifier": group}
    assert code(get, logStreamName=name, **both) == "InvalidParameterException"
    for token in ("f/1", "x/1/2", "f/1/2/3", "f/" + "9" * 30 + "/1"):
        assert code(get, logGroupName=group, logStreamName=name, nextToken=token) == "InvalidParameterException"
    for token in ("nope", "WzFd", "eyJhIjoxfQ==", "WyJhIiwgMV0="):  # not base64 JSON, [1], {"a":1}, ["a",1]
        assert code(filt, logGroupName=group, nextToken=token) == "InvalidParameterException"
        assert code(logs.describe_log_streams, logGroupName=group, nextToken=token) == "InvalidParameterException"
    for pattern in ('{ $.level = "ERROR" }', "[ip, user]", "%ERR.*%", '"unclosed', "-only -excluded"):
        assert code(filt, logGroupName=group, filterPattern=pattern) == "InvalidParameterException"
    assert code(filt, logGroupName=group, logStreamNames=[name], logStreamNamePrefix="x") == "InvalidParameterException"
    described = logs.describe_log_streams
    assert code(described, logGroupName=group, orderBy="LastEventTime", logStreamNamePrefix="s") == (
        "InvalidParameterException"
    )
    assert code(logs.put_retention_policy, logGroupName=group, retentionInDays=2) == "InvalidParameterException"
    assert (
        code(logs.describe_log_groups, logGroupNamePrefix="/a", logGroupNamePattern="b") == "InvalidParameterException"
    )
    assert code(logs.describe_log_groups, logGroupNamePrefix="bad name!") == "InvalidParameterException"


def test_what_an_endpoint_prints_is_in_its_log_group(
    server: Any, sm: Any, runtime: Any, logs: Any, printer: str
) -> None:
    names = deploy(sm, printer, image="homeport/python")
    endpoint = names["endpoint"]
    runtime.invoke_endpoint(EndpointName=endpoint, Body=b"1,2,3", ContentType="text/csv")
    group = f"/aws/sagemaker/Endpoints/{endpoint}"
    streams = logs.describe_log_streams(logGroupName=group, logStreamNamePrefix="v1/")["logStreams"]
    assert len(streams) == 1 and streams[0]["logStreamName"].startswith("v1/")
    messages = [e["message"] for e in logs.filter_log_events(logGroupName=group)["events"]]
    assert "homeport-log-probe got 1,2,3" in messages and "to stderr too" in messages
    assert any(m.startswith("loaded the model from") for m in messages)

    printed = homeport("logs", endpoint, "--filter", "homeport-log-probe", url=server.url)
    assert printed.returncode == 0 and printed.stdout.strip().endswith(
        f"{streams[0]['logStreamName']} homeport-log-probe got 1,2,3"
    )
    follow = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "homeport",
            "logs",
            endpoint,
            "--follow",
            "--interval",
            "0.2",
            "--json",
            "--endpoint-url",
            server.url,
        ],
        env={**os.environ, **KEYS},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        runtime.invoke_endpoint(EndpointName=endpoint, Body=b"4,5", ContentType="text/csv")
        assert follow.stdout is not None
        lines = iter(follow.stdout.readline, "")
        followed = [json.loads(line)["message"] for line in itertools.takewhile(lambda line: "4,5" not in line, lines)]
        assert "homeport-log-probe got 1,2,3" in followed  # the last ten minutes first, then what comes
    finally:
        follow.terminate()
        follow.wait(10)
    sm.delete_endpoint(EndpointName=endpoint)  # the logs outlive the endpoint, as CloudWatch's do
    assert logs.filter_log_events(logGroupName=group, filterPattern="homeport-log-probe")["events"]
    missing = homeport("logs", "no-such-endpoint", url=server.url)
    assert missing.returncode == 1 and "no log group" in missing.stderr


def test_what_a_transform_job_prints_is_in_its_stream(sm: Any, s3: Any, bucket: str, logs: Any, printer: str) -> None:
    s3.put_object(Bucket=bucket, Key="in/rows.csv", Body=b"7,8\n")
    job = run_job(sm, create_model(sm, printer), f"s3://{bucket}/in/", f"s3://{bucket}/out/")
    assert job["TransformJobStatus"] == "Completed", job.get("FailureReason")
    name = job["TransformJobName"]
    group = "/aws/sagemaker/TransformJobs"
    streams = logs.describe_log_streams(logGroupName=group, logStreamNamePrefix=f"{name}/")["logStreams"]
    assert len(streams) == 1
    stream_name = streams[0]["logStreamName"]
    epoch = stream_name.rsplit("-", 1)[1]
    assert stream_name.startswith(f"{name}/{name}-1-") and epoch.isdigit()
    events = logs.get_log_events(logGroupName=group, logStreamName=stream_name, startFromHead=True)["events"]
    assert "homeport-log-probe got 7,8" in [e["message"] for e in events]


def test_logs_need_a_signature(server: Any, tmp_path: Path) -> None:
    import boto3
    from botocore.config import Config

    stranger = boto3.client(
        "logs",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id="nobody",
        aws_secret_access_key="wrong",
        config=Config(retries={"max_attempts": 1}),
    )
    assert code(stranger.describe_log_groups) == "UnrecognizedClientException"


def test_group_pages_retention_removal_and_reading_back_to_the_start(logs: Any) -> None:
    prefix = f"/homeport/tests/{unique('paged')}"
    names = [f"{prefix}/{i}" for i in range(3)]
    for name in names:
        logs.create_log_group(logGroupName=name)
    listed, token = [], None
    while True:
        page = logs.describe_log_groups(logGroupNamePrefix=prefix, limit=2, **({"nextToken": token} if token else {}))
        listed += [g["logGroupName"] for g in page["logGroups"]]
        token = page.get("nextToken")
        if token is None:
            break
    assert listed == names

    logs.put_retention_policy(logGroupName=names[0], retentionInDays=14)
    logs.delete_retention_policy(logGroupName=names[0])
    assert "retentionInDays" not in logs.describe_log_groups(logGroupNamePrefix=names[0])["logGroups"][0]
    assert code(logs.delete_retention_policy, logGroupName=f"{prefix}/none") == "ResourceNotFoundException"

    name = stream(logs, names[1], [(now_ms() - 1000, "only")])
    first = logs.get_log_events(logGroupName=names[1], logStreamName=name)
    back = logs.get_log_events(logGroupName=names[1], logStreamName=name, nextToken=first["nextBackwardToken"])
    assert back["events"] == [] and back["nextBackwardToken"] == first["nextBackwardToken"]  # nothing older
    bad_arn = "arn:aws:logs:us-east-1:000000000000:nothing"
    assert code(logs.filter_log_events, logGroupIdentifier=bad_arn) == "InvalidParameterException"
