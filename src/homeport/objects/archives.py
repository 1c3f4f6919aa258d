"""Model artifacts: fetch a `model.tar.gz` once per URL through fsspec, unpack it safely, cache it."""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import sys
import tarfile
import tempfile
import threading
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import fsspec


class ArtifactError(Exception):
    """The model data cannot be fetched or unpacked; the message says what to fix."""


class UnsafeArchiveError(ArtifactError):
    """The archive would write or link outside its directory, or holds something other than files and links."""


class ArchiveTooLargeError(ArtifactError):
    """The archive unpacks to more bytes or entries than the limits allow (a decompression bomb, say)."""


class UnreadableArchiveError(ArtifactError):
    """The model data is not a whole, undamaged tar archive (gzip-compressed or not)."""


# Model archives treated as hostile: how many entries one may hold at most (each is an inode to create).
MAX_MEMBERS = 100_000


_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def _lock(key: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(key, threading.Lock())


def _normalise(url: str) -> str:
    """A plain path for local files (fsspec does not decode a file:// URL's %-escapes), else the URL."""
    if url.startswith("file://"):
        return str(Path(unquote(urlsplit(url).path)).resolve())
    return url if "://" in url else str(Path(url).resolve())


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


def fetch(
    url: str | None,
    cache_dir: Path,
    max_bytes: int,
    storage_options: dict[str, Any] | None = None,
    max_members: int = MAX_MEMBERS,
) -> Path:
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
            unpack(archive, work / "model", max_bytes, max_members)
            os.replace(work / "model", target)  # atomic: a half-unpacked model is never seen
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return target


def unpack(archive: Path, dest: Path, max_bytes: int, max_members: int = MAX_MEMBERS) -> None:
    """Unpack the tar archive `archive` (gzip-compressed or not) into the new directory `dest`, or raise an
    ArtifactError saying why not.

    Every member is checked from the headers, before anything is written; then the stdlib's 'data' filter
    checks each one again against the disk as it is extracted.
    """
    dest.mkdir(parents=True)
    try:
        with open(archive, "rb") as raw:
            gzipped = raw.read(2) == b"\x1f\x8b"
            raw.seek(0)
            stream = _Metered(gzip.GzipFile(fileobj=raw) if gzipped else raw)
            with tarfile.open(fileobj=stream, mode="r:") as tar:
                members = _checked(tar, stream, max_bytes, max_members)
                stream.allowance = sys.maxsize  # member data is read in small pieces, its size checked
                # The filter also drops owners and setuid/setgid/group- and world-writable bits.
                tar.extractall(dest, members=members, filter="data")
    except (_Unsafe, tarfile.FilterError) as exc:
        raise UnsafeArchiveError(
            f"The model archive {archive.name} is unsafe to unpack: {exc}. Build it from inside the model "
            "directory (tar czf model.tar.gz -C model_dir .) with links that stay inside it."
        ) from exc
    except ArtifactError:
        raise
    except OSError as exc:
        if not isinstance(exc, gzip.BadGzipFile):  # a disk that is full, say: not the archive's fault
            raise ArtifactError(f"Could not unpack the model archive {archive.name}: {exc}") from exc
        raise UnreadableArchiveError(f"The model data is not a readable .tar.gz archive: {exc}") from exc
    except Exception as exc:  # tarfile's parser is not hardened: whatever else it raises, the data is bad
        raise UnreadableArchiveError(f"The model data is not a readable .tar.gz archive: {exc}") from exc


class _Metered:
    """The decompressed archive, as tarfile reads it, with a cap on how much one header may read.

    tarfile reads a member's extended header (PAX records, a GNU long name, a sparse map) whole, into
    memory, in one read of whatever size the header declares, before the member reaches our checks:
    a small archive that declares a 20 GB header would be a memory bomb. `allowance` is reset before
    each header is read.
    """

    def __init__(self, raw: Any) -> None:
        self.raw = raw
        self.allowance = _HEADER_BYTES

    def read(self, size: int = -1, /) -> bytes:
        if size < 0:  # "all the rest", from a header that declares a negative size
            raise tarfile.ReadError("a member header has a negative size")
        if size > self.allowance:
            raise ArchiveTooLargeError(
                f"The model archive has a member header of more than {_HEADER_BYTES} bytes, over the limit of "
                f"{_HEADER_BYTES}; no archive tar writes has one."
            )
        data: bytes = self.raw.read(size)
        self.allowance -= len(data)
        return data

    def seek(self, pos: int, whence: int = 0, /) -> int:
        return int(self.raw.seek(pos, whence))

    def tell(self) -> int:
        return int(self.raw.tell())

    def write(self, data: bytes, /) -> int:
        raise OSError("read-only")

    def close(self) -> None:
        pass  # the file underneath is closed by its owner


class _Unsafe(Exception):
    """A member that would write, link or read outside the model directory, or is not a file, directory or link."""


def _checked(tar: tarfile.TarFile, stream: _Metered, max_bytes: int, max_members: int) -> list[tarfile.TarInfo]:
    """The members of `tar`, each checked on its own as its header is read, then against the others.

    Our own checks, not the 'data' filter alone: the filter resolves links against the disk as it is when
    each member is extracted, so a link checked before a later link it goes through looks inside; and in
    Pythons before 3.11.13/3.12.11/3.13.4 links nested past PATH_MAX get by it entirely (CVE-2025-4517).
    Checking names and link targets as text, against the archive's own links, depends on neither.
    """
    members: list[tarfile.TarInfo] = []
    by_name: dict[str, tarfile.TarInfo] = {}
    total = 0
    # One header at a time: a bomb is refused at the header that declares its size, before its data is
    # decompressed (getmembers() would decompress the whole archive first).
    while True:
        stream.allowance = _HEADER_BYTES
        member = tar.next()
        if member is None:
            break
        if member.size < 0:  # tarfile would step back and read the same headers again (CVE-2025-8194)
            raise tarfile.ReadError(f"member {member.name!r} has a negative size")
        if len(members) >= max_members:
            raise ArchiveTooLargeError(
                f"The model archive has more than {max_members} entries; pack large file trees into fewer files."
            )
        name = _relative(member.name, f"member {member.name!r}")
        if not (member.isreg() or member.isdir() or member.issym() or member.islnk()) or member.issparse():
            kind = "sparse file" if member.issparse() else _SPECIAL_KINDS.get(member.type, "special file")
            raise _Unsafe(f"member {member.name!r} is a {kind}; only files, directories and links are allowed")
        if not name and not member.isdir():
            raise _Unsafe(f"member {member.name!r} names the model directory itself")
        earlier = by_name.get(name)
        if earlier is not None and not (earlier.isdir() and member.isdir()):
            # A second entry replaces the first: a file becomes a directory, or a link becomes a file
            # that is then written through the link. Only repeated directories are harmless.
            raise _Unsafe(f"member {member.name!r} appears twice")
        size = member.size if member.isreg() else 0
        if member.islnk():
            # tar stores a hard link as the name of the file archived first; anything else is not from tar.
            target = by_name.get(_relative(member.linkname, f"hard link {member.name!r} -> {member.linkname!r}"))
            if target is None or not target.isreg():
                raise _Unsafe(
                    f"hard link {member.name!r} -> {member.linkname!r}: it must name a file earlier in the archive"
                )
            size = target.size  # where the file system has no hard links, tarfile writes a copy
        if member.issym() and "\0" in member.linkname:
            raise _Unsafe(f"symlink {member.name!r} -> {member.linkname!r}: NUL bytes are not allowed in names")
        if member.issym() and member.linkname.startswith("/"):
            raise _Unsafe(f"symlink {member.name!r} -> {member.linkname!r}: absolute paths are not allowed")
        total += size
        if total > max_bytes:
            raise ArchiveTooLargeError(
                f"The model archive unpacks to at least {total} bytes, over the limit of {max_bytes} "
                "(HOMEPORT_MAX_MODEL_BYTES)."
            )
        by_name[name] = member
        members.append(member)
    _read_to_the_end(stream.raw, max_bytes)

    links = {name: m.linkname for name, m in by_name.items() if m.issym()}
    for name, member in by_name.items():
        # Nothing is written through a link or into a file: every parent named in the archive is a directory.
        parts = name.split("/")
        for i in range(1, len(parts)):
            parent = by_name.get("/".join(parts[:i]))
            if parent is not None and not parent.isdir():
                kind = "symlink" if parent.issym() else "file"
                raise _Unsafe(f"member {member.name!r} would be written through {parent.name!r}, which is a {kind}")
        if member.issym() and _leaves(name, links):
            raise _Unsafe(f"symlink {member.name!r} -> {member.linkname!r} points outside the model directory")
    return members


_SPECIAL_KINDS = {tarfile.CHRTYPE: "character device", tarfile.BLKTYPE: "block device", tarfile.FIFOTYPE: "FIFO"}
_MAX_LINK_HOPS = 40  # as Linux allows when it resolves a path
_HEADER_BYTES = 1 << 20  # far more than any real header (names are at most 4 KiB)


def _relative(path: str, what: str) -> str:
    """`path` with `.` and empty parts dropped ('' for the top directory); refused if it could leave it."""
    if "\0" in path:
        raise _Unsafe(f"{what}: NUL bytes are not allowed in names")
    if path.startswith("/"):
        # The 'data' filter would quietly strip the '/'; an archive built with one is refused instead.
        raise _Unsafe(f"{what}: absolute paths are not allowed")
    parts = [part for part in path.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise _Unsafe(f"{what}: '..' would leave the model directory")
    return "/".join(parts)


def _leaves(link: str, links: dict[str, str]) -> bool:
    """Whether the symlink `link` resolves outside the top directory, following the archive's own links as
    the kernel would once they are all on disk. Its parents are real directories (checked by the caller)."""
    where = link.split("/")[:-1]
    todo = links[link].split("/")[::-1]
    hops = 0
    while todo:
        part = todo.pop()
        if part in ("", "."):
            continue
        if part == "..":
            if not where:
                return True
            where.pop()
            continue
        where.append(part)
        target = links.get("/".join(where))
        if target is not None:  # a link in the archive: go on from where it points
            hops += 1
            if hops > _MAX_LINK_HOPS:
                raise _Unsafe(f"symlink {link!r} -> {links[link]!r} is part of a loop")
            where.pop()
            todo.extend(target.split("/")[::-1])
    return False


def _read_to_the_end(stream: Any, max_bytes: int) -> None:
    """Read past the end-of-archive marker to the end of the stream.

    gzip checks its CRC only at the end, which tarfile never reaches, and tarfile takes a damaged header
    for the end of the archive; reading on catches both. What follows the marker must be zero padding,
    and no more of it than the limit, so nothing large hides there either.
    """
    seen = 0
    while chunk := stream.read(1 << 20):
        seen += len(chunk)
        if chunk.count(0) != len(chunk):
            raise tarfile.ReadError("there is data after the end of the archive; it may be damaged")
        if seen > max_bytes:
            raise ArchiveTooLargeError(
                f"The model archive has more than {max_bytes} bytes of padding after its end, over the limit "
                f"of {max_bytes} (HOMEPORT_MAX_MODEL_BYTES)."
            )
