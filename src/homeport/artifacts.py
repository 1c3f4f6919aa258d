"""Model artifacts: fetch a `model.tar.gz` once per URL through fsspec, unpack it safely, cache it."""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
import threading
from pathlib import Path
from typing import Any

import fsspec


class ArtifactError(Exception):
    """The model data cannot be fetched or unpacked; the message says what to fix."""


_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def _lock(key: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(key, threading.Lock())


def _normalise(url: str) -> str:
    return url if "://" in url else Path(url).resolve().as_uri()


def _fingerprint(url: str, info: dict[str, Any]) -> str:
    # Size and modification time (or ETag) in the key: a re-uploaded archive is fetched again.
    stamp = info.get("ETag") or info.get("etag") or info.get("mtime") or info.get("LastModified") or ""
    raw = f"{url}|{info.get('size')}|{stamp}"
    return hashlib.sha256(raw.encode()).hexdigest()[:24]


def check_exists(url: str, storage_options: dict[str, Any] | None = None) -> None:
    """Raise ArtifactError when the model data cannot be reached (CreateModel checks this up front)."""
    url = _normalise(url)
    try:
        fs, path = fsspec.core.url_to_fs(url, **(storage_options or {}))
        if not fs.isfile(path):
            raise ArtifactError(f"Could not access model data at {url}: no such file. Check the path in ModelDataUrl.")
    except ArtifactError:
        raise
    except Exception as exc:  # fsspec raises whatever its back end raises
        raise ArtifactError(f"Could not access model data at {url}: {exc}") from exc


def fetch(url: str | None, cache_dir: Path, max_bytes: int, storage_options: dict[str, Any] | None = None) -> Path:
    """The directory holding the unpacked archive at `url` (an empty directory when there is none)."""
    if not url:
        empty = cache_dir / "empty"
        empty.mkdir(parents=True, exist_ok=True)
        return empty
    url = _normalise(url)
    try:
        fs, path = fsspec.core.url_to_fs(url, **(storage_options or {}))
        info = fs.info(path)
    except Exception as exc:
        raise ArtifactError(f"Could not access model data at {url}: {exc}") from exc
    key = _fingerprint(url, info)
    target = cache_dir / key
    with _lock(key):
        if target.is_dir():
            return target
        cache_dir.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=".unpack-", dir=cache_dir))
        try:
            archive = work / "model.tar.gz"
            try:
                fs.get(path, str(archive))
            except Exception as exc:
                raise ArtifactError(f"Could not download model data from {url}: {exc}") from exc
            unpack(archive, work / "model", max_bytes)
            os.replace(work / "model", target)  # atomic: a half-unpacked model is never seen
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return target


def unpack(archive: Path, dest: Path, max_bytes: int) -> None:
    """Unpack a tar archive refusing absolute paths, `..`, links that leave `dest` and oversize content."""
    dest.mkdir(parents=True)
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            for member in members:
                # The 'data' filter would quietly strip a leading '/'; an archive that has one is refused.
                if member.name.startswith("/") or ".." in Path(member.name).parts:
                    raise tarfile.FilterError(f"member {member.name!r} points outside the model directory")
            total = sum(m.size for m in members if m.isfile())
            if total > max_bytes:
                raise ArtifactError(
                    f"The model archive unpacks to {total} bytes, over the limit of {max_bytes} "
                    "(HOMEPORT_MAX_MODEL_BYTES)."
                )
            # The 'data' filter rejects absolute names, '..', device files and links leaving `dest`.
            tar.extractall(dest, filter="data")
    except tarfile.FilterError as exc:
        raise ArtifactError(f"The model archive {archive.name} is unsafe to unpack: {exc}") from exc
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise ArtifactError(f"The model data is not a readable .tar.gz archive: {exc}") from exc
