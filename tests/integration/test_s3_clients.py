"""The S3 face with the other clients users move data with: the AWS CLI, s3fs and pandas."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import unique


def aws(server: Any, *args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("aws", path=str(Path(sys.executable).parent)) or shutil.which("aws")
    if exe is None:
        pytest.skip("the AWS CLI is not installed (pip install awscli)")
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "homeport",
        "AWS_SECRET_ACCESS_KEY": "homeport-secret",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
    }
    return subprocess.run(
        [exe, "--endpoint-url", server.url, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_aws_cli_cp_ls_rm(server: Any, s3: Any, bucket: str, tmp_path: Path) -> None:
    source = tmp_path / "upload"
    (source / "sub").mkdir(parents=True)
    (source / "a.csv").write_text("1,2,3\n")
    (source / "sub" / "b.bin").write_bytes(os.urandom(9 * 1024 * 1024))  # over the CLI's multipart threshold
    done = aws(server, "s3", "cp", "--recursive", str(source), f"s3://{bucket}/data/", tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    listed = aws(server, "s3", "ls", "--recursive", f"s3://{bucket}/", tmp_path=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "data/a.csv" in listed.stdout and "data/sub/b.bin" in listed.stdout
    top = aws(server, "s3", "ls", f"s3://{bucket}/data/", tmp_path=tmp_path)
    assert "PRE sub/" in top.stdout and "a.csv" in top.stdout
    back = tmp_path / "download"
    done = aws(server, "s3", "cp", "--recursive", f"s3://{bucket}/data/", str(back), tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (back / "sub" / "b.bin").read_bytes() == (source / "sub" / "b.bin").read_bytes()
    assert aws(server, "s3", "rm", "--recursive", f"s3://{bucket}/data/", tmp_path=tmp_path).returncode == 0
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_aws_cli_mb_and_missing_bucket(server: Any, tmp_path: Path) -> None:
    name = unique("climb")
    assert aws(server, "s3", "mb", f"s3://{name}", tmp_path=tmp_path).returncode == 0
    assert name in aws(server, "s3", "ls", tmp_path=tmp_path).stdout
    missing = aws(server, "s3", "ls", f"s3://{unique('nobucket')}/", tmp_path=tmp_path)
    assert missing.returncode != 0 and "NoSuchBucket" in missing.stderr
    assert aws(server, "s3", "rb", f"s3://{name}", tmp_path=tmp_path).returncode == 0


def storage_options(server: Any) -> dict[str, Any]:
    return {
        "key": "homeport",
        "secret": "homeport-secret",
        "client_kwargs": {"endpoint_url": server.url, "region_name": "us-east-1"},
    }


def test_s3fs_and_pandas(server: Any, bucket: str) -> None:
    s3fs = pytest.importorskip("s3fs")
    pd = pytest.importorskip("pandas")
    fs = s3fs.S3FileSystem(**storage_options(server), skip_instance_cache=True)
    frame = pd.DataFrame({"rings": [9, 7, 10], "length": [0.455, 0.35, 0.53]})
    frame.to_csv(f"s3://{bucket}/frames/abalone.csv", index=False, storage_options=storage_options(server))
    back = pd.read_csv(f"s3://{bucket}/frames/abalone.csv", storage_options=storage_options(server))
    pd.testing.assert_frame_equal(back, frame)
    assert fs.ls(f"{bucket}/frames") == [f"{bucket}/frames/abalone.csv"]
    assert fs.info(f"{bucket}/frames/abalone.csv")["size"] == len(frame.to_csv(index=False))
    with fs.open(f"{bucket}/big.bin", "wb", block_size=5 * 1024 * 1024) as out:  # s3fs's own multipart
        out.write(b"x" * (12 * 1024 * 1024))
    with fs.open(f"{bucket}/big.bin", "rb") as stream:
        stream.seek(10 * 1024 * 1024)
        assert stream.read(3) == b"xxx"
    assert fs.du(bucket) == 12 * 1024 * 1024 + fs.info(f"{bucket}/frames/abalone.csv")["size"]
    fs.rm(f"{bucket}/frames", recursive=True)
    assert not fs.exists(f"{bucket}/frames/abalone.csv")
