"""aws-chunked decoding and body checks: bodies botocore builds, AWS's published signed examples, and our own."""

from __future__ import annotations

import base64
import hashlib
import zlib
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import google_crc32c
import pytest
from botocore.awsrequest import AWSPreparedRequest
from botocore.httpchecksum import AwsChunkedWrapper

from homeport.api.asgi import WireError
from homeport.api.auth.signature import verify
from homeport.api.auth.sigv4 import EMPTY_SHA256, PayloadMode, RawRequest, Verified, hmac_hex
from homeport.api.s3.checksums import BodyCheck, BodyError, BodyFault, Digests, check_sdk_algorithm, s3_error
from homeport.api.s3.chunked import AwsChunkedDecoder, is_aws_chunked, stored_content_encoding
from tests.api.auth.test_sigv4 import KEYS, SK, capture, client, headers_of

# --- helpers ---------------------------------------------------------------------------------------------------


def encoded_body(prepared: AWSPreparedRequest) -> bytes:
    body = prepared.body
    if isinstance(body, AwsChunkedWrapper):
        body.seek(0)
        return bytes(body.read())
    if hasattr(body, "read"):
        body.seek(0)
        return bytes(body.read())
    return bytes(body or b"")


def put(body: bytes, *, https: bool = True, **kwargs: Any) -> tuple[RawRequest, bytes, Verified]:
    """A PutObject as botocore sends it, and what verify() made of its headers."""
    config = kwargs.pop("config", {})
    s3 = client("s3", url="https://127.0.0.1:9" if https else "http://127.0.0.1:9", **config)
    prepared = capture(lambda: s3.put_object(Bucket="bucket", Key="some key", Body=body, **kwargs))
    parts = urlsplit(prepared.url)
    request = RawRequest(prepared.method, parts.path.encode(), parts.query.encode(), headers_of(prepared))
    when = datetime.strptime(dict(request.headers)[b"x-amz-date"].decode(), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    return request, encoded_body(prepared), verify(request, KEYS, when)


def pieces(data: bytes, size: int) -> Iterable[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def decode(decoder: AwsChunkedDecoder, data: bytes, size: int) -> bytes:
    out = b"".join(decoder.feed(piece) for piece in pieces(data, size))
    decoder.finish()
    return out


def fails(decoder: AwsChunkedDecoder, data: bytes, fault: BodyFault, size: int = 4096) -> BodyError:
    with pytest.raises(BodyError) as caught:
        decode(decoder, data, size)
    assert caught.value.fault is fault, caught.value.message
    return caught.value


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def crc32(data: bytes) -> str:
    return b64(zlib.crc32(data).to_bytes(4, "big"))


def crc32c(data: bytes) -> str:
    return b64(google_crc32c.value(data).to_bytes(4, "big"))


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore's chunks are 1 MiB; smaller ones keep multi-chunk bodies quick to feed byte by byte."""
    monkeypatch.setattr(AwsChunkedWrapper, "_DEFAULT_CHUNK_SIZE", 8192)


# --- unsigned chunks with a trailer, as botocore sends them ----------------------------------------------------

EXPECTED = {
    "crc32": crc32,
    "crc32c": crc32c,
    "crc64nvme": lambda data: b64(crc64nvme_reference(data).to_bytes(8, "big")),
    "sha1": lambda data: b64(hashlib.sha1(data).digest()),
    "sha256": lambda data: b64(hashlib.sha256(data).digest()),
}


@pytest.mark.parametrize("algorithm", [None, "CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"])
@pytest.mark.parametrize("length", [0, 11, 20000])
def test_botocore_unsigned_trailer_bodies(small_chunks: None, algorithm: str | None, length: int) -> None:
    body = bytes(range(256)) * (length // 256) + b"x" * (length % 256)
    extra = {"ChecksumAlgorithm": algorithm} if algorithm else {}
    request, encoded, auth = put(body, **extra)
    assert auth.payload is PayloadMode.STREAMING_UNSIGNED_TRAILER
    assert is_aws_chunked(request.headers, auth)
    name = (algorithm or "CRC32").lower()
    for size in (1, 7, 4096, len(encoded)):
        decoder = AwsChunkedDecoder.for_request(request.headers, auth, digests=["md5"])
        assert decode(decoder, encoded, size) == body
        assert decoder.length == len(body)
        assert decoder.trailers == {f"x-amz-checksum-{name}": EXPECTED[name](body)}
        assert decoder.checksums == {name: EXPECTED[name](body)}
        assert decoder.check.digest("md5") == hashlib.md5(body).digest()


def test_botocore_large_body_streams_without_buffering() -> None:
    body = bytes(range(256)) * (3 * 4096 + 17)  # a little over 3 MiB: four of botocore's 1 MiB chunks
    request, encoded, auth = put(body)
    decoder = AwsChunkedDecoder.for_request(request.headers, auth)
    out = []
    for piece in pieces(encoded, 65536):
        decoded = decoder.feed(piece)
        assert len(decoded) >= len(piece) - 64  # only framing is held back
        out.append(decoded)
    decoder.finish()
    assert b"".join(out) == body


def test_botocore_without_flexible_checksums_sends_a_plain_body() -> None:
    request, encoded, auth = put(b"plain", config={"request_checksum_calculation": "when_required"})
    assert auth.payload is PayloadMode.SHA256 and not is_aws_chunked(request.headers, auth)
    check = BodyCheck.for_request(request.headers, auth)
    check.update(encoded)
    check.finish()
    assert check.checksums == {}
    tampered = BodyCheck.for_request(request.headers, auth)
    tampered.update(b"PLAIN")
    with pytest.raises(BodyError) as caught:
        tampered.finish()
    assert caught.value.fault is BodyFault.SHA256_MISMATCH
    assert s3_error(caught.value).code == "XAmzContentSHA256Mismatch"


def test_tampered_unsigned_trailer_bodies(small_chunks: None) -> None:
    body = b"0123456789" * 2000
    _, encoded, auth = put(body)
    trailer_value = crc32(body).encode()

    def decoder(**changes: Any) -> AwsChunkedDecoder:
        options: dict[str, Any] = {"auth": auth, "trailer": "x-amz-checksum-crc32", "decoded_length": len(body)}
        return AwsChunkedDecoder(PayloadMode.STREAMING_UNSIGNED_TRAILER, **{**options, **changes})

    changed = encoded.replace(b"0123", b"0124", 1)
    error = fails(decoder(), changed, BodyFault.CHECKSUM_MISMATCH)
    assert s3_error(error) == WireError(
        "BadDigest", 400, "The CRC32 you specified did not match the calculated checksum."
    )
    other = crc32(body + b"!").encode()
    fails(decoder(), encoded.replace(trailer_value, other), BodyFault.CHECKSUM_MISMATCH)
    error = fails(decoder(), encoded.replace(trailer_value, b"not base64!"), BodyFault.INVALID_CHECKSUM)
    assert s3_error(error).message == "Value for x-amz-checksum-crc32 trailing header is invalid."
    error = fails(decoder(decoded_length=len(body) + 1), encoded, BodyFault.LENGTH_MISMATCH)
    assert dict(s3_error(error).fields) == {
        "NumberBytesExpected": str(len(body) + 1),
        "NumberBytesProvided": str(len(body)),
    }
    fails(decoder(decoded_length=len(body) - 1), encoded, BodyFault.LENGTH_MISMATCH)
    fails(decoder(trailer=None), encoded, BodyFault.MALFORMED_TRAILER)  # a trailer nobody announced
    fails(decoder(trailer="x-amz-checksum-crc32c"), encoded, BodyFault.MALFORMED_TRAILER)
    without = encoded[: encoded.index(b"x-amz-checksum-crc32:")] + b"\r\n"
    fails(decoder(), without, BodyFault.MALFORMED_TRAILER)


def test_every_truncation_is_refused() -> None:
    body = b"hello world"
    request, encoded, auth = put(body)
    for cut in range(len(encoded)):
        decoder = AwsChunkedDecoder.for_request(request.headers, auth)
        decoder.feed(encoded[:cut])
        if cut == len(encoded) - 2:  # everything but the closing CRLF after a whole trailer: accepted
            decoder.finish()
            continue
        with pytest.raises(BodyError) as caught:
            decoder.finish()
        assert caught.value.fault in (BodyFault.TRUNCATED, BodyFault.MALFORMED_TRAILER), cut
    error = fails(AwsChunkedDecoder.for_request(request.headers, auth), encoded[:5], BodyFault.TRUNCATED)
    assert s3_error(error) == WireError("IncompleteBody", 400, "The request body terminated unexpectedly")


# --- plain bodies ----------------------------------------------------------------------------------------------


def test_plain_body_with_checksum_header_and_content_md5() -> None:
    body = b"payload " * 100
    md5 = b64(hashlib.md5(body).digest())
    request, encoded, auth = put(body, https=False, ContentMD5=md5)
    assert auth.payload is PayloadMode.SHA256 and not auth.payload_verified
    assert not is_aws_chunked(request.headers, auth)
    check = BodyCheck.for_request(request.headers, auth, digests=["md5"])
    for piece in pieces(encoded, 3):
        check.update(piece)
    check.finish()
    assert check.checksums == {"crc32": crc32(body)}
    assert check.digest("md5").hex() == hashlib.md5(body).hexdigest()
    assert check.length == len(body)

    def refusal(**kwargs: Any) -> BodyError:
        made = BodyCheck(**kwargs)
        made.update(body)
        with pytest.raises(BodyError) as caught:
            made.finish()
        return caught.value

    wrong_md5 = b64(hashlib.md5(b"other").digest())
    error = refusal(content_md5=wrong_md5)
    assert error.fault is BodyFault.MD5_MISMATCH
    assert s3_error(error) == WireError(
        "BadDigest",
        400,
        "The Content-MD5 you specified did not match what we received.",
        (("ExpectedDigest", wrong_md5), ("CalculatedDigest", md5)),
    )
    assert refusal(checksum=("crc32", crc32(b"other"))).fault is BodyFault.CHECKSUM_MISMATCH
    assert refusal(checksum=("sha256", b64(hashlib.sha256(b"x").digest()))).fault is BodyFault.CHECKSUM_MISMATCH
    assert refusal(content_sha256=hashlib.sha256(b"x").hexdigest()).fault is BodyFault.SHA256_MISMATCH


def test_plain_body_already_hashed_by_verify_checks_the_rest() -> None:
    body = b"abc"
    request, _, _ = put(body, https=False)
    when = datetime.strptime(dict(request.headers)[b"x-amz-date"].decode(), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    auth = verify(request, KEYS, when, body=body)
    assert auth.payload_verified
    check = BodyCheck.for_request(request.headers, auth)
    check.update(b"abd")  # the sha256 is not checked again, the crc32 still is
    with pytest.raises(BodyError) as caught:
        check.finish()
    assert caught.value.fault is BodyFault.CHECKSUM_MISMATCH


@pytest.mark.parametrize(
    ("headers", "fault", "code"),
    [
        ([(b"content-md5", b"not base64")], BodyFault.INVALID_DIGEST, "InvalidDigest"),
        ([(b"content-md5", b"YWJj")], BodyFault.INVALID_DIGEST, "InvalidDigest"),
        ([(b"x-amz-checksum-crc32", b"AAAA")], BodyFault.INVALID_CHECKSUM, "InvalidRequest"),
        ([(b"x-amz-checksum-md4", b"AAAAAA==")], BodyFault.INVALID_CHECKSUM, "InvalidRequest"),
        (
            [(b"x-amz-checksum-crc32", b"AAAAAA=="), (b"x-amz-checksum-sha1", b"AAAAAA==")],
            BodyFault.MULTIPLE_CHECKSUMS,
            "InvalidRequest",
        ),
    ],
)
def test_unreadable_body_headers(headers: list[tuple[bytes, bytes]], fault: BodyFault, code: str) -> None:
    with pytest.raises(BodyError) as caught:
        BodyCheck.for_request(headers)
    assert caught.value.fault is fault
    assert (s3_error(caught.value).code, s3_error(caught.value).status) == (code, 400)


def test_checksum_settings_headers_are_not_checksums() -> None:
    headers = [(b"x-amz-checksum-type", b"FULL_OBJECT"), (b"x-amz-checksum-algorithm", b"CRC32")]
    check = BodyCheck.for_request(headers)
    check.update(b"x")
    check.finish()


def test_anonymous_plain_body_checks_a_hex_content_sha256() -> None:
    headers = [(b"x-amz-content-sha256", hashlib.sha256(b"x").hexdigest().encode())]
    check = BodyCheck.for_request(headers)
    check.update(b"y")
    with pytest.raises(BodyError):
        check.finish()


# --- signed chunks: AWS's published examples -------------------------------------------------------------------

EXAMPLE_KEYS = {"AKIAIOSFODNN7EXAMPLE": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}.get
EXAMPLE_DATA = b"a" * 66560


def example_auth(trailer: bool) -> tuple[RawRequest, Verified]:
    if trailer:
        signed = "content-encoding;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;"
        signed += "x-amz-storage-class;x-amz-trailer"
        seed = "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e"
    else:
        signed = "content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;"
        signed += "x-amz-storage-class"
        seed = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
    headers = {
        "host": "s3.amazonaws.com",
        "x-amz-date": "20130524T000000Z",
        "x-amz-storage-class": "REDUCED_REDUNDANCY",
        "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD" + ("-TRAILER" if trailer else ""),
        "content-encoding": "aws-chunked",
        "x-amz-decoded-content-length": "66560",
        "content-length": "66824",
        "authorization": "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
        f"SignedHeaders={signed},Signature={seed}",
    }
    if trailer:
        headers["x-amz-trailer"] = "x-amz-checksum-crc32c"
    request = RawRequest(
        "PUT", b"/examplebucket/chunkObject.txt", b"", [(k.encode(), v.encode()) for k, v in headers.items()]
    )
    return request, verify(request, EXAMPLE_KEYS, datetime(2013, 5, 24, 0, 1, tzinfo=UTC))


def example_body(signatures: list[str], trailer: bytes = b"") -> bytes:
    sizes = [65536, 1024, 0]
    parts = []
    for size, signature in zip(sizes, signatures, strict=True):
        parts.append(f"{size:x};chunk-signature={signature}\r\n".encode() + b"a" * size + (b"\r\n" if size else b""))
    return b"".join(parts) + (trailer or b"\r\n")


EXAMPLE_SIGNED = [
    "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
    "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
    "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
]
EXAMPLE_TRAILER_SIGNED = [
    "b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2",
    "1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7",
    "2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992",
]
EXAMPLE_TRAILER = (
    b"x-amz-checksum-crc32c:sOO8/Q==\r\n"
    b"x-amz-trailer-signature:d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435\r\n\r\n"
)


@pytest.mark.parametrize("size", [1, 1000, 70000])
def test_aws_example_signed_chunks(size: int) -> None:
    request, auth = example_auth(trailer=False)
    decoder = AwsChunkedDecoder.for_request(request.headers, auth)
    assert decode(decoder, example_body(EXAMPLE_SIGNED), size) == EXAMPLE_DATA


@pytest.mark.parametrize("blank_line", [False, True])
@pytest.mark.parametrize("size", [1, 70000])
def test_aws_example_signed_chunks_with_signed_trailer(blank_line: bool, size: int) -> None:
    request, auth = example_auth(trailer=True)
    decoder = AwsChunkedDecoder.for_request(request.headers, auth)
    body = example_body(EXAMPLE_TRAILER_SIGNED, (b"\r\n" if blank_line else b"") + EXAMPLE_TRAILER)
    assert decode(decoder, body, size) == EXAMPLE_DATA
    assert decoder.checksums == {"crc32c": "sOO8/Q=="}
    assert decoder.trailers == {"x-amz-checksum-crc32c": "sOO8/Q=="}


def test_aws_example_tampering() -> None:
    request, auth = example_auth(trailer=False)

    def decoder() -> AwsChunkedDecoder:
        return AwsChunkedDecoder.for_request(request.headers, auth)

    body = example_body(EXAMPLE_SIGNED)
    second = body.index(b"400;")
    changed = body[: second + 100] + b"b" + body[second + 101 :]
    error = fails(decoder(), changed, BodyFault.SIGNATURE_MISMATCH)
    assert s3_error(error).code == "SignatureDoesNotMatch" and s3_error(error).status == 403
    assert_no_secret(error, auth)
    swapped = example_body([EXAMPLE_SIGNED[1], EXAMPLE_SIGNED[0], EXAMPLE_SIGNED[2]])
    fails(decoder(), swapped, BodyFault.SIGNATURE_MISMATCH)
    fails(decoder(), body[: body.index(b"\r\n") + 1000], BodyFault.TRUNCATED)
    fails(decoder(), body.replace(b";chunk-signature=" + EXAMPLE_SIGNED[2].encode(), b""), BodyFault.SIGNATURE_MISMATCH)
    longer = dict(request.headers) | {b"x-amz-decoded-content-length": b"66561"}
    fails(AwsChunkedDecoder.for_request(list(longer.items()), auth), body, BodyFault.LENGTH_MISMATCH)


def test_aws_example_trailer_tampering() -> None:
    request, auth = example_auth(trailer=True)

    def decoder() -> AwsChunkedDecoder:
        return AwsChunkedDecoder.for_request(request.headers, auth)

    changed_value = EXAMPLE_TRAILER.replace(b"sOO8/Q==", b"sOO8/A==")
    error = fails(decoder(), example_body(EXAMPLE_TRAILER_SIGNED, changed_value), BodyFault.SIGNATURE_MISMATCH)
    assert_no_secret(error, auth)
    unsigned = EXAMPLE_TRAILER.split(b"x-amz-trailer-signature")[0] + b"\r\n"
    fails(decoder(), example_body(EXAMPLE_TRAILER_SIGNED, unsigned), BodyFault.SIGNATURE_MISMATCH)
    fails(decoder(), example_body(EXAMPLE_TRAILER_SIGNED, b"\r\n"), BodyFault.MALFORMED_TRAILER)
    fails(decoder(), example_body(EXAMPLE_TRAILER_SIGNED), BodyFault.MALFORMED_TRAILER)


# --- signed chunks made by our own signer (the spec's algorithm) -------------------------------------------------


def sign_body(auth: Verified, chunks: list[bytes], trailer: dict[str, str] | None = None) -> bytes:
    previous = auth.signature
    parts = []
    for data in [*chunks, b""]:
        to_sign = "\n".join(
            [
                "AWS4-HMAC-SHA256-PAYLOAD",
                auth.timestamp,
                auth.scope,
                previous,
                EMPTY_SHA256,
                hashlib.sha256(data).hexdigest(),
            ]
        )
        previous = hmac_hex(auth.signing_key, to_sign)
        parts.append(f"{len(data):x};chunk-signature={previous}\r\n".encode() + data + (b"\r\n" if data else b""))
    if trailer is None:
        return b"".join(parts) + b"\r\n"
    canonical = "".join(f"{name}:{value}\n" for name, value in sorted(trailer.items()))
    to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256-TRAILER",
            auth.timestamp,
            auth.scope,
            previous,
            hashlib.sha256(canonical.encode()).hexdigest(),
        ]
    )
    lines = "".join(f"{name}:{value}\r\n" for name, value in trailer.items())
    lines += f"x-amz-trailer-signature:{hmac_hex(auth.signing_key, to_sign)}\r\n\r\n"
    return b"".join(parts) + lines.encode()


def test_own_signed_chunks_reordered_dropped_and_resized() -> None:
    _, auth = example_auth(trailer=False)
    chunks = [bytes([n]) * 9000 for n in range(3)]
    body = sign_body(auth, chunks)

    def decoder(**kwargs: Any) -> AwsChunkedDecoder:
        return AwsChunkedDecoder(auth.payload, auth=auth, **kwargs)

    assert decode(decoder(decoded_length=27000), body, 1) == b"".join(chunks)
    first_end = body.index(b"\r\n") + 2 + 9000 + 2  # every chunk: size line, 9000 bytes, CRLF
    second_end = 2 * first_end
    reordered = body[first_end:second_end] + body[:first_end] + body[second_end:]
    fails(decoder(), reordered, BodyFault.SIGNATURE_MISMATCH)
    fails(decoder(), body[:first_end] + body[second_end:], BodyFault.SIGNATURE_MISMATCH)
    small = sign_body(auth, [b"x" * 100, b"y" * 9000])
    error = fails(decoder(), small, BodyFault.CHUNK_TOO_SMALL)
    assert s3_error(error) == WireError(
        "InvalidChunkSizeError",
        400,
        "Only the last chunk is allowed to have a size less than 8192 bytes",
        (("Chunk", "1"), ("BadChunkSize", "100")),
    )
    assert decode(decoder(min_chunk_size=0), small, 50) == b"x" * 100 + b"y" * 9000


def test_own_signed_trailer_with_a_wrong_but_signed_checksum() -> None:
    _, auth = example_auth(trailer=True)
    data = [b"q" * 10000]
    good = sign_body(auth, data, {"x-amz-checksum-crc32c": crc32c(data[0])})
    decoder = AwsChunkedDecoder(auth.payload, auth=auth, trailer="x-amz-checksum-crc32c")
    assert decode(decoder, good, 333) == data[0]
    wrong = sign_body(auth, data, {"x-amz-checksum-crc32c": crc32c(b"other")})
    decoder = AwsChunkedDecoder(auth.payload, auth=auth, trailer="x-amz-checksum-crc32c")
    error = fails(decoder, wrong, BodyFault.CHECKSUM_MISMATCH)
    assert s3_error(error).message == "The CRC32C you specified did not match the calculated checksum."
    extra = sign_body(auth, data, {"x-amz-checksum-crc32c": crc32c(data[0]), "x-amz-meta-late": "1"})
    decoder = AwsChunkedDecoder(auth.payload, auth=auth, trailer="x-amz-checksum-crc32c")
    fails(decoder, extra, BodyFault.MALFORMED_TRAILER)


@pytest.mark.parametrize(
    ("body", "fault"),
    [
        (b"zz\r\n", BodyFault.MALFORMED),
        (b"\r\n", BodyFault.MALFORMED),
        (b"5\nhello\r\n0\r\n\r\n", BodyFault.MALFORMED),
        (b"5\r\nhello!\r\n0\r\n\r\n", BodyFault.MALFORMED),
        (b"0\r\n\r\nextra", BodyFault.MALFORMED),
        (b"1" * 5000, BodyFault.MALFORMED),
        (b"0\r\n" + b"x" * 20000, BodyFault.MALFORMED),
        (b"0\r\nno colon here\r\n\r\n", BodyFault.MALFORMED_TRAILER),
        (b"0\r\nx-amz-trailer-signature:abc\r\n\r\n", BodyFault.MALFORMED_TRAILER),
        (b"10000000000000000\r\n", BodyFault.MALFORMED),
    ],
)
def test_broken_framing(body: bytes, fault: BodyFault) -> None:
    decoder = AwsChunkedDecoder(PayloadMode.STREAMING_UNSIGNED_TRAILER)
    error = fails(decoder, body, fault, size=3)
    assert s3_error(error).status == 400
    with pytest.raises(BodyError) as again:
        decoder.feed(b"more")
    assert again.value is error
    with pytest.raises(BodyError):
        decoder.finish()


def test_unsigned_chunks_without_trailer() -> None:
    decoder = AwsChunkedDecoder(PayloadMode.STREAMING_UNSIGNED_TRAILER, min_chunk_size=0)
    assert decode(decoder, b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n", 2) == b"hello world"
    assert decoder.trailers == {}


def test_signed_modes_need_the_verified_request() -> None:
    with pytest.raises(ValueError, match="Verified"):
        AwsChunkedDecoder(PayloadMode.STREAMING_SIGNED)
    with pytest.raises(ValueError, match="Verified"):
        AwsChunkedDecoder.for_request([(b"x-amz-content-sha256", b"STREAMING-AWS4-HMAC-SHA256-PAYLOAD")], None)


@pytest.mark.parametrize(
    ("headers", "fault"),
    [
        ([(b"x-amz-decoded-content-length", b"-1")], BodyFault.INVALID_ARGUMENT),
        ([(b"x-amz-trailer", b"x-amz-meta-foo")], BodyFault.UNSUPPORTED_TRAILER),
        ([(b"x-amz-trailer", b"x-amz-checksum-crc32,x-amz-checksum-sha1")], BodyFault.MULTIPLE_CHECKSUMS),
        (
            [(b"x-amz-trailer", b"x-amz-checksum-crc32"), (b"x-amz-checksum-sha1", b"AAAAAAAAAAAAAAAAAAAAAAAAAAA=")],
            BodyFault.MULTIPLE_CHECKSUMS,
        ),
    ],
)
def test_unusable_chunked_headers(headers: list[tuple[bytes, bytes]], fault: BodyFault) -> None:
    with pytest.raises(BodyError) as caught:
        AwsChunkedDecoder.for_request(headers, None)
    assert caught.value.fault is fault


def test_trailer_needs_a_trailer_mode() -> None:
    _, auth = example_auth(trailer=False)
    with pytest.raises(BodyError) as caught:
        AwsChunkedDecoder(auth.payload, auth=auth, trailer="x-amz-checksum-crc32")
    assert caught.value.fault is BodyFault.UNSUPPORTED_TRAILER


# --- CRC64NVME -------------------------------------------------------------------------------------------------


def crc64nvme_reference(data: bytes, previous: int = 0) -> int:
    """CRC-64/NVME bit by bit: reflected polynomial 0x9A6C9329AC4BC9B5, all-ones init and final xor."""
    crc = previous ^ 0xFFFFFFFFFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x9A6C9329AC4BC9B5 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFFFFFFFFFF


def test_crc64nvme_matches_the_reference() -> None:
    assert crc64nvme_reference(b"123456789") == 0xAE8B14860A799888  # the catalogue's check value
    data = b"0123456789" * 1000
    value = b64(crc64nvme_reference(data).to_bytes(8, "big"))
    body = f"{len(data):x}\r\n".encode() + data + f"\r\n0\r\nx-amz-checksum-crc64nvme:{value}\r\n\r\n".encode()
    decoder = AwsChunkedDecoder(PayloadMode.STREAMING_UNSIGNED_TRAILER, trailer="x-amz-checksum-crc64nvme")
    assert decode(decoder, body, 997) == data
    assert decoder.checksums == {"crc64nvme": value}


# --- the rest --------------------------------------------------------------------------------------------------


def test_digests_match_the_reference_implementations() -> None:
    digests = Digests(["md5", "sha1", "sha256", "crc32", "crc32c"])
    for piece in pieces(b"123456789", 2):
        digests.update(piece)
    assert digests.digest("crc32").hex() == "cbf43926"  # CRC-32 check value
    assert digests.digest("crc32c").hex() == "e3069283"  # CRC-32C check value
    assert digests.digest("md5") == hashlib.md5(b"123456789").digest()
    with pytest.raises(ValueError):
        Digests(["md4"])


def test_content_encoding_helpers() -> None:
    assert is_aws_chunked([(b"content-encoding", b"gzip, aws-chunked")])
    assert not is_aws_chunked([(b"content-encoding", b"gzip")])
    assert stored_content_encoding("aws-chunked") is None
    assert stored_content_encoding("aws-chunked, gzip") == "gzip"
    assert stored_content_encoding("gzip") == "gzip"
    assert stored_content_encoding(None) is None


def test_every_fault_has_an_s3_error() -> None:
    for fault in BodyFault:
        wire = s3_error(BodyError(fault, "why"))
        assert wire.code and wire.status in (400, 403, 501) and wire.message


def assert_no_secret(error: BodyError, auth: Verified) -> None:
    texts = [str(error), repr(error), *error.fields.values(), s3_error(error).message]
    forbidden = [SK, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", auth.signing_key.hex()]
    if "StringToSign" in error.fields:
        forbidden.append(hmac_hex(auth.signing_key, error.fields["StringToSign"]))
    for text in texts:
        for secret in forbidden:
            assert secret not in text


# --- x-amz-sdk-checksum-algorithm -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "refusal"),
    [
        ({"x-amz-sdk-checksum-algorithm": "CRC32", "x-amz-checksum-crc32": "AAAAAA=="}, None),
        ({"x-amz-sdk-checksum-algorithm": "crc32c", "x-amz-trailer": "x-amz-checksum-crc32c"}, None),
        ({}, None),
        ({"x-amz-sdk-checksum-algorithm": "MD4", "x-amz-checksum-crc32": "AAAAAA=="}, "is invalid"),
        ({"x-amz-sdk-checksum-algorithm": "SHA1", "x-amz-checksum-crc32": "AAAAAA=="}, "is invalid"),
        ({"x-amz-sdk-checksum-algorithm": "SHA1", "x-amz-trailer": "x-amz-checksum-crc32"}, "is invalid"),
        ({"x-amz-sdk-checksum-algorithm": "CRC32"}, "no corresponding"),
    ],
    ids=["header", "trailer", "none declared", "unknown", "another header", "another trailer", "nothing sent"],
)
def test_the_sdk_checksum_algorithm_names_the_checksum_sent(headers: dict[str, str], refusal: str | None) -> None:
    raw = [(k.encode(), v.encode()) for k, v in headers.items()]
    if refusal is None:
        check_sdk_algorithm(raw)
        return
    with pytest.raises(BodyError) as caught:
        check_sdk_algorithm(raw)
    assert refusal in caught.value.message
    assert (s3_error(caught.value).code, s3_error(caught.value).status) == ("InvalidRequest", 400)
