"""The S3 face of the embedded object store (REST-XML), path-style and virtual-host style.

The operations boto3's transfers, the AWS CLI and s3fs use: buckets (create, head, list, delete), objects
(put, get with Range and conditions, head, delete, delete many, copy, list v1/v2) and multipart uploads.
Bodies stream in both directions: an upload goes to disk chunk by chunk as it arrives, a download is read
from disk chunk by chunk as the client takes it, so a 1 GB object never sits in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
from typing import Any
from urllib.parse import parse_qs, quote, unquote

from homeport.api.asgi import BodyTooLarge, ClientGone, Receive, Scope, Send, read_body
from homeport.api.auth.refusals import s3_error as s3_auth_error
from homeport.api.auth.sigv4 import AuthFailure, Verified
from homeport.api.s3.body import BodyReader, declared_length
from homeport.api.s3.checksums import BodyError
from homeport.api.s3.checksums import s3_error as body_error
from homeport.api.s3.request import (
    Headers,
    S3Request,
    byte_range,
    checksum_headers,
    copy_source,
    decode_token,
    encode_token,
    int_arg,
    marker,
    object_headers,
    object_meta,
    preconditions,
    start_after,
    subresource,
    write_condition,
)
from homeport.api.s3.xmldoc import MAX_REQUEST_XML, document, parse
from homeport.api.s3.xmldoc import children as xml_children
from homeport.api.s3.xmldoc import text as xml_text
from homeport.core.clock import iso_time
from homeport.errors import (
    HomeportError,
    InvalidArgument,
    MalformedXML,
    MethodNotAllowed,
    NotImplementedOperation,
    ObjectStoreError,
)
from homeport.objects.local import LocalObjectStore, ObjectInfo, ObjectMeta, Writer
from homeport.objects.multipart import MAX_PARTS, MultipartUploads
from homeport.objects.names import check_bucket

log = logging.getLogger(__name__)

MAX_PUT_BYTES = 5 * 1024**3  # S3's limit for one PutObject or UploadPart
_READ_CHUNK = 1024 * 1024
_WRITE_BATCH = 1024 * 1024  # upload bytes handed to a worker thread at a time
_OWNER = [("ID", "homeport"), ("DisplayName", "homeport")]


class S3Api:
    def __init__(self, store: LocalObjectStore, virtual_host_suffixes: tuple[str, ...] = ("localhost",)) -> None:
        self.store = store
        self.uploads = MultipartUploads(store)
        self.suffixes = tuple("." + s.lstrip(".") for s in virtual_host_suffixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send, auth: Verified | None) -> None:
        request = self._request(scope, receive, auth)
        try:
            await self._dispatch(request, send)
        except HomeportError as exc:
            await _error(send, request, exc.status, exc.code, exc.message, exc.extra)
        except BodyError as exc:
            wire = body_error(exc)
            await _error(send, request, wire.status, wire.code, wire.message, dict(wire.fields))
        except ClientGone:
            raise  # no one to answer
        except Exception:
            log.exception("S3 %s %s/%s failed", request.method, request.bucket, request.key)
            await _error(send, request, 500, "InternalError", "We encountered an internal error. Please try again.")

    def _request(self, scope: Scope, receive: Receive, auth: Verified | None) -> S3Request:
        headers: dict[str, str] = {}
        for name, value in scope["headers"]:
            key = name.decode("latin-1")
            text = value.decode("latin-1")
            headers[key] = f"{headers[key]},{text}" if key in headers else text
        query = {k: v[0] for k, v in parse_qs(scope["query_string"].decode("latin-1"), keep_blank_values=True).items()}
        path = unquote(scope["raw_path"].decode("latin-1")) if scope.get("raw_path") else scope["path"]
        host = headers.get("host", "").rsplit(":", 1)[0] if not headers.get("host", "").startswith("[") else ""
        bucket = ""
        for suffix in self.suffixes:
            if host.endswith(suffix) and len(host) > len(suffix):
                bucket = host[: -len(suffix)]
                break
        if bucket:
            key = path[1:]
        else:
            bucket, _, key = path[1:].partition("/")
        return S3Request(
            scope["method"], bucket, key, query, headers, scope, receive, secrets.token_hex(8).upper(), auth
        )

    async def _dispatch(self, r: S3Request, send: Send) -> None:
        m = r.method
        if not r.bucket:
            if m == "GET":
                return await self.list_buckets(r, send)
            raise MethodNotAllowed("The specified method is not allowed against this resource.", Method=m)
        check_bucket(r.bucket)
        if not r.key:
            handler = {
                ("PUT", ""): self.create_bucket,
                ("HEAD", ""): self.head_bucket,
                ("DELETE", ""): self.delete_bucket,
                ("GET", "location"): self.bucket_location,
                ("GET", "uploads"): self.list_uploads,
                ("GET", ""): self.list_objects,
                ("POST", "delete"): self.delete_objects,
            }.get((m, subresource(r, ("location", "uploads", "delete"))))
        else:
            handler = {
                ("PUT", "partNumber"): self.upload_part,
                ("PUT", ""): self.copy_object if "x-amz-copy-source" in r.headers else self.put_object,
                ("GET", "uploadId"): self.list_parts,
                ("GET", ""): self.get_object,
                ("HEAD", ""): self.head_object,
                ("DELETE", "uploadId"): self.abort_upload,
                ("DELETE", ""): self.delete_object,
                ("POST", "uploads"): self.create_upload,
                ("POST", "uploadId"): self.complete_upload,
            }.get((m, subresource(r, ("partNumber", "uploadId", "uploads"))))
        if handler is None:
            raise NotImplementedOperation(
                f"homeport's S3 face does not implement {m} with {', '.join(sorted(r.query)) or 'no'} "
                "sub-resources; see the README for the operations it serves."
            )
        await handler(r, send)

    # --- buckets ----------------------------------------------------------------------------------

    async def list_buckets(self, r: S3Request, send: Send) -> None:
        buckets = await asyncio.to_thread(self.store.buckets)
        body = document(
            "ListAllMyBucketsResult",
            [
                ("Owner", _OWNER),
                ("Buckets", [("Bucket", [("Name", n), ("CreationDate", iso_time(t))]) for n, t in buckets]),
            ],
        )
        await _xml(send, r, body)

    async def create_bucket(self, r: S3Request, send: Send) -> None:
        await _drain_small(r)  # CreateBucketConfiguration: the region is the server's, whatever it says
        await asyncio.to_thread(self.store.create_bucket, r.bucket)
        await _empty(send, r, 200, [(b"location", f"/{r.bucket}".encode())])

    async def head_bucket(self, r: S3Request, send: Send) -> None:
        await asyncio.to_thread(self.store.head_bucket, r.bucket)
        await _empty(send, r, 200, [(b"x-amz-bucket-region", b"us-east-1")])

    async def delete_bucket(self, r: S3Request, send: Send) -> None:
        await asyncio.to_thread(self.store.delete_bucket, r.bucket)
        await _empty(send, r, 204)

    async def bucket_location(self, r: S3Request, send: Send) -> None:
        await asyncio.to_thread(self.store.head_bucket, r.bucket)
        await _xml(send, r, document("LocationConstraint", []))

    async def list_objects(self, r: S3Request, send: Send) -> None:
        v2 = r.query.get("list-type") == "2"
        prefix, delimiter = r.query.get("prefix", ""), r.query.get("delimiter", "")
        max_keys = int_arg(r.query.get("max-keys", "1000"), "max-keys", 0, 2**31 - 1)
        url = r.query.get("encoding-type") == "url"
        if r.query.get("encoding-type") not in (None, "url"):
            raise InvalidArgument("Invalid Encoding Method specified in Request", ArgumentName="encoding-type")
        token = r.query.get("continuation-token")
        if v2:
            resume = decode_token(token) if token is not None else start_after(r.query.get("start-after"))
        else:
            resume = marker(r.query.get("marker"), prefix, delimiter)
        page = await asyncio.to_thread(
            self.store.list_objects, r.bucket, prefix, delimiter, resume, min(max_keys, 1000)
        )
        enc = (lambda s: quote(s, safe="/")) if url else (lambda s: s)
        contents = [
            (
                "Contents",
                [
                    ("Key", enc(o.key)),
                    ("LastModified", iso_time(o.last_modified)),
                    ("ETag", f'"{o.etag}"'),
                    ("Size", o.size),
                    ("Owner", None if v2 else _OWNER),
                    ("StorageClass", "STANDARD"),
                ],
            )
            for o in page.objects
        ]
        common = [("CommonPrefixes", [("Prefix", enc(p))]) for p in page.prefixes]
        head: list[tuple[str, Any]] = [("Name", r.bucket), ("Prefix", enc(prefix))]
        if v2:
            head += [
                ("ContinuationToken", token),
                ("NextContinuationToken", encode_token(page.resume) if page.truncated else None),
                ("StartAfter", enc(r.query["start-after"]) if "start-after" in r.query else None),
                ("KeyCount", len(page.objects) + len(page.prefixes)),
            ]
        else:
            last = max([o.key for o in page.objects] + page.prefixes, default=None)
            head += [
                ("Marker", enc(r.query.get("marker", ""))),
                ("NextMarker", enc(last) if page.truncated and delimiter and last else None),
            ]
        head += [
            ("MaxKeys", max_keys),
            ("Delimiter", enc(delimiter) if delimiter else None),
            ("EncodingType", "url" if url else None),
            ("IsTruncated", page.truncated),
        ]
        await _xml(send, r, document("ListBucketResult", head + contents + common))

    async def delete_objects(self, r: S3Request, send: Send) -> None:
        root = parse(await _small_body(r), "Delete")
        quiet = (xml_text(root, "Quiet") or "").strip().lower() == "true"
        keys = [xml_text(o, "Key") or "" for o in xml_children(root, "Object")]
        if not keys or len(keys) > 1000:
            raise MalformedXML("A Delete request names between 1 and 1,000 objects.")
        results: list[tuple[str, Any]] = []
        for key in keys:
            try:
                await asyncio.to_thread(self.store.delete, r.bucket, key)
            except ObjectStoreError as exc:
                results.append(("Error", [("Key", key), ("Code", exc.code), ("Message", exc.message)]))
            else:
                if not quiet:
                    results.append(("Deleted", [("Key", key)]))
        await _xml(send, r, document("DeleteResult", results))

    # --- objects ----------------------------------------------------------------------------------

    async def put_object(self, r: S3Request, send: Send) -> None:
        writer = await asyncio.to_thread(self.store.writer, r.bucket, r.key)
        checks = await self._receive(r, writer)
        meta, condition = object_meta(r, checks), write_condition(r)
        info = await asyncio.to_thread(self.store.commit, writer, r.bucket, r.key, meta, condition)
        await _empty(send, r, 200, [(b"etag", f'"{info.etag}"'.encode()), *checksum_headers(checks)])

    async def _receive(self, r: S3Request, writer: Writer) -> dict[str, str]:
        """Stream the request body into `writer`, verified as the client's headers demand.

        The bytes are decoded, hashed (MD5 for the ETag, the checksums the client sent) and written a batch
        at a time in a worker thread, while the event loop reads the next batch: hashlib lets go of the GIL,
        so a big upload uses a second core and other requests are not held up behind it.
        """

        def consume(chunks: list[bytes]) -> None:
            for chunk in chunks:  # one network chunk at a time: each stays in cache through every hash and the write
                data = reader.feed(chunk)
                if data:
                    writer.write(data)

        loop = asyncio.get_running_loop()
        in_flight: asyncio.Future[None] | None = None
        batch: list[bytes] = []
        size = 0
        try:
            reader = BodyReader(r.scope["headers"], r.auth, MAX_PUT_BYTES)  # may refuse the headers outright
            while True:
                message = await r.receive()
                if message["type"] == "http.disconnect":
                    raise ClientGone
                chunk = message.get("body", b"")
                if chunk:
                    batch.append(chunk)
                    size += len(chunk)
                more = message.get("more_body", False)
                if size >= _WRITE_BATCH or (not more and in_flight is not None and batch):
                    if in_flight is not None:
                        await in_flight
                    in_flight = loop.run_in_executor(None, consume, batch)
                    batch, size = [], 0
                if not more:
                    break
            if in_flight is not None:
                await in_flight
            if batch:  # a small body: no thread hop
                consume(batch)
            return reader.finish()
        except BaseException:
            if in_flight is not None:
                with contextlib.suppress(BaseException):
                    await in_flight  # the thread must be done with the file before it goes
            writer.abort()
            raise

    async def get_object(self, r: S3Request, send: Send) -> None:
        info, file = await asyncio.to_thread(self.store.open, r.bucket, r.key)
        try:
            status, headers, start, stop = _object_reply(r, info)
            if status not in (200, 206):
                return await _empty(send, r, status, headers)
            await send({"type": "http.response.start", "status": status, "headers": headers})
            file.seek(start)
            left = stop - start
            while left > 0:
                chunk = file.read(min(_READ_CHUNK, left))
                if not chunk:
                    break  # cannot happen for a committed object; never loop forever if it does
                left -= len(chunk)
                await send({"type": "http.response.body", "body": chunk, "more_body": left > 0})
            if left:
                log.error("object %s/%s ended %d bytes early", r.bucket, r.key, left)
            elif stop == start:
                await send({"type": "http.response.body", "body": b""})
        finally:
            file.close()

    async def head_object(self, r: S3Request, send: Send) -> None:
        info = await asyncio.to_thread(self.store.head, r.bucket, r.key)
        status, headers, _, _ = _object_reply(r, info)  # HEAD answers what GET would send
        await _empty(send, r, status, headers)

    async def delete_object(self, r: S3Request, send: Send) -> None:
        await asyncio.to_thread(self.store.delete, r.bucket, r.key)
        await _empty(send, r, 204)

    async def copy_object(self, r: S3Request, send: Send) -> None:
        source_bucket, source_key = copy_source(r.headers["x-amz-copy-source"])
        directive = r.headers.get("x-amz-metadata-directive", "COPY").upper()
        if directive not in ("COPY", "REPLACE"):
            raise InvalidArgument("Unknown metadata directive; use COPY or REPLACE.", ArgumentName=directive)
        if (source_bucket, source_key) == (r.bucket, r.key) and directive == "COPY":
            raise InvalidArgument(
                "This copy request is illegal because it is trying to copy an object to itself without changing "
                "the object's metadata, storage class, website redirect location or encryption attributes."
            )
        await _drain_small(r)
        source, file = await asyncio.to_thread(self.store.open, source_bucket, source_key)
        try:
            meta = object_meta(r, {}) if directive == "REPLACE" else source.meta
            info = await asyncio.to_thread(self.store.copy, source, file, r.bucket, r.key, meta)
        finally:
            file.close()
        body = document(
            "CopyObjectResult", [("LastModified", iso_time(info.last_modified)), ("ETag", f'"{info.etag}"')]
        )
        await _xml(send, r, body)

    # --- multipart uploads ------------------------------------------------------------------------

    async def create_upload(self, r: S3Request, send: Send) -> None:
        await _drain_small(r)
        algorithm = r.headers.get("x-amz-checksum-algorithm")
        meta = object_meta(r, {})
        meta = ObjectMeta(meta.content_type, meta.user, meta.headers, {}, algorithm.upper() if algorithm else None)
        upload = await asyncio.to_thread(self.uploads.create_upload, r.bucket, r.key, meta)
        body = document(
            "InitiateMultipartUploadResult", [("Bucket", r.bucket), ("Key", r.key), ("UploadId", upload.upload_id)]
        )
        extra = [(b"x-amz-checksum-algorithm", meta.checksum_algorithm.encode())] if meta.checksum_algorithm else []
        await _xml(send, r, body, extra)

    async def upload_part(self, r: S3Request, send: Send) -> None:
        if "x-amz-copy-source" in r.headers:
            raise NotImplementedOperation("UploadPartCopy is not implemented by homeport's S3 face.")
        number = int_arg(r.query["partNumber"], "partNumber", 1, MAX_PARTS)
        upload_id = r.query.get("uploadId", "")
        length = declared_length(r.scope["headers"], r.auth)  # a part that fits goes where it will sit in the object
        writer = await asyncio.to_thread(self.uploads.part_writer, r.bucket, r.key, upload_id, number, length)
        checks = await self._receive(r, writer)
        part = await asyncio.to_thread(self.uploads.commit_part, writer, r.bucket, r.key, upload_id, number, checks)
        await _empty(send, r, 200, [(b"etag", f'"{part.etag}"'.encode()), *checksum_headers(checks)])

    async def list_parts(self, r: S3Request, send: Send) -> None:
        upload_id = r.query["uploadId"]
        after = int_arg(r.query.get("part-number-marker", "0"), "part-number-marker", 0, MAX_PARTS)
        max_parts = int_arg(r.query.get("max-parts", "1000"), "max-parts", 0, 1000)
        parts = await asyncio.to_thread(self.uploads.parts, r.bucket, r.key, upload_id, after, max_parts)
        truncated = len(parts) > max_parts
        parts = parts[:max_parts]
        items: list[tuple[str, Any]] = [
            ("Bucket", r.bucket),
            ("Key", r.key),
            ("UploadId", upload_id),
            ("PartNumberMarker", after),
            ("NextPartNumberMarker", parts[-1].number if parts else after),
            ("MaxParts", max_parts),
            ("IsTruncated", truncated),
            ("Owner", _OWNER),
            ("StorageClass", "STANDARD"),
        ]
        for p in parts:
            fields: list[tuple[str, Any]] = [
                ("PartNumber", p.number),
                ("LastModified", iso_time(p.last_modified)),
                ("ETag", f'"{p.etag}"'),
                ("Size", p.size),
            ]
            fields += [(f"Checksum{name}", value) for name, value in p.checksums.items()]
            items.append(("Part", fields))
        await _xml(send, r, document("ListPartsResult", items))

    async def list_uploads(self, r: S3Request, send: Send) -> None:
        uploads = await asyncio.to_thread(self.uploads.uploads, r.bucket)
        items: list[tuple[str, Any]] = [("Bucket", r.bucket), ("MaxUploads", 1000), ("IsTruncated", False)]
        items += [
            (
                "Upload",
                [("Key", u.key), ("UploadId", u.upload_id), ("Initiated", iso_time(u.initiated)), ("Owner", _OWNER)],
            )
            for u in uploads
        ]
        await _xml(send, r, document("ListMultipartUploadsResult", items))

    async def complete_upload(self, r: S3Request, send: Send) -> None:
        root = parse(await _small_body(r), "CompleteMultipartUpload")
        chosen = []
        for part in xml_children(root, "Part"):
            number = xml_text(part, "PartNumber")
            etag = xml_text(part, "ETag")
            if number is None or etag is None or not re.fullmatch(r"-?[0-9]{1,12}", number.strip(), re.ASCII):
                raise MalformedXML("Each <Part> needs a <PartNumber> and the <ETag> UploadPart returned.")
            if not 1 <= int(number) <= MAX_PARTS:
                raise InvalidArgument(
                    f"Part number must be an integer between 1 and {MAX_PARTS}, inclusive.", ArgumentName="PartNumber"
                )
            chosen.append((int(number), etag.strip()))
        if not chosen:  # as S3: the schema asks for at least one <Part>
            raise MalformedXML(
                "The XML you provided was not well-formed or did not validate against our published schema: "
                "CompleteMultipartUpload needs at least one <Part>."
            )
        upload_id, condition = r.query["uploadId"], write_condition(r)
        info = await asyncio.to_thread(self.uploads.complete_upload, r.bucket, r.key, upload_id, chosen, condition)
        body = document(
            "CompleteMultipartUploadResult",
            [
                ("Location", f"/{r.bucket}/{quote(r.key)}"),
                ("Bucket", r.bucket),
                ("Key", r.key),
                ("ETag", f'"{info.etag}"'),
            ],
        )
        await _xml(send, r, body)

    async def abort_upload(self, r: S3Request, send: Send) -> None:
        await asyncio.to_thread(self.uploads.abort_upload, r.bucket, r.key, r.query["uploadId"])
        await _empty(send, r, 204)


class ExternalS3Notice:
    """Stands in for the S3 face when s3:// URIs go to an external store: S3 clients are told where to go."""

    def __init__(self, endpoint_url: str) -> None:
        self.endpoint_url = endpoint_url

    async def __call__(self, scope: Scope, receive: Receive, send: Send, auth: Verified | None) -> None:
        request = S3Request(scope["method"], "", "", {}, {}, scope, receive, secrets.token_hex(8).upper(), None)
        message = (
            f"This homeport server keeps s3:// objects in the external store at {self.endpoint_url}; "
            "send S3 requests there (its embedded S3 face is off)."
        )
        await _error(send, request, 501, "NotImplemented", message)


async def refuse(scope: Scope, failure: AuthFailure, send: Send) -> None:
    """An unauthenticated S3 request: S3's error for the failure, nothing else looked at."""
    wire = s3_auth_error(failure)
    request = S3Request(scope["method"], "", "", {}, {}, scope, _no_body, secrets.token_hex(8).upper(), None)
    await _error(send, request, wire.status, wire.code, wire.message, dict(wire.fields))


async def _no_body() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _small_body(r: S3Request) -> bytes:
    try:
        return await read_body(r.receive, MAX_REQUEST_XML)
    except BodyTooLarge:
        raise MalformedXML(f"The XML document is larger than {MAX_REQUEST_XML} bytes.") from None


async def _drain_small(r: S3Request) -> None:
    if r.headers.get("content-length", "0") != "0" or "transfer-encoding" in r.headers:
        await _small_body(r)


# --- replies ----------------------------------------------------------------------------------------


async def _xml(send: Send, r: S3Request, body: bytes, extra: Headers | None = None) -> None:
    await _send(send, r, 200, body, [(b"content-type", b"application/xml"), *(extra or [])])


def _object_reply(r: S3Request, info: ObjectInfo) -> tuple[int, Headers, int, int]:
    """What GET sends and HEAD answers for the object: the status, the headers (a body's length included) and the
    [start, stop) of the bytes sent. A precondition that fails gives 304 or 412 and no length."""
    if (status := preconditions(r, info)) is not None:
        return status, object_headers(info, r, with_length=False, whole=False), 0, 0
    wanted = byte_range(r.headers.get("range"), info.size)
    start, stop = wanted or (0, info.size)
    headers = object_headers(info, r, with_length=False, whole=wanted is None)
    if wanted is not None:
        headers.append((b"content-range", f"bytes {start}-{stop - 1}/{info.size}".encode()))
    headers.append((b"content-length", str(stop - start).encode()))
    return (206 if wanted else 200), headers, start, stop


async def _empty(send: Send, r: S3Request, status: int, headers: Headers | None = None) -> None:
    headers = list(headers or [])
    if not any(name == b"content-length" for name, _ in headers):
        headers.append((b"content-length", b"0"))
    await send({"type": "http.response.start", "status": status, "headers": _ids(r, headers)})
    await send({"type": "http.response.body", "body": b""})


async def _send(send: Send, r: S3Request, status: int, body: bytes, headers: Headers) -> None:
    headers = [(b"content-length", str(len(body)).encode()), *headers]
    await send({"type": "http.response.start", "status": status, "headers": _ids(r, headers)})
    await send({"type": "http.response.body", "body": b"" if r.method == "HEAD" else body})


def _ids(r: S3Request, headers: Headers) -> Headers:
    if not any(name == b"x-amz-request-id" for name, _ in headers):
        headers.append((b"x-amz-request-id", r.request_id.encode()))
    return headers


async def _error(
    send: Send, r: S3Request, status: int, code: str, message: str, extra: dict[str, Any] | None = None
) -> None:
    fields: list[tuple[str, Any]] = [("Code", code), ("Message", message)]
    fields += [(name, value) for name, value in (extra or {}).items()]
    fields += [("Resource", r.scope.get("path", "/")), ("RequestId", r.request_id)]
    body = document("Error", fields, namespace=False)
    await _send(send, r, status, body, [(b"content-type", b"application/xml")])
