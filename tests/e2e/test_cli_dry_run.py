"""``boot --dry-run`` against the real libvirtd: it creates nothing and never runs the KVM probe.

The probe boots a guest (and may build the test image, downloading packages); a dry run must not.
With ``virt_type = auto`` and no recorded probe answer the dry run plans as if KVM were not
usable and says so in its output.
"""

from __future__ import annotations

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


def _run(data: Path, *args: str) -> str:
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
    assert done.returncode == 0, done
    assert "Traceback" not in done.stderr
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
