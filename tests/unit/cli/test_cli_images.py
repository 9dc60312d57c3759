"""``zcompute image import|list|show|delete`` and their error paths."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

from tests.unit.cli.cli_support import GuestFactory, Zc


def _raw_disk(files: Path, size: int = 3 << 20) -> Path:
    path = files / "disk.raw"
    with path.open("wb") as handle:
        handle.write(b"zcompute" * (size // 8))
    return path


def test_import_a_disk_prints_its_checksum_and_lists_it(zc: Zc, files: Path) -> None:
    disk = _raw_disk(files)
    digest = hashlib.sha256(disk.read_bytes()).hexdigest()

    result = zc(
        "image",
        "import",
        "debian",
        str(disk),
        "--arch",
        "s390x",
        "--property",
        "hw_disk_bus=virtio",
        "--sha256",
        digest.upper(),
    )

    assert result.code == 0, result
    assert "imported image debian (" in result.out
    assert "raw disk, s390x, 3.0 MiB virtual" in result.out
    assert f"sha256 {digest}" in result.out
    assert "importing debian" in result.err  # the progress bar, on stderr
    listed = json.loads(zc("image", "list", "--json").out)
    assert [(i["name"], i["arch"], i["kind"], i["sha256"]) for i in listed] == [
        ("debian", "s390x", "disk", digest)
    ]
    table = zc("image", "list").out
    assert "debian" in table
    assert "s390x" in table
    assert "3.0 MiB" in table


def test_show_by_name_and_by_id(zc: Zc, files: Path) -> None:
    zc("image", "import", "debian", str(_raw_disk(files)), "--property", "hw_disk_bus=scsi")
    by_name = json.loads(zc("image", "show", "debian", "--json").out)
    by_id = json.loads(zc("image", "show", by_name["id"], "--json").out)
    assert by_id == by_name
    assert by_name["properties"] == {"hw_disk_bus": "scsi"}
    assert by_name["disk_format"] == "raw"
    assert Path(by_name["path"]).is_file()
    table = zc("image", "show", "debian").out
    assert "property hw_disk_bus" in table
    assert "scsi" in table


def test_import_a_kernel_boot_image(zc: Zc, files: Path) -> None:
    (files / "vmlinuz").write_bytes(b"k" * 5000)
    (files / "initrd").write_bytes(b"i" * 3000)
    result = zc(
        "image",
        "import",
        "k1",
        "--kernel",
        str(files / "vmlinuz"),
        "--initrd",
        str(files / "initrd"),
        "--cmdline",
        "quiet",
        "--arch",
        "s390x",
    )
    assert result.code == 0, result
    assert "kernel boot, s390x" in result.out
    assert f"initrd sha256 {hashlib.sha256(b'i' * 3000).hexdigest()}" in result.out
    shown = json.loads(zc("image", "show", "k1", "--json").out)
    assert shown["kind"] == "kernel"
    assert shown["cmdline"] == "quiet"
    assert shown["size"] == 8000


def test_checksum_mismatch_refuses_the_image_and_leaves_nothing(zc: Zc, files: Path) -> None:
    result = zc("image", "import", "debian", str(_raw_disk(files)), "--sha256", "0" * 64)
    assert result.code == 1
    assert "checksum mismatch" in result.err
    assert "Traceback" not in result.err
    assert json.loads(zc("image", "list", "--json").out) == []
    assert list((zc.data_dir / "images").iterdir()) == []


def test_unsafe_qcow2_with_a_backing_file_is_refused(zc: Zc, files: Path) -> None:
    base, top = files / "base.raw", files / "top.qcow2"
    base.write_bytes(b"\0" * 65536)
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(base), "-F", "raw", str(top)],
        check=True,
    )
    result = zc("image", "import", "evil", str(top))
    assert result.code == 1
    errors = [line for line in result.err.splitlines() if "error" in line]
    assert len(errors) == 1  # one line, no traceback
    assert errors[0].startswith("zcompute: error: ")
    assert "a backing file can expose host files" in errors[0]
    assert json.loads(zc("image", "list", "--json").out) == []


def test_user_errors_name_the_field_and_the_allowed_values(zc: Zc, files: Path) -> None:
    disk = str(_raw_disk(files))
    bad_name = zc("image", "import", "bad/name", disk)
    assert bad_name.code == 1
    assert "image.name: invalid name 'bad/name'" in bad_name.err
    assert "allowed" in bad_name.err
    bad_prop = zc("image", "import", "x", disk, "--property", "hw_disk_bus=floppy")
    assert bad_prop.code == 1
    assert "hw_disk_bus" in bad_prop.err
    assert "virtio" in bad_prop.err
    zc("image", "import", "x", disk)
    duplicate = zc("image", "import", "x", disk)
    assert duplicate.code == 1
    assert "an image named 'x' already exists" in duplicate.err


def test_usage_errors_exit_2(zc: Zc, files: Path) -> None:
    disk = str(_raw_disk(files))
    kernel = files / "k"
    kernel.write_bytes(b"k")
    cases = [
        (("image", "import", "x"), "give either FILE"),
        (("image", "import", "x", disk, "--kernel", str(kernel)), "give either FILE"),
        (("image", "import", "x", "--kernel", str(kernel)), "needs --arch"),
        (("image", "import", "x", disk, "--initrd", str(kernel)), "need --kernel"),
        (("image", "import", "x", disk, "--property", "novalue"), "is not KEY=VALUE"),
        (("image", "import", "x", str(files / "missing")), "does not exist"),
        (("image", "import", "x", disk, "--arch", "sparc"), "sparc"),
    ]
    for argv, message in cases:
        result = zc(*argv)
        assert result.code == 2, (argv, result)
        assert message in result.err, (argv, result)
    assert json.loads(zc("image", "list", "--json").out) == []


def test_not_found_exits_3(zc: Zc) -> None:
    for argv in (("image", "show", "nope"), ("image", "delete", "nope")):
        result = zc(*argv)
        assert result.code == 3
        assert result.err == "zcompute: error: image 'nope' not found\n"


def test_delete_removes_record_and_files(zc: Zc, files: Path) -> None:
    zc("image", "import", "debian", str(_raw_disk(files)))
    path = Path(json.loads(zc("image", "show", "debian", "--json").out)["path"])
    result = zc("image", "delete", "debian")
    assert result.code == 0, result
    assert result.out.startswith("deleted image debian (")
    assert not path.exists()
    assert json.loads(zc("image", "list", "--json").out) == []


def test_delete_is_refused_while_an_instance_uses_the_image(
    zc: Zc, make_guest: GuestFactory
) -> None:
    guest = make_guest()
    result = zc("image", "delete", guest.image.name)
    assert result.code == 1
    assert f"in use by instances: {guest.name}; delete those instances first" in result.err
    assert [i["name"] for i in json.loads(zc("image", "list", "--json").out)] == ["kimg"]


def test_an_armv7l_image_is_refused_at_import_naming_the_architectures(zc: Zc, files: Path) -> None:
    """Only architectures with a profile are accepted: an armv7l image could never boot."""
    disk = _raw_disk(files)
    usage = zc("image", "import", "arm", str(disk), "--arch", "armv7l")
    assert usage.code == 2, usage
    assert "'armv7l' is not one of 's390x', 'x86_64', 'aarch64', 'ppc64le'" in usage.err
    declared = zc("image", "import", "arm", str(disk), "--property", "hw_architecture=armv7l")
    assert declared.code == 1, declared
    assert declared.err.strip() == (
        "zcompute: error: hw_architecture: unknown value 'armv7l' "
        "(allowed: s390x, x86_64, aarch64, ppc64le)"
    )
    assert zc("image", "list", "--json").out.strip() == "[]"
