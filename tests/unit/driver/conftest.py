"""Fixtures for driver unit tests: a real ComputeDriver on libvirt's built-in test driver.

``test:///default`` runs guests in memory: define, start, pause, managed save, shutdown and
destroy behave as in QEMU (with libvirt's state reasons), so the driver's state handling is
exercised for real. It cannot hot-plug devices, open consoles or copy disks; the end-to-end
tests cover those on real guests.
"""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Iterator
from pathlib import Path

import libvirt
import pytest

from zcompute.config import Config
from zcompute.driver import ComputeDriver
from zcompute.model import Image, Instance, InstanceState
from zcompute.xml import Disk, Domain

from .driver_support import FLAVOR, Recorder


@pytest.fixture
def test_driver(tmp_path: Path) -> Iterator[ComputeDriver]:
    """A driver on ``test:///default`` with its own data directory."""
    config = Config(
        uri="test:///default", virt_type="qemu", data_dir=tmp_path / "zc", volume_dirs=str(tmp_path)
    )
    drv = ComputeDriver(config)
    drv.db.add_flavor(FLAVOR)
    yield drv
    for inst in drv.db.list_instances():  # the test driver refuses destroy's undefine flags
        dom = drv.hv.conn.lookupByUUIDString(inst.uuid)
        if dom.isActive():
            dom.destroy()
        dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE)
    drv.close()


@pytest.fixture
def kernel_image(test_driver: ComputeDriver, tmp_path: Path) -> Image:
    kernel = tmp_path / "vmlinuz"
    kernel.write_bytes(b"not really a kernel")
    return test_driver.images.import_kernel("unit-kernel", kernel, None, None, "x86_64")


@pytest.fixture
def recorded(test_driver: ComputeDriver, kernel_image: Image) -> Recorder:
    """Make a guest: a test-driver domain plus its instance record, in a chosen state."""

    def make(state: InstanceState = InstanceState.RUNNING, *, start: bool = True) -> Instance:
        uuid = str(uuidlib.uuid4())
        name = f"unit-{uuid[:8]}"
        test_driver.domains.define(_domain_xml(name, uuid, test_driver.root_disk_path(uuid)))
        if start:
            test_driver.domains.start(uuid)
        inst = Instance(
            uuid=uuid,
            name=name,
            flavor=FLAVOR,
            image=kernel_image,
            arch="x86_64",
            machine_type="pc-i440fx-7.2",
            domain_type="qemu",
            state=state,
        )
        return test_driver.db.add_instance(inst)

    return make


def _domain_xml(name: str, uuid: str, root: Path) -> str:
    dom = Domain(type="test")
    dom.name = name
    dom.uuid = uuid
    dom.memory_kib = 65536
    dom.os.type = "hvm"
    disk = Disk(type="file", device="disk")
    disk.source_file = str(root)
    disk.target_dev = "vda"
    disk.target_bus = "virtio"
    dom.devices.add(disk)
    return dom.to_xml()
