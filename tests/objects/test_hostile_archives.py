"""Hostile model archives: each one is refused with a typed error that says what is wrong, writes nothing
outside the sandbox, and leaves nothing half-unpacked in the cache; safe archives still unpack.

Every archive is built here with `tarfile` (or byte by byte, for the bomb). The process may run as root, so
no archive points at a real system file in a way that would change it if the check were missing: escapes
aim at `outside/` in the test's own temporary directory, and `/etc/passwd` is only ever the target of a
link, never written through.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import struct
import tarfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from homeport.objects import archives as artifacts
from homeport.settings import Settings

LIMIT = 1 << 20  # max_bytes for these tests: 1 MiB
# `fetch` unpacks into <cache>/.unpack-*/model; three `..` from there is the sandbox root.
UP = "../../../"


# --- building archives ------------------------------------------------------------------------------


def regular(name: str, data: bytes = b"x") -> tuple[tarfile.TarInfo, bytes | None]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def directory(name: str) -> tuple[tarfile.TarInfo, bytes | None]:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    return info, None


def link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tuple[tarfile.TarInfo, bytes | None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info, None


def special(name: str, kind: bytes) -> tuple[tarfile.TarInfo, bytes | None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.devmajor, info.devminor = 1, 3  # /dev/null's numbers, for the device kinds
    return info, None


def pax_named(field: str, value: str) -> tuple[tarfile.TarInfo, bytes | None]:
    """A file's name ('path') or a symlink's target ('linkpath') sent in a PAX record, which (unlike the
    ustar header) can carry a NUL byte."""
    info, data = regular("placeholder") if field == "path" else link("placeholder", "placeholder")
    info.pax_headers = {field: value}
    return info, data


Members = list[tuple[tarfile.TarInfo, bytes | None]]


def targz(members: Members, fmt: int = tarfile.PAX_FORMAT) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=fmt) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


_CHUNK = 1 << 20


def gzip_of_zeros(prefix: bytes, zeros: int, tail: bytes = b"", *, complete: bool = True) -> bytes:
    """A gzip stream of `prefix`, `zeros` zero bytes, then `tail`, built from one compressed 1 MiB block
    repeated: a few KiB per GiB, made in milliseconds without ever holding the expanded bytes.
    With complete=False the stream stops after the zeros, so whoever reads that far fails."""
    assert zeros % _CHUNK == 0
    comp = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)  # raw deflate; the gzip framing is ours
    parts = [b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff", comp.compress(prefix), comp.flush(zlib.Z_FULL_FLUSH)]
    # After a full flush the block refers to nothing before it, so copies of it may follow each other.
    block = comp.compress(bytes(_CHUNK)) + comp.flush(zlib.Z_FULL_FLUSH)
    parts.append(block * (zeros // _CHUNK))
    if not complete:
        return b"".join(parts)
    parts += [comp.compress(tail), comp.flush()]
    crc = zlib.crc32(prefix)
    for _ in range(zeros // _CHUNK):
        crc = zlib.crc32(bytes(_CHUNK), crc)
    crc = zlib.crc32(tail, crc)
    parts.append(struct.pack("<II", crc, (len(prefix) + zeros + len(tail)) & 0xFFFFFFFF))
    return b"".join(parts)


def bomb(expands_to: int) -> bytes:
    """A tar.gz holding one file of `expands_to` zero bytes (a multiple of 1 MiB)."""
    info = tarfile.TarInfo("weights.bin")
    info.size = expands_to
    header = regular("config.json", b"{}")[0].tobuf(tarfile.GNU_FORMAT) + b"{}".ljust(512, b"\0")
    header += info.tobuf(tarfile.GNU_FORMAT)
    return gzip_of_zeros(header, expands_to, bytes(2 * 512))


# --- the sandbox ------------------------------------------------------------------------------------


@dataclass
class Sandbox:
    root: Path
    outside: Path  # where escapes aim; holds `victim.txt`
    archive: Path  # the one archive URL every test fetches
    cache: Path


@pytest.fixture
def box(tmp_path: Path) -> Sandbox:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim.txt").write_bytes(b"precious")
    (tmp_path / "archives").mkdir()
    return Sandbox(tmp_path, outside, tmp_path / "archives" / "model.tar.gz", tmp_path / "cache")


def snapshot(root: Path, skip: Path) -> dict[str, str]:
    """Every path under `root` (not following links, not entering `skip`): kind, link target, content, links."""
    seen: dict[str, str] = {}
    for here, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if Path(here, d) != skip]
        for name in dirs + files:
            path = Path(here, name)
            st = path.lstat()
            if stat.S_ISLNK(st.st_mode):
                seen[str(path)] = "link -> " + os.readlink(path)
            elif stat.S_ISREG(st.st_mode):
                seen[str(path)] = f"file {hashlib.sha256(path.read_bytes()).hexdigest()} nlink={st.st_nlink}"
            else:
                seen[str(path)] = stat.filemode(st.st_mode)[0]
    return seen


def assert_refused(box: Sandbox, data: bytes, error: type[Exception], match: str, **limits: int) -> str:
    """Fetching `data` fails with `error`; nothing changes outside the cache, nothing is left in it, and a
    good archive at the same URL then unpacks."""
    box.archive.write_bytes(data)
    before = snapshot(box.root, skip=box.cache)
    with pytest.raises(error, match=match) as caught:
        artifacts.fetch(box.archive.as_uri(), box.cache, LIMIT, **limits)
    assert snapshot(box.root, skip=box.cache) == before
    assert not (box.outside / "pwned").exists()
    assert sorted(os.listdir(box.cache)) == []  # no half-unpacked model, no leftover work directory
    box.archive.write_bytes(targz([regular("xgboost-model", b"good")]))
    assert (artifacts.fetch(box.archive.as_uri(), box.cache, LIMIT) / "xgboost-model").read_bytes() == b"good"
    return str(caught.value)


def test_escapes_aim_at_the_sandbox(box: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    """The `UP` prefix of the cases below really leads from the unpack directory to the sandbox root."""
    seen: list[Path] = []
    real = artifacts.unpack

    def spy(archive: Path, dest: Path, *args: int) -> None:
        seen.append(dest)
        real(archive, dest, *args)

    monkeypatch.setattr(artifacts, "unpack", spy)
    box.archive.write_bytes(targz([regular("a")]))
    artifacts.fetch(box.archive.as_uri(), box.cache, LIMIT)
    assert os.path.normpath(seen[0] / UP) == str(box.root)


# --- the attacks ------------------------------------------------------------------------------------

Case = Callable[[Sandbox], Members]
UNSAFE: dict[str, tuple[Case, str]] = {
    "absolute path": (lambda b: [regular(str(b.outside / "pwned"))], "absolute paths are not allowed"),
    "dot-dot": (lambda b: [regular(UP + "outside/pwned")], r"'\.\.' would leave the model directory"),
    "nested dot-dot": (lambda b: [regular("a/../../../../outside/pwned")], r"'\.\.' would leave"),
    "dot-slash dot-dot": (lambda b: [regular("./" + UP + "outside/pwned")], r"'\.\.' would leave"),
    "symlink out, then a file through it": (
        lambda b: [link("out", UP + "outside"), regular("out/pwned")],
        "symlink 'out' .* points outside the model directory",
    ),
    "absolute symlink, then a file through it": (
        lambda b: [link("out", str(b.outside)), regular("out/pwned")],
        "symlink 'out' .*absolute paths are not allowed",
    ),
    "symlink to /etc/passwd": (lambda b: [link("passwd", "/etc/passwd")], "absolute paths are not allowed"),
    # `up` is harmless on its own (it points at the model directory), but `esc` goes through it and then up
    # once more; listed first, `esc` looks inside to a check that resolves against the disk as it is then.
    "symlink through a later symlink": (
        lambda b: [link("esc", "sub/up/" + UP + "outside"), directory("sub"), link("sub/up", "..")],
        "symlink 'esc' .* points outside the model directory",
    ),
    "file written through an inside symlink": (
        lambda b: [directory("real"), link("alias", "real"), regular("alias/pwned")],
        "'alias/pwned' would be written through 'alias', which is a symlink",
    ),
    "symlink loop": (lambda b: [link("a", "b"), link("b", "a")], "symlink 'a' .* loop"),
    "hard link out, then written through": (
        lambda b: [link("h", UP + "outside/victim.txt", tarfile.LNKTYPE), regular("h", b"pwned")],
        r"hard link 'h' -> .*'\.\.' would leave",
    ),
    "absolute hard link to /etc/passwd": (
        lambda b: [link("passwd", "/etc/passwd", tarfile.LNKTYPE)],
        "hard link 'passwd' -> '/etc/passwd': absolute paths are not allowed",
    ),
    "hard link through a symlink": (
        lambda b: [directory("d"), link("s", "d"), regular("d/f"), link("h", "s/f", tarfile.LNKTYPE)],
        "hard link 'h' -> 's/f': it must name a file earlier in the archive",
    ),
    "character device": (lambda b: [special("null", tarfile.CHRTYPE)], "'null' is a character device"),
    "block device": (lambda b: [special("disk", tarfile.BLKTYPE)], "'disk' is a block device"),
    "fifo": (lambda b: [special("pipe", tarfile.FIFOTYPE)], "'pipe' is a FIFO"),
    "NUL byte in a name": (lambda b: [pax_named("path", "model\x00.bin")], "NUL bytes are not allowed"),
    "NUL byte in a link target": (lambda b: [pax_named("linkpath", "in\x00side")], "NUL bytes are not allowed"),
    "file, then a directory of the same name": (
        lambda b: [regular("x"), directory("x"), regular("x/y")],
        "'x' appears twice",
    ),
    "directory, then a file of the same name": (lambda b: [directory("x"), regular("./x")], "'./x' appears twice"),
    "file, then a file inside it": (
        lambda b: [regular("x"), regular("x/y")],
        "'x/y' would be written through 'x', which is a file",
    ),
    "a file named for the model directory": (lambda b: [regular(".")], "names the model directory itself"),
}


@pytest.mark.parametrize("case", list(UNSAFE))
def test_unsafe_archives_are_refused(box: Sandbox, case: str) -> None:
    members, match = UNSAFE[case]
    message = assert_refused(box, targz(members(box)), artifacts.UnsafeArchiveError, match)
    assert message.startswith("The model archive model.tar.gz is unsafe to unpack: ")
    assert "tar czf model.tar.gz -C" in message  # says how to build a good one


@pytest.mark.parametrize(
    ("with_hard_link", "match"),
    [
        (True, "hard link 'flaglink' -> 'escape/flag': it must name a file earlier"),
        (False, "'a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/l+' would be written through 'a', which is a symlink"),
    ],
)
def test_realpath_overflow_bypass_is_refused(tmp_path: Path, with_hard_link: bool, match: str) -> None:
    """CVE-2025-4517: links nested until the resolved path passes PATH_MAX, where `os.path.realpath` stops
    resolving, so the 'data' filter of Pythons before 3.11.13/3.12.11/3.13.4 sees `escape` as inside; then
    a hard link through it lets the next member overwrite a file outside, and a file is created outside."""
    dest = tmp_path / "work" / "dest"
    flag = tmp_path / "work" / "flag"
    dest.parent.mkdir()
    flag.write_bytes(b"precious")
    steps = "abcdefghijklmnop"
    component = "d" * ((os.pathconf(tmp_path, "PC_PATH_MAX") - len(str(dest)) - 1) // (len(steps) + 1))
    members: Members = []
    path = ""
    for step in steps:
        members += [directory(os.path.join(path, component)), link(os.path.join(path, step), component)]
        path = os.path.join(path, component)
    deep = os.path.join(*steps, "l" * 254)
    members += [
        link(deep, os.path.join(*[".."] * len(steps))),
        link("escape", os.path.join(deep, "..")),
        *([link("flaglink", "escape/flag", tarfile.LNKTYPE), regular("flaglink", b"pwned")] if with_hard_link else []),
        regular("escape/newfile", b"pwned"),
    ]
    archive = tmp_path / "poc.tar.gz"
    archive.write_bytes(targz(members))
    with pytest.raises(artifacts.UnsafeArchiveError, match=match):
        artifacts.unpack(archive, dest, LIMIT)
    assert flag.read_bytes() == b"precious"
    assert sorted(os.listdir(dest.parent)) == ["dest", "flag"]


def test_a_decompression_bomb_is_refused(box: Sandbox) -> None:
    data = bomb(256 * _CHUNK)
    assert len(data) < LIMIT // 2  # a small file that expands to 256 times the limit
    message = assert_refused(box, data, artifacts.ArchiveTooLargeError, "over the limit of 1048576")
    assert "HOMEPORT_MAX_MODEL_BYTES" in message


def test_a_bomb_is_refused_from_its_header_before_its_data_is_read(box: Sandbox) -> None:
    """A 1 TiB member against the default limit: the stream stops after 16 MiB, so only a check made on the
    header, before the data is decompressed, gives this error rather than 'not readable'."""
    limit = Settings().max_model_bytes
    box.archive.write_bytes(_truncated_giant())
    with pytest.raises(artifacts.ArchiveTooLargeError, match=f"over the limit of {limit}"):
        artifacts.fetch(box.archive.as_uri(), box.cache, limit)
    assert sorted(os.listdir(box.cache)) == []


def _truncated_giant() -> bytes:
    info = tarfile.TarInfo("weights.bin")
    info.size = 1 << 40
    return gzip_of_zeros(info.tobuf(tarfile.GNU_FORMAT), 16 * _CHUNK, complete=False)


def test_padding_after_the_end_of_the_archive_counts_towards_the_limit(box: Sandbox) -> None:
    data = gzip_of_zeros(bytes(1024), 4 * _CHUNK)  # an empty tar, then 4 MiB of zeros
    assert_refused(box, data, artifacts.ArchiveTooLargeError, "bytes of padding after its end")


def _extended_header(kind: bytes, size: int) -> bytes:
    info = tarfile.TarInfo("././@LongLink" if kind == tarfile.GNUTYPE_LONGNAME else "././@PaxHeader")
    info.type = kind
    info.size = size
    return info.tobuf(tarfile.USTAR_FORMAT)


@pytest.mark.parametrize("kind", [tarfile.XHDTYPE, tarfile.GNUTYPE_LONGNAME], ids=["pax", "gnu-long-name"])
def test_a_bomb_in_an_extended_header_is_refused(box: Sandbox, kind: bytes) -> None:
    """tarfile reads a PAX or GNU long-name header whole, into memory, before its member is returned: a
    header declaring 256 MiB must be refused at that read, not after the server has allocated it."""
    data = gzip_of_zeros(_extended_header(kind, 256 * _CHUNK), 256 * _CHUNK, bytes(1024))
    assert_refused(box, data, artifacts.ArchiveTooLargeError, "member header of more than 1048576 bytes")


def test_extended_headers_chained_past_the_recursion_limit_are_refused(box: Sandbox) -> None:
    """tarfile follows each extended header to the next by recursion: 1500 of them raise RecursionError."""
    raw = b"".join(_extended_header(tarfile.GNUTYPE_LONGNAME, 8) + b"longname".ljust(512, b"\0") for _ in range(1500))
    raw += regular("real")[0].tobuf(tarfile.USTAR_FORMAT) + bytes(512 + 1024)
    assert_refused(box, zlib.compress(raw, wbits=31), artifacts.UnreadableArchiveError, "recursion")


def test_a_negative_size_is_refused(box: Sandbox) -> None:
    """A negative size (base-256 in the GNU format) would send tarfile back to headers it has read (CVE-2025-8194)."""
    info, _ = regular("back", b"")
    info.size = -1024
    raw = regular("first")[0].tobuf(tarfile.GNU_FORMAT) + b"x".ljust(512, b"\0")
    raw += info.tobuf(tarfile.GNU_FORMAT) + bytes(1024)
    assert_refused(box, zlib.compress(raw, wbits=31), artifacts.UnreadableArchiveError, "'back' has a negative size")


def test_a_sparse_member_is_refused(box: Sandbox) -> None:
    info = tarfile.TarInfo("holes.bin")
    info.type = tarfile.GNUTYPE_SPARSE
    raw = info.tobuf(tarfile.GNU_FORMAT) + bytes(1024)
    assert_refused(box, zlib.compress(raw, wbits=31), artifacts.UnsafeArchiveError, "'holes.bin' is a sparse file")


def test_hard_links_count_towards_the_limit(box: Sandbox) -> None:
    """Where the file system has no hard links, tarfile writes each one as a copy of its file."""
    members = [regular("w", bytes(LIMIT // 2)), *(link(f"copy{i}", "w", tarfile.LNKTYPE) for i in range(2))]
    assert_refused(box, targz(members), artifacts.ArchiveTooLargeError, "at least 1572864 bytes, over the limit")


def test_too_many_members_are_refused(box: Sandbox) -> None:
    members = [regular(f"f{i}", b"") for i in range(101)]
    message = assert_refused(box, targz(members), artifacts.ArchiveTooLargeError, "more than 100 ", max_members=100)
    assert "entries" in message
    assert artifacts.MAX_MEMBERS >= 10_000  # the default leaves room for real models with vendored code


def _corrupt(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes(b ^ 0xFF for b in data[middle : middle + 32]) + data[middle + 32 :]


def _bad_checksum_in_second_header() -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for info, data in [regular("first", b"1" * 600), regular("second", b"second file")]:
            tar.addfile(info, io.BytesIO(data))
    tar_bytes = bytearray(raw.getvalue())
    tar_bytes[1536 + 148 : 1536 + 156] = b"0000000\0"  # header 2 starts after 512 + 1024; checksum field
    return zlib.compress(bytes(tar_bytes), wbits=31)


UNREADABLE: dict[str, Callable[[], bytes]] = {
    "not an archive": lambda: b"this is not a tarball\n" * 10,
    "truncated": lambda: targz([regular("weights.bin", os.urandom(100_000))])[:50_000],
    "corrupt deflate data": lambda: _corrupt(targz([regular("weights.bin", bytes(range(256)) * 4000)])),
    "corrupt payload (CRC mismatch)": lambda: _corrupt_stored(),
    "a damaged header in the middle": _bad_checksum_in_second_header,
}


def _corrupt_stored() -> bytes:
    """Incompressible content is stored as-is, so a flipped byte is only caught by gzip's CRC at the end."""
    return _corrupt(targz([regular("weights.bin", os.urandom(200_000))]))


@pytest.mark.parametrize("case", list(UNREADABLE))
def test_unreadable_archives_are_refused(box: Sandbox, case: str) -> None:
    assert_refused(box, UNREADABLE[case](), artifacts.UnreadableArchiveError, r"not a readable \.tar\.gz")


# --- what must keep working --------------------------------------------------------------------------


def test_safe_archives_still_unpack(box: Sandbox) -> None:
    members: Members = [
        directory("./"),
        regular("./xgboost-model", b"weights"),
        directory("code"),
        regular("code/inference.py", b"x = 1\n"),
        regular("code/empty.txt", b""),
        regular("a/b/c/d/deep.txt", b"deep"),  # parents that have no entry of their own
        directory("a/b/"),  # a directory listed after what it holds
        directory("code/"),  # and one listed twice
        link("code/weights", "../xgboost-model"),  # relative links that stay inside
        link("latest", "a/b/./c"),
        link("up-and-back", "code/../a"),
        link("dangling", "not-there-yet"),
        link("hard", "./xgboost-model", tarfile.LNKTYPE),
        regular("caf\udce9 \n name", b"odd bytes"),  # not UTF-8, with a newline: odd, but inside
    ]
    box.archive.write_bytes(targz(members, fmt=tarfile.GNU_FORMAT))
    before = snapshot(box.root, skip=box.cache)
    model = artifacts.fetch(box.archive.as_uri(), box.cache, LIMIT)
    assert snapshot(box.root, skip=box.cache) == before
    assert (model / "code" / "weights").read_bytes() == b"weights"
    assert os.readlink(model / "code" / "weights") == "../xgboost-model"
    assert (model / "latest" / "d" / "deep.txt").read_bytes() == b"deep"
    assert (model / "up-and-back" / "b" / "c" / "d" / "deep.txt").exists()
    assert (model / "code" / "empty.txt").read_bytes() == b""
    assert (model / "hard").read_bytes() == b"weights"
    assert os.path.lexists(model / "dangling")
    assert (model / "caf\udce9 \n name").read_bytes() == b"odd bytes"


def test_an_archive_made_with_tar_add_unpacks(box: Sandbox, tmp_path: Path) -> None:
    """What `tarfile.add` (and so `conftest.pack`) writes for a real directory with a link in it."""
    source = tmp_path / "src"
    (source / "code").mkdir(parents=True)
    (source / "model.bin").write_bytes(b"m")
    (source / "code" / "inference.py").write_text("x = 1\n")
    (source / "code" / "model.bin").symlink_to("../model.bin")
    with tarfile.open(box.archive, "w:gz") as tar:
        tar.add(source, ".")
    model = artifacts.fetch(box.archive.as_uri(), box.cache, LIMIT)
    assert (model / "code" / "model.bin").read_bytes() == b"m"


def test_a_plain_uncompressed_tar_unpacks(box: Sandbox) -> None:
    with tarfile.open(box.archive, "w") as tar:
        info, data = regular("m", b"plain")
        tar.addfile(info, io.BytesIO(data))
    assert (artifacts.fetch(box.archive.as_uri(), box.cache, LIMIT) / "m").read_bytes() == b"plain"


def test_an_archive_at_exactly_the_limit_unpacks(box: Sandbox) -> None:
    box.archive.write_bytes(targz([regular("w", bytes(LIMIT - 2)), regular("x", b"12")]))
    assert (artifacts.fetch(box.archive.as_uri(), box.cache, LIMIT) / "w").stat().st_size == LIMIT - 2
