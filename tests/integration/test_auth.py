"""SigV4 on every face, driven by real clients: wrong keys, no signature, tampering, presigned URLs."""

from __future__ import annotations

import subprocess
import urllib.request
from typing import Any
from urllib.error import HTTPError

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.conftest import boto_client


def client(service: str, url: str, key: str = "homeport", secret: str = "homeport-secret", **config: Any) -> Any:
    import boto3

    return boto3.client(
        service,
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 1}, **config),
    )


def code_of(call: Any, **kwargs: Any) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as raised:
        call(**kwargs)
    error = raised.value.response
    return error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"], error["Error"].get("Message", "")


def test_unknown_key_and_wrong_secret_on_every_face(server: Any, bucket: str) -> None:
    for key, secret, json_code, s3_code in [
        ("AKIDUNKNOWN", "homeport-secret", "UnrecognizedClientException", "InvalidAccessKeyId"),
        ("homeport", "not-the-secret", "InvalidSignatureException", "SignatureDoesNotMatch"),
    ]:
        assert code_of(client("sagemaker", server.url, key, secret).list_models)[0] == json_code
        runtime = client("sagemaker-runtime", server.url, key, secret)
        assert code_of(runtime.invoke_endpoint, EndpointName="x", Body=b"1", ContentType="text/csv")[0] == json_code
        s3 = client("s3", server.url, key, secret)
        code, status, message = code_of(s3.list_objects_v2, Bucket=bucket)
        assert (code, status) == (s3_code, 403)
        assert "not-the-secret" not in message and "homeport-secret" not in message


def test_unsigned_requests_are_refused(server: Any, bucket: str) -> None:
    from botocore import UNSIGNED

    assert code_of(client("sagemaker", server.url, signature_version=UNSIGNED).list_models)[0] == (
        "MissingAuthenticationTokenException"
    )
    s3 = client("s3", server.url, signature_version=UNSIGNED)
    assert code_of(s3.list_objects_v2, Bucket=bucket)[:2] == ("AccessDenied", 403)
    with pytest.raises(HTTPError) as raised:
        urllib.request.urlopen(f"{server.url}/{bucket}/anything")
    assert raised.value.code == 403 and b"<Code>AccessDenied</Code>" in raised.value.read()


def test_health_needs_no_signature(server: Any) -> None:
    with urllib.request.urlopen(f"{server.url}/ping") as reply:
        assert reply.status == 200


def test_tampered_body_is_refused(server: Any) -> None:
    sm = boto_client("sagemaker", server.url)

    def tamper(request: Any, **_: Any) -> None:
        request.body = request.body.replace(b"{}", b"[]")  # same length, different payload

    sm.meta.events.register_last("before-send.sagemaker.ListModels", tamper)
    assert code_of(sm.list_models)[0] == "InvalidSignatureException"


def test_skewed_clock_is_refused(server: Any, bucket: str) -> None:
    import datetime

    import botocore.auth

    s3 = boto_client("s3", server.url)
    real = botocore.auth.datetime.datetime

    class Skewed(real):  # type: ignore[misc, valid-type]
        @classmethod
        def utcnow(cls) -> Any:
            return real.utcnow() - datetime.timedelta(minutes=20)

        @classmethod
        def now(cls, tz: Any = None) -> Any:
            return real.now(tz) - datetime.timedelta(minutes=20)

    botocore.auth.datetime.datetime = Skewed
    try:
        assert code_of(s3.list_objects_v2, Bucket=bucket)[:2] == ("RequestTimeTooSkewed", 403)
    finally:
        botocore.auth.datetime.datetime = real


def test_presigned_urls_work_with_curl(server: Any, bucket: str, tmp_path: Any) -> None:
    s3 = boto_client("s3", server.url, signature_version="s3v4")
    s3.put_object(Bucket=bucket, Key="shared/report.csv", Body=b"a,b\n1,2\n")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "shared/report.csv"}, ExpiresIn=60)
    got = subprocess.run(["curl", "-sf", url], capture_output=True, check=False, timeout=30)
    assert got.returncode == 0 and got.stdout == b"a,b\n1,2\n"
    put = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "dropped.txt"}, ExpiresIn=60)
    source = tmp_path / "dropped.txt"
    source.write_bytes(b"uploaded with curl")
    sent = subprocess.run(["curl", "-sf", "-T", str(source), put], capture_output=True, check=False, timeout=30)
    assert sent.returncode == 0, sent.stderr
    assert s3.get_object(Bucket=bucket, Key="dropped.txt")["Body"].read() == b"uploaded with curl"
    forged = url.replace("shared/report.csv", "dropped.txt")
    refused = subprocess.run(["curl", "-s", forged], capture_output=True, check=False, timeout=30)
    assert b"<Code>SignatureDoesNotMatch</Code>" in refused.stdout


def test_expired_presigned_url(server: Any, bucket: str) -> None:
    import time

    s3 = boto_client("s3", server.url, signature_version="s3v4")
    s3.put_object(Bucket=bucket, Key="soon", Body=b"x")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "soon"}, ExpiresIn=1)
    time.sleep(1.5)  # the one wait here is the expiry itself
    with pytest.raises(HTTPError) as raised:
        urllib.request.urlopen(url)
    body = raised.value.read()
    assert raised.value.code == 403 and b"<Code>AccessDenied</Code>" in body and b"expired" in body


def _serve(data_dir: Any, *args: str) -> subprocess.Popen[str]:
    import os
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("HOMEPORT_")}
    return subprocess.Popen(
        [sys.executable, "-m", "homeport", "serve", "--port", "0", "--data-dir", str(data_dir), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )


def _until_ready(proc: subprocess.Popen[str]) -> tuple[list[str], str]:
    from homeport.server.process import READY_PREFIX

    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        if line.startswith(READY_PREFIX):
            return lines, line[len(READY_PREFIX) :].strip()
        lines.append(line)
    raise AssertionError(f"no ready line; printed {lines}")


def test_a_generated_pair_is_printed_once_and_kept_private(tmp_path: Any) -> None:
    import stat

    printed = []
    for _ in range(2):
        proc = _serve(tmp_path)
        try:
            lines, url = _until_ready(proc)
            printed.append("".join(lines))
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    assert "aws_secret_access_key" in printed[0] and "aws_secret_access_key" not in printed[1]
    credentials = tmp_path / "credentials"
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    key = next(line.split("=")[1].strip() for line in printed[0].splitlines() if "aws_access_key_id" in line)
    secret = next(line.split("=")[1].strip() for line in printed[0].splitlines() if "aws_secret_access_key" in line)
    assert key in credentials.read_text() and secret in credentials.read_text()
    proc = _serve(tmp_path)
    try:
        _, url = _until_ready(proc)
        assert client("sagemaker", url, key, secret).list_models()["Models"] == []
        # homeport's own CLI finds the generated pair in the data directory by itself
        import os
        import sys

        env = {k: v for k, v in os.environ.items() if not k.startswith(("HOMEPORT_", "AWS_"))}
        env["HOMEPORT_DATA_DIR"] = str(tmp_path)
        listed = subprocess.run(
            [sys.executable, "-m", "homeport", "endpoints", "--endpoint-url", url, "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert listed.returncode == 0 and listed.stdout.strip() == "[]", listed.stderr
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_no_keys_and_a_public_address_refuses_to_start(tmp_path: Any) -> None:
    proc = _serve(tmp_path, "--host", "0.0.0.0")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0 and "no access keys configured" in err
    assert not (tmp_path / "credentials").exists()
