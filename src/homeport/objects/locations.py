"""Where a URI in a request (`ModelDataUrl`, transform input, async payload) is read from.

- `s3://bucket/key` with the embedded store: the object's current data file under the data directory,
  so homeport reads its own objects without a round trip through its S3 face.
- `s3://bucket/key` with an external store configured (`HOMEPORT_S3_ENDPOINT_URL` …): that store, through
  s3fs, with the configured region and keys.
- `https://` URLs of S3 objects (`https://BUCKET.s3.REGION.amazonaws.com/KEY`, `https://s3.REGION.amazonaws.com/
  BUCKET/KEY`, as SageMaker takes for an InputLocation or a ModelDataUrl): read as the `s3://BUCKET/KEY` they name.
- anything else (`file://`, a plain path, other fsspec protocols): as given.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import unquote, urlsplit

import fsspec

from homeport.errors import NoSuchBucket, NoSuchKey, ObjectStoreError
from homeport.objects.local import LocalObjectStore, ObjectMeta

# The hosts of S3's https URLs: virtual-hosted (BUCKET.s3[.-]REGION.amazonaws.com) and path-style (s3[.-]REGION…).
_VIRTUAL_HOSTED = re.compile(r"^(?P<bucket>[a-z0-9][a-z0-9.-]*)\.s3(?:[.-][a-z0-9-]+)?\.amazonaws\.com$")
_PATH_STYLE = re.compile(r"^s3(?:[.-][a-z0-9-]+)?\.amazonaws\.com$")


def s3_form(url: str) -> str:
    """The s3:// URI an https:// URL of an S3 object names; any other URL as it is."""
    if not url.startswith("https://"):
        return url
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    path = unquote(parts.path.lstrip("/"))
    if match := _VIRTUAL_HOSTED.match(host):
        bucket, key = match["bucket"], path
    elif _PATH_STYLE.match(host):
        bucket, _, key = path.partition("/")
    else:
        return url
    return f"s3://{bucket}/{key}" if bucket and key else url


class UnreachableObject(Exception):
    """The URI names nothing that exists; the message says what is missing and how to put it there."""


@dataclass(frozen=True)
class Location:
    url: str  # what fsspec opens
    storage_options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ExternalStore:
    endpoint_url: str
    region: str
    access_key_id: str | None = None
    secret_access_key: str | None = field(default=None, repr=False)  # never in a log line

    def storage_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {"client_kwargs": {"endpoint_url": self.endpoint_url, "region_name": self.region}}
        if self.access_key_id:
            options.update(key=self.access_key_id, secret=self.secret_access_key)
        return options


@dataclass(frozen=True)
class ObjectRef:
    url: str
    size: int


class Locator:
    def __init__(self, local: LocalObjectStore | None, external: ExternalStore | None = None) -> None:
        self.local = local
        self.external = external

    def locate(self, url: str) -> Location:
        url = s3_form(url)
        if not url.startswith("s3://"):
            return Location(url)
        if self.external is not None:
            return Location(url, self.external.storage_options())
        store, bucket, key = self._embedded(url)
        with _reaching(url, bucket, key):
            path = store.path_of(bucket, key)
        return Location(path.as_uri())

    def _embedded(self, url: str) -> tuple[LocalObjectStore, str, str]:
        """The embedded store, the bucket and the key of an s3:// URI it serves."""
        if self.local is None or not url.startswith("s3://"):
            raise UnreachableObject(f"{url}: this server has no object store configured for s3:// URIs.")
        bucket, _, key = url[len("s3://") :].partition("/")
        return self.local, bucket, key

    # --- what batch work needs: every object under a prefix, reading one, writing one whole ------------

    def list_prefix(self, url: str) -> list[ObjectRef]:
        """Every object whose URI starts with `url` (S3 prefix semantics), in key order."""
        if url.startswith("s3://") and self.external is None:
            return self._list_local(url)
        if "://" not in url or url.startswith("file://"):
            return _list_files(url)
        location = self.locate(url)
        fs, path = fsspec.core.url_to_fs(location.url, **location.storage_options)
        directory, _, rest = path.rpartition("/")
        try:
            found = fs.find(directory, prefix=rest, detail=True) if directory else {}
        except FileNotFoundError:
            return []
        protocol = url.split("://", 1)[0]
        return [
            ObjectRef(f"{protocol}://{key}", int(info.get("size") or 0))
            for key, info in sorted(found.items())
            if info.get("type") != "directory" and key.startswith(path)
        ]

    def _list_local(self, url: str) -> list[ObjectRef]:
        store, bucket, prefix = self._embedded(url)
        out: list[ObjectRef] = []
        resume = None
        with _reaching(url, bucket, prefix):
            while True:
                page = store.list_objects(bucket, prefix, resume=resume)
                out.extend(ObjectRef(f"s3://{bucket}/{o.key}", o.size) for o in page.objects)
                if not page.truncated:
                    return out
                resume = page.resume

    def open(self, url: str) -> BinaryIO:
        """The object for reading, seekable (an embedded object as it is now: a later overwrite does not change
        what is read)."""
        url = s3_form(url)
        if url.startswith("s3://") and self.external is None:
            store, bucket, key = self._embedded(url)
            with _reaching(url, bucket, key):
                return store.open(bucket, key)[1]
        location = self.locate(url)
        if location.url.startswith("file://") or "://" not in location.url:
            return open(_local_path(location.url), "rb")
        opened: BinaryIO = fsspec.open(location.url, "rb", **location.storage_options).open()
        return opened

    def read_small(self, url: str, limit: int) -> bytes | None:
        """An object of an external S3 store whole if it is at most `limit` bytes, else None (as for an empty
        one, of which S3 cannot serve a range): one ranged GET, where opening it would cost a HEAD and a GET."""
        location = self.locate(url)
        fs, path = fsspec.core.url_to_fs(location.url, **location.storage_options)
        try:
            data: bytes = fs.cat_file(path, start=0, end=limit + 1)
        except OSError as exc:
            if exc.errno == errno.EINVAL:  # 416: the range is not satisfiable (an empty object)
                return None
            raise
        return data if len(data) <= limit else None

    def check_readable(self, url: str) -> None:
        """Fail now when an s3:// source in the embedded store is not there (other stores are read later)."""
        url = s3_form(url)
        if url.startswith("s3://") and self.external is None:
            store, bucket, key = self._embedded(url)
            with _reaching(url, bucket, key):
                store.head(bucket, key)
            return
        self.locate(url)

    def check_writable(self, url: str) -> None:
        """Fail now, not after the work, when an s3:// destination in the embedded store has no bucket."""
        if url.startswith("s3://") and self.external is None:
            store, bucket, key = self._embedded(url)
            with _reaching(url, bucket, key):
                store.head_bucket(bucket)

    def put_files(self, url: str, paths: list[Path], content_type: str | None = None) -> None:
        """Write the files at `paths`, one after the other, as the object `url`: readers see the old object or
        the whole new one, never part of it."""
        if "://" in url and not url.startswith("file://"):
            self.put_stream(url, _file_chunks(paths), content_type)
            return
        target = _local_path(url)
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
        try:
            with open(temporary, "wb") as out:
                _concatenate(paths, out)
            os.replace(temporary, target)
        finally:
            temporary.unlink(missing_ok=True)

    def put_bytes(self, url: str, data: bytes, content_type: str | None = None) -> None:
        """Write `data` as the s3:// object `url`, whole or not at all."""
        if self.external is None:  # no early bucket check: there is no body to spare reading
            self._write_local(url, iter([data]), content_type, check_first=False)
            return
        location = self.locate(url)
        fs, remote = fsspec.core.url_to_fs(location.url, **location.storage_options)
        fs.pipe_file(remote, data)  # one PutObject: S3 shows it whole or not at all

    def put_stream(self, url: str, chunks: Iterable[bytes], content_type: str | None = None) -> None:
        """Write the s3:// object `url` from `chunks` as they come, whole or not at all: an error while the chunks
        are read leaves no object (and any old one as it was)."""
        if self.external is None:
            self._write_local(url, iter(chunks), content_type)
            return
        location = self.locate(url)
        fs, remote = fsspec.core.url_to_fs(location.url, **location.storage_options)
        remote_file = fs.open(remote, "wb")
        try:
            for chunk in chunks:
                remote_file.write(chunk)
        except BaseException:
            remote_file.discard()
            raise
        remote_file.close()

    def _write_local(
        self, url: str, chunks: Iterator[bytes], content_type: str | None, *, check_first: bool = True
    ) -> None:
        store, bucket, key = self._embedded(url)
        with _reaching(url, bucket, key):
            writer = store.writer(bucket, key, check_bucket=check_first)
            try:
                for chunk in chunks:
                    writer.write(chunk)
            except BaseException:
                writer.abort()
                raise
            store.commit(writer, bucket, key, ObjectMeta(content_type or "binary/octet-stream"))


@contextmanager
def _reaching(url: str, bucket: str, key: str) -> Iterator[None]:
    """The embedded store's errors, as what a user must do about `url`."""
    try:
        yield
    except NoSuchBucket:
        raise UnreachableObject(
            f"{url}: there is no bucket {bucket!r} in homeport's object store; create it through the S3 face "
            f"(e.g. `aws s3 mb s3://{bucket} --endpoint-url URL`)."
        ) from None
    except NoSuchKey:
        raise UnreachableObject(
            f"{url}: there is no object {key!r} in bucket {bucket!r}; upload it through the S3 face first."
        ) from None
    except ObjectStoreError as exc:
        raise UnreachableObject(f"{url}: {exc.message}") from None


def _file_chunks(paths: list[Path]) -> Iterator[bytes]:
    for path in paths:
        with open(path, "rb") as source:
            while chunk := source.read(1 << 20):
                yield chunk


def _concatenate(paths: list[Path], out: Any) -> None:
    for path in paths:
        with open(path, "rb") as source:
            shutil.copyfileobj(source, out, 1 << 20)


def _local_path(url: str) -> Path:
    return Path(unquote(urlsplit(url).path)) if url.startswith("file://") else Path(url)


def _list_files(url: str) -> list[ObjectRef]:
    """Files whose path starts with the URL's path, named by the URL as given plus the rest of their path."""
    prefix = unquote(urlsplit(url).path) if url.startswith("file://") else url
    directory = Path(prefix if prefix.endswith("/") else prefix.rpartition("/")[0] or "/")
    if not directory.is_dir():
        return []
    found = sorted(str(p) for p in directory.rglob("*") if p.is_file() and str(p).startswith(prefix))
    return [ObjectRef(url + path[len(prefix) :], os.path.getsize(path)) for path in found]
