"""Differential tests against os-brick 7.1.1 (test-only dependency) as the format oracle.

os-brick's path and LUN helpers are correct for the values Cinder drivers send, so for
many random WWPNs, LUNs, bus-IDs and PCI addresses zcompute must produce exactly what
they produce. Where zcompute differs on purpose, the test says why:

* packed LUNs whose second level is 0 (0x10000, ...) collide with a single-level LUN in
  os-brick; zcompute rejects them (see :func:`zcompute.volumes.fcp_lun`);
* LUNs above 0xffffffff make os-brick's s390x LUN string the integer 0; zcompute rejects;
* flat-space addressing of a LUN above 16383 overflows in os-brick; zcompute rejects;
* os-brick's s390x connect path is broken (it unpacks 3-tuples from 4-tuples): shown below.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.unit.volumes.fc_host_tree import s390x_lpar, x86_host

from zcompute.errors import InvalidInput
from zcompute.volumes import (
    FibreChannelConnector,
    HostFs,
    apply_addressing_mode,
    discover_fc_hbas,
    fcp_lun,
    pci_by_path_name,
    zfcp_by_path_names,
)
from zcompute.volumes._fc_arch import ScsiScanStrategy, ZfcpStrategy
from zcompute.volumes._sysfs import FcHba

pytest.importorskip("os_brick", reason="os-brick (test-only oracle, os-brick==7.1.1) not installed")

with warnings.catch_warnings():  # oslo/eventlet deprecation noise on import
    warnings.simplefilter("ignore")
    from os_brick.initiator import linuxfc, linuxscsi
    from os_brick.initiator.connectors import fibre_channel, fibre_channel_s390x

BRICK_S390 = fibre_channel_s390x.FibreChannelConnectorS390X(None)
BRICK_FC = fibre_channel.FibreChannelConnector(None)

wwpns = st.from_regex(r"[0-9a-f]{16}", fullmatch=True)
bus_ids = st.builds(
    "{:x}.{}.{:04x}".format,
    st.integers(0, 15),
    st.integers(0, 3),
    st.integers(0, 0xFFFF),
)
single_level = st.integers(0, 0xFFFF)
packed = st.integers(1, 0xFFFF).flatmap(
    lambda hi: st.builds(lambda lo: hi << 16 | lo, st.integers(1, 0xFFFF))
)
target_luns = st.one_of(single_level, packed)
pci_addresses = st.builds(
    "{:04x}:{:02x}:{:02x}.{}".format,
    st.integers(0, 0xFFFF),
    st.integers(0, 0xFF),
    st.integers(0, 0x1F),
    st.integers(0, 7),
)
SETTINGS = settings(max_examples=400, deadline=None)


@SETTINGS
@given(bus_ids, wwpns, target_luns)
def test_s390x_paths_and_lun_string_equal_os_brick(bus_id: str, wwpn: str, lun: int) -> None:
    assert fcp_lun(lun) == BRICK_S390._get_lun_string(lun)
    brick = BRICK_S390._get_device_file_path(bus_id, "0x" + wwpn, lun)
    assert list(zfcp_by_path_names(bus_id, wwpn.upper(), lun)) == brick


@SETTINGS
@given(st.integers(1, 0xFFFF))
def test_packed_lun_with_zero_second_level_collides_in_os_brick_and_is_rejected(high: int) -> None:
    packed_value = high << 16
    # os-brick: two different target_lun values, one FCP LUN, one device for two volumes.
    assert BRICK_S390._get_lun_string(packed_value) == BRICK_S390._get_lun_string(high)
    with pytest.raises(InvalidInput, match="ambiguous"):
        fcp_lun(packed_value)


@given(st.integers(0x1_0000_0000, 2**64 - 1))
def test_lun_beyond_32_bits_is_garbage_in_os_brick_and_rejected(lun: int) -> None:
    assert BRICK_S390._get_lun_string(lun) == 0  # an int, giving ".../ccw-...:0" paths
    with pytest.raises(InvalidInput, match="cannot be addressed"):
        fcp_lun(lun)


@SETTINGS
@given(
    pci_addresses, wwpns, st.integers(0, 0xFFFFFFFF), st.sampled_from([None, "platform-ffe0.soc"])
)
def test_pci_paths_equal_os_brick(address: str, wwpn: str, lun: int, platform: str | None) -> None:
    brick = BRICK_FC._get_host_devices([(platform, address, "0x" + wwpn, lun)])
    assert [pci_by_path_name(address, wwpn, lun, platform)] == brick


@SETTINGS
@given(
    st.integers(0, 16383),
    st.sampled_from([None, "SAM", "transparent", "SAM2", "SAM3-flat"]),
)
def test_addressing_modes_equal_os_brick(lun: int, mode: str | None) -> None:
    assert apply_addressing_mode(lun, mode) == linuxscsi.LinuxSCSI.lun_for_addressing(lun, mode)


def test_flat_addressing_overflow_differs_deliberately() -> None:
    # os-brick turns LUN 16384 into 32768 (0x8000: not flat space addressing any more).
    assert linuxscsi.LinuxSCSI.lun_for_addressing(16384, "SAM3-flat") == 32768
    with pytest.raises(InvalidInput, match="flat space"):
        apply_addressing_mode(16384, "SAM3-flat")


def _hba(device_path: str) -> FcHba:
    return FcHba("host3", "0" * 16, "0" * 16, "Online", device_path)


@SETTINGS
@given(pci_addresses, pci_addresses, st.integers(0, 64), st.booleans(), st.booleans())
def test_pci_address_from_device_path_equals_os_brick(
    bridge: str, address: str, host: int, platform: bool, fcoe: bool
) -> None:
    root = (
        "/sys/devices/platform/smb/smb:motherboard/80040000000.peu0-c0"
        if platform
        else "/sys/devices"
    )
    middle = "/net/ens2f2/ctlr_2" if fcoe else ""
    device_path = f"{root}/pci{bridge[:7]}/{bridge}/{address}{middle}/host{host}/fc_host/host{host}"
    ours = ScsiScanStrategy("x86_64").address(_hba(device_path))
    assert not isinstance(ours, str)
    brick_platform, brick_address = BRICK_FC._get_pci_num({"device_path": device_path})
    assert (ours.platform, ours.bus_address) == (brick_platform, brick_address)


@SETTINGS
@given(st.integers(0, 0xFFFF), bus_ids, st.integers(0, 64))
def test_ccw_bus_id_from_device_path_equals_os_brick(schid: int, bus_id: str, host: int) -> None:
    device_path = f"/sys/devices/css0/0.0.{schid:04x}/{bus_id}/host{host}/fc_host/host{host}"
    ours = ZfcpStrategy().address(_hba(device_path))
    assert not isinstance(ours, str)
    assert ours.bus_address == BRICK_FC._get_pci_num({"device_path": device_path})[1]


def _brick_s390_reader(root: Path) -> Any:
    """os-brick's own s390x sysfs reader, pointed at the synthetic tree."""
    sysfs = str(root / "sys/class/fc_host")
    reader_class = type(
        "TreeReader", (linuxfc.LinuxFibreChannelS390X,), {"FC_HOST_SYSFS_PATH": sysfs}
    )
    return reader_class(None)


def _brick_hbas(root: Path, reader: Any) -> list[dict[str, str]]:
    hbas = reader.get_fc_hbas_info()
    for hba in hbas:  # os-brick reports real paths; the tree's root is not part of the host
        hba["device_path"] = "/" + str(Path(hba["device_path"]).relative_to(root))
    return sorted(hbas, key=lambda h: h["host_device"])


def test_s390x_hba_discovery_equals_os_brick(tmp_path: Path) -> None:
    s390x_lpar(tmp_path, targets={"500507680b2155f8": set()})
    ours = [
        {
            "port_name": h.port_name,
            "node_name": h.node_name,
            "host_device": h.host,
            "device_path": h.device_path,
        }
        for h in discover_fc_hbas(HostFs(tmp_path))[0]
        if h.online
    ]
    assert ours == _brick_hbas(tmp_path, _brick_s390_reader(tmp_path))
    assert len(ours) == 2  # the Linkdown FCP device is excluded by both


def test_s390x_candidates_equal_os_brick_and_its_connect_path_is_broken(tmp_path: Path) -> None:
    targets = ["500507680b2155f8", "500507680b2255f8"]
    s390x_lpar(tmp_path, targets={t: set() for t in targets})
    brick_hbas = _brick_hbas(tmp_path, _brick_s390_reader(tmp_path))
    devices = BRICK_S390._get_possible_devices(brick_hbas, [(t, 0x4004400A) for t in targets])
    brick_paths = [
        p for _, bus, wwn, lun in devices for p in BRICK_S390._get_device_file_path(bus, wwn, lun)
    ]
    fc = FibreChannelConnector(arch="s390x", root=tmp_path)
    info = {"serial": "v", "data": {"target_wwn": targets, "target_lun": 0x4004400A}}
    assert fc.candidate_paths(info) == brick_paths
    # The bug the issue cites: _get_host_devices unpacks 3 values from 4-tuples.
    with pytest.raises(ValueError, match="too many values to unpack"):
        BRICK_S390._get_host_devices(devices)


def test_x86_candidates_and_initiator_properties_equal_os_brick(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    targets = ["50060e8007e0a520", "50060e8007e0a530"]
    x86_host(tmp_path, targets={t: set() for t in targets})
    monkeypatch.setattr(
        linuxfc.LinuxFibreChannel, "FC_HOST_SYSFS_PATH", str(tmp_path / "sys/class/fc_host")
    )
    reader = linuxfc.LinuxFibreChannel(None)
    data = {"target_wwn": [t.upper() for t in targets], "target_lun": 300}
    props = BRICK_FC._add_targets_to_connection_properties(dict(data))
    brick_paths = BRICK_FC._get_possible_volume_paths(props, _brick_hbas(tmp_path, reader))
    fc = FibreChannelConnector(arch="x86_64", root=tmp_path)
    assert fc.candidate_paths({"serial": "v", "data": data}) == brick_paths
    brick_props = fibre_channel.FibreChannelConnector.get_connector_properties(None)
    ours = fc.initiator_properties()
    assert (ours["wwpns"], ours["wwnns"]) == (brick_props["wwpns"], brick_props["wwnns"])
