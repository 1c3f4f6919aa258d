"""Model archives: fetched once, unpacked safely, refused with a message that says what is wrong."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from homeport.objects import archives as artifacts


def make_tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def file_member(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def test_fetch_unpacks_once_and_reuses_the_cache(tmp_path: Path) -> None:
    archive = make_tar(
        tmp_path / "model.tar.gz", [file_member("xgboost-model", b"abc"), file_member("code/inference.py", b"x = 1\n")]
    )
    first = artifacts.fetch(archive.as_uri(), tmp_path / "cache", 10**6)
    assert (first / "xgboost-model").read_bytes() == b"abc"
    assert (first / "code" / "inference.py").exists()
    (first / "marker").write_text("cached")
    assert artifacts.fetch(archive.as_uri(), tmp_path / "cache", 10**6) == first
    assert (first / "marker").exists()


@pytest.mark.parametrize("name", ["/etc/evil", "../evil", "a/../../evil"])
def test_paths_leaving_the_directory_are_refused(tmp_path: Path, name: str) -> None:
    archive = make_tar(tmp_path / "bad.tar.gz", [file_member(name, b"x")])
    with pytest.raises(artifacts.ArtifactError, match="unsafe"):
        artifacts.fetch(str(archive), tmp_path / "cache", 10**6)
    assert not (tmp_path / "evil").exists()
    assert [p.name for p in (tmp_path / "cache").iterdir()] == []  # nothing half-unpacked is left


def test_links_leaving_the_directory_are_refused(tmp_path: Path) -> None:
    link = tarfile.TarInfo("model")
    link.type = tarfile.SYMTYPE
    link.linkname = "/etc/passwd"
    archive = make_tar(tmp_path / "link.tar.gz", [(link, None)])
    with pytest.raises(artifacts.ArtifactError, match="unsafe"):
        artifacts.fetch(archive.as_uri(), tmp_path / "cache", 10**6)


def test_oversize_archives_are_refused(tmp_path: Path) -> None:
    archive = make_tar(tmp_path / "big.tar.gz", [file_member("w", b"0" * 5000)])
    with pytest.raises(artifacts.ArtifactError, match="over the limit of 1000"):
        artifacts.fetch(archive.as_uri(), tmp_path / "cache", 1000)


def test_not_an_archive_and_missing_files_say_what_is_wrong(tmp_path: Path) -> None:
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"not a tarball")
    with pytest.raises(artifacts.ArtifactError, match=r"not a readable \.tar\.gz"):
        artifacts.fetch(junk.as_uri(), tmp_path / "cache", 10**6)
    with pytest.raises(artifacts.ArtifactError, match="no such file"):
        artifacts.check_exists((tmp_path / "missing.tar.gz").as_uri())
    with pytest.raises(artifacts.ArtifactError, match="Could not access model data"):
        artifacts.fetch((tmp_path / "missing.tar.gz").as_uri(), tmp_path / "cache", 10**6)


def test_no_model_data_gives_an_empty_directory(tmp_path: Path) -> None:
    assert list(artifacts.fetch(None, tmp_path / "cache", 10).iterdir()) == []


def test_file_urls_with_escaped_characters(tmp_path: Path) -> None:
    folder = tmp_path / "a dir, with commas"
    folder.mkdir()
    archive = folder / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("xgboost-model")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"{}"))
    url = archive.as_uri()
    assert "%20" in url
    artifacts.check_exists(url)
    assert (artifacts.fetch(url, tmp_path / "cache", 1 << 20) / "xgboost-model").read_bytes() == b"{}"
