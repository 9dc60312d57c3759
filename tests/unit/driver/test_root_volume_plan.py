"""The plan of a guest that boots from a volume: the volume first (boot order 1), no local
root disk, the flavor's disks after it; a volume image (a description) boots only so."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import pytest

from zcompute.builder import build_domain
from zcompute.config import Config
from zcompute.driver import HostView, PlanRequest, make_plan
from zcompute.driver._guests import has_root_disk
from zcompute.errors import InvalidInput
from zcompute.model import BlockDeviceSpec, Flavor, Image, NetworkDiskSource, new_uuid, utcnow
from zcompute.plan import RescuePlan
from zcompute.state import StateDB
from zcompute.virt import validate_domain_on_libvirt
from zcompute.volumes import VolumeConnection
from zcompute.xml import validate_schema

from .test_plan_builder import _image, z_host  # noqa: F401  (z_host: a fixture)

ROOT = BlockDeviceSpec(
    source=NetworkDiskSource(host="127.0.0.1", port=3260, name="iqn.2026-12.org.example:r/1"),
    target="vda",
    serial="0a1b2c3d-root",
    format="raw",
    boot=True,
)
SCRATCH = Flavor("scratch", 1, 512, 10, ephemeral_gib=1, swap_mib=16)


def _volume_image() -> Image:
    return Image(
        id=new_uuid(),
        name="volume-debian",
        arch="s390x",
        disk_format=None,
        path=None,
        kernel_path=None,
        initrd_path=None,
        cmdline=None,
        properties={"hw_qemu_guest_agent": "yes"},
        size=0,
        sha256=hashlib.sha256(b"").hexdigest(),
        created_at=utcnow(),
    )


def _request(tmp_path: Path, image: Image, *volumes: BlockDeviceSpec) -> PlanRequest:
    return PlanRequest(
        uuid=new_uuid(),
        name="web1",
        flavor=SCRATCH,
        image=image,
        instance_dir=tmp_path / "inst",
        root_disk=None,
        block_devices=volumes,
        config_drive=True,
    )


def test_a_root_volume_is_the_first_disk_and_boots(
    tmp_path: Path,
    z_host: HostView,  # noqa: F811
) -> None:
    data = dataclasses.replace(ROOT, target="vdf", serial="data", boot=False)
    request = _request(tmp_path, _volume_image(), data, ROOT)  # given after the data volume
    plan = make_plan(request, Config(virt_type="auto"), z_host)
    assert [(d.target, d.boot_order, d.source_type) for d in plan.disks] == [
        ("vda", 1, "network"),  # first: s390x guests name disks in probe order
        ("vdb", None, "file"),  # the flavor's ephemeral and swap disks follow the root
        ("vdc", None, "file"),
        ("vdd", None, "file"),  # the config drive
        ("vdf", None, "network"),
    ]
    assert plan.kernel is None  # a volume image boots through the firmware, from vda
    dom = build_domain(plan)
    validate_schema(dom)
    validate_domain_on_libvirt(dom.to_xml())
    assert '<boot order="1"/>' in dom.to_xml()


def test_a_kernel_boot_image_boots_its_kernel_with_the_root_volume(
    tmp_path: Path,
    z_host: HostView,  # noqa: F811
) -> None:
    plan = make_plan(_request(tmp_path, _image(tmp_path), ROOT), Config(virt_type="auto"), z_host)
    assert plan.kernel is not None
    assert [d.target for d in plan.disks][:1] == ["vda"]
    assert not any(Path(d.source).name == "disk.qcow2" for d in plan.disks)


def test_a_rescued_volume_backed_guest_keeps_its_root_volume_second(
    tmp_path: Path,
    z_host: HostView,  # noqa: F811
) -> None:
    image = _image(tmp_path)
    request = dataclasses.replace(_request(tmp_path, image, ROOT), rescue=RescuePlan(image))
    plan = make_plan(request, Config(virt_type="auto"), z_host)
    assert [(d.target, d.boot_order, d.source_type) for d in plan.disks][:2] == [
        ("vda", 1, "file"),  # the rescue disk
        ("vdb", None, "network"),  # the guest's root volume, not booted
    ]


def test_a_volume_image_needs_its_volume_and_one_root_only(
    tmp_path: Path,
    z_host: HostView,  # noqa: F811
) -> None:
    config = Config(virt_type="auto")
    with pytest.raises(InvalidInput, match=r"image: image volume-debian only describes"):
        make_plan(_request(tmp_path, _volume_image()), config, z_host)
    second = dataclasses.replace(ROOT, target="vdb")
    with pytest.raises(InvalidInput, match=r"block_device\.boot: vda, vdb are each marked"):
        make_plan(_request(tmp_path, _volume_image(), ROOT, second), config, z_host)


def test_no_local_root_disk_for_a_guest_that_boots_from_a_volume(tmp_path: Path) -> None:
    flavor = Flavor("f", 1, 512, 10)
    assert has_root_disk(_image(tmp_path), flavor)
    assert not has_root_disk(_image(tmp_path), flavor, volume_backed=True)
    assert not has_root_disk(_volume_image(), flavor)


def test_a_volume_image_holds_no_bytes_and_round_trips(tmp_path: Path) -> None:
    image = _volume_image()
    assert image.is_volume_image
    assert not image.is_kernel_boot
    with pytest.raises(InvalidInput, match=r"image\.size: a volume image holds no bytes"):
        dataclasses.replace(image, size=1)
    with StateDB(tmp_path / "state.db") as db:
        db.add_image(image)
        assert db.get_image(image.id) == image


def test_the_root_flag_is_recorded(tmp_path: Path) -> None:
    from zcompute.state._codec import attachment_row

    kind, target, source = attachment_row(ROOT)
    assert (kind, target) == ("volume", "vda")
    assert '"boot":true' in source


def test_a_volume_connection_is_checked_when_made() -> None:
    with pytest.raises(InvalidInput, match=r"driver_volume_type: 'nfs' is not a volume type"):
        VolumeConnection({"driver_volume_type": "nfs", "data": {}})
    with pytest.raises(InvalidInput, match=r"target_portal"):
        VolumeConnection({"driver_volume_type": "iscsi", "data": {"volume_id": "v1"}})
    data = {"target_wwn": "500507680b21ac13", "volume_id": "v2", "target_lun": 1}
    fc = {"driver_volume_type": "fibre_channel", "data": data}
    with pytest.raises(InvalidInput, match=r"an FC volume takes no bus"):
        VolumeConnection(fc, shareable=True)
