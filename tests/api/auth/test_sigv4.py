"""SigV4 verification, driven by requests that botocore itself signs (captured before they are sent)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSPreparedRequest, AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from homeport.api.asgi import WireError
from homeport.api.auth import sigv4
from homeport.api.auth.refusals import json_error, s3_error
from homeport.api.auth.signature import verify
from homeport.api.auth.sigv4 import AuthFailure, PayloadMode, RawRequest, Reason, Verified

AK = "HPTESTACCESSKEY00001"
SK = "zz9SeCrEt/+plural/z-alpha0123456789ABCDE"  # 40 characters, unique enough to grep for
KEYS = {AK: SK}.get
URL = "http://127.0.0.1:9"


class Captured(Exception):
    def __init__(self, request: AWSPreparedRequest) -> None:
        super().__init__("captured")
        self.request = request


def _raise(request: AWSPreparedRequest, **_: Any) -> None:
    raise Captured(request)


def client(service: str, url: str = URL, secret: str = SK, **config: Any) -> Any:
    made = boto3.client(
        service,
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=AK,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 0}, s3={"addressing_style": "path"}, **config),
    )
    made.meta.events.register("before-send", _raise)
    return made


def capture(call: Callable[[], Any]) -> AWSPreparedRequest:
    with pytest.raises(Captured) as caught:
        call()
    return caught.value.request


def body_of(prepared: AWSPreparedRequest) -> bytes:
    body = prepared.body
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8")
    body.seek(0)
    data: bytes = body.read()
    return data


def headers_of(prepared: AWSPreparedRequest) -> list[tuple[bytes, bytes]]:
    headers = []
    for name, value in prepared.headers.items():
        raw = value if isinstance(value, bytes) else str(value).encode("latin-1")
        headers.append((name.lower().encode("latin-1"), raw))
    if not any(name == b"host" for name, _ in headers):  # urllib3 adds it when sending
        headers.append((b"host", urlsplit(prepared.url).netloc.encode("ascii")))
    return headers


def raw(prepared: AWSPreparedRequest) -> RawRequest:
    parts = urlsplit(prepared.url)
    return RawRequest(
        prepared.method, parts.path.encode("latin-1"), parts.query.encode("latin-1"), headers_of(prepared)
    )


def signed_at(request: RawRequest) -> datetime:
    for name, value in request.headers:
        if name == b"x-amz-date":
            return datetime.strptime(value.decode(), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    params = dict(parse_qsl(request.query.decode()))
    return datetime.strptime(params["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def check(request: RawRequest, *, now: datetime | None = None, **kwargs: Any) -> Verified:
    return verify(request, KEYS, now or signed_at(request) + timedelta(seconds=3), **kwargs)


def refused(request: RawRequest, reason: Reason, *, now: datetime | None = None, **kwargs: Any) -> AuthFailure:
    with pytest.raises(AuthFailure) as caught:
        check(request, now=now, **kwargs)
    failure = caught.value
    assert failure.reason is reason, failure.message
    assert_no_secret(failure)
    return failure


def assert_no_secret(failure: AuthFailure) -> None:
    """Neither the secret nor anything the server derived from it may leave in a message, a detail or an error."""
    derived = [SK]
    if "string_to_sign" in failure.details:
        scope = failure.details["string_to_sign"].split("\n")[2].split("/")
        key = sigv4.signing_key(SK, scope[0], scope[1], scope[2])
        derived += [key.hex(), sigv4.hmac_hex(key, failure.details["string_to_sign"])]
    texts = [str(failure), repr(failure), *failure.details.values()]
    for wire in (json_error(failure), s3_error(failure)):
        texts += [wire.message, repr(wire), *(value for _, value in wire.fields)]
    for text in texts:
        for secret in derived:
            assert secret not in text


def with_headers(request: RawRequest, **changes: str | None) -> RawRequest:
    """A copy of `request` with headers replaced (None removes one); names use _ for -."""
    names = {name.replace("_", "-").encode(): value for name, value in changes.items()}
    kept = [(name, value) for name, value in request.headers if name not in names]
    added = [(name, value.encode("latin-1")) for name, value in names.items() if value is not None]
    return RawRequest(request.method, request.path, request.query, kept + added)


def with_query(request: RawRequest, **changes: str | None) -> RawRequest:
    params = [(k, v) for k, v in parse_qsl(request.query.decode(), keep_blank_values=True) if k not in changes]
    params += [(k, v) for k, v in changes.items() if v is not None]
    query = urlencode(params, quote_via=quote).encode()
    return RawRequest(request.method, request.path, query, request.headers)


def header(request: RawRequest, name: str) -> str:
    return next(value.decode("latin-1") for key, value in request.headers if key == name.encode())


# --- requests botocore signs -----------------------------------------------------------------------------------

S3_KEYS = [
    "plain.txt",
    "with space.txt",
    "plus+sign",
    "percent%25literal%",
    "unicode/ünïcødé/日本語.bin",
    "tilde~name",
    "double//slash/",
    "dots/./and/../segments",
    "!*'();:@&=$,?#[]",
]


@pytest.fixture(scope="module")
def sagemaker() -> Any:
    return client("sagemaker")


@pytest.fixture(scope="module")
def runtime() -> Any:
    return client("sagemaker-runtime")


@pytest.fixture(scope="module")
def s3() -> Any:
    # boto3 presigns S3 URLs with SigV2 unless told otherwise (see test_default_presigned_urls_are_sigv2)
    return client("s3", signature_version="s3v4")


def test_sagemaker_json_request_verifies_with_its_body(sagemaker: Any) -> None:
    prepared = capture(lambda: sagemaker.create_model(ModelName="m-1", ExecutionRoleArn="arn:aws:iam::0:role/r"))
    request, body = raw(prepared), body_of(prepared)
    verified = check(request, body=body)
    assert (verified.access_key_id, verified.region, verified.service) == (AK, "us-east-1", "sagemaker")
    assert verified.scope == f"{verified.timestamp[:8]}/us-east-1/sagemaker/aws4_request"
    assert verified.payload is PayloadMode.SHA256
    assert verified.payload_verified
    assert verified.content_sha256 == hashlib.sha256(body).hexdigest()
    assert not verified.presigned and verified.expires_at is None
    assert check(request, body_sha256=hashlib.sha256(body).hexdigest()).payload_verified


def test_json_request_needs_the_body_or_its_hash(sagemaker: Any) -> None:
    request = raw(capture(lambda: sagemaker.list_endpoints()))
    with pytest.raises(ValueError, match="body"):
        check(request)


@pytest.mark.parametrize("name", ["my-endpoint", "ep name+x%y~ü", "a/b", "..", "x;y=z"])
def test_runtime_invoke_endpoint_with_names_needing_encoding(runtime: Any, name: str) -> None:
    prepared = capture(
        lambda: runtime.invoke_endpoint(
            EndpointName=name, Body=b'{"x": [1, 2]}', ContentType="application/json", CustomAttributes="a=b c"
        )
    )
    verified = check(raw(prepared), body=body_of(prepared))
    assert verified.service == "sagemaker"


@pytest.mark.parametrize("key", S3_KEYS)
def test_s3_put_and_get_object_with_awkward_keys(s3: Any, key: str) -> None:
    body = b"hello, " + key.encode()
    prepared = capture(lambda: s3.put_object(Bucket="bucket", Key=key, Body=body, Metadata={"note": "x  y"}))
    request = raw(prepared)
    verified = check(request)
    assert verified.service == "s3"
    assert verified.payload is PayloadMode.SHA256
    assert verified.content_sha256 == hashlib.sha256(body).hexdigest()
    assert not verified.payload_verified  # the S3 face checks it while streaming
    assert check(request, body=body).payload_verified
    got = raw(capture(lambda: s3.get_object(Bucket="bucket", Key=key, Range="bytes=0-9")))
    assert check(got).content_sha256 == hashlib.sha256(b"").hexdigest()


def test_s3_list_objects_v2_query_strings(s3: Any) -> None:
    prepared = capture(
        lambda: s3.list_objects_v2(
            Bucket="bucket",
            Prefix="a b/ü+c%/",
            Delimiter="/",
            ContinuationToken="1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=",
            StartAfter="x~y",
            EncodingType="url",
            MaxKeys=7,
        )
    )
    request = raw(prepared)
    assert b"continuation-token=" in request.query
    check(request)


def test_s3_subresource_without_value(s3: Any) -> None:
    request = raw(capture(lambda: s3.create_multipart_upload(Bucket="bucket", Key="k k")))
    assert request.query == b"uploads"
    check(request)


@pytest.mark.parametrize("key", ["plain.txt", "with space+plus%pct~/ü//x"])
@pytest.mark.parametrize("method", ["get_object", "put_object"])
def test_presigned_urls(s3: Any, key: str, method: str) -> None:
    url = s3.generate_presigned_url(method, Params={"Bucket": "bucket", "Key": key}, ExpiresIn=300)
    parts = urlsplit(url)
    request = RawRequest(
        "GET" if method == "get_object" else "PUT",
        parts.path.encode(),
        parts.query.encode(),
        [(b"host", parts.netloc.encode()), (b"user-agent", b"curl/8")],
    )
    verified = check(request, now=signed_at(request) + timedelta(seconds=299))
    assert verified.presigned
    assert verified.payload is PayloadMode.UNSIGNED
    assert verified.expires_at == signed_at(request) + timedelta(seconds=300)


def test_default_presigned_urls_are_sigv2_and_refused_with_a_hint() -> None:
    url = client("s3").generate_presigned_url("get_object", Params={"Bucket": "b", "Key": "k"})
    parts = urlsplit(url)
    request = RawRequest("GET", parts.path.encode(), parts.query.encode(), [(b"host", parts.netloc.encode())])
    with pytest.raises(AuthFailure) as caught:
        verify(request, KEYS, datetime.now(UTC))
    assert caught.value.reason is Reason.UNSUPPORTED
    assert "signature_version='s3v4'" in caught.value.message


def test_presigned_url_with_its_security_token_and_response_overrides(s3: Any) -> None:
    url = s3.generate_presigned_url(
        "get_object",
        Params={"Bucket": "bucket", "Key": "k", "ResponseContentDisposition": 'attachment; filename="a b.txt"'},
        ExpiresIn=60,
    )
    parts = urlsplit(url)
    request = RawRequest("GET", parts.path.encode(), parts.query.encode(), [(b"host", parts.netloc.encode())])
    check(request)


def test_s3_path_signed_in_canonical_form_but_sent_less_encoded(s3: Any) -> None:
    request = raw(capture(lambda: s3.get_object(Bucket="bucket", Key="a!b(c)")))
    assert request.path == b"/bucket/a%21b%28c%29"
    check(RawRequest(request.method, b"/bucket/a!b(c)", request.query, request.headers))


def test_the_date_header_can_stand_in_for_x_amz_date() -> None:
    request = AWSRequest(method="POST", url=URL + "/", data=b"{}", headers={"Date": "Fri, 24 May 2013 00:00:00 GMT"})
    request.context["timestamp"] = "20130524T000000Z"
    signer = SigV4Auth(Credentials(AK, SK), "sagemaker", "us-east-1")
    request.headers["host"] = "127.0.0.1:9"
    canonical = signer.canonical_request(request)
    signer._inject_signature_to_request(request, signer.signature(signer.string_to_sign(request, canonical), request))
    headers = [(k.lower().encode(), v.encode()) for k, v in request.headers.items()]
    signed = RawRequest("POST", b"/", b"", headers)
    verify(signed, KEYS, datetime(2013, 5, 24, 0, 1, tzinfo=UTC), body=b"{}")


def test_raw_request_from_an_asgi_scope() -> None:
    scope = {
        "method": "GET",
        "path": "/bucket/a b",
        "raw_path": b"/bucket/a%20b",
        "query_string": b"x=1",
        "headers": [[b"host", b"h"]],
    }
    request = RawRequest.from_scope(scope)
    assert (request.path, request.query, list(request.headers)) == (b"/bucket/a%20b", b"x=1", [(b"host", b"h")])


def test_signing_keys_are_cached(sagemaker: Any) -> None:
    request = raw(capture(lambda: sagemaker.list_endpoints()))
    check(request, body=b"{}")
    hits = sigv4.signing_key.cache_info().hits
    check(request, body=b"{}")
    assert sigv4.signing_key.cache_info().hits == hits + 1


def test_verified_repr_keeps_the_signing_key_out(s3: Any) -> None:
    verified = check(raw(capture(lambda: s3.get_object(Bucket="b", Key="k"))))
    assert verified.signing_key.hex() not in repr(verified)
    assert verified.signature not in repr(verified)


# --- AWS's published examples (known answers) ------------------------------------------------------------------

EXAMPLE_KEYS = {"AKIAIOSFODNN7EXAMPLE": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}.get
EXAMPLE_NOW = datetime(2013, 5, 24, 0, 5, tzinfo=UTC)


def example(method: str, path: bytes, signed: str, signature: str, **headers: str) -> RawRequest:
    authorization = (
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
        f"SignedHeaders={signed},Signature={signature}"
    )
    pairs = [(name.replace("_", "-").encode(), value.encode()) for name, value in headers.items()]
    return RawRequest(method, path, b"", [*pairs, (b"authorization", authorization.encode())])


def test_aws_example_get_object() -> None:
    request = example(
        "GET",
        b"/test.txt",
        "host;range;x-amz-content-sha256;x-amz-date",
        "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
        host="examplebucket.s3.amazonaws.com",
        range="bytes=0-9",
        x_amz_content_sha256=sigv4.EMPTY_SHA256,
        x_amz_date="20130524T000000Z",
    )
    assert verify(request, EXAMPLE_KEYS, EXAMPLE_NOW, body=b"").payload_verified


def test_aws_example_chunked_put_seed_signature() -> None:
    request = example(
        "PUT",
        b"/examplebucket/chunkObject.txt",
        "content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;"
        "x-amz-storage-class",
        "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9",
        host="s3.amazonaws.com",
        x_amz_date="20130524T000000Z",
        x_amz_storage_class="REDUCED_REDUNDANCY",
        x_amz_content_sha256="STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        content_encoding="aws-chunked",
        x_amz_decoded_content_length="66560",
        content_length="66824",
    )
    verified = verify(request, EXAMPLE_KEYS, EXAMPLE_NOW)
    assert verified.payload is PayloadMode.STREAMING_SIGNED
    assert verified.payload.signed_chunks and not verified.payload.trailer
    assert verified.signature == "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
    assert verified.content_sha256 is None


# --- every refusal ---------------------------------------------------------------------------------------------


@pytest.fixture
def signed_put(s3: Any) -> RawRequest:
    return raw(capture(lambda: s3.put_object(Bucket="bucket", Key="dir/key one", Body=b"data", ContentType="text/x")))


@pytest.fixture
def signed_json(sagemaker: Any) -> tuple[RawRequest, bytes]:
    prepared = capture(lambda: sagemaker.describe_endpoint(EndpointName="ep-1"))
    return raw(prepared), body_of(prepared)


@pytest.fixture
def presigned(s3: Any) -> RawRequest:
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "bucket", "Key": "k"}, ExpiresIn=600)
    parts = urlsplit(url)
    return RawRequest("GET", parts.path.encode(), parts.query.encode(), [(b"host", parts.netloc.encode())])


def test_missing(signed_put: RawRequest) -> None:
    bare = with_headers(signed_put, authorization=None)
    failure = refused(bare, Reason.MISSING)
    assert json_error(failure) == WireError("MissingAuthenticationTokenException", 403, "Missing Authentication Token")
    wire = s3_error(failure)
    assert (wire.code, wire.status) == ("AccessDenied", 403)
    assert wire.message.startswith("Access Denied")


@pytest.mark.parametrize(
    "authorization", ["AWS HPTESTACCESSKEY00001:c2lnbmF0dXJl", "Bearer abc.def", "AWS4-ECDSA-P256-SHA256 Credential=x"]
)
def test_unsupported_schemes(signed_put: RawRequest, authorization: str) -> None:
    failure = refused(with_headers(signed_put, authorization=authorization), Reason.UNSUPPORTED)
    assert "AWS4-HMAC-SHA256" in failure.message
    assert s3_error(failure).code == "InvalidRequest"
    assert json_error(failure).code == "IncompleteSignatureException"


def test_unsupported_query_authentication(presigned: RawRequest) -> None:
    failure = refused(with_query(presigned, **{"X-Amz-Algorithm": "AWS4-ECDSA-P256-SHA256"}), Reason.UNSUPPORTED)
    assert (s3_error(failure).code, s3_error(failure).status) == ("AuthorizationQueryParametersError", 400)
    v2 = RawRequest("GET", b"/bucket/k", b"AWSAccessKeyId=HP&Signature=abc&Expires=1", [(b"host", b"h")])
    refused(v2, Reason.UNSUPPORTED, now=datetime.now(UTC))


def test_signature_version_4a_payload_is_unsupported(signed_put: RawRequest) -> None:
    changed = with_headers(signed_put, x_amz_content_sha256="STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD")
    refused(changed, Reason.UNSUPPORTED)


def test_ambiguous(signed_put: RawRequest) -> None:
    both = RawRequest(signed_put.method, signed_put.path, b"X-Amz-Signature=abc", signed_put.headers)
    failure = refused(both, Reason.AMBIGUOUS)
    assert s3_error(failure).code == "InvalidArgument"


def test_incomplete_header(signed_put: RawRequest) -> None:
    authorization = header(signed_put, "authorization")
    without = authorization.split(", Signature=")[0]
    failure = refused(with_headers(signed_put, authorization=without), Reason.INCOMPLETE)
    assert failure.details["missing"] == "Signature"
    assert json_error(failure) == WireError(
        "IncompleteSignatureException", 400, "Authorization header requires 'Signature' parameter."
    )
    wire = s3_error(failure)
    assert (wire.code, wire.status) == ("AuthorizationHeaderMalformed", 400)
    assert "requires three components: Credential, SignedHeaders, and Signature" in wire.message


def test_incomplete_query(presigned: RawRequest) -> None:
    failure = refused(with_query(presigned, **{"X-Amz-Expires": None}), Reason.INCOMPLETE)
    wire = s3_error(failure)
    assert (wire.code, wire.status) == ("AuthorizationQueryParametersError", 400)
    assert wire.message.startswith("Query-string authentication version 4 requires")


@pytest.mark.parametrize(
    ("credential", "fragment"),
    [
        (f"{AK}/20130524/us-east-1/s3", "the Credential is mal-formed"),
        (f"{AK}/20130524/us-east-1/s3/aws4_reqest", 'incorrect terminal "aws4_reqest"'),
        (f"{AK}/2013-05-24/us-east-1/s3/aws4_request", "incorrect date format"),
        ("/20130524/us-east-1/s3/aws4_request", "a non-empty Access Key (AKID)"),
    ],
)
def test_malformed_credentials(signed_put: RawRequest, presigned: RawRequest, credential: str, fragment: str) -> None:
    authorization = header(signed_put, "authorization")
    start, rest = authorization.split("Credential=")
    changed = f"{start}Credential={credential},{rest.split(',', 1)[1]}"
    failure = refused(with_headers(signed_put, authorization=changed), Reason.MALFORMED)
    assert failure.message.startswith("The authorization header is malformed; ")
    assert fragment in failure.message
    assert s3_error(failure).code == "AuthorizationHeaderMalformed"
    assert json_error(failure).code == "IncompleteSignatureException"
    failure = refused(with_query(presigned, **{"X-Amz-Credential": credential}), Reason.MALFORMED)
    assert failure.message.startswith("Error parsing the X-Amz-Credential parameter; ")
    assert s3_error(failure).code == "AuthorizationQueryParametersError"


def test_host_must_be_signed(signed_put: RawRequest, presigned: RawRequest) -> None:
    authorization = header(signed_put, "authorization").replace(";host;", ";")
    assert "host" not in authorization.split("SignedHeaders=")[1].split(",")[0]
    failure = refused(with_headers(signed_put, authorization=authorization), Reason.MALFORMED)
    assert "'Host' or ':authority' must be a 'SignedHeader'" in failure.message
    refused(with_query(presigned, **{"X-Amz-SignedHeaders": "x-amz-date"}), Reason.MALFORMED)


@pytest.mark.parametrize(
    ("expires", "message"),
    [
        ("soon", "X-Amz-Expires should be a number"),
        ("-1", "X-Amz-Expires must be non-negative"),
        (
            "604801",
            "X-Amz-Expires must be less than a week (in seconds); that is, the given X-Amz-Expires must be less than "
            "604800 seconds",
        ),
    ],
)
def test_bad_expiry(presigned: RawRequest, expires: str, message: str) -> None:
    failure = refused(with_query(presigned, **{"X-Amz-Expires": expires}), Reason.MALFORMED)
    assert s3_error(failure) == WireError("AuthorizationQueryParametersError", 400, message)


def test_a_week_is_the_longest_expiry(s3: Any) -> None:
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "b", "Key": "k"}, ExpiresIn=604800)
    parts = urlsplit(url)
    request = RawRequest("GET", parts.path.encode(), parts.query.encode(), [(b"host", parts.netloc.encode())])
    check(request, now=signed_at(request) + timedelta(days=7))


def test_bad_dates(signed_put: RawRequest, signed_json: tuple[RawRequest, bytes], presigned: RawRequest) -> None:
    failure = refused(with_headers(signed_put, x_amz_date=None), Reason.BAD_DATE, now=datetime.now(UTC))
    assert s3_error(failure) == WireError(
        "AccessDenied", 403, "AWS authentication requires a valid Date or x-amz-date header"
    )
    request, body = signed_json
    failure = refused(with_headers(request, x_amz_date=None), Reason.BAD_DATE, now=datetime.now(UTC), body=body)
    assert json_error(failure) == WireError(
        "IncompleteSignatureException",
        400,
        "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
    )
    refused(with_headers(signed_put, x_amz_date="2013-05-24T00:00:00Z"), Reason.BAD_DATE, now=datetime.now(UTC))
    refused(with_headers(signed_put, x_amz_date=None, date="yesterday"), Reason.BAD_DATE, now=datetime.now(UTC))
    failure = refused(with_query(presigned, **{"X-Amz-Date": "20130524"}), Reason.BAD_DATE, now=datetime.now(UTC))
    assert s3_error(failure).message == "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\""


def test_credential_date_must_be_the_request_date(signed_put: RawRequest, presigned: RawRequest) -> None:
    when = signed_at(signed_put) + timedelta(days=1)
    stamp = when.strftime("%Y%m%dT%H%M%SZ")
    failure = refused(with_headers(signed_put, x_amz_date=stamp), Reason.WRONG_DATE, now=when)
    assert s3_error(failure) == WireError(
        "AuthorizationHeaderMalformed",
        400,
        "The authorization header is malformed; Invalid credential date. Date is not the same as X-Amz-Date.",
    )
    assert json_error(failure).message == (
        "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
        f"'{(when - timedelta(days=1)).strftime('%Y%m%d')}' != '{stamp[:8]}', from '{stamp}'."
    )
    failure = refused(with_query(presigned, **{"X-Amz-Date": stamp}), Reason.WRONG_DATE, now=when)
    assert s3_error(failure).code == "AuthorizationQueryParametersError"


def test_region_and_service_when_the_server_names_them(signed_json: tuple[RawRequest, bytes]) -> None:
    request, body = signed_json
    check(request, body=body, region="us-east-1", services={"sagemaker"})
    failure = refused(request, Reason.WRONG_REGION, body=body, region="eu-west-1")
    assert json_error(failure) == WireError(
        "InvalidSignatureException", 400, "Credential should be scoped to a valid region: 'eu-west-1'. "
    )
    assert s3_error(failure).fields == (("Region", "eu-west-1"),)
    assert "the region 'us-east-1' is wrong; expecting 'eu-west-1'" in s3_error(failure).message
    failure = refused(request, Reason.WRONG_SERVICE, body=body, services={"s3"})
    assert json_error(failure).message == "Credential should be scoped to correct service: 's3'. "
    assert s3_error(failure).code == "AuthorizationHeaderMalformed"


def test_unknown_key(signed_put: RawRequest) -> None:
    with pytest.raises(AuthFailure) as caught:
        verify(signed_put, {}.get, signed_at(signed_put))
    failure = caught.value
    assert failure.reason is Reason.UNKNOWN_KEY
    assert json_error(failure) == WireError(
        "UnrecognizedClientException", 403, "The security token included in the request is invalid."
    )
    assert s3_error(failure) == WireError(
        "InvalidAccessKeyId",
        403,
        "The AWS Access Key Id you provided does not exist in our records.",
        (("AWSAccessKeyId", AK),),
    )
    assert_no_secret(failure)


def test_wrong_secret(s3: Any) -> None:
    other = client("s3", secret="another/secret/key/0123456789abcdefghijk", signature_version="s3v4")
    request = raw(capture(lambda: other.get_object(Bucket="bucket", Key="k")))
    failure = refused(request, Reason.SIGNATURE_MISMATCH)
    wire = json_error(failure)
    assert wire.code == "InvalidSignatureException"
    assert wire.message.startswith(
        "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access "
        "Key and signing method. Consult the service documentation for details.\n\nThe Canonical String for this "
        "request should have been\n'GET\n/bucket/k\n"
    )
    assert "The String-to-Sign should have been\n'AWS4-HMAC-SHA256\n" in wire.message
    wire = s3_error(failure)
    assert (wire.code, wire.status) == ("SignatureDoesNotMatch", 403)
    fields = dict(wire.fields)
    assert fields["AWSAccessKeyId"] == AK
    assert fields["SignatureProvided"] == header(request, "authorization").rsplit("Signature=", 1)[1]
    assert fields["CanonicalRequest"].startswith("GET\n/bucket/k\n")


@pytest.mark.parametrize("offset", [timedelta(minutes=15, seconds=1), -timedelta(minutes=15, seconds=1)])
def test_skew(signed_put: RawRequest, offset: timedelta) -> None:
    signed = signed_at(signed_put)
    check(signed_put, now=signed + offset - offset / abs(offset.total_seconds()))  # one second inside: fine
    now = signed + offset
    failure = refused(signed_put, Reason.SKEWED, now=now)
    stamp, server = signed.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%dT%H%M%SZ")
    wire = json_error(failure)
    assert wire.code == "InvalidSignatureException"
    if offset > timedelta(0):
        bound = (now - timedelta(minutes=15)).strftime("%Y%m%dT%H%M%SZ")
        assert wire.message == f"Signature expired: {stamp} is now earlier than {bound} ({server} - 15 min.)"
    else:
        bound = (now + timedelta(minutes=15)).strftime("%Y%m%dT%H%M%SZ")
        assert wire.message == f"Signature not yet current: {stamp} is still later than {bound} ({server} + 15 min.)"
    assert s3_error(failure) == WireError(
        "RequestTimeTooSkewed",
        403,
        "The difference between the request time and the current time is too large.",
        (
            ("RequestTime", stamp),
            ("ServerTime", now.strftime("%Y-%m-%dT%H:%M:%SZ")),
            ("MaxAllowedSkewMilliseconds", "900000"),
        ),
    )


def test_presigned_url_expiry(presigned: RawRequest) -> None:
    signed = signed_at(presigned)
    check(presigned, now=signed + timedelta(seconds=600))
    now = signed + timedelta(seconds=601)
    failure = refused(presigned, Reason.EXPIRED, now=now)
    assert s3_error(failure) == WireError(
        "AccessDenied",
        403,
        "Request has expired",
        (
            ("X-Amz-Expires", "600"),
            ("Expires", (signed + timedelta(seconds=600)).strftime("%Y-%m-%dT%H:%M:%SZ")),
            ("ServerTime", now.strftime("%Y-%m-%dT%H:%M:%SZ")),
        ),
    )
    assert json_error(failure).code == "InvalidSignatureException"
    failure = refused(presigned, Reason.NOT_YET_VALID, now=signed - timedelta(minutes=16))
    assert (s3_error(failure).code, s3_error(failure).message) == ("AccessDenied", "Request is not yet valid")


def test_unsigned_amz_headers_on_s3(signed_put: RawRequest) -> None:
    failure = refused(with_headers(signed_put, x_amz_meta_added="1", x_amz_acl="public-read"), Reason.UNSIGNED_HEADERS)
    wire = s3_error(failure)
    assert (wire.code, wire.status) == ("AccessDenied", 403)
    assert wire.fields == (("HeadersNotSigned", "x-amz-acl, x-amz-meta-added"),)
    check(with_headers(signed_put, x_amzn_trace_id="Root=1", user_agent="changed"))  # neither is signed by anyone


def test_s3_needs_x_amz_content_sha256(signed_put: RawRequest) -> None:
    failure = refused(with_headers(signed_put, x_amz_content_sha256=None), Reason.MISSING_CONTENT_SHA256)
    assert s3_error(failure) == WireError(
        "InvalidRequest", 400, "Missing required header for this request: x-amz-content-sha256"
    )
    failure = refused(with_headers(signed_put, x_amz_content_sha256="not-a-hash"), Reason.BAD_CONTENT_SHA256)
    assert s3_error(failure).code == "InvalidArgument"
    assert s3_error(failure).message.startswith("x-amz-content-sha256 must be UNSIGNED-PAYLOAD")


def test_payload_mismatch(signed_put: RawRequest) -> None:
    failure = refused(signed_put, Reason.PAYLOAD_MISMATCH, body=b"DATA")
    wire = s3_error(failure)
    assert (wire.code, wire.status) == ("XAmzContentSHA256Mismatch", 400)
    assert dict(wire.fields) == {
        "ClientComputedContentSHA256": hashlib.sha256(b"data").hexdigest(),
        "S3ComputedContentSHA256": hashlib.sha256(b"DATA").hexdigest(),
    }
    refused(signed_put, Reason.PAYLOAD_MISMATCH, body_sha256=hashlib.sha256(b"DATA").hexdigest())


# --- tampering -------------------------------------------------------------------------------------------------


def test_tampered_json_requests(signed_json: tuple[RawRequest, bytes]) -> None:
    request, body = signed_json
    refused(request, Reason.SIGNATURE_MISMATCH, body=body.replace(b"ep-1", b"ep-2"))
    refused(with_headers(request, x_amz_target="SageMaker.DeleteEndpoint"), Reason.SIGNATURE_MISMATCH, body=body)
    moved = RawRequest(request.method, b"/other", request.query, request.headers)
    refused(moved, Reason.SIGNATURE_MISMATCH, body=body)
    refused(RawRequest("PUT", request.path, request.query, request.headers), Reason.SIGNATURE_MISMATCH, body=body)
    refused(RawRequest(request.method, request.path, b"x=1", request.headers), Reason.SIGNATURE_MISMATCH, body=body)


def test_tampered_s3_requests(s3: Any, signed_put: RawRequest, presigned: RawRequest) -> None:
    moved = RawRequest(signed_put.method, signed_put.path.replace(b"one", b"two"), b"", signed_put.headers)
    refused(moved, Reason.SIGNATURE_MISMATCH)
    refused(with_headers(signed_put, content_type="text/html"), Reason.SIGNATURE_MISMATCH)
    other_body = with_headers(signed_put, x_amz_content_sha256=hashlib.sha256(b"other").hexdigest())
    refused(other_body, Reason.SIGNATURE_MISMATCH)
    listing = raw(capture(lambda: s3.list_objects_v2(Bucket="bucket", Prefix="a/", Delimiter="/")))
    refused(with_query(listing, prefix="b/"), Reason.SIGNATURE_MISMATCH)
    refused(with_query(listing, **{"max-keys": "1"}), Reason.SIGNATURE_MISMATCH)
    refused(
        RawRequest(presigned.method, presigned.path + b"x", presigned.query, presigned.headers),
        Reason.SIGNATURE_MISMATCH,
    )
    refused(with_query(presigned, **{"X-Amz-Expires": "700"}), Reason.SIGNATURE_MISMATCH)
    refused(with_query(presigned, **{"X-Amz-Signature": "é" * 64}), Reason.SIGNATURE_MISMATCH)
    refused(RawRequest("DELETE", presigned.path, presigned.query, presigned.headers), Reason.SIGNATURE_MISMATCH)


def test_wire_errors_cover_every_reason() -> None:
    for reason in Reason:
        details = {
            name: "20130524T000000Z"
            for name in ("request_time", "server_time", "expires_at", "timestamp", "credential_date", "request_date")
        }
        details.update(
            missing="Credential",
            expected_region="r",
            expected_service="s",
            access_key_id=AK,
            canonical_request="c",
            string_to_sign="AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/r/s/aws4_request\nx",
            signature_provided="p",
            expires="1",
            headers_not_signed="x-amz-a",
            client_sha256="a",
            computed_sha256="b",
        )
        for presigned_form in (False, True):
            failure = AuthFailure(reason, "message", presigned=presigned_form, **details)
            for wire in (json_error(failure), s3_error(failure)):
                assert wire.code and wire.status in (400, 403) and wire.message
