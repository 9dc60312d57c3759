"""``boot --dry-run`` against the real libvirtd: it creates nothing and never runs the KVM probe.

The probe boots a guest (and may build the test image, downloading packages); a dry run must not.
With ``virt_type = auto`` and no recorded probe answer the dry run plans as if KVM were not
usable and says so in its output.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree

from tests.e2e.conftest import DATA_DIR
from zcompute.virt import Hypervisor

ZCOMPUTE = Path(sys.executable).parent / "zcompute"


@pytest.fixture
def data_dir(guest_name: str) -> Iterator[Path]:
    data = DATA_DIR / "tests" / f"dry-{guest_name}"
    data.mkdir(parents=True)
    try:
        yield data
    finally:
        shutil.rmtree(data, ignore_errors=True)


def _command(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZCOMPUTE_")}
    env["ZCOMPUTE_CONFIG"] = str(data / "absent.toml")  # virt_type stays "auto"
    done = subprocess.run(
        [str(ZCOMPUTE), "--data-dir", str(data), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "Traceback" not in done.stderr
    return done


def _run(data: Path, *args: str) -> str:
    done = _command(data, *args)
    assert done.returncode == 0, done
    return done.stdout


def _files(data: Path) -> set[str]:
    return {
        str(p.relative_to(data))
        for p in data.rglob("*")
        if not p.name.endswith(("-wal", "-shm", "-journal"))
    }


def test_a_dry_run_creates_nothing_and_never_probes_kvm(
    data_dir: Path, guest_name: str, hypervisor: Hypervisor, tmp_path: Path
) -> None:
    kernel = tmp_path / "vmlinuz"
    kernel.write_bytes(b"not booted by a dry run")
    _run(data_dir, "image", "import", "k", "--kernel", str(kernel), "--arch", os.uname().machine)
    before = _files(data_dir)

    out = _run(data_dir, "boot", guest_name, "--image", "k", "--flavor", "tiny", "--dry-run")

    assert _files(data_dir) == before  # no probe record, no probe folder, no instance folder
    assert not (data_dir / "kvm-probe.json").exists()
    assert guest_name not in {dom.name() for dom in hypervisor.conn.listAllDomains()}
    root = etree.fromstring(out.encode())
    assert root.tag == "domain"
    assert root.findtext("name") == guest_name
    if Path("/dev/kvm").exists():  # else KVM is known to be unusable: nothing to say
        assert out.startswith("<!-- zcompute dry run: KVM has not been probed on this host yet")
        assert root.get("type") == "qemu"


def test_a_config_drive_dry_run_shows_the_read_only_drive_and_writes_nothing(
    data_dir: Path, guest_name: str, tmp_path: Path
) -> None:
    kernel = tmp_path / "vmlinuz"
    kernel.write_bytes(b"not booted by a dry run")
    _run(data_dir, "image", "import", "k", "--kernel", str(kernel), "--arch", os.uname().machine)
    user_data = tmp_path / "user-data"
    user_data.write_text("#cloud-config\n")
    key = tmp_path / "id.pub"
    blob = base64.b64encode(b"\0\0\0\x0bssh-ed25519\0\0\0\x20" + bytes(32)).decode()
    key.write_text(f"ssh-ed25519 {blob} ops@example\n")
    before = _files(data_dir)

    out = _run(
        data_dir, "boot", guest_name, "--image", "k", "--flavor", "tiny", "--dry-run",
        "--hostname", "web-1", "--user-data", str(user_data), "--ssh-key", str(key),
    )  # fmt: skip

    assert _files(data_dir) == before
    root = etree.fromstring(out.encode())
    (drive,) = [d for d in root.iter("disk") if d.find("readonly") is not None]
    source = drive.find("source")
    assert source is not None
    assert source.get("file", "").endswith("/disk.config")
    assert drive.find("driver").get("type") == "raw"  # type: ignore[union-attr]


def test_a_bad_hostname_is_refused_in_one_line_before_anything_is_made(
    data_dir: Path, guest_name: str
) -> None:
    args = ["boot", guest_name, "--image", "k", "--flavor", "tiny", "--hostname", "-bad"]
    done = _command(data_dir, *args)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1
    assert "hostname" in done.stderr
    assert "allowed" in done.stderr
    # a private key given as --ssh-key is refused the same way, naming the file and line
    private = data_dir / "id"
    private.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    done = _command(data_dir, "boot", guest_name, "--image", "k", "--flavor", "tiny",
                    "--ssh-key", str(private))  # fmt: skip
    assert done.returncode == 1
    assert f"--ssh-key {private} line 1" in done.stderr
    assert "PRIVATE" not in done.stderr  # the key's text is never echoed
    assert not (data_dir / "instances").exists() or not any((data_dir / "instances").iterdir())


def test_a_tap_nic_dry_run_shows_the_ethernet_interface_and_makes_no_device(
    data_dir: Path, guest_name: str, tmp_path: Path
) -> None:
    kernel = tmp_path / "vmlinuz"
    kernel.write_bytes(b"not booted by a dry run")
    _run(data_dir, "image", "import", "k", "--kernel", str(kernel), "--arch", os.uname().machine)
    tap = f"zct{os.urandom(4).hex()}"

    out = _run(data_dir, "boot", guest_name, "--image", "k", "--flavor", "tiny", "--dry-run",
               "--tap", tap)  # fmt: skip

    (nic,) = etree.fromstring(out.encode()).iter("interface")
    assert nic.get("type") == "ethernet"
    assert nic.find("target").attrib == {"dev": tap, "managed": "no"}  # type: ignore[union-attr]
    assert not Path("/sys/class/net", tap).exists()
