"""FC connector on a synthetic s390x LPAR: zfcp unit configuration, waiting, multipath, undo."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.unit.volumes.fc_host_tree import HostTree, KernelSim, s390x_lpar, wait_for

from zcompute.errors import InvalidInput, Timeout, VolumeError
from zcompute.volumes import (
    DiskSource,
    FibreChannelConnector,
    VolumeConnector,
    ZfcpUnit,
    fsync_block_device,
)

T1 = "500507680b2155f8"
T2 = "500507680b2255f8"
STORWIZE_LUN = "0x0002000000000000"  # target_lun 2
DS8K_LUN = "0x4004400a00000000"  # target_lun 0x4004400a, from the z16 snapshot
ZFCP = "/sys/bus/ccw/drivers/zfcp"


def info(lun: int = 2, wwpn: Any = T1, **extra: Any) -> dict[str, Any]:
    return {
        "driver_volume_type": "fibre_channel",
        "serial": "5f1c6a1e-0d8f-4b43-9d55-6f0d3b0c2a11",
        "data": {"target_wwn": wwpn, "target_lun": lun, **extra},
    }


class Flushes(list[Path]):
    """A flush hook that records what it flushed and really fsyncs it."""

    def __call__(self, device: Path) -> None:
        self.append(device)
        fsync_block_device(device)


@pytest.fixture
def lpar(tmp_path: Path) -> HostTree:
    return s390x_lpar(tmp_path, targets={T1: {STORWIZE_LUN, DS8K_LUN}, T2: {STORWIZE_LUN}})


@pytest.fixture
def sim(lpar: HostTree) -> Iterator[KernelSim]:
    with KernelSim(lpar, appear_delay=0.03) as running:
        yield running


def connector(tree: HostTree, sim: KernelSim | None = None, **kwargs: Any) -> FibreChannelConnector:
    options: dict[str, Any] = {
        "timeout": 1.0,
        "poll_interval": 0.01,
        "rescan_interval": 0.2,
        "remove_multipath_map": sim.remove_multipath_map if sim else (lambda name: None),
        "host_name": "lpar1",
    }
    options.update(kwargs)
    return FibreChannelConnector(arch="s390x", root=tree.root, **options)


def units(*bus_ids: str, wwpn: str = T1, lun: str = STORWIZE_LUN) -> tuple[ZfcpUnit, ...]:
    return tuple(ZfcpUnit(bus, f"0x{wwpn}", lun) for bus in bus_ids)


def test_is_a_volume_connector(lpar: HostTree) -> None:
    assert isinstance(connector(lpar), VolumeConnector)


def test_connect_configures_units_on_online_fcp_devices_and_finds_the_disk(
    lpar: HostTree, sim: KernelSim
) -> None:
    connected = connector(lpar, sim).connect(info())
    # Either path may win the race; the result must be self-consistent.
    assert connected.by_path in {
        str(lpar.by_path(f"ccw-{bus}-zfcp-0x{T1}:{STORWIZE_LUN}"))
        for bus in ("0.0.8000", "0.0.8100")
    }
    device = Path(connected.device_path)
    assert device == Path(connected.by_path).resolve()
    assert device.parent == lpar.p("/dev")
    assert device.is_file()  # plain file standing in for the block device
    assert connected.path_devices == (device.name,)
    assert connected.multipath_device is None
    # Both online FCP devices got the unit; 0.0.8200 (Linkdown) was left alone.
    assert connected.configured_units == units("0.0.8000", "0.0.8100")
    assert sim.values_written(f"{ZFCP}/0.0.8000/0x{T1}/unit_add") == [STORWIZE_LUN]
    assert sim.values_written(f"{ZFCP}/0.0.8100/0x{T1}/unit_add") == [STORWIZE_LUN]
    assert not any("0.0.8200" in path for path, _ in sim.writes)
    assert lpar.p(f"{ZFCP}/0.0.8000/0x{T1}/{STORWIZE_LUN}").is_dir()


def test_disk_source_is_the_resolved_block_device_with_volume_serial(
    lpar: HostTree, sim: KernelSim
) -> None:
    connected = connector(lpar, sim).connect(info())
    assert connected.disk_source() == DiskSource(
        type="block",
        path=str(Path(connected.by_path).resolve()),
        serial="5f1c6a1e-0d8f-4b43-9d55-6f0d3b0c2a11",
        bus="virtio",
        device="disk",
    )


def test_disconnect_flushes_deletes_disk_and_removes_exactly_our_units(
    lpar: HostTree, sim: KernelSim
) -> None:
    flushes = Flushes()
    fc = connector(lpar, sim, flush_device=flushes)
    connected = fc.connect(info())
    wait_for(lambda: len(lpar.disks) == 2)  # the second path's disk shows up as well
    fc.disconnect(info(), connected)
    wait_for(lambda: not lpar.disks and len(sim.writes_to("unit_remove")) == 2)
    assert flushes == [Path(connected.device_path)]
    # The used disk was deleted through /sys/block/sdX/device/delete; the other went with its unit.
    assert [v for p, v in sim.writes if p.endswith("/delete")] == ["1"]
    for bus in ("0.0.8000", "0.0.8100"):
        assert sim.values_written(f"{ZFCP}/{bus}/0x{T1}/unit_remove") == [STORWIZE_LUN]
        assert not lpar.p(f"{ZFCP}/{bus}/0x{T1}/{STORWIZE_LUN}").exists()
    assert not list(lpar.p("/dev/disk/by-path").iterdir())
    assert not Path(connected.device_path).exists()


def test_port_rescan_when_the_target_port_is_not_known_yet(tmp_path: Path) -> None:
    tree = s390x_lpar(tmp_path, targets={T1: {STORWIZE_LUN}}, ports_known=False)
    with KernelSim(tree) as sim:
        connected = connector(tree, sim).connect(info())
    assert connected.configured_units == units("0.0.8000", "0.0.8100")
    for bus in ("0.0.8000", "0.0.8100"):
        rescan = f"/sys/devices/css0/0.0.010{6 if bus == '0.0.8000' else 7}/{bus}/port_rescan"
        written = [path for path, _ in sim.writes]
        assert ("/" + rescan.lstrip("/"), "1") in sim.writes
        first_unit_add = next(
            i for i, p in enumerate(written) if p.endswith("unit_add") and bus in p
        )
        assert written.index(rescan) < first_unit_add
    assert sim.values_written(f"{ZFCP}/0.0.8200/port_rescan") == []


@pytest.mark.parametrize(
    ("lun", "fcp", "link"),
    [
        (2, STORWIZE_LUN, f"-fc-0x{T1}-lun-2"),
        (0x4004400A, DS8K_LUN, f"-fc-0x{T1}-lun-{DS8K_LUN}"),
    ],
)
def test_debian_style_udev_links_are_found(tmp_path: Path, lun: int, fcp: str, link: str) -> None:
    tree = s390x_lpar(tmp_path, targets={T1: {STORWIZE_LUN, DS8K_LUN}}, udev_flavor="ubuntu")
    with KernelSim(tree, appear_delay=0.02) as sim:
        connected = connector(tree, sim).connect(info(lun))
    assert connected.by_path in {
        str(tree.by_path(f"ccw-{bus}{link}")) for bus in ("0.0.8000", "0.0.8100")
    }
    assert sim.values_written(f"{ZFCP}/0.0.8000/0x{T1}/unit_add") == [fcp]


def test_multipath_returns_the_dm_device_and_disconnect_tears_it_down(tmp_path: Path) -> None:
    tree = s390x_lpar(tmp_path, targets={T1: {STORWIZE_LUN}, T2: {STORWIZE_LUN}}, multipath=True)
    flushes = Flushes()
    with KernelSim(tree, appear_delay=0.02, dm_delay=0.05) as sim:
        fc = connector(tree, sim, use_multipath=True, flush_device=flushes)
        connected = fc.connect(info(wwpn=[T1, T2.upper()]))
        assert connected.multipath_device == "dm-0"
        assert connected.device_path == str(tree.p("/dev/dm-0"))
        assert set(connected.path_devices) <= {"sda", "sdb", "sdc", "sdd"}
        assert connected.configured_units == (
            *units("0.0.8000"),
            *units("0.0.8000", wwpn=T2),
            *units("0.0.8100"),
            *units("0.0.8100", wwpn=T2),
        )
        wait_for(lambda: len(list(tree.p("/sys/block/dm-0/slaves").iterdir())) == 4)
        fc.disconnect(info(wwpn=[T1, T2]), connected)
        wait_for(lambda: not tree.disks)
    assert flushes == [tree.p("/dev/dm-0")]
    kinds = [path.split("/")[-1] if "/" in path else path for path, _ in sim.writes]
    assert kinds.index("multipath -f dm-0") < kinds.index("delete")
    assert kinds.count("delete") == 4
    assert kinds.count("unit_remove") == 4


def test_multipath_flag_in_connection_info_overrides_the_host_default(
    lpar: HostTree, sim: KernelSim
) -> None:
    connected = connector(lpar, sim, use_multipath=True).connect(info(multipath=False))
    assert connected.multipath_device is None


def test_target_that_never_appears_times_out_and_removes_its_units(
    lpar: HostTree, sim: KernelSim
) -> None:
    with pytest.raises(Timeout) as caught:
        connector(lpar, sim, timeout=0.3).connect(info(lun=7))
    message = str(caught.value)
    assert "within 0.3s" in message  # the timeout it was given, not the default 30 s
    assert f"0x{T1} LUN 7" in message
    assert "5f1c6a1e-0d8f-4b43-9d55-6f0d3b0c2a11" in message
    assert "host0 (0.0.8000)" in message
    assert f"ccw-0.0.8000-zfcp-0x{T1}:0x0007000000000000" in message
    wait_for(lambda: len([w for w in sim.writes if w[0].endswith("unit_remove")]) == 2)
    for bus in ("0.0.8000", "0.0.8100"):
        assert sim.values_written(f"{ZFCP}/{bus}/0x{T1}/unit_remove") == ["0x0007000000000000"]
        assert not lpar.p(f"{ZFCP}/{bus}/0x{T1}/0x0007000000000000").exists()


def test_multipath_map_that_never_appears_times_out_and_unconfigures(
    lpar: HostTree, sim: KernelSim
) -> None:
    # The tree has no multipathd: the disk appears but no dm ever holds it.
    with pytest.raises(Timeout, match=r"no multipath device holds sd[ab] after 0\.3s"):
        connector(lpar, sim, use_multipath=True, timeout=0.3).connect(info())
    wait_for(lambda: not lpar.disks)
    assert len([w for w in sim.writes if w[0].endswith("unit_remove")]) == 2
    assert not list(lpar.root.glob(f"sys/devices/css0/*/*/0x{T1}/0x*"))


def test_unit_add_failure_on_one_path_still_connects_through_the_other(
    lpar: HostTree, sim: KernelSim
) -> None:
    broken = lpar.p(f"{ZFCP}/0.0.8100/0x{T1}/unit_add")
    broken.unlink()
    broken.mkdir()  # writing to it now fails with EISDIR, like a rejected sysfs store
    connected = connector(lpar, sim).connect(info())
    assert connected.configured_units == units("0.0.8000")


def test_all_unit_adds_failing_times_out_naming_the_sysfs_error(lpar: HostTree) -> None:
    for bus in ("0.0.8000", "0.0.8100"):
        broken = lpar.p(f"{ZFCP}/{bus}/0x{T1}/unit_add")
        broken.unlink()
        broken.mkdir()
    with pytest.raises(Timeout, match=r"sysfs errors: writing '0x0002000000000000' to .*unit_add"):
        connector(lpar, timeout=0.2).connect(info())


def test_no_online_hba_is_a_clear_error(lpar: HostTree) -> None:
    for hba in lpar.hbas:
        lpar.p(f"/sys/class/fc_host/host{hba.host}/port_state").write_text("Linkdown\n")
    with pytest.raises(VolumeError, match="no usable Fibre Channel HBA") as caught:
        connector(lpar).connect(info())
    assert "host0: port_state is 'Linkdown', not 'Online'" in str(caught.value)
    assert not [p for p in lpar.root.glob("sys/devices/css0/*/*/0x*/unit_add") if p.read_text()]


def test_host_without_fc_hbas(tmp_path: Path) -> None:
    fc = FibreChannelConnector(arch="s390x", root=tmp_path)
    with pytest.raises(VolumeError, match=r"nothing under .*sys/class/fc_host"):
        fc.connect(info())
    assert fc.initiator_properties() == {
        "host": fc.initiator_properties()["host"],
        "platform": "s390x",
        "os_type": "linux",
        "multipath": False,
    }


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (
            {"target_wwn": "50050768-0b2155f8", "target_lun": 2},
            "connection_info.data.target_wwn[0]",
        ),
        ({"target_wwn": T1, "target_lun": 0x10000}, "target_lun"),
        ({"target_wwn": T1, "target_lun": -1}, "connection_info.data.target_lun"),
        ({"target_wwn": T1, "target_lun": 1 << 40}, "connection_info.data.target_lun"),
    ],
)
def test_bad_input_is_rejected_before_anything_is_written(
    lpar: HostTree, data: dict[str, Any], field: str
) -> None:
    with KernelSim(lpar) as sim, pytest.raises(InvalidInput) as caught:
        connector(lpar, sim).connect({"serial": "v1", "data": data})
    assert caught.value.field == field
    assert sim.writes == []


def test_initiator_target_map_limits_unit_add_to_zoned_pairs(
    lpar: HostTree, sim: KernelSim
) -> None:
    zoning = {"0xC05076FFE680A961": [T1, "0x1111111111111111"]}  # unknown targets are ignored
    connected = connector(lpar, sim).connect(info(initiator_target_map=zoning))
    assert connected.configured_units == units("0.0.8100")
    assert connected.by_path == str(lpar.by_path(f"ccw-0.0.8100-zfcp-0x{T1}:{STORWIZE_LUN}"))


def test_initiator_target_map_naming_no_local_hba(lpar: HostTree) -> None:
    with pytest.raises(VolumeError, match="zones no target to this host's HBAs"):
        connector(lpar).connect(info(initiator_target_map={"1234567890abcdef": [T1]}))


def test_unit_configured_before_us_is_used_but_never_removed(
    lpar: HostTree, sim: KernelSim
) -> None:
    # As if zfcp.conf had configured the LUN at boot on 0.0.8000.
    lpar.p(f"{ZFCP}/0.0.8000/0x{T1}/unit_add").write_text(STORWIZE_LUN)
    wait_for(lambda: lpar.by_path(f"ccw-0.0.8000-zfcp-0x{T1}:{STORWIZE_LUN}").exists())
    fc = connector(lpar, sim)
    connected = fc.connect(info())
    assert connected.configured_units == ()  # found at once: nothing was written
    fc.disconnect(info(), connected)
    assert [p for p, _ in sim.writes if p.endswith("unit_remove")] == []


def test_two_volumes_on_the_same_ports_are_independent(lpar: HostTree, sim: KernelSim) -> None:
    fc = connector(lpar, sim)
    first = fc.connect(info(lun=2))
    second = fc.connect(info(lun=0x4004400A))
    assert first.device_path != second.device_path
    fc.disconnect(info(lun=0x4004400A), second)
    wait_for(lambda: not Path(second.device_path).exists())
    assert Path(first.device_path).exists()
    assert lpar.p(f"{ZFCP}/0.0.8000/0x{T1}/{STORWIZE_LUN}").is_dir()


def test_disconnect_refuses_a_different_volume(lpar: HostTree, sim: KernelSim) -> None:
    fc = connector(lpar, sim)
    connected = fc.connect(info())
    other = info()
    other["serial"] = "another-volume"
    with pytest.raises(InvalidInput, match="does not match the connected volume"):
        fc.disconnect(other, connected)
    assert Path(connected.device_path).exists()


def test_initiator_properties_list_online_ports_only(lpar: HostTree) -> None:
    assert connector(lpar, use_multipath=True).initiator_properties() == {
        "wwpns": ["c05076ffe680a960", "c05076ffe680a961"],
        "wwnns": ["c05076ffe6800000", "c05076ffe6800000"],
        "host": "lpar1",
        "platform": "s390x",
        "os_type": "linux",
        "multipath": True,
    }


def test_flush_failure_aborts_the_detach_before_anything_is_removed(
    lpar: HostTree, sim: KernelSim
) -> None:
    def failing_flush(device: Path) -> None:
        raise OSError(5, "Input/output error")

    fc = connector(lpar, sim, flush_device=failing_flush)
    connected = fc.connect(info())
    with pytest.raises(VolumeError, match=r"nothing was removed: .*Input/output error"):
        fc.disconnect(info(), connected)
    assert sim.writes_to("delete") == []  # (handles every pending write before it answers)
    assert sim.writes_to("unit_remove") == []
    assert Path(connected.device_path).exists()


def test_failed_delete_is_reported_and_units_are_still_removed(
    lpar: HostTree, sim: KernelSim
) -> None:
    fc = connector(lpar, sim)
    connected = fc.connect(info())
    disk = lpar.disks[connected.path_devices[0]]
    (disk.scsi_dir / "delete").unlink()
    (disk.scsi_dir / "delete").mkdir()  # the kernel refusing the delete
    with pytest.raises(
        VolumeError, match=rf"detach incomplete: deleting {disk.name}: Is a directory"
    ):
        fc.disconnect(info(), connected)
    wait_for(lambda: len(sim.writes_to("unit_remove")) == 2)


def test_multipath_map_removal_failure_keeps_the_paths(tmp_path: Path) -> None:
    tree = s390x_lpar(tmp_path, targets={T1: {STORWIZE_LUN}}, multipath=True)

    def busy_map(name: str) -> None:
        raise OSError(16, f"map {name} in use")

    with KernelSim(tree) as sim:
        fc = connector(tree, sim, use_multipath=True, remove_multipath_map=busy_map)
        connected = fc.connect(info())
        with pytest.raises(VolumeError, match="removing multipath map dm-0 failed"):
            fc.disconnect(info(), connected)
    assert sim.writes_to("delete") == []
    assert sim.writes_to("unit_remove") == []


def test_by_path_link_to_a_device_outside_the_tree(tmp_path: Path) -> None:
    # How an end-to-end test hands a real (loop or file-backed) device to the guest.
    backing = tmp_path / "outside" / "lun.img"
    backing.parent.mkdir()
    backing.write_bytes(b"\0" * 65536)
    tree = s390x_lpar(tmp_path / "host", targets={T1: {STORWIZE_LUN}})
    with KernelSim(tree, device_target=backing) as sim:
        fc = connector(tree, sim)
        connected = fc.connect(info())
        assert connected.disk_source().path == str(backing)
        fc.disconnect(info(), connected)
        wait_for(lambda: len(sim.writes_to("unit_remove")) == 2)
    assert backing.exists()
