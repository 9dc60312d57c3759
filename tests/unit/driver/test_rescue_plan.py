"""The plan of a rescued guest: the rescue disk first, the root disk second, a config drive."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from zcompute.builder import build_domain
from zcompute.config import Config
from zcompute.driver import HostView, PlanRequest, make_plan
from zcompute.model import Flavor, Instance, Rescue
from zcompute.plan import RESCUE_SERIAL, RescuePlan
from zcompute.state import StateDB
from zcompute.virt import validate_domain_on_libvirt
from zcompute.xml import validate_schema

from .test_plan_builder import _image, _plan, z_host  # noqa: F401  (z_host: a fixture)


def test_a_rescue_boots_the_rescue_disk_before_the_root_disk(
    tmp_path: Path,
    z_host: HostView,  # noqa: F811
) -> None:
    own = _plan(tmp_path, z_host, drive=True, drive_target="vdc")
    request = _request(tmp_path)
    config = Config(virt_type="auto")
    plan = make_plan(dataclasses.replace(request, rescue=RescuePlan(request.image)), config, z_host)
    inst = tmp_path / "inst"
    assert [(d.target, Path(d.source).name, d.boot_order, d.serial) for d in plan.disks] == [
        ("vda", "disk.rescue", 1, RESCUE_SERIAL),
        ("vdb", "disk.qcow2", None, None),  # the guest's own root disk, second
        ("vdc", "disk.config", None, None),  # its own config drive (no volume while rescued)
    ]
    # the rescue boot's own copies of the kernel and initrd: the guest's stay as they are
    assert (plan.kernel, plan.initrd) == (str(inst / "kernel.rescue"), str(inst / "initrd.rescue"))
    assert plan.consoles == own.consoles  # the same consoles and log
    assert plan.console_log == own.console_log
    dom = build_domain(plan)
    validate_schema(dom)
    validate_domain_on_libvirt(dom.to_xml())

    with_drive = RescuePlan(request.image, config_drive=True)
    drive = make_plan(dataclasses.replace(request, rescue=with_drive), config, z_host).disks[-1]
    assert (drive.target, Path(drive.source).name, drive.readonly) == (
        "vdc",
        "disk.config.rescue",
        True,
    )


def test_a_rescue_is_recorded_and_keeps_its_image_in_use(
    tmp_path: Path,
    z_host: HostView,  # noqa: F811
) -> None:
    image = _image(tmp_path)
    rescue_image = dataclasses.replace(_image(tmp_path), id=_other_id(image.id), name="rescue")
    with StateDB(tmp_path / "state.db") as db:
        db.add_image(image)
        db.add_image(rescue_image)
        inst = Instance(
            uuid="0f8fad5b-d9cb-469f-a165-70867728950e",
            name="web1",
            flavor=Flavor("small", 1, 512, 1),
            image=image,
            arch="s390x",
        )
        db.add_instance(inst)
        assert db.get_instance("web1").rescue is None
        db.set_rescue(inst.uuid, Rescue(rescue_image, config_drive=True))
        assert db.get_instance("web1").rescue == Rescue(rescue_image, True)
        assert db.image_users(rescue_image.id) == ["web1"]
        db.set_rescue(inst.uuid, None)
        assert db.get_instance("web1").rescue is None
        assert db.image_users(rescue_image.id) == []


def _request(tmp_path: Path) -> PlanRequest:
    return PlanRequest(
        uuid="0f8fad5b-d9cb-469f-a165-70867728950e",
        name="web1",
        flavor=Flavor("small", 2, 2048, 10),
        image=_image(tmp_path),
        instance_dir=tmp_path / "inst",
        root_disk=tmp_path / "inst" / "disk.qcow2",
        config_drive=True,
        config_drive_target="vdb",  # the guest's own name for it: vdb is the root disk now
    )


def _other_id(image_id: str) -> str:
    return image_id[:-1] + ("0" if image_id[-1] != "0" else "1")
