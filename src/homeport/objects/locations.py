"""Where a URI in a request (`ModelDataUrl`, transform input, async payload) is read from.

- `s3://bucket/key` with the embedded store: the object's current data file under the data directory,
  so homeport reads its own objects without a round trip through its S3 face.
- `s3://bucket/key` with an external store configured (`HOMEPORT_S3_ENDPOINT_URL` …): that store, through
  s3fs, with the configured region and keys.
- anything else (`file://`, a plain path, other fsspec protocols): as given.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from homeport.errors import NoSuchBucket, NoSuchKey, ObjectStoreError
from homeport.objects.local import LocalObjectStore


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


class Locator:
    def __init__(self, local: LocalObjectStore | None, external: ExternalStore | None = None) -> None:
        self.local = local
        self.external = external

    def locate(self, url: str) -> Location:
        if not url.startswith("s3://"):
            return Location(url)
        if self.external is not None:
            return Location(url, self.external.storage_options())
        if self.local is None:
            raise UnreachableObject(f"{url}: this server has no object store configured for s3:// URIs.")
        bucket, _, key = url[len("s3://") :].partition("/")
        try:
            info = self.local.head(bucket, key)
        except NoSuchBucket:
            raise UnreachableObject(
                f"{url}: there is no bucket {bucket!r} in homeport's object store; create it and upload the object "
                "through the S3 face (e.g. `aws s3 cp FILE s3://BUCKET/KEY --endpoint-url URL`)."
            ) from None
        except NoSuchKey:
            raise UnreachableObject(
                f"{url}: there is no object {key!r} in bucket {bucket!r}; upload it through the S3 face first."
            ) from None
        except ObjectStoreError as exc:
            raise UnreachableObject(f"{url}: {exc.message}") from None
        return Location(info.file.as_uri())
