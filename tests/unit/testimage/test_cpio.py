"""The initramfs writer produces archives the real cpio tool reads back identically."""

from __future__ import annotations

import subprocess
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from zcompute.testimage import _cpio


def _extract(archive: bytes, dest: Path) -> None:
    subprocess.run(
        ["cpio", "-idm", "--quiet", "--no-absolute-filenames"],
        input=archive,
        cwd=dest,
        check=True,
    )


def test_cpio_tool_reads_directories_files_and_symlinks(tmp_path: Path) -> None:
    archive = _cpio.write_newc(
        [
            _cpio.directory("bin"),
            _cpio.regular("bin/busybox", b"\x7fELF fake", executable=True),
            _cpio.symlink("bin/sh", "busybox"),
            _cpio.regular("init", b"#!/bin/sh\n", executable=True),
        ]
    )
    _extract(archive, tmp_path)
    assert (tmp_path / "bin" / "busybox").read_bytes() == b"\x7fELF fake"
    assert (tmp_path / "bin" / "sh").readlink() == Path("busybox")
    assert (tmp_path / "init").stat().st_mode & 0o777 == 0o755


def test_archive_is_reproducible() -> None:
    entries = [_cpio.directory("etc"), _cpio.regular("etc/x", b"1")]
    assert _cpio.write_newc(entries) == _cpio.write_newc(list(entries))


@settings(max_examples=25, deadline=None)
@given(
    st.dictionaries(
        st.text(alphabet="abcdefghij_", min_size=1, max_size=12),
        st.binary(max_size=300),
        min_size=1,
        max_size=6,
    )
)
def test_any_file_contents_round_trip(tmp_path_factory: object, files: dict[str, bytes]) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        archive = _cpio.write_newc([_cpio.regular(name, data) for name, data in files.items()])
        _extract(archive, Path(tmp))
        for name, data in files.items():
            assert (Path(tmp) / name).read_bytes() == data
