"""The S3 face, driven with boto3: buckets, objects, listings, copies, multipart, and the errors S3 gives."""

from __future__ import annotations

import hashlib
import io
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import boto_client, unique


def error_of(call: Any, **kwargs: Any) -> tuple[str, int, dict[str, Any]]:
    with pytest.raises(ClientError) as raised:
        call(**kwargs)
    response = raised.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]


# --- buckets -------------------------------------------------------------------------------------------


def test_bucket_lifecycle(s3: Any) -> None:
    name = unique("life")
    s3.create_bucket(Bucket=name)
    assert name in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    s3.head_bucket(Bucket=name)
    assert error_of(s3.create_bucket, Bucket=name)[:2] == ("BucketAlreadyOwnedByYou", 409)
    s3.put_object(Bucket=name, Key="k", Body=b"x")
    assert error_of(s3.delete_bucket, Bucket=name)[:2] == ("BucketNotEmpty", 409)
    s3.delete_object(Bucket=name, Key="k")
    s3.delete_bucket(Bucket=name)
    assert error_of(s3.head_bucket, Bucket=name)[1] == 404
    assert error_of(s3.list_objects_v2, Bucket=name)[:2] == ("NoSuchBucket", 404)


@pytest.mark.parametrize("name", ["ab", "UPPER", "a..b", "-lead", "192.168.1.1", "xn--thing", "a_b"])
def test_bad_bucket_names_are_refused(s3: Any, name: str) -> None:
    from botocore.handlers import validate_bucket_name

    client = boto_client("s3", s3.meta.endpoint_url)  # botocore checks some names itself: send them anyway
    client.meta.events.unregister("before-parameter-build.s3", validate_bucket_name)
    code, status, _ = error_of(client.create_bucket, Bucket=name)
    assert (code, status) == ("InvalidBucketName", 400)


# --- objects -------------------------------------------------------------------------------------------


def test_put_get_head_delete(s3: Any, bucket: str) -> None:
    body = bytes(range(256)) * 1000
    put = s3.put_object(
        Bucket=bucket,
        Key="dir/data.bin",
        Body=body,
        ContentType="application/x-test",
        Metadata={"origin": "tests"},
        CacheControl="no-cache",
    )
    assert put["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    got = s3.get_object(Bucket=bucket, Key="dir/data.bin")
    assert got["Body"].read() == body
    assert got["ContentType"] == "application/x-test" and got["Metadata"] == {"origin": "tests"}
    assert got["CacheControl"] == "no-cache" and got["ContentLength"] == len(body)
    head = s3.head_object(Bucket=bucket, Key="dir/data.bin")
    assert head["ETag"] == put["ETag"] and head["ContentLength"] == len(body) and head["LastModified"]
    s3.delete_object(Bucket=bucket, Key="dir/data.bin")
    assert error_of(s3.get_object, Bucket=bucket, Key="dir/data.bin")[:2] == ("NoSuchKey", 404)
    assert error_of(s3.head_object, Bucket=bucket, Key="dir/data.bin")[1] == 404
    s3.delete_object(Bucket=bucket, Key="never-there")  # S3: deleting a missing key succeeds


@pytest.mark.parametrize(
    "key",
    [
        "with space",
        "plus+sign",
        "percent%2Fslash",
        "uni/ñ/日本",
        "tilde~",
        "a//double",
        "../../etc/passwd",
        "/leading",
        "trailing/",
        "q?x=1&y",
        "x" * 1000,
    ],
)
def test_any_key_round_trips_and_stays_inside(s3: Any, bucket: str, key: str, server: Any) -> None:
    s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == key.encode()
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == [key]


def test_empty_object(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    got = s3.get_object(Bucket=bucket, Key="empty")
    assert got["Body"].read() == b"" and got["ContentLength"] == 0


def test_overwrite_replaces_whole(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"first version, longer")
    s3.put_object(Bucket=bucket, Key="k", Body=b"second")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"second"


def test_small_and_large_objects_replace_each_other(s3: Any, bucket: str) -> None:
    """Objects up to 64 KiB are kept in the index, bigger ones in files: a client sees no difference."""
    large = bytes(range(256)) * 400  # 100 KiB
    for body in (b"small,1\n", large, b"small again", large[:65536]):
        s3.put_object(Bucket=bucket, Key="size", Body=body)
        got = s3.get_object(Bucket=bucket, Key="size")
        assert got["Body"].read() == body and got["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
        assert s3.get_object(Bucket=bucket, Key="size", Range="bytes=2-5")["Body"].read() == body[2:6]
        s3.copy_object(Bucket=bucket, Key="size-copy", CopySource={"Bucket": bucket, "Key": "size"})
        assert s3.get_object(Bucket=bucket, Key="size-copy")["Body"].read() == body


def test_key_too_long(s3: Any, bucket: str, server: Any) -> None:
    code, status, _ = error_of(s3.put_object, Bucket=bucket, Key="k" * 1025, Body=b"x")
    assert (code, status) == ("KeyTooLongError", 400)
    assert list((server.data_dir / "objects" / "tmp").iterdir()) == []  # refused before the body was kept


def test_put_into_missing_bucket(s3: Any) -> None:
    assert error_of(s3.put_object, Bucket=unique("nobucket"), Key="k", Body=b"x")[:2] == ("NoSuchBucket", 404)


def test_content_md5_is_checked(s3: Any, bucket: str, server: Any) -> None:
    import base64

    good = base64.b64encode(hashlib.md5(b"payload").digest()).decode()
    s3.put_object(Bucket=bucket, Key="md5", Body=b"payload", ContentMD5=good)
    wrong = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    assert error_of(s3.put_object, Bucket=bucket, Key="md5", Body=b"payload", ContentMD5=wrong)[:2] == (
        "BadDigest",
        400,
    )
    assert error_of(s3.put_object, Bucket=bucket, Key="md5", Body=b"payload", ContentMD5="nope")[:2] == (
        "InvalidDigest",
        400,
    )
    assert s3.get_object(Bucket=bucket, Key="md5")["Body"].read() == b"payload"  # refused writes changed nothing
    assert list((server.data_dir / "objects" / "tmp").iterdir()) == []  # and left no bytes behind


@pytest.mark.parametrize(
    ("header", "want", "status"),
    [
        ("bytes=0-9", b"0123456789", 206),
        ("bytes=90-", bytes(range(90, 100)), 206),
        ("bytes=-5", bytes(range(95, 100)), 206),
        ("bytes=95-200", bytes(range(95, 100)), 206),
        ("bytes=9-3", bytes(range(100)), 200),
        ("bytes=200-5", bytes(range(100)), 200),  # inverted: ignored, even past the end
        ("bytes=+1-2", bytes(range(100)), 200),  # what RFC 9110 does not allow, S3 ignores
        ("bytes=1_0-20", bytes(range(100)), 200),
        ("bytes=0", bytes(range(100)), 200),
        ("bytes=-+1", bytes(range(100)), 200),
        ("bytes=0-1,5-6", bytes(range(100)), 200),
    ],
)
def test_ranges(s3: Any, bucket: str, header: str, want: bytes, status: int) -> None:
    body = bytes(range(100)) if want[0:1] != b"0" else b"0123456789" + bytes(range(10, 100))
    s3.put_object(Bucket=bucket, Key="r", Body=body)
    got = s3.get_object(Bucket=bucket, Key="r", Range=header)
    assert got["ResponseMetadata"]["HTTPStatusCode"] == status
    assert got["Body"].read() == (want if status == 206 else body)
    head = s3.head_object(Bucket=bucket, Key="r", Range=header)  # HEAD answers what GET would send
    assert head["ResponseMetadata"]["HTTPStatusCode"] == status
    assert head["ContentLength"] == (len(want) if status == 206 else len(body))


def test_unsatisfiable_range(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="r", Body=b"0123")
    code, status, error = error_of(s3.get_object, Bucket=bucket, Key="r", Range="bytes=4-")
    assert (code, status, error.get("ActualObjectSize")) == ("InvalidRange", 416, "4")
    assert error_of(s3.head_object, Bucket=bucket, Key="r", Range="bytes=4-")[1] == 416


def test_conditional_writes(s3: Any, bucket: str) -> None:
    """If-None-Match: * writes only a new key; If-Match only over the version named (S3 since 2024)."""
    first = s3.put_object(Bucket=bucket, Key="w", Body=b"one", IfNoneMatch="*")["ETag"]
    assert error_of(s3.put_object, Bucket=bucket, Key="w", Body=b"two", IfNoneMatch="*")[:2] == (
        "PreconditionFailed",
        412,
    )
    assert error_of(s3.put_object, Bucket=bucket, Key="w", Body=b"two", IfMatch='"0000"')[:2] == (
        "PreconditionFailed",
        412,
    )
    assert error_of(s3.put_object, Bucket=bucket, Key="none", Body=b"x", IfMatch=first)[:2] == ("NoSuchKey", 404)
    assert error_of(s3.put_object, Bucket=bucket, Key="w", Body=b"two", IfNoneMatch=first)[:2] == (
        "InvalidArgument",  # on a write, If-None-Match takes only '*'
        400,
    )
    assert s3.get_object(Bucket=bucket, Key="w")["Body"].read() == b"one"  # the refused writes changed nothing
    second = s3.put_object(Bucket=bucket, Key="w", Body=b"two", IfMatch=first)["ETag"]
    assert s3.get_object(Bucket=bucket, Key="w")["Body"].read() == b"two" and second != first
    uid = s3.create_multipart_upload(Bucket=bucket, Key="w")["UploadId"]
    part = s3.upload_part(Bucket=bucket, Key="w", UploadId=uid, PartNumber=1, Body=b"three")["ETag"]
    parts = {"Parts": [{"PartNumber": 1, "ETag": part}]}
    complete = {"Bucket": bucket, "Key": "w", "UploadId": uid, "MultipartUpload": parts}
    assert error_of(s3.complete_multipart_upload, **complete, IfNoneMatch="*")[:2] == ("PreconditionFailed", 412)
    s3.complete_multipart_upload(**complete, IfMatch=second)  # the upload outlived the refusal
    assert s3.get_object(Bucket=bucket, Key="w")["Body"].read() == b"three"


def test_conditional_get(s3: Any, bucket: str) -> None:
    etag = s3.put_object(Bucket=bucket, Key="c", Body=b"v")["ETag"]
    assert s3.get_object(Bucket=bucket, Key="c", IfMatch=etag)["Body"].read() == b"v"
    assert error_of(s3.get_object, Bucket=bucket, Key="c", IfMatch='"0000"')[:2] == ("PreconditionFailed", 412)
    assert error_of(s3.get_object, Bucket=bucket, Key="c", IfNoneMatch=etag)[1] == 304


def test_copy_object(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="src/a b", Body=b"copied", Metadata={"m": "1"}, ContentType="text/x")
    result = s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src/a b"})
    assert result["CopyObjectResult"]["ETag"] == f'"{hashlib.md5(b"copied").hexdigest()}"'
    got = s3.get_object(Bucket=bucket, Key="dst")
    assert got["Body"].read() == b"copied" and got["Metadata"] == {"m": "1"} and got["ContentType"] == "text/x"
    s3.copy_object(
        Bucket=bucket, Key="dst", CopySource=f"{bucket}/src/a b", MetadataDirective="REPLACE", Metadata={"m": "2"}
    )
    assert s3.head_object(Bucket=bucket, Key="dst")["Metadata"] == {"m": "2"}
    code, status, _ = error_of(s3.copy_object, Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "dst"})
    assert (code, status) == ("InvalidArgument", 400)
    assert (
        error_of(s3.copy_object, Bucket=bucket, Key="x", CopySource={"Bucket": bucket, "Key": "none"})[0] == "NoSuchKey"
    )


def test_delete_objects(s3: Any, bucket: str) -> None:
    for key in ("a", "b", "c"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    result = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "a"}, {"Key": "b"}, {"Key": "zz"}]})
    assert sorted(d["Key"] for d in result["Deleted"]) == ["a", "b", "zz"]
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["c"]
    quiet = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "c"}], "Quiet": True})
    assert "Deleted" not in quiet
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


# --- listings ------------------------------------------------------------------------------------------


KEYS = ["a/1", "a/2", "a/b/3", "b", "c/4", "c/5/6", "d", "é", "日本/x"]


@pytest.fixture
def filled(s3: Any, bucket: str) -> str:
    for key in KEYS:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    return bucket


def test_list_all_in_utf8_order(s3: Any, filled: str) -> None:
    page = s3.list_objects_v2(Bucket=filled)
    assert [o["Key"] for o in page["Contents"]] == sorted(KEYS, key=lambda k: k.encode())
    assert page["KeyCount"] == len(KEYS) and page["IsTruncated"] is False
    assert all(o["Size"] == len(o["Key"].encode()) for o in page["Contents"])


def test_list_with_delimiter_and_prefix(s3: Any, filled: str) -> None:
    top = s3.list_objects_v2(Bucket=filled, Delimiter="/")
    assert [o["Key"] for o in top["Contents"]] == ["b", "d", "é"]
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["a/", "c/", "日本/"]
    inner = s3.list_objects_v2(Bucket=filled, Prefix="a/", Delimiter="/")
    assert [o["Key"] for o in inner["Contents"]] == ["a/1", "a/2"]
    assert [p["Prefix"] for p in inner["CommonPrefixes"]] == ["a/b/"]
    assert s3.list_objects_v2(Bucket=filled, Prefix="zzz")["KeyCount"] == 0


@pytest.mark.parametrize("delimiter", ["", "/"])
@pytest.mark.parametrize("page_size", [1, 2, 3])
def test_paginating_gives_everything_once(s3: Any, filled: str, delimiter: str, page_size: int) -> None:
    seen: list[str] = []
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=filled, Delimiter=delimiter, PaginationConfig={"PageSize": page_size}
    )
    for page in pages:
        assert page["KeyCount"] <= page_size
        seen += [o["Key"] for o in page.get("Contents", [])] + [p["Prefix"] for p in page.get("CommonPrefixes", [])]
    whole = s3.list_objects_v2(Bucket=filled, Delimiter=delimiter)
    expected = [o["Key"] for o in whole.get("Contents", [])] + [p["Prefix"] for p in whole.get("CommonPrefixes", [])]
    assert sorted(seen) == sorted(expected) and len(seen) == len(set(seen))


@pytest.mark.parametrize("delimiter", ["", "/"])
def test_list_objects_v1_pages_with_markers(s3: Any, filled: str, delimiter: str) -> None:
    seen: list[str] = []
    for page in s3.get_paginator("list_objects").paginate(
        Bucket=filled, Delimiter=delimiter, PaginationConfig={"PageSize": 2}
    ):
        seen += [o["Key"] for o in page.get("Contents", [])] + [p["Prefix"] for p in page.get("CommonPrefixes", [])]
    assert len(seen) == len(set(seen)) == (len(KEYS) if not delimiter else 6)


def test_start_after_and_bad_token(s3: Any, filled: str) -> None:
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=filled, StartAfter="c/5/6")["Contents"]] == ["d", "é", "日本/x"]
    assert error_of(s3.list_objects_v2, Bucket=filled, ContinuationToken="garbage")[:2] == ("InvalidArgument", 400)


# --- multipart -----------------------------------------------------------------------------------------

MB = 1024 * 1024


def test_multipart_upload(s3: Any, bucket: str) -> None:
    parts = [bytes([i]) * (5 * MB) for i in range(2)] + [b"tail"]
    upload = s3.create_multipart_upload(Bucket=bucket, Key="big", ContentType="application/x-big")
    uid = upload["UploadId"]
    etags = [
        s3.upload_part(Bucket=bucket, Key="big", UploadId=uid, PartNumber=n + 1, Body=body)["ETag"]
        for n, body in enumerate(parts)
    ]
    listed = s3.list_parts(Bucket=bucket, Key="big", UploadId=uid)["Parts"]
    assert [(p["PartNumber"], p["ETag"], p["Size"]) for p in listed] == [
        (n + 1, etags[n], len(parts[n])) for n in range(3)
    ]
    assert [u["UploadId"] for u in s3.list_multipart_uploads(Bucket=bucket)["Uploads"]] == [uid]
    done = s3.complete_multipart_upload(
        Bucket=bucket,
        Key="big",
        UploadId=uid,
        MultipartUpload={"Parts": [{"PartNumber": n + 1, "ETag": e} for n, e in enumerate(etags)]},
    )
    digest = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest()
    assert done["ETag"] == f'"{digest}-3"'
    got = s3.get_object(Bucket=bucket, Key="big")
    assert got["ContentType"] == "application/x-big" and got["Body"].read() == b"".join(parts)
    assert error_of(s3.list_parts, Bucket=bucket, Key="big", UploadId=uid)[:2] == ("NoSuchUpload", 404)


def test_a_part_sent_again_and_a_part_left_out_are_honoured(s3: Any, bucket: str) -> None:
    """Off the in-place path (docs/s3.md): a part replaced and one not chosen; the object is what
    was chosen, in order."""
    bodies = {n: bytes([n]) * (5 * MB) for n in (1, 2, 3)}
    uid = s3.create_multipart_upload(Bucket=bucket, Key="mixed")["UploadId"]
    etags = {
        n: s3.upload_part(Bucket=bucket, Key="mixed", UploadId=uid, PartNumber=n, Body=b)["ETag"]
        for n, b in bodies.items()
    }
    bodies[2] = b"again" * MB
    etags[2] = s3.upload_part(Bucket=bucket, Key="mixed", UploadId=uid, PartNumber=2, Body=bodies[2])["ETag"]
    chosen = [{"PartNumber": n, "ETag": etags[n]} for n in (1, 2)]
    s3.complete_multipart_upload(Bucket=bucket, Key="mixed", UploadId=uid, MultipartUpload={"Parts": chosen})
    assert s3.get_object(Bucket=bucket, Key="mixed")["Body"].read() == bodies[1] + bodies[2]
    assert s3.get_object(Bucket=bucket, Key="mixed", Range="bytes=5242878-5242881")["Body"].read() == b"\x01\x01ag"


def test_multipart_refusals(s3: Any, bucket: str) -> None:
    uid = s3.create_multipart_upload(Bucket=bucket, Key="m")["UploadId"]
    small = s3.upload_part(Bucket=bucket, Key="m", UploadId=uid, PartNumber=1, Body=b"small")["ETag"]
    last = s3.upload_part(Bucket=bucket, Key="m", UploadId=uid, PartNumber=2, Body=b"last")["ETag"]

    def complete(parts: list[dict[str, Any]]) -> Any:
        return error_of(
            s3.complete_multipart_upload, Bucket=bucket, Key="m", UploadId=uid, MultipartUpload={"Parts": parts}
        )[:2]

    assert complete([{"PartNumber": 1, "ETag": small}, {"PartNumber": 2, "ETag": last}]) == ("EntityTooSmall", 400)
    assert complete([{"PartNumber": 2, "ETag": last}, {"PartNumber": 1, "ETag": small}]) == ("InvalidPartOrder", 400)
    assert complete([{"PartNumber": 1, "ETag": '"ffff"'}]) == ("InvalidPart", 400)
    assert complete([{"PartNumber": 7, "ETag": small}]) == ("InvalidPart", 400)
    assert complete([]) == ("MalformedXML", 400)
    assert complete([{"PartNumber": 0, "ETag": small}]) == ("InvalidArgument", 400)
    assert complete([{"PartNumber": -1, "ETag": small}]) == ("InvalidArgument", 400)
    assert error_of(s3.upload_part, Bucket=bucket, Key="m", UploadId=uid, PartNumber=10001, Body=b"x")[0] == (
        "InvalidArgument"
    )
    s3.abort_multipart_upload(Bucket=bucket, Key="m", UploadId=uid)
    assert error_of(s3.upload_part, Bucket=bucket, Key="m", UploadId=uid, PartNumber=1, Body=b"x")[:2] == (
        "NoSuchUpload",
        404,
    )
    assert error_of(s3.head_object, Bucket=bucket, Key="m")[1] == 404


def test_upload_and_download_file(s3: Any, bucket: str, tmp_path: Any) -> None:
    from boto3.s3.transfer import TransferConfig

    source = tmp_path / "src.bin"
    source.write_bytes(io.BytesIO(bytes(range(256)) * (80 * 1024)).getvalue())  # 20 MB: multipart, threads
    config = TransferConfig(multipart_threshold=8 * MB, multipart_chunksize=8 * MB)
    s3.upload_file(str(source), bucket, "file.bin", Config=config)
    target = tmp_path / "dst.bin"
    s3.download_file(bucket, "file.bin", str(target), Config=config)
    assert target.read_bytes() == source.read_bytes()


# --- aws-chunked uploads (what botocore sends over HTTPS), replayed to the server over HTTP ----------------


def _chunked_put(server: Any, bucket: str, key: str, body: bytes) -> tuple[dict[str, str], bytes]:
    """The exact PutObject botocore sends to an https endpoint (aws-chunked, CRC32 trailer), not sent."""
    sent: dict[str, Any] = {}

    class Captured(Exception):
        pass

    def grab(request: Any, **_: Any) -> None:
        sent["request"] = request
        raise Captured

    client = boto_client("s3", server.url.replace("http://", "https://"))
    client.meta.events.register("before-send.s3.PutObject", grab)
    with pytest.raises(Captured):
        client.put_object(Bucket=bucket, Key=key, Body=body)
    prepared = sent["request"]
    prepared.body.seek(0)
    headers = {k: v.decode() if isinstance(v, bytes) else v for k, v in prepared.headers.items()}
    return headers, prepared.body.read()


def _send(server: Any, path: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
    import http.client

    host = server.url.removeprefix("http://")
    connection = http.client.HTTPConnection(host, timeout=30)
    try:
        headers = {k: v for k, v in headers.items() if k.lower() not in ("expect", "transfer-encoding")}
        pieces = [body[i : i + 4096] for i in range(0, len(body), 4096)]  # HTTP chunks around aws-chunked ones
        connection.request("PUT", path, iter(pieces), headers, encode_chunked=True)
        reply = connection.getresponse()
        return reply.status, reply.read()
    finally:
        connection.close()


def test_aws_chunked_upload_with_a_checksum_trailer(s3: Any, bucket: str, server: Any) -> None:
    body = bytes(range(256)) * 300
    headers, framed = _chunked_put(server, bucket, "chunked", body)
    assert headers["Content-Encoding"].startswith("aws-chunked") and "x-amz-checksum-crc32" in headers["X-Amz-Trailer"]
    status, reply = _send(server, f"/{bucket}/chunked", headers, framed)
    assert status == 200, reply
    got = s3.get_object(Bucket=bucket, Key="chunked", ChecksumMode="ENABLED")
    assert got["Body"].read() == body and got["ChecksumCRC32"] and "ContentEncoding" not in got


def test_aws_chunked_upload_with_a_wrong_trailer_is_refused(s3: Any, bucket: str, server: Any) -> None:
    headers, framed = _chunked_put(server, bucket, "bad-trailer", b"x" * 5000)
    name, _, value = framed.rstrip(b"\r\n").rpartition(b"\r\n")[2].partition(b":")
    forged = framed.replace(name + b":" + value, name + b":AAAAAA==")
    status, reply = _send(server, f"/{bucket}/bad-trailer", headers, forged)
    assert status == 400 and b"<Code>BadDigest</Code>" in reply
    assert error_of(s3.head_object, Bucket=bucket, Key="bad-trailer")[1] == 404
    assert list((server.data_dir / "objects" / "tmp").iterdir()) == []
