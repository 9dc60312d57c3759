"""FC connector on a synthetic x86 host: SCSI host scans, PCI by-path links, device delete."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.unit.volumes.fc_host_tree import HostTree, KernelSim, wait_for, x86_host

from zcompute.errors import ConfigError, InvalidInput, Timeout
from zcompute.volumes import FibreChannelConnector

T1 = "50060e8007e0a520"
T2 = "50060e8007e0a530"


def info(lun: int = 1, wwpn: Any = T1, **extra: Any) -> dict[str, Any]:
    return {"serial": "vol-x86", "data": {"target_wwn": wwpn, "target_lun": lun, **extra}}


@pytest.fixture
def host(tmp_path: Path) -> HostTree:
    return x86_host(tmp_path, targets={T1: {"1", "300"}, T2: {"1"}})


@pytest.fixture
def sim(host: HostTree) -> Iterator[KernelSim]:
    with KernelSim(host, appear_delay=0.02) as running:
        yield running


def connector(tree: HostTree, sim: KernelSim | None = None, **kwargs: Any) -> FibreChannelConnector:
    options: dict[str, Any] = {"timeout": 1.0, "poll_interval": 0.01, "rescan_interval": 0.2}
    options.update(kwargs)
    return FibreChannelConnector(
        arch="x86_64",
        root=tree.root,
        remove_multipath_map=sim.remove_multipath_map if sim else (lambda name: None),
        **options,
    )


def test_connect_scans_each_hba_for_the_target_and_lun(host: HostTree, sim: KernelSim) -> None:
    connected = connector(host, sim).connect(info())
    assert connected.by_path in {
        str(host.by_path(f"pci-0000:05:00.{fn}-fc-0x{T1}-lun-1")) for fn in (2, 3)
    }
    assert connected.device_path == str(Path(connected.by_path).resolve())
    assert connected.configured_units == ()
    # T1 is remote port 0 on both HBAs: a narrow "channel target lun" scan on each.
    assert sim.values_written("/sys/class/scsi_host/host5/scan") == ["0 0 1"]
    assert sim.values_written("/sys/class/scsi_host/host6/scan") == ["0 0 1"]


def test_lun_above_255_uses_the_16_digit_link(host: HostTree, sim: KernelSim) -> None:
    connected = connector(host, sim).connect(info(lun=300))
    assert connected.by_path.endswith(f"-fc-0x{T1}-lun-0x012c000000000000")


def test_second_target_is_found_through_its_own_remote_port(host: HostTree, sim: KernelSim) -> None:
    connector(host, sim).connect(info(wwpn=[T2]))
    assert sim.values_written("/sys/class/scsi_host/host5/scan") == ["0 1 1"]


def test_disconnect_flushes_and_deletes_the_scsi_disk(host: HostTree, sim: KernelSim) -> None:
    flushed: list[Path] = []
    fc = connector(host, sim, flush_device=flushed.append)
    connected = fc.connect(info())
    fc.disconnect(info(), connected)
    assert flushed == [Path(connected.device_path)]
    wait_for(lambda: Path(connected.device_path).name not in host.disks)
    assert [p for p, v in sim.writes if p.endswith("/delete") and v == "1"]
    assert not host.by_path(f"pci-0000:05:00.2-fc-0x{T1}-lun-1").exists()


def test_wildcard_scan_when_no_remote_port_is_visible(tmp_path: Path) -> None:
    tree = x86_host(tmp_path, targets={T1: {"1"}}, rports_visible=False)
    with KernelSim(tree) as sim:
        connector(tree, sim).connect(info())
    assert sim.values_written("/sys/class/scsi_host/host5/scan") == ["- - 1"]


def test_wildcard_scan_refused_by_connection_info(tmp_path: Path) -> None:
    tree = x86_host(tmp_path, targets={T1: {"1"}}, rports_visible=False)
    with KernelSim(tree) as sim, pytest.raises(Timeout, match=f"0x{T1} LUN 1"):
        connector(tree, sim, timeout=0.2).connect(info(enable_wildcard_scan=False))
    assert sim.writes == []


def test_multipath_on_x86(tmp_path: Path) -> None:
    tree = x86_host(tmp_path, targets={T1: {"1"}}, multipath=True)
    with KernelSim(tree, dm_delay=0.03) as sim:
        fc = connector(tree, sim, use_multipath=True)
        connected = fc.connect(info())
        assert connected.device_path == str(tree.p("/dev/dm-0"))
        wait_for(lambda: len(list(tree.p("/sys/block/dm-0/slaves").iterdir())) == 2)
        fc.disconnect(info(), connected)
        wait_for(lambda: not tree.disks)
    assert ("multipath -f dm-0", "") in sim.writes
    assert len([p for p, _ in sim.writes if p.endswith("/delete")]) == 2


def test_initiator_target_map_restricts_the_scan(host: HostTree, sim: KernelSim) -> None:
    connected = connector(host, sim).connect(info(initiator_target_map={"50014380242B9751": [T1]}))
    assert connected.by_path == str(host.by_path(f"pci-0000:05:00.3-fc-0x{T1}-lun-1"))
    assert sim.values_written("/sys/class/scsi_host/host5/scan") == []


def test_initiator_properties(host: HostTree) -> None:
    props = connector(host).initiator_properties()
    assert props["wwpns"] == ["50014380242b9750", "50014380242b9751"]
    assert props["wwnns"] == ["50014380242b9700", "50014380242b9700"]
    assert props["platform"] == "x86_64"


def test_unsupported_architecture_and_bad_timing(tmp_path: Path) -> None:
    # every profile names an FC transport; an arch without a profile is refused by name
    with pytest.raises(InvalidInput, match=r"mips64.*allowed: .*s390x"):
        FibreChannelConnector(arch="mips64", root=tmp_path)
    with pytest.raises(ConfigError, match=r"fc\.poll_interval: 0 is not positive"):
        FibreChannelConnector(arch="x86_64", root=tmp_path, poll_interval=0)
